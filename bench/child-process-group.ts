// The processes a benchmark starts: trustplane commands, bench workers and peer
// tools, each a child with its stderr parsed as pino JSON lines (so the bench waits on a log
// line, not a sleep) and, for workers, an IPC channel for control messages. Every
// child is killed when the group stops, when the bench fails, and on SIGINT/SIGTERM.
import { execFileSync, spawn, type ChildProcess } from "node:child_process";
import { once } from "node:events";
import { readFileSync, rmSync } from "node:fs";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";

export const REPO_ROOT = fileURLToPath(new URL("..", import.meta.url));
export const TRUSTPLANE_BIN = fileURLToPath(new URL("../bin/trustplane.js", import.meta.url));

export type LogLine = Record<string, unknown> & { msg?: string };

export interface ChildSpec {
  /** For error messages: "server", "agent-swarm-3". */
  name: string;
  /** A program to run instead of node (then `nodeArgs` does not apply). */
  command?: string;
  /** Script and its arguments (a .ts script is run through tsx), or the command's arguments. */
  args: string[];
  /** Flags for node itself (--cpu-prof, --max-old-space-size=…). */
  nodeArgs?: string[];
  env?: NodeJS.ProcessEnv;
  /** Open an IPC channel (process.send / "message"). */
  ipc?: boolean;
  /** Raise the child's soft open-files limit to this (through `ulimit -n` in a shell that execs node). */
  openFiles?: number;
}

const TAIL_LINES = 40;
const MAX_STDOUT_CHARS = 1024 * 1024;
/** Clock ticks per second of /proc/<pid>/stat's times. */
const CLOCK_TICKS = Number(execFileSync("getconf", ["CLK_TCK"], { encoding: "utf8" }).trim()) || 100;

export class BenchChild {
  /** Everything the child wrote to stdout. */
  stdout = "";
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  private readonly tail: string[] = [];
  private readonly lineWaiters = new Set<(line: LogLine) => void>();
  private readonly messageWaiters = new Set<(message: unknown) => void>();

  constructor(
    readonly name: string,
    private readonly child: ChildProcess,
  ) {
    this.exited = once(child, "exit").then(([code, signal]) => ({ code: code as number | null, signal: signal as NodeJS.Signals | null }));
    createInterface({ input: child.stderr! }).on("line", (raw) => this.onLine(raw));
    child.stdout!.setEncoding("utf8").on("data", (chunk: string) => {
      if (this.stdout.length < MAX_STDOUT_CHARS) this.stdout += chunk;
    });
    child.on("message", (message: unknown) => {
      for (const waiter of [...this.messageWaiters]) waiter(message);
    });
  }

  get pid(): number {
    return this.child.pid!;
  }

  get running(): boolean {
    return this.child.exitCode === null && this.child.signalCode === null;
  }

  send(message: unknown): void {
    if (this.child.connected) this.child.send(message as never);
  }

  /** The next log line matching `predicate`; rejects on timeout or when the child exits first. */
  waitForLog(predicate: (line: LogLine) => boolean, timeoutMs: number): Promise<LogLine> {
    return this.waitFor(this.lineWaiters, predicate, timeoutMs, "log line");
  }

  /** The next IPC message matching `predicate`. */
  waitForMessage<T>(predicate: (message: unknown) => message is T, timeoutMs: number): Promise<T> {
    return this.waitFor(this.messageWaiters, predicate, timeoutMs, "message") as Promise<T>;
  }

  /** Register a callback for every parsed stderr log line. */
  onLog(listener: (line: LogLine) => void): void {
    this.lineWaiters.add(listener);
  }

  /** Register a callback for every IPC message. */
  onMessage(listener: (message: unknown) => void): void {
    this.messageWaiters.add(listener);
  }

  /** Last stderr lines, for error reports. */
  describe(): string {
    return this.tail.join("\n");
  }

  kill(signal: NodeJS.Signals): void {
    if (this.running) this.child.kill(signal);
  }

  /** SIGTERM, then SIGKILL after `graceMs`. */
  async stop(graceMs: number): Promise<void> {
    if (!this.running) return;
    this.kill("SIGTERM");
    const timer = setTimeout(() => this.kill("SIGKILL"), graceMs);
    await this.exited;
    clearTimeout(timer);
  }

  /** Resident set size in KiB, from /proc (0 once the process is gone). */
  rssKb(): number {
    try {
      const status = readFileSync(`/proc/${this.pid}/status`, "utf8");
      const match = /^VmRSS:\s+(\d+)\s+kB/m.exec(status);
      return match ? Number(match[1]) : 0;
    } catch {
      return 0;
    }
  }

