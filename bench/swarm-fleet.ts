// K swarm worker processes sharing N clients between them (agent-swarm.ts,
// wire-agent-swarm.ts or bare-echo-swarm.ts): spawned and prepared, then started at one instant.
import { fileURLToPath } from "node:url";
import type { BenchChild, ChildProcessGroup } from "./child-process-group.js";
import { isSwarmMessage, SWARM_CONFIG_ENV, type AgentTimeline, type SwarmConfig, type SwarmMessage } from "./swarm-messages.js";

const WORKERS = {
  agent: fileURLToPath(new URL("agent-swarm.ts", import.meta.url)),
  wire: fileURLToPath(new URL("wire-agent-swarm.ts", import.meta.url)),
  bare: fileURLToPath(new URL("bare-echo-swarm.ts", import.meta.url)),
};

export interface SwarmFleetOptions {
  group: ChildProcessGroup;
  kind: keyof typeof WORKERS;
  /** Clients in all. */
  clients: number;
  processes: number;
  /** The control plane each worker's clients dial; with several (cluster replicas), worker i dials servers[i % count]. */
  server: string | readonly string[];
  hostnamePrefix: string;
  joinToken?: string;
  agent?: SwarmConfig["agent"];
  openFiles: number;
  readyTimeoutMs: number;
  /** Write each worker's V8 CPU profile into this directory (at its exit). */
  cpuProfileDir?: string;
}

/** Worker processes for `agents` by default: at most 500 agents per worker (fewer event-loop stalls), at most eight workers. */
export function defaultAgentProcs(agents: number): number {
  return Math.min(8, Math.ceil(agents / 500));
}

/** How `total` clients split over `processes` workers: sizes differ by at most one. */
export function splitEvenly(total: number, processes: number): number[] {
  const base = Math.floor(total / processes);
  const extra = total % processes;
  return Array.from({ length: processes }, (_, i) => base + (i < extra ? 1 : 0)).filter((size) => size > 0);
}

export class SwarmFleet {
  /** Errors the workers reported (agent errors, broken streams); the first few are kept. */
  readonly errors: string[] = [];
  errorCount = 0;
  /** What the workers noted (not failures). */
  readonly notes: string[] = [];
  /** The slowest worker's preparation (sandbox roots), ms. */
  prepareMs = 0;
  /** Workers whose clients have all been welcomed once ("online"; agent and wire workers only). */
  onlineWorkers = 0;
  /** "reconnected" messages so far (agent workers watching reconnects); the bench resets it before a restart. */
  reconnectedWorkers = 0;

  private constructor(readonly workers: BenchChild[]) {}

  static async spawn(options: SwarmFleetOptions): Promise<SwarmFleet> {
    const sizes = splitEvenly(options.clients, options.processes);
    let first = 0;
    const workers = sizes.map((count, index) => {
      const config: SwarmConfig = {
        server: typeof options.server === "string" ? options.server : options.server[index % options.server.length]!,
        hostnamePrefix: options.hostnamePrefix,
        first,
        count,
        joinToken: options.joinToken,
        agent: options.agent,
      };
      first += count;
      return options.group.spawn({
        name: `${options.kind}-swarm-${index}`,
        args: [WORKERS[options.kind]],
        env: { [SWARM_CONFIG_ENV]: JSON.stringify(config) },
        ipc: true,
        nodeArgs: options.cpuProfileDir ? ["--cpu-prof", "--cpu-prof-dir", options.cpuProfileDir] : [],
        openFiles: options.openFiles,
      });
    });
    const fleet = new SwarmFleet(workers);
    for (const worker of workers) {
      worker.onMessage((message) => {
        if (!isSwarmMessage(message)) return;
        if (message.type === "failed") fleet.noteError(`${worker.name}: ${message.error}`);
        else if (message.type === "online") fleet.onlineWorkers++;
        else if (message.type === "reconnected") fleet.reconnectedWorkers++;
        else if (message.type === "note") fleet.notes.push(`${worker.name}: ${message.text}`);
      });
    }
    const answers = await Promise.all(
      workers.map((worker) =>
        worker.waitForMessage(
          (message): message is SwarmMessage => isSwarmMessage(message) && (message.type === "ready" || message.type === "failed"),
          options.readyTimeoutMs,
        ),
      ),
    );
    for (const answer of answers) {
      if (answer.type === "failed") throw new Error(`swarm worker failed to prepare: ${answer.error}`);
      if (answer.type === "ready") fleet.prepareMs = Math.max(fleet.prepareMs, answer.prepareMs);
    }
    return fleet;
  }

  start(): void {
    for (const worker of this.workers) worker.send({ type: "start" });
  }

  /** Every agent's connection timeline, from all workers (agent workers watching reconnects). */
  async timelines(timeoutMs: number): Promise<AgentTimeline[]> {
    const reports = this.workers.map((worker) =>
      worker.waitForMessage((message): message is Extract<SwarmMessage, { type: "report" }> => isSwarmMessage(message) && message.type === "report", timeoutMs),
    );
    for (const worker of this.workers) worker.send({ type: "report" });
    return (await Promise.all(reports)).flatMap((report) => report.agents);
  }

  /** Sum of the workers' resident set sizes, KiB. */
  rssKb(): number {
    return this.workers.reduce((sum, worker) => sum + worker.rssKb(), 0);
  }

  /** CPU time of all workers so far, ms. */
  cpuMs(): number {
    return this.workers.reduce((sum, worker) => sum + worker.cpuMs(), 0);
  }

  async stop(): Promise<void> {
    await Promise.all(this.workers.map((worker) => worker.stop(5_000)));
  }

  private noteError(error: string): void {
    this.errorCount++;
    if (this.errors.length < 5) this.errors.push(error);
  }
}
