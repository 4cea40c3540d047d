// The `trustplane` command: up | server | gateway | agent | keys.
import { agentCommand } from "./commands/agent.js";
import { gatewayCommand } from "./commands/gateway.js";
import { keysCommand } from "./commands/keys.js";
import { serverCommand } from "./commands/server.js";
import { upCommand } from "./commands/up.js";
import { EXIT_FAILURE, EXIT_USAGE, UsageError } from "./usage-error.js";
import { VERSION } from "./version.js";

const COMMANDS: Record<string, { run: (argv: string[]) => Promise<void>; summary: string }> = {
  up: { run: upCommand, summary: "control plane, gateway and a sandboxed local agent in one process" },
  server: { run: serverCommand, summary: "the control plane (gRPC)" },
  gateway: { run: gatewayCommand, summary: "the REST / Connect gateway" },
  agent: { run: agentCommand, summary: "the node agent" },
  keys: { run: keysCommand, summary: "create or remove API keys (keys create --role write)" },
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
  await command.run(rest);
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
