// What a client command writes to and reads its defaults from, passed in so tests
// can give it collectors (and a pretend terminal) instead of the process's own.

export interface CommandOutput {
  write(text: string): unknown;
  /** True on a terminal: a live progress line is drawn. */
  readonly isTTY?: boolean;
}

export interface CommandIo {
  readonly stdout: CommandOutput;
  readonly stderr: CommandOutput;
  readonly env: Readonly<Record<string, string | undefined>>;
}

export function processIo(): CommandIo {
  return { stdout: process.stdout, stderr: process.stderr, env: process.env };
}

/** A client command: resolves to its exit code. */
export type ClientCommand = (argv: string[], io?: CommandIo) => Promise<number>;
