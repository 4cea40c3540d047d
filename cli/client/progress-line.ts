// The live `12/40 hosts done, 1 failed` line of a running job, redrawn in place
// with a carriage return as results arrive. Drawn only on a terminal.
import type { CommandOutput } from "../command-io.js";

export class ProgressLine {
  private drawn = false;
  private readonly enabled: boolean;

  constructor(
    private readonly out: CommandOutput,
    enabled = true,
  ) {
    this.enabled = enabled && out.isTTY === true;
  }

  draw(done: number, total: number, failed: number): void {
    if (!this.enabled) return;
    this.out.write(`\r${done}/${total} hosts done, ${failed} failed`);
    this.drawn = true;
  }

  /** Leaves the last state on screen and moves to the next line; safe to call twice. */
  end(): void {
    if (!this.drawn) return;
    this.out.write("\n");
    this.drawn = false;
  }
}
