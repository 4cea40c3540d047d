// What one fan-out bench run measured, as text for a terminal and as the JSON
// object of `--json` (snake_case keys; the chart script reads these files).
import type { LatencySummary } from "./latency-summary.js";
import type { OpenFilesLimit } from "./open-files-limit.js";

export interface ProcessCpu {
  server: number;
  gateway: number;
  agents: number;
}

export interface FanoutResult {
  agents: number;
  agentProcs: number;
  /** Control-plane replicas (1: the single-process default). */
  replicas?: number;
  rounds: number;
  /** "real": agent/agent.ts; "wire": protocol stand-ins that answer at once. */
  agentKind: string;
  jobStore: string;
  rebuild: string;
  /** From starting the agents until the control plane counted all of them online. */
  onlineSeconds: number;
  /** POST /node/_all/certificate/ca through the gateway, until the whole JSON answer is read. */
  rest: LatencySummary;
  /** CertificateService.InstallCA straight to the control plane, until the job summary. */
  grpc: LatencySummary;
  /** CPU time per round of each process (agents: all worker processes with their rebuild children). */
  cpuMsPerRound: { rest: ProcessCpu; grpc: ProcessCpu };
  bare?: {
    onlineSeconds: number;
    cpuMsPerRound: { server: number; workers: number };
    latency: LatencySummary;
    rssPerStreamKb: number;
    heapPerStreamKb: number;
    payloadBytes: number;
  };
  server: {
    rssBeforeKb: number;
    rssAfterKb: number;
    rssAfterRoundsKb: number;
    rssPerAgentKb: number;
    heapPerAgentKb: number;
    /** Control-plane CPU per second with every agent connected and no job (heartbeats, keepalive). */
    idleCpuMsPerSecond: number;
  };
  /** RSS of the agent worker processes divided by the agents they run. */
  agentWorkersRssPerAgentKb: number;
  failures: string[];
  /** Worth knowing, not failures (for example why agents had to retry connecting). */
  notes: string[];
  machine: {
    nproc: number;
    memoryGb: number;
    freeMemoryGb: number;
    node: string;
    /** One-minute load average before and after the run (other work on the machine shows here). */
    loadBefore: number;
    loadAfter: number;
    openFilesLimit: OpenFilesLimit;
  };
  at: string;
}

/** Rounded to `digits` decimals; null for NaN or an absent value (JSON has no NaN). */
function round(value: number | undefined, digits = 1): number | null {
  if (value === undefined || !Number.isFinite(value)) return null;
  const scale = 10 ** digits;
  return Math.round(value * scale) / scale;
}

function roundAll<T extends object>(values: T): Record<keyof T, number | null> {
  return Object.fromEntries(Object.entries(values).map(([key, value]) => [key, round(value as number, 0)])) as Record<keyof T, number | null>;
}

export function fanoutJson(result: FanoutResult): Record<string, unknown> {
  const { rest, grpc, bare, server } = result;
  return {
    agents: result.agents,
    agent_procs: result.agentProcs,
    replicas: result.replicas ?? 1,
    rounds: result.rounds,
    agent_kind: result.agentKind,
    job_store: result.jobStore,
    rebuild: result.rebuild,
    online_s: round(result.onlineSeconds, 2),
    p50_ms: round(rest.p50),
    p90_ms: round(rest.p90),
    p99_ms: round(rest.p99),
    max_ms: round(rest.max),
    grpc_p50_ms: round(grpc.p50),
    grpc_p90_ms: round(grpc.p90),
    grpc_p99_ms: round(grpc.p99),
    grpc_max_ms: round(grpc.max),
    bare_online_s: round(bare?.onlineSeconds, 2),
    bare_p50_ms: round(bare?.latency.p50),
    bare_p90_ms: round(bare?.latency.p90),
    bare_p99_ms: round(bare?.latency.p99),
    bare_max_ms: round(bare?.latency.max),
    overhead_ratio: bare ? round(rest.p50 / bare.latency.p50, 2) : null,
    grpc_overhead_ratio: bare ? round(grpc.p50 / bare.latency.p50, 2) : null,
    cpu_ms_per_round: {
      rest: roundAll(result.cpuMsPerRound.rest),
      grpc: roundAll(result.cpuMsPerRound.grpc),
      bare: bare ? roundAll(bare.cpuMsPerRound) : null,
    },
    rss_per_agent_kb: round(server.rssPerAgentKb),
    heap_per_agent_kb: round(server.heapPerAgentKb),
    bare_rss_per_stream_kb: round(bare?.rssPerStreamKb),
    bare_heap_per_stream_kb: round(bare?.heapPerStreamKb),
    bare_payload_bytes: bare?.payloadBytes ?? null,
    server_idle_cpu_ms_per_s: round(server.idleCpuMsPerSecond, 0),
    server_rss_before_kb: server.rssBeforeKb,
    server_rss_after_kb: server.rssAfterKb,
    server_rss_after_rounds_kb: server.rssAfterRoundsKb,
    agent_workers_rss_per_agent_kb: round(result.agentWorkersRssPerAgentKb),
    failures: result.failures,
    notes: result.notes,
    nproc: result.machine.nproc,
    memory_gb: result.machine.memoryGb,
    node: result.machine.node,
    load_before: round(result.machine.loadBefore, 2),
    load_after: round(result.machine.loadAfter, 2),
    open_files_limit: result.machine.openFilesLimit,
    at: result.at,
  };
}

