// The `trustplane` command: up | server | gateway | agent | keys. Each command's
// module is loaded only when it runs, so `trustplane agent` never loads the
// control plane's dependencies and `--help` answers at once.
import { EXIT_FAILURE, EXIT_USAGE, UsageError } from "./usage-error.js";
import { VERSION } from "./version.js";

type Run = (argv: string[]) => Promise<void>;

const COMMANDS: Record<string, { load: () => Promise<Run>; summary: string }> = {
  up: {
    load: async () => (await import("./commands/up.js")).upCommand,
    summary: "control plane, gateway and a sandboxed local agent in one process",
  },
  server: { load: async () => (await import("./commands/server.js")).serverCommand, summary: "the control plane (gRPC)" },
  gateway: { load: async () => (await import("./commands/gateway.js")).gatewayCommand, summary: "the REST / Connect gateway" },
  agent: { load: async () => (await import("./commands/agent.js")).agentCommand, summary: "the node agent" },
  keys: {
    load: async () => (await import("./commands/keys.js")).keysCommand,
    summary: "create or remove API keys (keys create --role write)",
  },
};

function help(): string {
  const rows = Object.entries(COMMANDS).map(([name, { summary }]) => `  ${name.padEnd(8)}  ${summary}`);
  return `trustplane ${VERSION}: CA certificates into the trust stores of a Linux fleet.\n\nUsage: trustplane <command> [flags]\n\nCommands:\n${rows.join("\n")}\n\nRun "trustplane <command> --help" for its flags.\n`;
}

async function main(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  if (name === undefined || name === "help" || name === "--help" || name === "-h") {
    process.stdout.write(help());
    return name === undefined ? EXIT_USAGE : 0;
  }
  if (name === "--version" || name === "version") {
    process.stdout.write(`${VERSION}\n`);
    return 0;
  }
  const command = COMMANDS[name];
  if (!command) throw new UsageError(`trustplane: unknown command "${name}" (see trustplane --help)`);
  const run = await command.load();
  await run(rest);
  return 0;
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (error: unknown) => {
    if (error instanceof UsageError) {
      process.stderr.write(`${error.message}\n`);
      process.exitCode = EXIT_USAGE;
    } else {
      process.stderr.write(`trustplane: ${error instanceof Error ? error.message : String(error)}\n`);
      process.exitCode = EXIT_FAILURE;
    }
  },
);
