// The IPC protocol between a bench and its swarm workers (agent-swarm.ts,
// wire-agent-swarm.ts, bare-echo-swarm.ts). The worker reads its config from the environment, prepares,
// says "ready", starts its clients on "start", reports "online" once every client
// connected (and, watching reconnects, "reconnected" and its "report"), and exits
// when told "exit", on SIGTERM, or when its parent is gone.

export const SWARM_CONFIG_ENV = "TRUSTPLANE_BENCH_SWARM";

export interface SwarmConfig {
  /** "127.0.0.1:PORT" of the control plane (or of the bare echo server). */
  server: string;
  /** Host names `${hostnamePrefix}${i}` for first <= i < first + count. */
  hostnamePrefix: string;
  first: number;
  count: number;
  /** The agents' join token (trustplane agents and wire agents). */
  joinToken?: string;
  /** Real trustplane agents only. */
  agent?: {
    /** Each agent's root is `sandboxDir/<hostname>`. */
    sandboxDir: string;
    /** The rebuild command; absent: the distribution's own (update-ca-certificates). */
    updateCommand?: string;
    /** Written as each root's bundle before the agents start. */
    prefilledBundle?: string;
    /** Skip the rebuild command's process: the agents' runRebuild does nothing (with a prefilled bundle). */
    inProcessRebuild?: boolean;
    logLevel: string;
    /**
     * Reconnects are expected (bench:reconnect): a lost stream is not a failure, the
     * worker says "reconnected" each time all its agents are connected again, and
     * answers "report" with every agent's connection timeline.
     */
    watchReconnects?: boolean;
  };
}

/** What happened to one agent's connection, as the agent's own events said it, at `atMs` (epoch ms). */
export type ConnectionEvent =
  | { kind: "connected"; atMs: number }
  /** A welcomed stream ended; the first retry follows after `retryInMs`. */
  | { kind: "lost"; atMs: number; code: number; retryInMs: number }
  /** A connection attempt that never got in; `details` is grpc-js's reason. */
  | { kind: "failed"; atMs: number; code: number; details: string; retryInMs: number };

export interface AgentTimeline {
  hostname: string;
  events: ConnectionEvent[];
}

export type SwarmMessage =
  | { type: "ready"; prepareMs: number }
  | { type: "online"; count: number }
  /** Every agent of the worker is connected again after some lost their streams (watchReconnects only). */
  | { type: "reconnected"; count: number }
  | { type: "report"; agents: AgentTimeline[] }
  | { type: "failed"; error: string }
  /** Something worth reporting that is not a failure (why connection attempts were retried). */
  | { type: "note"; text: string };

export type SwarmCommand = { type: "start" } | { type: "exit" } | { type: "report" };

export function isSwarmMessage(value: unknown): value is SwarmMessage {
  return typeof value === "object" && value !== null && typeof (value as { type?: unknown }).type === "string";
}

export function hostnames(config: Pick<SwarmConfig, "hostnamePrefix" | "first" | "count">): string[] {
  return Array.from({ length: config.count }, (_, i) => `${config.hostnamePrefix}${config.first + i}`);
}

/** Reads the config, and makes the worker exit when its parent goes away or says so. */
export function swarmWorker(onStart: () => void, onReport?: () => void): SwarmConfig {
  const raw = process.env[SWARM_CONFIG_ENV];
  if (!raw || !process.send) throw new Error(`a swarm worker runs as a child with IPC and ${SWARM_CONFIG_ENV} set`);
  process.on("disconnect", () => process.exit(0));
  process.on("SIGTERM", () => process.exit(0));
  process.on("message", (message: SwarmCommand) => {
    if (message.type === "start") onStart();
    else if (message.type === "report") onReport?.();
    else if (message.type === "exit") process.exit(0);
  });
  return JSON.parse(raw) as SwarmConfig;
}

export function sendToParent(message: SwarmMessage): void {
  process.send?.(message);
}
