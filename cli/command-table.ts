// Every `trustplane` command: its one-line summary and how to load it. Modules are
// imported only when their command runs, so `trustplane agent` never loads the
// control plane's dependencies and `--help` answers at once.
import { VERSION } from "./version.js";

/** Runs a command; resolves to its exit code (nothing: 0). */
export type Run = (argv: string[]) => Promise<number | void>;

export interface CommandEntry {
  summary: string;
  /** The module that runs `argv` (the arguments after the command's name). */
  load(argv: readonly string[]): Promise<Run>;
}

/** `trustplane agent list|get|forget` are client calls; `trustplane agent [flags]` is the node agent. */
const FLEET_ACTIONS: ReadonlySet<string> = new Set(["list", "get", "forget"]);

export const COMMANDS: Readonly<Record<string, CommandEntry>> = {
  up: {
    load: async () => (await import("./commands/up.js")).upCommand,
    summary: "control plane, gateway and a sandboxed local agent in one process",
  },
  server: { load: async () => (await import("./commands/server.js")).serverCommand, summary: "the control plane (gRPC)" },
  gateway: { load: async () => (await import("./commands/gateway.js")).gatewayCommand, summary: "the REST / Connect gateway" },
  agent: {
    load: async (argv) =>
      argv[0] !== undefined && FLEET_ACTIONS.has(argv[0])
        ? (await import("./commands/fleet.js")).fleetCommand
        : (await import("./commands/agent.js")).agentCommand,
    summary: "the node agent; agent list|get|forget: the agents the control plane knows",
  },
  keys: {
    load: async () => (await import("./commands/keys.js")).keysCommand,
    summary: "create or remove API keys (keys create --role write)",
  },
  token: {
    load: async () => (await import("./commands/token.js")).tokenCommand,
    summary: "rotate the agents' join token (token rotate [--store-hash])",
  },
  pki: {
    load: async () => (await import("./commands/pki.js")).pkiCommand,
    summary: "a private CA for (mutual) TLS: pki init|issue-server|issue-agent",
  },
  ca: {
    load: async () => (await import("./commands/ca.js")).caCommand,
    summary: "install|list|update|delete CA certificates on the hosts a target matches",
  },
  job: { load: async () => (await import("./commands/job.js")).jobCommand, summary: "get|list|watch jobs and their per-host results" },
  file: { load: async () => (await import("./commands/file.js")).fileCommand, summary: "upload|list|delete PEM objects" },
};

export function help(): string {
  const width = Math.max(...Object.keys(COMMANDS).map((name) => name.length));
  const rows = Object.entries(COMMANDS).map(([name, { summary }]) => `  ${name.padEnd(width)}  ${summary}`);
  return [
    `trustplane ${VERSION}: CA certificates into the trust stores of a Linux fleet.`,
    ``,
    `Usage: trustplane <command> [flags]`,
    ``,
    `Commands:`,
    ...rows,
    ``,
    `Client commands (ca, job, file, agent list) call the gateway at --url or $TRUSTPLANE_URL`,
    `(default http://127.0.0.1:8080) with the key in --api-key or $TRUSTPLANE_API_KEY; an https://`,
    `gateway with a private CA needs that CA in --ca FILE or $TRUSTPLANE_CA.`,
    `Exit codes: 0 ok, 1 a host failed (or another failure), 2 usage error, 3 API error.`,
    ``,
    `Run "trustplane <command> --help" for its flags.`,
    ``,
  ].join("\n");
}
