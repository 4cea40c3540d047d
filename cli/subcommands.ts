// Commands made of actions (`trustplane ca install`, `trustplane job get`): picks
// the action, or prints the list of actions for `--help`.
import type { ClientCommand, CommandIo } from "./command-io.js";
import { UsageError } from "./usage-error.js";

export interface Action {
  summary: string;
  run: ClientCommand;
}

export function subcommandHelp(group: string, summary: string, actions: Readonly<Record<string, Action>>): string {
  const width = Math.max(...Object.keys(actions).map((name) => name.length));
  const rows = Object.entries(actions).map(([name, action]) => `  ${name.padEnd(width)}  ${action.summary}`);
  return `Usage: ${group} <action> [flags]\n\n${summary}\n\nActions:\n${rows.join("\n")}\n\nRun "${group} <action> --help" for its flags.\n`;
}

export async function runSubcommand(
  group: string,
  summary: string,
  actions: Readonly<Record<string, Action>>,
  argv: string[],
  io: CommandIo,
): Promise<number> {
  const [name, ...rest] = argv;
  if (name === "--help" || name === "-h" || name === "help") {
    io.stdout.write(subcommandHelp(group, summary, actions));
    return 0;
  }
  const action = name !== undefined && Object.hasOwn(actions, name) ? actions[name] : undefined;
  if (!action) {
    const names = Object.keys(actions).map((n) => `"${n}"`).join(", ");
    throw new UsageError(`${group}: expected one of ${names}, got ${name === undefined ? "nothing" : `"${name}"`} (see --help)`);
  }
  return action.run(rest, io);
}
