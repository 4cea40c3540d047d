// `trustplane server` and `trustplane agent` as real processes, wired with the TLS
// flags and a CA from `trustplane pki`: an agent with its certificate connects, one
// claiming another hostname is refused (logged once per attempt, by the agent only),
// SIGTERM ends each process with exit 0, and a wrong flag is one line and exit 2.
import { spawn, type ChildProcess } from "node:child_process";
import { mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { createTestPki, type TestPki } from "./testing/test-pki.js";

const BIN = fileURLToPath(new URL("../bin/trustplane.js", import.meta.url));
const DEADLINE_MS = 15_000;

interface LogLine {
  level: number;
  msg: string;
  [field: string]: unknown;
}

class Running {
  readonly lines: LogLine[] = [];
  /** stderr lines that are not JSON log lines. */
  readonly plain: string[] = [];
  readonly exited: Promise<number | null>;
  private buffer = "";
  private readonly waiters = new Set<() => void>();

  constructor(readonly child: ChildProcess) {
    child.stderr!.setEncoding("utf8").on("data", (chunk: string) => {
      this.buffer += chunk;
      let newline: number;
      while ((newline = this.buffer.indexOf("\n")) >= 0) {
        const line = this.buffer.slice(0, newline);
        this.buffer = this.buffer.slice(newline + 1);
        try {
          this.lines.push(JSON.parse(line) as LogLine);
        } catch {
          this.plain.push(line);
        }
      }
      for (const waiter of this.waiters) waiter();
    });
    this.exited = new Promise((resolve) => child.once("exit", (code) => resolve(code)));
  }

  /** The first log line `match` accepts, waiting for it up to the deadline. */
  waitFor(match: (line: LogLine) => boolean, what: string): Promise<LogLine> {
    return new Promise((resolve, reject) => {
      const check = () => {
        const found = this.lines.find(match);
        if (!found) return;
        cleanup();
        resolve(found);
      };
      const timer = setTimeout(() => {
        cleanup();
        reject(new Error(`no ${what} within ${DEADLINE_MS} ms; stderr: ${JSON.stringify(this.lines.map((line) => line.msg).concat(this.plain))}`));
      }, DEADLINE_MS);
      const cleanup = () => {
        clearTimeout(timer);
        this.waiters.delete(check);
      };
      this.waiters.add(check);
      this.exited.then(() => {
        check();
        if (this.waiters.has(check)) {
          cleanup();
          reject(new Error(`exited before ${what}; stderr: ${JSON.stringify(this.lines.map((line) => line.msg).concat(this.plain))}`));
        }
      });
      check();
    });
  }

  async terminate(): Promise<number | null> {
    this.child.kill("SIGTERM");
    return this.exited;
  }
}

/** grpc-js sets an IP address as the TLS server name, for which Node prints a deprecation warning. */
function notNodeWarning(line: string): boolean {
  return !line.startsWith("(node:") && !line.startsWith("(Use `node --trace-deprecation");
}

const running: Running[] = [];

function trustplane(args: string[]): Running {
  const { TRUSTPLANE_LOG_LEVEL: _level, ...env } = process.env;
  const process_ = new Running(spawn(process.execPath, [BIN, ...args], { env, stdio: ["ignore", "pipe", "pipe"] }));
  running.push(process_);
  return process_;
}

let pki: TestPki;
let dir: string;

beforeAll(async () => {
  pki = await createTestPki();
  dir = await mkdtemp(join(tmpdir(), "trustplane-cli-processes-"));
  for (const name of ["root-1", "root-2"]) {
    await mkdir(join(dir, name, "etc"), { recursive: true });
    await writeFile(join(dir, name, "etc", "os-release"), "ID=debian\nVERSION_ID=12\n");
  }
  await writeFile(join(dir, "join-token"), "join-token-value\n", { mode: 0o600 });
});
afterEach(() => {
  for (const process_ of running.splice(0)) process_.child.kill("SIGKILL");
});
afterAll(async () => {
  await pki.cleanup();
  await rm(dir, { recursive: true, force: true });
});

describe("long-running commands as processes", () => {
  it("mutual TLS from the CLI flags; SIGTERM exits 0", async () => {
    const server = trustplane([
      ...["server", "--grpc", "127.0.0.1:0", "--data-dir", join(dir, "server"), "--join-token-file", join(dir, "join-token")],
      ...["--job-store", "memory:", "--tls-cert", pki.serverCert, "--tls-key", pki.serverKey, "--client-ca", pki.caCert],
    ]);
    const listening = await server.waitFor((line) => line.msg === "control plane listening", "listening line");
    expect([listening.tls, listening.mutualTls]).toEqual([true, true]);
    const address = String(listening.address);
    const agentTls = ["--tls-cert", pki.agentCert, "--tls-key", pki.agentKey, "--ca", pki.caCert, "--server", address];

    const agent = trustplane(["agent", "--hostname", "web-1", "--root", join(dir, "root-1"), ...agentTls]);
    await agent.waitFor((line) => line.msg === "connected to the control plane", "connection");

    const impostor = trustplane(["agent", "--hostname", "web-2", "--root", join(dir, "root-2"), ...agentTls]);
    const refusal = await impostor.waitFor((line) => line.level >= 50, "refusal");
    expect(refusal.msg).toMatch(/^control plane refused the agent: .*web-2/);
    expect(await impostor.terminate()).toBe(0);
    const errors = impostor.lines.filter((line) => line.level >= 40).map((line) => line.msg);
    expect(errors.length).toBeGreaterThan(0);
    expect(errors.every((msg) => msg === refusal.msg)).toBe(true);
    expect(impostor.plain.filter(notNodeWarning)).toEqual([]);

    expect(await agent.terminate()).toBe(0);
    expect(agent.lines.at(-1)).toMatchObject({ msg: "agent stopped", hostname: "web-1" });
    expect(agent.plain.filter(notNodeWarning)).toEqual([]);
    expect(await server.terminate()).toBe(0);
    expect(server.plain).toEqual([]);
    expect(server.lines.some((line) => line.msg === "shutting down" && line.signal === "SIGTERM")).toBe(true);
  }, 60_000);

  it("an agent whose --root is not a directory: exit 2 and one line", async () => {
    const agent = trustplane(["agent", "--hostname", "web-3", "--root", join(dir, "no-root"), "--join-token-file", join(dir, "join-token")]);
    expect(await agent.exited).toBe(2);
    expect(agent.plain).toEqual([`trustplane agent: --root ${join(dir, "no-root")} is not a directory`]);
  }, 30_000);

  it("a PEM flag naming a missing file: exit 2 and one line", async () => {
    const server = trustplane(["server", "--tls-cert", join(dir, "nope.crt"), "--tls-key", pki.serverKey]);
    expect(await server.exited).toBe(2);
    expect(server.plain).toEqual([`trustplane server: cannot read --tls-cert ${join(dir, "nope.crt")}: ENOENT`]);
    expect(server.lines).toEqual([]);
  }, 30_000);
});
