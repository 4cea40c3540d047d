// Flag parsing for every subcommand: node:util parseArgs in strict mode, turned
// into one-line UsageErrors, plus `--help`.
import { parseArgs, type ParseArgsConfig } from "node:util";
import { UsageError } from "./usage-error.js";

type Options = NonNullable<ParseArgsConfig["options"]>;
type Values<O extends Options> = ReturnType<typeof parseArgs<{ options: O; strict: true; allowPositionals: false }>>["values"];

/** Where help text goes (process.stdout, or a test's collector). */
export interface HelpOutput {
  write(text: string): unknown;
}

export interface CommandSpec<O extends Options> {
  /** `trustplane up` */
  name: string;
  summary: string;
  /** Positional arguments, all required, in order: ["ID"] for `trustplane job get ID`. */
  args?: readonly string[];
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
  const args = spec.args?.length ? ` ${spec.args.join(" ")}` : "";
  return `Usage: ${spec.name}${args} [flags]\n\n${spec.summary}\n\nFlags:\n${lines.join("\n")}\n  ${"--help".padEnd(width)}  show this help\n`;
}

/** Parsed flags, or undefined when --help was asked (usage already printed). */
export function parseFlags<O extends Options>(
  spec: CommandSpec<O>,
  argv: string[],
  out: HelpOutput = process.stdout,
): Values<O> | undefined {
  return parseCommand(spec, argv, out)?.flags;
}

/**
 * Parsed flags and the positional arguments the spec names (exactly that many),
 * or undefined when --help was asked (usage already printed).
 */
export function parseCommand<O extends Options>(
  spec: CommandSpec<O>,
  argv: string[],
  out: HelpOutput = process.stdout,
): { flags: Values<O>; args: string[] } | undefined {
  const expected = spec.args ?? [];
  let parsed: { values: Record<string, unknown>; positionals: string[] };
  try {
    parsed = parseArgs({
      args: argv,
      options: { ...spec.options, help: { type: "boolean" } },
      strict: true,
      allowPositionals: expected.length > 0,
    });
  } catch (error) {
    const message = (error as Error).message.split("\n")[0]!.replace(/\. To specify a positional argument.*$/, "");
    throw new UsageError(`${spec.name}: ${message} (see --help)`);
  }
  if (parsed.values.help) {
    out.write(usage(spec));
    return undefined;
  }
  if (parsed.positionals.length < expected.length) {
    throw new UsageError(`${spec.name}: ${expected[parsed.positionals.length]} is required (see --help)`);
  }
  if (parsed.positionals.length > expected.length) {
    throw new UsageError(`${spec.name}: unexpected argument "${parsed.positionals[expected.length]}" (see --help)`);
  }
  return { flags: parsed.values as Values<O>, args: parsed.positionals };
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

const MAX_UINT32 = 0xffff_ffff;

/** A whole number from 0 to `max` (default the wire's uint32 limit). */
export function wholeNumber(value: string, flag: string, command: string, max = MAX_UINT32): number {
  const number = /^\d{1,10}$/.test(value) ? Number(value) : Number.NaN;
  if (!(number <= max)) throw new UsageError(`${command}: ${flag} must be a whole number from 0 to ${max}, got "${value}"`);
  return number;
}

/** A positive number of days (fractions allowed), in milliseconds. */
export function days(value: string, flag: string, command: string): number {
  const number = /^\d+(\.\d+)?$/.test(value) ? Number(value) : Number.NaN;
  if (!(number > 0) || !Number.isFinite(number)) {
    throw new UsageError(`${command}: ${flag} must be a positive number of days, got "${value}"`);
  }
  return number * 24 * 60 * 60 * 1000;
}
