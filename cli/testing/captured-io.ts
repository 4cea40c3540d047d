// A CommandIo for tests: stdout and stderr collected as text (each write kept, to
// see a progress line being redrawn), stdout optionally pretending to be a terminal.
import type { CommandIo, CommandOutput } from "../command-io.js";

export class CapturedOutput implements CommandOutput {
  readonly writes: string[] = [];

  constructor(readonly isTTY: boolean) {}

  write(text: string): boolean {
    this.writes.push(text);
    return true;
  }

  get text(): string {
    return this.writes.join("");
  }
}

export class CapturedIo implements CommandIo {
  readonly stdout: CapturedOutput;
  readonly stderr = new CapturedOutput(false);

  constructor(
    readonly env: Readonly<Record<string, string | undefined>>,
    options: { tty?: boolean } = {},
  ) {
    this.stdout = new CapturedOutput(options.tty ?? false);
  }
}
