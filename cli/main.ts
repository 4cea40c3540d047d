// The `trustplane` command: picks the command (command-table.ts), runs it, and
// turns its outcome into an exit code.
import { COMMANDS, help } from "./command-table.js";
import { EXIT_FAILURE, EXIT_USAGE, UsageError } from "./usage-error.js";
import { VERSION } from "./version.js";

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
  const command = Object.hasOwn(COMMANDS, name) ? COMMANDS[name] : undefined;
  if (!command) throw new UsageError(`trustplane: unknown command "${name}" (see trustplane --help)`);
  const run = await command.load(rest);
  return (await run(rest)) ?? 0;
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