const ms = (value: number) => `${value.toFixed(1)} ms`;

function latencyLine(label: string, summary: LatencySummary): string {
  return `${label.padEnd(34)} p50 ${ms(summary.p50).padStart(10)}  p90 ${ms(summary.p90).padStart(10)}  p99 ${ms(summary.p99).padStart(10)}  max ${ms(summary.max).padStart(10)}`;
}

export function formatFanoutResult(result: FanoutResult): string {
  const { bare, server } = result;
  const lines = [
    `fan-out to ${result.agents} ${result.agentKind} agents in ${result.agentProcs} worker process(es), ${result.rounds} rounds; ${result.replicas ?? 1} control plane(s); job store ${result.jobStore}; rebuild ${result.rebuild}`,
    `machine: ${result.machine.nproc} cores, ${result.machine.memoryGb} GiB, node ${result.machine.node}, load ${result.machine.loadBefore.toFixed(2)} -> ${result.machine.loadAfter.toFixed(2)}`,
    "",
    `${"all agents online".padEnd(34)} ${result.onlineSeconds.toFixed(2)} s`,
    latencyLine("POST /node/_all/certificate/ca", result.rest),
    latencyLine("gRPC CertificateService.InstallCA", result.grpc),
  ];
  if (bare) {
    lines.push(latencyLine(`bare grpc-js echo (${bare.payloadBytes} B)`, bare.latency));
    lines.push(`${"overhead_ratio (REST p50 / bare)".padEnd(34)} ${(result.rest.p50 / bare.latency.p50).toFixed(2)}`);
    lines.push(`${"gRPC p50 / bare p50".padEnd(34)} ${(result.grpc.p50 / bare.latency.p50).toFixed(2)}`);
  }
  const cpu = (label: string, parts: Record<string, number>) =>
    `${label.padEnd(34)} ${Object.entries(parts).map(([name, value]) => `${name} ${value.toFixed(0)} ms`).join(", ")}`;
  lines.push(
    "",
    cpu("CPU per REST round", { ...result.cpuMsPerRound.rest }),
    cpu("CPU per gRPC round", { ...result.cpuMsPerRound.grpc }),
  );
  if (bare) lines.push(cpu("CPU per bare round", { "echo server": bare.cpuMsPerRound.server, "echo workers": bare.cpuMsPerRound.workers }));
  lines.push(
    "",
    `control plane RSS ${Math.round(server.rssBeforeKb / 1024)} MiB -> ${Math.round(server.rssAfterKb / 1024)} MiB with agents (${Math.round(server.rssAfterRoundsKb / 1024)} MiB after the rounds)`,
    `${"control plane RSS per agent".padEnd(34)} ${server.rssPerAgentKb.toFixed(1)} KiB`,
    `${"control plane heap per agent".padEnd(34)} ${server.heapPerAgentKb.toFixed(1)} KiB`,
    `${"control plane CPU while idle".padEnd(34)} ${server.idleCpuMsPerSecond.toFixed(0)} ms per second (heartbeats, keepalive)`,
  );
  if (bare) {
    lines.push(`${"bare server RSS per stream".padEnd(34)} ${bare.rssPerStreamKb.toFixed(1)} KiB`);
    lines.push(`${"bare server heap per stream".padEnd(34)} ${bare.heapPerStreamKb.toFixed(1)} KiB`);
  }
  lines.push(`${"agent workers RSS per agent".padEnd(34)} ${result.agentWorkersRssPerAgentKb.toFixed(1)} KiB`);
  if (result.notes.length > 0) lines.push("", "notes:", ...result.notes.map((note) => `  ${note}`));
  if (result.failures.length > 0) lines.push("", "FAILURES:", ...result.failures.map((failure) => `  ${failure}`));
  return `${lines.join("\n")}\n`;
}
