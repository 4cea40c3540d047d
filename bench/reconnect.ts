// Reconnect benchmark (issue 5): N real agents (agent/agent.ts, many per worker
// process) connected to a control plane with a SQLite job store, then the control
// plane is killed and started again on the same port, once per signal. For every
// agent: the time from the restart (the new control plane's "listening" line) until
// its own "connected" event, as a summary and a 1-s histogram, with the connection
// attempts per second the new control plane saw. Prints the figures, or one JSON
// object with --json.
//
//   npm run bench:reconnect -- --agents N [--agent-procs K] [--signals SIGKILL,SIGTERM]
//     [--json] [--sandbox-dir DIR] [--out FILE]
import { createServer } from "node:net";
import { once } from "node:events";
import { existsSync } from "node:fs";
import { mkdtemp, rm } from "node:fs/promises";
import { availableParallelism, loadavg, tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { parseArgs } from "node:util";
import { DEFAULT_BACKOFF } from "../agent/backoff.js";
import { until } from "../test/harness/until.js";
import { positiveInteger, runBench } from "./bench-main.js";
import { ChildProcessGroup, type LogLine } from "./child-process-group.js";
import { fleetOpenFiles, type OpenFilesLimit } from "./open-files-limit.js";
import { histogramLines, RECONNECT_TARGET_MS, restartFigures, type RestartFigures } from "./reconnect-figures.js";
import { defaultAgentProcs, SwarmFleet } from "./swarm-fleet.js";
import { scrapeMetric, spawnControlPlane, writeStackCredentials, type ControlPlaneProcess } from "./trustplane-stack.js";

const USAGE =
  "usage: npm run bench:reconnect -- --agents N [--agent-procs K] [--signals SIGKILL,SIGTERM] [--json] [--sandbox-dir DIR] [--out FILE]\n";

/** Let the agents' rows reach the SQLite store before the control plane is killed. */
const SETTLE_MS = 2_000;
/** How long the agents get to come back after a restart: twice the back-off cap. */
const BACK_DEADLINE_MS = 2 * RECONNECT_TARGET_MS;
/** SIGTERM: the control plane's own shutdown grace is 2 s; after this it is killed. */
const TERM_GRACE_MS = 30_000;
const SIGNALS = ["SIGKILL", "SIGTERM"] as const;
/** The control plane's lines for a stream it accepted or refused. */
const ACCEPTED = "agent online";
const REFUSED = new Set(["agent refused", "agent stream refused"]);

interface ReconnectOptions {
  agents: number;
  agentProcs: number;
  signals: NodeJS.Signals[];
  json: boolean;
  sandboxBase: string;
  out?: string;
}

interface RestartResult extends RestartFigures {
  /** How the old control plane ended ("exit 0", "SIGKILL"). */
  old_exit: string;
  /** The new control plane's count once the workers said every agent was back. */
  server_online: number;
  /** Streams it accepted for hostnames it knew from the job store. */
  server_reconnects_total: number;
  load_before: number;
  load_after: number;
}

interface ReconnectResult {
  agents: number;
  agent_procs: number;
  job_store: "sqlite";
  backoff: { base_ms: number; cap_ms: number };
  initial_online_s: number;
  restarts: RestartResult[];
  failures: string[];
  machine: { nproc: number; node: string; open_files_limit: OpenFilesLimit };
  at: string;
}

function parseOptions(argv: string[]): ReconnectOptions {
  const { values } = parseArgs({
    args: argv,
    options: {
      agents: { type: "string" },
      "agent-procs": { type: "string" },
      signals: { type: "string", default: SIGNALS.join(",") },
      json: { type: "boolean", default: false },
      "sandbox-dir": { type: "string" },
      out: { type: "string" },
      help: { type: "boolean", default: false },
    },
  });
  if (values.help) {
    process.stdout.write(USAGE);
    process.exit(0);
  }
  const positive = (text: string | undefined, flag: string) => positiveInteger(text, flag, USAGE);
  const agents = positive(values.agents, "--agents");
  const signals = values.signals.split(",").map((signal) => signal.trim().toUpperCase());
  for (const signal of signals) {
    if (!(SIGNALS as readonly string[]).includes(signal)) throw new Error(`--signals takes ${SIGNALS.join(" and ")}, not ${signal}\n${USAGE}`);
  }
  return {
    agents,
    agentProcs: values["agent-procs"] ? positive(values["agent-procs"], "--agent-procs") : defaultAgentProcs(agents),
    signals: signals as NodeJS.Signals[],
    json: values.json,
    sandboxBase: values["sandbox-dir"] ? resolve(values["sandbox-dir"]) : existsSync("/dev/shm") ? "/dev/shm" : tmpdir(),
    out: values.out ? resolve(values.out) : undefined,
  };
}

function progress(message: string): void {
  process.stderr.write(`[bench:reconnect ${new Date().toISOString().slice(11, 19)}] ${message}\n`);
}

const sleep = (ms: number) => new Promise((done) => setTimeout(done, ms));

/** A port free on 127.0.0.1 now, so the control plane can be started on it again and again. */
async function freePort(): Promise<number> {
  const server = createServer();
  server.listen(0, "127.0.0.1");
  await once(server, "listening");
  const address = server.address();
  server.close();
  await once(server, "close");
  if (typeof address !== "object" || address === null) throw new Error("no port from a listening server");
  return address.port;
}

/** Ends the control plane with `signal` (SIGTERM: killed after a grace); how it ended. */
async function stopControlPlane(plane: ControlPlaneProcess, signal: NodeJS.Signals): Promise<string> {
  if (signal === "SIGTERM") await plane.server.stop(TERM_GRACE_MS);
  else plane.server.kill(signal);
  const { code, signal: endedBy } = await plane.server.exited;
  return endedBy ?? `exit ${code}`;
}

async function run(options: ReconnectOptions): Promise<ReconnectResult> {
  const { agents } = options;
  const { limit, forChildren: openFiles } = fleetOpenFiles(agents, options.agentProcs);
  const group = new ChildProcessGroup();
  group.killOnExit();
  const dir = await mkdtemp(join(tmpdir(), "trustplane-bench-reconnect-"));
  const sandboxDir = await mkdtemp(join(options.sandboxBase, "trustplane-bench-roots-"));
  group.removeOnExit(dir);
  group.removeOnExit(sandboxDir);
  const failures: string[] = [];
  const restarts: RestartResult[] = [];
  try {
    const dataDir = join(dir, "data");
    const credentials = await writeStackCredentials(dataDir);
    const grpcAddress = `127.0.0.1:${await freePort()}`;
    // Filled by the current control plane's log lines (its own clock, epoch ms).
    let accepts: number[] = [];
    let refusals: number[] = [];
    const onLog = (line: LogLine) => {
      if (line.msg === ACCEPTED) accepts.push(Number(line.time));
      else if (line.msg !== undefined && REFUSED.has(line.msg)) refusals.push(Number(line.time));
    };
    const startPlane = () => spawnControlPlane({ group, dir: dataDir, credentials, jobStore: "sqlite", openFiles, grpcAddress, onLog, timeoutMs: 60_000 });
    progress(`starting the control plane on ${grpcAddress} (job store sqlite under ${dataDir})`);
    let plane = await startPlane();

    progress(`spawning ${options.agentProcs} worker(s) for ${agents} agents (rebuild: /bin/true)`);
    const fleet = await SwarmFleet.spawn({
      group,
      kind: "agent",
      clients: agents,
      processes: options.agentProcs,
      server: grpcAddress,
      hostnamePrefix: "bench-agent-",
      joinToken: credentials.joinToken,
      agent: { sandboxDir, updateCommand: "/bin/true", logLevel: "warn", watchReconnects: true },
      openFiles,
      readyTimeoutMs: 120_000 + agents * 20,
    });
    const onlineStarted = performance.now();
    fleet.start();
    await until(() => fleet.onlineWorkers === fleet.workers.length, `all ${agents} agents online`, 60_000 + agents * 30);
    const initialOnlineSeconds = (performance.now() - onlineStarted) / 1000;
    progress(`all ${agents} agents online after ${initialOnlineSeconds.toFixed(2)} s`);
    const firstCount = await scrapeMetric(plane.metricsUrl, "trustplane_agents_online");
    if (firstCount !== agents) failures.push(`the control plane counts ${firstCount} agents online, not ${agents}`);
    await sleep(SETTLE_MS);

    for (const signal of options.signals) {
      const loadBefore = loadavg()[0]!;
      fleet.reconnectedWorkers = 0;
      accepts = [];
      refusals = [];
      const killAtMs = Date.now();
      const oldExit = await stopControlPlane(plane, signal);
      progress(`control plane ended (${signal}: ${oldExit}) after ${Date.now() - killAtMs} ms; starting it again on ${grpcAddress}`);
      plane = await startPlane();
      progress(`new control plane listening ${plane.listeningAtMs - killAtMs} ms after the ${signal}`);
      await until(() => fleet.reconnectedWorkers === fleet.workers.length, "every agent back", BACK_DEADLINE_MS).catch((error: Error) =>
        failures.push(`${signal}: ${error.message} within ${BACK_DEADLINE_MS / 1000} s (${fleet.reconnectedWorkers} of ${fleet.workers.length} workers)`),
      );
      const [serverOnline, serverReconnects] = await Promise.all([
        scrapeMetric(plane.metricsUrl, "trustplane_agents_online"),
        scrapeMetric(plane.metricsUrl, "trustplane_agent_stream_reconnects_total"),
      ]);
      const timelines = await fleet.timelines(30_000);
      const figures = restartFigures(timelines, { signal, killAtMs, listeningAtMs: plane.listeningAtMs, serverAccepts: accepts, serverRefusals: refusals });
      restarts.push({
        ...figures,
        old_exit: oldExit,
        server_online: serverOnline,
        server_reconnects_total: serverReconnects,
        load_before: loadBefore,
        load_after: loadavg()[0]!,
      });
      progress(`${signal}: ${figures.back} of ${agents} back, max ${figures.reconnect_ms.max} ms; control plane counts ${serverOnline} online`);
      if (serverOnline !== agents) failures.push(`${signal}: the control plane counts ${serverOnline} agents online, not ${agents}`);
      if (figures.back !== agents) failures.push(`${signal}: ${figures.back} of ${agents} agents reconnected`);
      if (!figures.all_back_within_30s) failures.push(`${signal}: not every agent was back within ${RECONNECT_TARGET_MS / 1000} s`);
      if (signal === "SIGTERM" && oldExit !== "exit 0") failures.push(`SIGTERM: the control plane ended with ${oldExit}, not exit 0`);
    }
    if (fleet.errorCount > 0) failures.push(`agent workers reported ${fleet.errorCount} error(s): ${fleet.errors.join("; ")}`);
    progress("stopping agents and control plane");
    await fleet.stop();
    return {
      agents,
      agent_procs: options.agentProcs,
      job_store: "sqlite",
      backoff: { base_ms: DEFAULT_BACKOFF.baseMs, cap_ms: DEFAULT_BACKOFF.capMs },
      initial_online_s: Math.round(initialOnlineSeconds * 100) / 100,
      restarts,
      failures,
      machine: { nproc: availableParallelism(), node: process.version, open_files_limit: limit },
      at: new Date().toISOString(),
    };
  } finally {
    await group.stopAll(5_000);
    await rm(dir, { recursive: true, force: true });
    await rm(sandboxDir, { recursive: true, force: true });
  }
}

function formatRestart(restart: RestartResult): string[] {
  const { reconnect_ms: time, first_retry_ms: retry, model_reconnect_ms: model } = restart;
  const s = (ms: number) => `${(ms / 1000).toFixed(2)} s`;
  return [
    `--- ${restart.signal}: old control plane ${restart.old_exit}; new one listening ${s(restart.down_ms)} after the signal (load ${restart.load_before.toFixed(2)} -> ${restart.load_after.toFixed(2)})`,
    `agents that lost their stream        ${restart.lost} of ${restart.agents}; first retry drawn: p50 ${retry.p50} ms, max ${retry.max} ms`,
    `failed attempts while it was down    ${restart.failed_attempts_while_down} (at most ${restart.max_failed_attempts_per_agent} by one agent); one took p50 ${restart.failed_attempt_ms.p50} ms, p90 ${restart.failed_attempt_ms.p90} ms`,
    `back after the restart               ${restart.back} of ${restart.agents}${restart.all_back_within_30s ? ", all within 30 s" : ", NOT all within 30 s"}`,
    `time to reconnect                    p50 ${s(time.p50)}  p90 ${s(time.p90)}  p99 ${s(time.p99)}  max ${s(time.max)}`,
    `the attempt that got in took         p50 ${s(restart.welcome_attempt_ms.p50)}  p90 ${s(restart.welcome_attempt_ms.p90)}  max ${s(restart.welcome_attempt_ms.max)} (start to welcome)`,
    `control plane counts online          ${restart.server_online} (${restart.server_reconnects_total} streams for hostnames known from the job store)`,
    `accepted streams per second          max ${restart.server_max_accepts_per_s} (busiest 100 ms: ${restart.server_max_accepts_per_s_100ms_window}/s); refusals ${restart.server_refusals}`,
    `back-off alone would give (model)    p50 ${s(model.p50)}  p90 ${s(model.p90)}  p99 ${s(model.p99)}  max ${s(model.max)}`,
    `failed attempts after the restart    ${restart.failed_attempts_after_restart}; streams lost again ${restart.lost_again}`,
    ...Object.entries(restart.failures_after_restart_by_reason).map(([reason, count]) => `  ${count} x ${reason}`),
    "reconnect time histogram (agents per 1-s bucket since the restart; the model's in brackets):",
    ...histogramLines(restart.histogram_1s, restart.model_histogram_1s).map((line) => `  ${line}`),
  ];
}

function formatResult(result: ReconnectResult): string {
  const lines = [
    `reconnect after a control-plane restart: ${result.agents} real agents in ${result.agent_procs} worker process(es), job store sqlite, back-off full jitter base ${result.backoff.base_ms} ms cap ${result.backoff.cap_ms} ms`,
    `machine: ${result.machine.nproc} cores, node ${result.machine.node}; all agents first online after ${result.initial_online_s} s`,
  ];
  for (const restart of result.restarts) lines.push("", ...formatRestart(restart));
  if (result.failures.length > 0) lines.push("", "FAILURES:", ...result.failures.map((failure) => `  ${failure}`));
  return `${lines.join("\n")}\n`;
}

runBench({
  name: "bench:reconnect",
  parse: parseOptions,
  run,
  format: formatResult,
  failures: (result) => result.failures,
});
