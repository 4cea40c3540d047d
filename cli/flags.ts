// Flag parsing for every subcommand: node:util parseArgs in strict mode, turned
// into one-line UsageErrors, plus `--help`.
import { parseArgs, type ParseArgsConfig } from "node:util";
import { UsageError } from "./usage-error.js";

type Options = NonNullable<ParseArgsConfig["options"]>;
type Values<O extends Options> = ReturnType<typeof parseArgs<{ options: O; strict: true; allowPositionals: false }>>["values"];

export interface CommandSpec<O extends Options> {
  /** `trustplane up` */
  name: string;
  summary: string;
  /** One line per flag: ["--grpc HOST:PORT", "control plane gRPC address (default 127.0.0.1:7443)"] */
  help: ReadonlyArray<readonly [string, string]>;
  options: O;
}

/** Declares a command; keeps the option literals so parsed values are typed. */
export function defineCommand<const O extends Options>(spec: CommandSpec<O>): CommandSpec<O> {
  return spec;
}

export function usage<O extends Options>(spec: CommandSpec<O>): string {
  const width = Math.max(...spec.help.map(([flag]) => flag.length), 6);
  const lines = spec.help.map(([flag, text]) => `  ${flag.padEnd(width)}  ${text}`);
  return `Usage: ${spec.name} [flags]\n\n${spec.summary}\n\nFlags:\n${lines.join("\n")}\n  ${"--help".padEnd(width)}  show this help\n`;
}

/** Parsed flags, or undefined when --help was asked (usage already printed). */
export function parseFlags<O extends Options>(spec: CommandSpec<O>, argv: string[]): Values<O> | undefined {
  let values: Record<string, unknown>;
  try {
    values = parseArgs({ args: argv, options: { ...spec.options, help: { type: "boolean" } }, strict: true, allowPositionals: false }).values;
  } catch (error) {
    throw new UsageError(`${spec.name}: ${(error as Error).message.split("\n")[0]} (see --help)`);
  }
  if (values.help) {
    process.stdout.write(usage(spec));
    return undefined;
  }
  return values as Values<O>;
}

/** A required string flag. */
export function required(value: string | undefined, flag: string, command: string): string {
  if (value === undefined || value === "") throw new UsageError(`${command}: ${flag} is required (see --help)`);
  return value;
}

/** `HOST:PORT` with a numeric port (0 allowed: pick a free one). */
export function hostPort(value: string, flag: string, command: string): string {
  const match = /^(\[[0-9a-fA-F:]+\]|[A-Za-z0-9.-]+):(\d{1,5})$/.exec(value);
  if (!match || Number(match[2]) > 65535) throw new UsageError(`${command}: ${flag} must be HOST:PORT, got "${value}"`);
  return value;
}
