// Fan-out benchmark (issue 6): a control plane and a gateway as child processes, N
// real agents spread over K worker processes, and in the same run a bare grpc-js
// bidi echo fan-out with the same N and process layout. Prints the figures, or one
// JSON object with --json.
//
//   npm run bench:fanout -- --agents N [--rounds R] [--agent-procs K] [--json]
//     [--agent-kind real|wire] [--job-store sqlite|memory] [--rebuild cat|true|none]
//     [--cpu-prof DIR] [--sandbox-dir DIR] [--skip-bare] [--out FILE] [--replicas R]
//
// --replicas R (R > 1) runs R control-plane replicas on a nats-server of the bench's
// own and a fresh schema in the PostgreSQL of server/testing/postgres-test-schema.ts
// (issue 7); the agents' workers are spread over the replicas, the gateway and gRPC
// calls go to the first, so every round crosses replicas.
//
// --cpu-prof DIR writes V8 CPU profiles of every child into DIR/server, DIR/gateway,
// DIR/agent-workers, DIR/bare-server and DIR/bare-workers (read them with
// bench/cpu-profile-top.ts).
//
// --agent-kind real (the default) runs agent/agent.ts with a sandbox root and a
// stand-in rebuild command; wire runs wire-agent-swarm.ts, which speaks the same
// protocol and answers at once, to separate the control plane's cost from the
// simulated nodes' local work.
import { chmod, mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import { existsSync } from "node:fs";
import { availableParallelism, freemem, loadavg, tmpdir, totalmem } from "node:os";
import { join, resolve } from "node:path";
import { parseArgs } from "node:util";
import { makeCa } from "../test/fixtures/pki.js";
import { BareEchoStack } from "./bare-echo-stack.js";
import { positiveInteger, runBench } from "./bench-main.js";
import { ChildProcessGroup } from "./child-process-group.js";
import { fanoutJson, formatFanoutResult, type FanoutResult } from "./fanout-result.js";
import { summarize } from "./latency-summary.js";
import { fleetOpenFiles } from "./open-files-limit.js";
import { catRebuildScript } from "./sandbox-roots.js";
import { defaultAgentProcs, SwarmFleet } from "./swarm-fleet.js";
import { TrustplaneStack, type JobStoreKind, type RoundOutcome, type StackCluster } from "./trustplane-stack.js";
import { startNatsServer } from "../server/testing/nats-server.js";
import { createTestSchema } from "../server/testing/postgres-test-schema.js";

const USAGE =
  "usage: npm run bench:fanout -- --agents N [--rounds R] [--agent-procs K] [--json] [--agent-kind real|wire]\n" +
  "         [--job-store sqlite|memory] [--rebuild cat|true|none] [--cpu-prof DIR] [--sandbox-dir DIR] [--skip-bare] [--out FILE]\n" +
  "         [--replicas R]\n";

/** The CA name every round installs; the object alternates between the two. */
const CA_NAME = "bench";
const OBJECTS = ["bench-a.pem", "bench-b.pem"] as const;
/** Per-host answer deadline of every job (seconds): generous, so a slow round is slow, not failed. */
const JOB_TIMEOUT_SECONDS = 600;
/** Let the control plane settle (store writes, GC) before reading its memory. */
const SETTLE_MS = 2_000;
const POLL_MS = 100;
/** How long the control plane is watched with every agent connected and no job running. */
const IDLE_WINDOW_MS = 5_000;

interface FanoutOptions {
  agents: number;
  rounds: number;
  agentProcs: number;
  json: boolean;
  agentKind: "real" | "wire";
  jobStore: JobStoreKind;
  /** cat: a sh stand-in per rebuild; true: /bin/true per rebuild; none: no process at all (runRebuild). */
  rebuild: "cat" | "true" | "none";
  cpuProfDir?: string;
  sandboxBase: string;
  skipBare: boolean;
  out?: string;
  /** Control-plane replicas; 1 is the single-process default. */
  replicas: number;
}

function parseOptions(argv: string[]): FanoutOptions {
  const { values } = parseArgs({
    args: argv,
    options: {
      agents: { type: "string" },
      rounds: { type: "string", default: "10" },
      "agent-procs": { type: "string" },
      json: { type: "boolean", default: false },
      "agent-kind": { type: "string", default: "real" },
      "job-store": { type: "string", default: "sqlite" },
      rebuild: { type: "string", default: "cat" },
      "cpu-prof": { type: "string" },
      "sandbox-dir": { type: "string" },
      "skip-bare": { type: "boolean", default: false },
      out: { type: "string" },
      replicas: { type: "string", default: "1" },
      help: { type: "boolean", default: false },
    },
  });
  if (values.help) {
    process.stdout.write(USAGE);
    process.exit(0);
  }
  const positive = (text: string | undefined, flag: string) => positiveInteger(text, flag, USAGE);
  const agents = positive(values.agents, "--agents");
  const jobStore = values["job-store"];
  if (jobStore !== "sqlite" && jobStore !== "memory") throw new Error(`--job-store must be sqlite or memory\n${USAGE}`);
  const agentKind = values["agent-kind"];
  if (agentKind !== "real" && agentKind !== "wire") throw new Error(`--agent-kind must be real or wire\n${USAGE}`);
  const replicas = positive(values.replicas, "--replicas");
  const rebuild = values.rebuild;
  if (rebuild !== "cat" && rebuild !== "true" && rebuild !== "none") throw new Error(`--rebuild must be cat, true or none\n${USAGE}`);
  const agentProcs = values["agent-procs"] ? positive(values["agent-procs"], "--agent-procs") : defaultAgentProcs(agents);
  return {
    agents,
    rounds: positive(values.rounds, "--rounds"),
    // Every replica gets the same number of workers.
    agentProcs: Math.ceil(agentProcs / replicas) * replicas,
    replicas,
    json: values.json,
    agentKind,
    jobStore,
    rebuild,
    cpuProfDir: values["cpu-prof"] ? resolve(values["cpu-prof"]) : undefined,
    // tmpfs when there is one: real nodes each fsync their own disk; here every sandbox shares one.
    sandboxBase: values["sandbox-dir"] ? resolve(values["sandbox-dir"]) : existsSync("/dev/shm") ? "/dev/shm" : tmpdir(),
    skipBare: values["skip-bare"],
    out: values.out ? resolve(values.out) : undefined,
  };
}

function progress(message: string): void {
  process.stderr.write(`[bench:fanout ${new Date().toISOString().slice(11, 19)}] ${message}\n`);
}

/** CLOCK_MONOTONIC in microseconds, the clock of V8's CPU profiles. */
const monotonicMicros = () => Number(process.hrtime.bigint() / 1000n);

const sleep = (ms: number) => new Promise((done) => setTimeout(done, ms));

/**
 * Polls `count` until it reaches `target`; seconds it took. `progressCount`, when
 * given, is what the progress lines (every 10 s) and the timeout error report.
 */
async function waitForCount(
  count: () => Promise<number>,
  target: number,
  started: number,
  timeoutMs: number,
  what: string,
  progressCount: () => Promise<number> = count,
): Promise<number> {
  let lastReport = started;
  for (;;) {
    const seen = await count();
    const now = performance.now();
    if (seen >= target) return (now - started) / 1000;
    if (now - started > timeoutMs) throw new Error(`${what}: only ${await progressCount()} of ${target} online after ${Math.round(timeoutMs / 1000)} s`);
    if (now - lastReport > 10_000) {
      progress(`${what}: ${await progressCount()} of ${target} online`);
      lastReport = now;
    }
    await sleep(POLL_MS);
  }
}

function checkRound(outcome: RoundOutcome, agents: number, what: string, failures: string[]): void {
  if (outcome.hosts === agents && outcome.ok === agents && outcome.changed === agents) return;
  failures.push(`${what}: ${outcome.hosts} hosts, ${outcome.ok} ok, ${outcome.changed} changed${outcome.firstError ? `; first error: ${outcome.firstError}` : ""}`);
}

/** The bare grpc-js echo fan-out with the same N and process layout. */
async function measureBare(
  group: ChildProcessGroup,
  options: FanoutOptions,
  openFiles: number,
  pemBytes: number,
  failures: string[],
): Promise<NonNullable<FanoutResult["bare"]>> {
  const { agents, rounds } = options;
  progress("starting the bare echo server");
  const echo = await BareEchoStack.start(group, openFiles, options.cpuProfDir && join(options.cpuProfDir, "bare-server"));
  await sleep(SETTLE_MS);
  const bareRssBeforeKb = echo.server.rssKb();
  const bareHeapBefore = await echo.heapUsedBytes();
  const bareFleet = await SwarmFleet.spawn({
    group,
    kind: "bare",
    clients: agents,
    processes: options.agentProcs,
    server: echo.address,
    hostnamePrefix: "bench-echo-",
    openFiles: openFiles,
    readyTimeoutMs: 120_000,
    cpuProfileDir: options.cpuProfDir && join(options.cpuProfDir, "bare-workers"),
  });
  const started = performance.now();
  bareFleet.start();
  const bareOnlineSeconds = await waitForCount(() => echo.streams(), agents, started, 60_000 + agents * 30, "bare streams");
  progress(`all ${agents} bare streams open after ${bareOnlineSeconds.toFixed(2)} s`);
  await sleep(SETTLE_MS);
  const bareRssAfterKb = echo.server.rssKb();
  const bareHeapAfter = await echo.heapUsedBytes();
  // The payload is as large as trustplane's install command frame: the PEM plus ids, digest and names.
  const payloadBytes = pemBytes + 200;
  const bareMs: number[] = [];
  await echo.fanout(payloadBytes, JOB_TIMEOUT_SECONDS * 1000);
  const bareCpuBefore = { server: echo.server.cpuMs(), workers: bareFleet.cpuMs() };
  for (let round = 0; round < rounds; round++) {
    const { ms, echoed } = await echo.fanout(payloadBytes, JOB_TIMEOUT_SECONDS * 1000);
    if (echoed !== agents) failures.push(`bare round ${round + 1}: ${echoed} of ${agents} echoed`);
    bareMs.push(ms);
    progress(`bare round ${round + 1}/${rounds}: ${ms.toFixed(1)} ms`);
  }
  const bare = {
    onlineSeconds: bareOnlineSeconds,
    latency: summarize(bareMs),
    rssPerStreamKb: (bareRssAfterKb - bareRssBeforeKb) / agents,
    heapPerStreamKb: (bareHeapAfter - bareHeapBefore) / 1024 / agents,
    payloadBytes,
    cpuMsPerRound: {
      server: (echo.server.cpuMs() - bareCpuBefore.server) / rounds,
      workers: (bareFleet.cpuMs() - bareCpuBefore.workers) / rounds,
    },
  };
  await bareFleet.stop();
  await echo.stop();
  return bare;
}

async function run(options: FanoutOptions): Promise<FanoutResult> {
  const { agents, rounds } = options;
  const { limit, forChildren: openFilesForChildren } = fleetOpenFiles(agents, options.agentProcs);

  const group = new ChildProcessGroup();
  group.killOnExit();
  const dir = await mkdtemp(join(tmpdir(), "trustplane-bench-fanout-"));
  const sandboxDir = await mkdtemp(join(options.sandboxBase, "trustplane-bench-roots-"));
  group.removeOnExit(dir);
  group.removeOnExit(sandboxDir);
  if (options.cpuProfDir) await mkdir(options.cpuProfDir, { recursive: true });
  const loadBefore = loadavg()[0]!;
  const failures: string[] = [];
  const notes: string[] = [];
  const cleanups: (() => Promise<void>)[] = [];
  try {
    progress(`making two test CAs; data dir ${dir}, sandbox roots under ${sandboxDir}`);
    const cas = [makeCa({ commonName: "trustplane bench CA A" }), makeCa({ commonName: "trustplane bench CA B" })];
    let updateCommand = "/bin/true";
    let prefilledBundle: string | undefined;
    if (options.rebuild === "cat") {
      updateCommand = join(dir, "rebuild-standin.sh");
      await writeFile(updateCommand, catRebuildScript());
      await chmod(updateCommand, 0o755);
    } else {
      // A rebuild that writes nothing: the bundle already holds both CAs, so the agent's check passes.
      prefilledBundle = cas.map((ca) => ca.certPem).join("");
    }

    // --- trustplane ---
    let cluster: StackCluster | undefined;
    if (options.replicas > 1) {
      const [nats, schema] = await Promise.all([startNatsServer(), createTestSchema()]);
      cleanups.push(() => nats.stop(), () => schema.drop());
      cluster = { replicas: options.replicas, natsUrl: nats.url, postgresUrl: schema.url };
      progress(`starting ${options.replicas} control-plane replicas (NATS ${nats.url}, PostgreSQL schema ${schema.name}) and a gateway`);
    } else {
      progress(`starting control plane (job store ${options.jobStore}) and gateway`);
    }
    const stack = await TrustplaneStack.start({
      group,
      dir: join(dir, "data"),
      jobStore: cluster ? "postgres" : options.jobStore,
      cluster,
      openFiles: openFilesForChildren,
      cpuProfileDir: options.cpuProfDir,
    });
    await stack.upload(OBJECTS[0], cas[0]!.certPem);
    await stack.upload(OBJECTS[1], cas[1]!.certPem);
    await sleep(SETTLE_MS);
    const rssBeforeKb = stack.rssKb();
    const heapBefore = await stack.metric("nodejs_heap_size_used_bytes");

    const real = options.agentKind === "real";
    progress(`spawning ${options.agentProcs} worker(s) for ${agents} ${real ? `agents (rebuild: ${updateCommand})` : "wire agents"}`);
    const agentFleet = await SwarmFleet.spawn({
      group,
      kind: real ? "agent" : "wire",
      clients: agents,
      processes: options.agentProcs,
      server: stack.replicas.map((replica) => replica.address),
      hostnamePrefix: "bench-agent-",
      joinToken: stack.joinToken,
      agent: real ? { sandboxDir, updateCommand, prefilledBundle, inProcessRebuild: options.rebuild === "none", logLevel: "warn" } : undefined,
      openFiles: openFilesForChildren,
      readyTimeoutMs: 120_000 + agents * 20,
      cpuProfileDir: options.cpuProfDir && join(options.cpuProfDir, "agent-workers"),
    });
    const onlineStarted = performance.now();
    const onlineStartedUs = monotonicMicros();
    agentFleet.start();
    // Timed by the workers' own "every agent welcomed" messages: scraping /metrics often costs the control
    // plane O(open sockets) per scrape (prom-client's process metrics) and would slow what it measures.
    const workersOnline = async () => (agentFleet.onlineWorkers === agentFleet.workers.length ? agents : 0);
    const onlineSeconds = await waitForCount(workersOnline, agents, onlineStarted, 60_000 + agents * 30, "agents", () => stack.onlineAgents()).catch(
      (error: Error) => {
        throw new Error(`${error.message}\nworker errors: ${agentFleet.errors.join("; ")}\nfirst worker's stderr:\n${agentFleet.workers[0]!.describe()}\ncontrol plane's stderr:\n${stack.server.describe()}`);
      },
    );
    progress(`all ${agents} agents online after ${onlineSeconds.toFixed(2)} s`);
    if (options.cpuProfDir) {
      await writeFile(join(options.cpuProfDir, "online-window.json"), `${JSON.stringify({ startUs: onlineStartedUs, endUs: monotonicMicros() })}\n`);
    }
    const counted = await stack.onlineAgents();
    if (counted !== agents) failures.push(`the control plane counts ${counted} agents online, not ${agents}`);
    notes.push(...agentFleet.notes);
    const listed = await stack.listOnline();
    if (listed !== agents) failures.push(`FleetService.ListAgents(state=ONLINE) lists ${listed} agents, not ${agents}`);
    // Idle cost of the connected fleet (heartbeats, keepalive pings): control-plane CPU per second with no job.
    const idleCpuBefore = stack.cpuMs();
    await sleep(IDLE_WINDOW_MS);
    const idleCpuMsPerSecond = ((stack.cpuMs() - idleCpuBefore) * 1000) / IDLE_WINDOW_MS;
    const rssAfterKb = stack.rssKb();
    const heapAfter = await stack.metric("nodejs_heap_size_used_bytes");
    const agentWorkersRssKb = agentFleet.rssKb();

    let turn = 0;
    const nextObject = () => OBJECTS[turn++ % 2]!;
    progress("warm-up round (REST)");
    checkRound(await stack.installRest("_all", CA_NAME, nextObject(), JOB_TIMEOUT_SECONDS), agents, "warm-up round", failures);
    const cpu = () => ({ server: stack.cpuMs(), gateway: stack.gateway.cpuMs(), agents: agentFleet.cpuMs() });
    const cpuPerRound = (before: ReturnType<typeof cpu>, after: ReturnType<typeof cpu>) => ({
      server: (after.server - before.server) / rounds,
      gateway: (after.gateway - before.gateway) / rounds,
      agents: (after.agents - before.agents) / rounds,
    });
    const roundsStartedUs = monotonicMicros();
    const restCpuBefore = cpu();
    const restMs: number[] = [];
    for (let round = 0; round < rounds; round++) {
      const outcome = await stack.installRest("_all", CA_NAME, nextObject(), JOB_TIMEOUT_SECONDS);
      checkRound(outcome, agents, `REST round ${round + 1}`, failures);
      restMs.push(outcome.ms);
      progress(`REST round ${round + 1}/${rounds}: ${outcome.ms.toFixed(1)} ms`);
    }
    const restCpu = cpuPerRound(restCpuBefore, cpu());
    const grpcCpuBefore = cpu();
    const grpcMs: number[] = [];
    for (let round = 0; round < rounds; round++) {
      const outcome = await stack.installGrpc("_all", CA_NAME, nextObject(), JOB_TIMEOUT_SECONDS);
      checkRound(outcome, agents, `gRPC round ${round + 1}`, failures);
      grpcMs.push(outcome.ms);
      progress(`gRPC round ${round + 1}/${rounds}: ${outcome.ms.toFixed(1)} ms`);
    }
    const grpcCpu = cpuPerRound(grpcCpuBefore, cpu());
    if (options.cpuProfDir) {
      // The profiles' clock is the monotonic clock too: cpu-profile-top.ts --window keeps only the rounds.
      await writeFile(join(options.cpuProfDir, "rounds-window.json"), `${JSON.stringify({ startUs: roundsStartedUs, endUs: monotonicMicros() })}\n`);
    }
    const rssAfterRoundsKb = stack.rssKb();
    if (agentFleet.errorCount > 0) failures.push(`agent workers reported ${agentFleet.errorCount} error(s): ${agentFleet.errors.join("; ")}`);
    progress("stopping agents, gateway and control plane");
    await agentFleet.stop();
    await stack.stop();

    // --- bare grpc-js echo, same N and layout ---
    let bare: FanoutResult["bare"];
    if (!options.skipBare) {
      try {
        bare = await measureBare(group, options, openFilesForChildren, cas[0]!.certPem.length, failures);
      } catch (error) {
        failures.push(`bare echo: ${(error as Error).message.split("\n")[0]}`);
        await group.stopAll(5_000);
      }
    }

    const rest = summarize(restMs);
    const grpc = summarize(grpcMs);
    return {
      agents,
      agentProcs: options.agentProcs,
      replicas: options.replicas,
      rounds,
      jobStore: options.replicas > 1 ? "postgres" : options.jobStore,
      agentKind: options.agentKind,
      rebuild: !real ? "none (wire agents answer at once)" : options.rebuild === "cat"
          ? "sh stand-in (cat anchors > bundle)"
          : options.rebuild === "true"
            ? "/bin/true, bundle prefilled"
            : "none (in-process no-op, bundle prefilled)",
      onlineSeconds,
      rest,
      grpc,
      cpuMsPerRound: { rest: restCpu, grpc: grpcCpu },
      bare,
      server: {
        rssBeforeKb,
        rssAfterKb,
        rssAfterRoundsKb,
        rssPerAgentKb: (rssAfterKb - rssBeforeKb) / agents,
        heapPerAgentKb: (heapAfter - heapBefore) / 1024 / agents,
        idleCpuMsPerSecond,
      },
      agentWorkersRssPerAgentKb: agentWorkersRssKb / agents,
      failures,
      notes,
      machine: {
        nproc: availableParallelism(),
        memoryGb: Math.round(totalmem() / 2 ** 30),
        freeMemoryGb: Math.round(freemem() / 2 ** 30),
        node: process.version,
        loadBefore,
        loadAfter: loadavg()[0]!,
        openFilesLimit: limit,
      },
      at: new Date().toISOString(),
    };
  } finally {
    await group.stopAll(5_000);
    for (const cleanup of cleanups.reverse()) await cleanup().catch(() => undefined);
    await rm(dir, { recursive: true, force: true });
    await rm(sandboxDir, { recursive: true, force: true });
  }
}

runBench({
  name: "bench:fanout",
  parse: parseOptions,
  run,
  format: formatFanoutResult,
  json: fanoutJson,
  failures: (result) => result.failures,
});
