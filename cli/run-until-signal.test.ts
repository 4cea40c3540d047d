// How a long-running command ends: the exit code, the one stderr line, that close
// runs once, and that a second signal does not wait for it.
import { EventEmitter } from "node:events";
import { Writable } from "node:stream";
import { pino } from "pino";
import { describe, expect, it } from "vitest";
import { runUntilSignal, type ProcessHooks } from "./run-until-signal.js";

class FakeProcess extends EventEmitter implements ProcessHooks {
  readonly exits: number[] = [];
  readonly errors: string[] = [];
  readonly stderr = { write: (text: string) => this.errors.push(text) };
  exit(code: number): void {
    this.exits.push(code);
  }
}

function collectingLogger() {
  const lines: { msg: string; level: number }[] = [];
  const stream = new Writable({
    write(chunk: Buffer, _encoding, done) {
      for (const line of chunk.toString().split("\n").filter(Boolean)) lines.push(JSON.parse(line));
      done();
    },
  });
  return { logger: pino(stream), messages: () => lines.map((line) => line.msg) };
}

function deferred() {
  let resolve!: () => void;
  let reject!: (error: Error) => void;
  const promise = new Promise<void>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  return { promise, resolve, reject };
}

describe("runUntilSignal", () => {
  it.each(["SIGTERM", "SIGINT"] as const)("%s: closes once, then exits 0", async (signal) => {
    const hooks = new FakeProcess();
    const { logger, messages } = collectingLogger();
    let closes = 0;
    const running = runUntilSignal({ command: "trustplane server", logger, close: async () => void closes++ }, hooks);
    expect(hooks.listenerCount("SIGTERM") + hooks.listenerCount("SIGINT")).toBe(2);
    hooks.emit(signal, signal);
    expect(await running).toBe(0);
    expect([closes, hooks.exits, hooks.errors]).toEqual([1, [0], []]);
    expect(messages()).toEqual(["shutting down"]);
  });

  it("a failing close: exit 1 with one line", async () => {
    const hooks = new FakeProcess();
    const { logger, messages } = collectingLogger();
    const running = runUntilSignal(
      { command: "trustplane server", logger, close: () => Promise.reject(new Error("job store:\n  disk I/O error")) },
      hooks,
    );
    hooks.emit("SIGTERM", "SIGTERM");
    expect(await running).toBe(1);
    expect(hooks.exits).toEqual([1]);
    expect(hooks.errors).toEqual(["trustplane server: shutdown failed: job store: disk I/O error\n"]);
    expect(messages()).toEqual(["shutting down", "shutdown failed"]);
  });

  it("a second signal while closing exits 1 at once; the close finishing later exits nothing more", async () => {
    const hooks = new FakeProcess();
    const { logger } = collectingLogger();
    const closing = deferred();
    const running = runUntilSignal({ command: "trustplane server", logger, close: () => closing.promise }, hooks);
    hooks.emit("SIGTERM", "SIGTERM");
    hooks.emit("SIGINT", "SIGINT");
    expect(await running).toBe(1);
    expect(hooks.errors).toEqual(["trustplane server: SIGINT again, exiting before the shutdown finished\n"]);
    closing.resolve();
    await closing.promise;
    await new Promise((resolve) => setImmediate(resolve));
    expect(hooks.exits).toEqual([1]);
  });

  it("the service failing by itself: closed, exit 1 with its message", async () => {
    const hooks = new FakeProcess();
    const { logger } = collectingLogger();
    let closes = 0;
    const failure = Promise.reject<never>(new Error("cannot start: /etc/os-release: ENOENT"));
    const running = runUntilSignal({ command: "trustplane agent", logger, close: async () => void closes++, failure }, hooks);
    expect(await running).toBe(1);
    expect([closes, hooks.exits, hooks.errors]).toEqual([1, [1], ["trustplane agent: cannot start: /etc/os-release: ENOENT\n"]]);
  });
});
