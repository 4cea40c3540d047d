// The command-line frame every bench shares: parse the flags (a usage error exits 2),
// run, print text or one JSON object (--json), save the JSON to --out, and exit 1
// when the result lists failures.
import { mkdir, writeFile } from "node:fs/promises";
import { dirname } from "node:path";

export interface BenchProgram<Options extends { json: boolean; out?: string }, Result> {
  /** "bench:fanout", for the crash message. */
  name: string;
  parse(argv: string[]): Options;
  run(options: Options): Promise<Result>;
  format(result: Result): string;
  /** The object printed with --json and saved to --out; default the result itself. */
  json?(result: Result): unknown;
  /** Failures that make the exit code 1; default none. */
  failures?(result: Result): readonly string[];
}

export function runBench<Options extends { json: boolean; out?: string }, Result>(program: BenchProgram<Options, Result>): void {
  const main = async () => {
    let options: Options;
    try {
      options = program.parse(process.argv.slice(2));
    } catch (error) {
      process.stderr.write(`${(error as Error).message}\n`);
      process.exitCode = 2;
      return;
    }
    const result = await program.run(options);
    const json = program.json ? program.json(result) : result;
    process.stdout.write(options.json ? `${JSON.stringify(json)}\n` : program.format(result));
    if (options.out) {
      await mkdir(dirname(options.out), { recursive: true });
      await writeFile(options.out, `${JSON.stringify(json, null, 2)}\n`);
    }
    if ((program.failures?.(result).length ?? 0) > 0) process.exitCode = 1;
  };
  main().catch((error: unknown) => {
    process.stderr.write(`${program.name} failed: ${error instanceof Error ? error.stack ?? error.message : String(error)}\n`);
    process.exit(1);
  });
}

/** A flag's value as a positive integer, or an error naming the flag, with the usage. */
export function positiveInteger(text: string | undefined, flag: string, usage: string): number {
  const value = Number(text);
  if (!Number.isInteger(value) || value < 1) throw new Error(`${flag} must be a positive integer\n${usage}`);
  return value;
}
