// The IPC protocol between a bench and its swarm workers (agent-swarm.ts,
// wire-agent-swarm.ts, bare-echo-swarm.ts). The worker reads its config from the environment, prepares,
// says "ready", starts its clients on "start", reports "online" once every client
// connected, and exits when told "exit", on SIGTERM, or when its parent is gone.

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
    logLevel: string;
  };
}

export type SwarmMessage =
  | { type: "ready"; prepareMs: number }
  | { type: "online"; count: number }
  | { type: "failed"; error: string }
  /** Something worth reporting that is not a failure (why connection attempts were retried). */
  | { type: "note"; text: string };

export type SwarmCommand = { type: "start" } | { type: "exit" };

export function isSwarmMessage(value: unknown): value is SwarmMessage {
  return typeof value === "object" && value !== null && typeof (value as { type?: unknown }).type === "string";
}

export function hostnames(config: Pick<SwarmConfig, "hostnamePrefix" | "first" | "count">): string[] {
  return Array.from({ length: config.count }, (_, i) => `${config.hostnamePrefix}${config.first + i}`);
}

/** Reads the config, and makes the worker exit when its parent goes away or says so. */
export function swarmWorker(onStart: () => void): SwarmConfig {
  const raw = process.env[SWARM_CONFIG_ENV];
  if (!raw || !process.send) throw new Error(`a swarm worker runs as a child with IPC and ${SWARM_CONFIG_ENV} set`);
  process.on("disconnect", () => process.exit(0));
  process.on("SIGTERM", () => process.exit(0));
  process.on("message", (message: SwarmCommand) => {
    if (message.type === "start") onStart();
    else if (message.type === "exit") process.exit(0);
  });
  return JSON.parse(raw) as SwarmConfig;
}

export function sendToParent(message: SwarmMessage): void {
  process.send?.(message);
}
