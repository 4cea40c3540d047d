// A real `trustplane` process started by a test: its pino lines are parsed as they
// arrive so a test can wait on an event ("control plane listening") instead of
// sleeping, and every process is killed when the test ends.
import { spawn, type ChildProcess } from "node:child_process";
import { once } from "node:events";
import { fileURLToPath } from "node:url";
import { createInterface } from "node:readline";

export const TRUSTPLANE_BIN = fileURLToPath(new URL("../../bin/trustplane.js", import.meta.url));
export const REPO_ROOT = fileURLToPath(new URL("../..", import.meta.url));

export type LogLine = Record<string, unknown> & { msg?: string };

interface Waiter {
  predicate: (line: LogLine) => boolean;
  resolve: (line: LogLine) => void;
}

export class TrustplaneProcess {
  readonly lines: LogLine[] = [];
  /** stderr lines that were not JSON (usage errors, crashes). */
  readonly text: string[] = [];
  stdout = "";
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  private readonly waiters = new Set<Waiter>();
  private readonly child: ChildProcess;

  constructor(
    readonly args: string[],
    env: NodeJS.ProcessEnv = {},
  ) {
    this.child = spawn(process.execPath, [TRUSTPLANE_BIN, ...args], {
      cwd: REPO_ROOT,
      env: { ...process.env, TRUSTPLANE_LOG_LEVEL: "debug", ...env },
      stdio: ["ignore", "pipe", "pipe"],
    });
    this.exited = once(this.child, "exit").then(([code, signal]) => ({
      code: code as number | null,
      signal: signal as NodeJS.Signals | null,
    }));
    this.child.stdout!.setEncoding("utf8").on("data", (chunk: string) => (this.stdout += chunk));
    createInterface({ input: this.child.stderr! }).on("line", (raw) => this.onLine(raw));
    live.add(this);
    void this.exited.then(() => live.delete(this));
  }

  get pid(): number {
    return this.child.pid!;
  }

  private onLine(raw: string): void {
    let line: LogLine;
    try {
      line = JSON.parse(raw) as LogLine;
    } catch {
      this.text.push(raw);
      return;
    }
    this.lines.push(line);
    for (const waiter of this.waiters) {
      if (waiter.predicate(line)) {
        this.waiters.delete(waiter);
        waiter.resolve(line);
      }
    }
  }

  /** The first log line (already seen or still to come) matching the predicate. */
  waitForLog(predicate: (line: LogLine) => boolean, timeoutMs = 45_000, from = 0): Promise<LogLine> {
    const seen = this.lines.slice(from).find(predicate);
    if (seen) return Promise.resolve(seen);
    return new Promise((resolve, reject) => {
      const waiter: Waiter = {
        predicate,
        resolve: (line) => {
          clearTimeout(timer);
          resolve(line);
        },
      };
      const timer = setTimeout(() => {
        this.waiters.delete(waiter);
        reject(new Error(`timed out waiting for a log line of "trustplane ${this.args[0]}"; stderr:\n${this.describe()}`));
      }, timeoutMs);
      this.waiters.add(waiter);
      void this.exited.then(({ code }) => {
        if (!this.waiters.has(waiter)) return;
        this.waiters.delete(waiter);
        clearTimeout(timer);
        reject(new Error(`"trustplane ${this.args[0]}" exited (${code}) before the awaited log line; stderr:\n${this.describe()}`));
      });
    });
  }

  waitForMessage(msg: string, timeoutMs?: number, from = 0): Promise<LogLine> {
    return this.waitForLog((line) => line.msg === msg, timeoutMs, from);
  }

  describe(): string {
    return [...this.text, ...this.lines.slice(-30).map((line) => JSON.stringify(line))].join("\n");
  }

  signal(signal: NodeJS.Signals): void {
    if (this.child.exitCode === null && this.child.signalCode === null) this.child.kill(signal);
  }

  /** SIGTERM, then SIGKILL if it has not exited within the grace period. */
  async stop(graceMs = 10_000): Promise<void> {
    if (this.child.exitCode !== null || this.child.signalCode !== null) return;
    this.signal("SIGTERM");
    const timer = setTimeout(() => this.signal("SIGKILL"), graceMs);
    await this.exited;
    clearTimeout(timer);
  }
}

const live = new Set<TrustplaneProcess>();

/** Kill every process a test file started and still runs (afterAll safety net). */
export async function killAllProcesses(): Promise<void> {
  await Promise.all([...live].map((proc) => proc.stop(2_000)));
}

/** Run a short-lived trustplane command to completion. */
export async function runTrustplane(
  args: string[],
  env: NodeJS.ProcessEnv = {},
): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const proc = new TrustplaneProcess(args, env);
  const { code } = await proc.exited;
  return { code, stdout: proc.stdout, stderr: [...proc.text, ...proc.lines.map((l) => JSON.stringify(l))].join("\n") };
}