  /** CPU time (user + system) the process and its reaped children used so far, in ms (0 once it is gone). */
  cpuMs(): number {
    try {
      const stat = readFileSync(`/proc/${this.pid}/stat`, "utf8");
      // Fields after the parenthesised command name, from the 3rd: utime, stime, cutime, cstime are the 14th to 17th.
      const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
      const ticks = Number(fields[11]) + Number(fields[12]) + Number(fields[13]) + Number(fields[14]);
      return (ticks * 1000) / CLOCK_TICKS;
    } catch {
      return 0;
    }
  }

  private onLine(raw: string): void {
    this.tail.push(raw.length > 500 ? `${raw.slice(0, 500)}…` : raw);
    if (this.tail.length > TAIL_LINES) this.tail.shift();
    if (this.lineWaiters.size === 0 || !raw.startsWith("{")) return;
    let line: LogLine;
    try {
      line = JSON.parse(raw) as LogLine;
    } catch {
      return;
    }
    for (const waiter of [...this.lineWaiters]) waiter(line);
  }

  private waitFor<T>(waiters: Set<(value: T) => void>, predicate: (value: T) => boolean, timeoutMs: number, what: string): Promise<T> {
    return new Promise((resolve, reject) => {
      const waiter = (value: T) => {
        if (!predicate(value)) return;
        finish();
        resolve(value);
      };
      const finish = () => {
        waiters.delete(waiter);
        clearTimeout(timer);
      };
      const timer = setTimeout(() => {
        finish();
        reject(new Error(`${this.name}: no awaited ${what} within ${timeoutMs} ms; last stderr:\n${this.describe()}`));
      }, timeoutMs);
      waiters.add(waiter);
      void this.exited.then(({ code, signal }) => {
        if (!waiters.has(waiter)) return;
        finish();
        reject(new Error(`${this.name} exited (${signal ?? code}) before the awaited ${what}; last stderr:\n${this.describe()}`));
      });
    });
  }
}

export class ChildProcessGroup {
  private readonly children = new Set<BenchChild>();
  private readonly scratch = new Set<string>();
  private handlersInstalled = false;

  /** A temp directory removed if the bench is interrupted (the bench removes it itself when it ends). */
  removeOnExit(path: string): void {
    this.scratch.add(path);
  }

  private removeScratch(): void {
    for (const path of this.scratch) rmSync(path, { recursive: true, force: true });
    this.scratch.clear();
  }

  spawn(spec: ChildSpec): BenchChild {
    const nodeArgs = [...(spec.nodeArgs ?? [])];
    if (spec.args[0]?.endsWith(".ts")) nodeArgs.push("--import", "tsx");
    const argv = spec.command ? [spec.command, ...spec.args] : [process.execPath, ...nodeArgs, ...spec.args];
    // `exec` keeps the pid: the shell only raises the limit and becomes node.
    const [command, args] = spec.openFiles
      ? ["/bin/sh", ["-c", `ulimit -n ${spec.openFiles} && exec "$@"`, "sh", ...argv]]
      : [argv[0]!, argv.slice(1)];
    const child = spawn(command, args, {
      cwd: REPO_ROOT,
      env: { ...process.env, ...spec.env },
      stdio: spec.ipc ? ["ignore", "pipe", "pipe", "ipc"] : ["ignore", "pipe", "pipe"],
    });
    const benchChild = new BenchChild(spec.name, child);
    this.children.add(benchChild);
    void benchChild.exited.then(() => this.children.delete(benchChild));
    return benchChild;
  }

  /** Stops every child still running: SIGTERM, then SIGKILL after `graceMs`. */
  async stopAll(graceMs = 5_000): Promise<void> {
    await Promise.all([...this.children].map((child) => child.stop(graceMs)));
  }

  killAll(): void {
    for (const child of this.children) child.kill("SIGKILL");
  }

  /**
   * Kills every child and removes the scratch directories if this process is
   * interrupted (SIGINT, SIGTERM, SIGHUP) or exits before they were stopped; call
   * once from a bench's main.
   */
  killOnExit(): void {
    if (this.handlersInstalled) return;
    this.handlersInstalled = true;
    process.on("exit", () => {
      this.killAll();
      this.removeScratch();
    });
    for (const signal of ["SIGINT", "SIGTERM", "SIGHUP"] as const) {
      process.once(signal, () => {
        process.stderr.write(`\n${signal}: killing ${this.children.size} child process(es)\n`);
        this.killAll();
        process.exit(130);
      });
    }
  }
}
