// A nats-server of a test's own on 127.0.0.1 and a free port: startNatsServer()
// answers once it accepts clients; stop() ends the process (the cluster looks down),
// start() runs it again on the SAME port (it is back).
//
// Without a nats-server binary the cluster tests are skipped, loudly, unless
// TRUSTPLANE_REQUIRE_CLUSTER=1 makes that a failure.
import { spawn, type ChildProcess } from "node:child_process";
import { accessSync, constants, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { createConnection, createServer } from "node:net";
import { delimiter, join } from "node:path";

export interface NatsServerOptions {
  /** The server's max_payload in bytes (NATS's default: 1 MiB): lets a test reach the limit with few agents. */
  maxPayload?: number;
}

export interface NatsServer {
  /** nats://127.0.0.1:<port> */
  url: string;
  port: number;
  /** Ends the process (SIGTERM, SIGKILL after a grace period); resolves once it exited. */
  stop(): Promise<void>;
  /** Runs it again on the same port; resolves once it accepts clients. No-op while running. */
  start(): Promise<void>;
}

const HOST = "127.0.0.1";
const READY_TIMEOUT_MS = 10_000;
const STOP_GRACE_MS = 5_000;
const READY_POLL_MS = 25;

function executable(path: string): boolean {
  try {
    accessSync(path, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

/** /usr/sbin/nats-server, else nats-server on PATH, else undefined. */
function natsServerBinary(): string | undefined {
  const candidates = ["/usr/sbin/nats-server", ...(process.env.PATH ?? "").split(delimiter).filter(Boolean).map((dir) => join(dir, "nats-server"))];
  return candidates.find(executable);
}

/**
 * Why the cluster tests cannot run here (no nats-server binary), or undefined when
 * they can. Says so on stderr, or throws with TRUSTPLANE_REQUIRE_CLUSTER=1.
 */
export function natsServerMissing(): string | undefined {
  if (natsServerBinary() !== undefined) return undefined;
  const reason = "nats-server not found (neither /usr/sbin/nats-server nor on PATH)";
  if (process.env.TRUSTPLANE_REQUIRE_CLUSTER === "1") throw new Error(`${reason} (TRUSTPLANE_REQUIRE_CLUSTER=1)`);
  process.stderr.write(`\n*** SKIPPING cluster tests: ${reason} ***\n\n`);
  return reason;
}

async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(0, HOST, () => resolve());
  });
  const port = (server.address() as { port: number }).port;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

/** Whether a client connecting to `port` receives the server's INFO greeting. */
function greets(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = createConnection({ host: HOST, port });
    let received = "";
    const done = (answer: boolean) => {
      socket.destroy();
      resolve(answer);
    };
    socket.setTimeout(1_000, () => done(false));
    socket.on("error", () => done(false));
    socket.on("data", (chunk) => {
      received += chunk.toString("utf8");
      if (received.startsWith("INFO ")) done(true);
    });
    socket.on("close", () => done(false));
  });
}

/** Servers still running: ended with the test process, should a test forget one. */
const running = new Set<ChildProcess>();
process.once("exit", () => {
  for (const child of running) child.kill("SIGKILL");
});

class NatsServerProcess implements NatsServer {
  private child: ChildProcess | undefined;
  private exited: Promise<void> = Promise.resolve();
  private output = "";

  private configDir: string | undefined;

  constructor(
    private readonly binary: string,
    readonly port: number,
    private readonly options: NatsServerOptions,
  ) {}

  get url(): string {
    return `nats://${HOST}:${this.port}`;
  }

  async start(): Promise<void> {
    if (this.child) return;
    this.output = "";
    const args = ["-a", HOST, "-p", String(this.port)];
    if (this.options.maxPayload !== undefined) {
      this.configDir ??= mkdtempSync(join(tmpdir(), "trustplane-nats-"));
      const config = join(this.configDir, "nats-server.conf");
      writeFileSync(config, `max_payload: ${this.options.maxPayload}\n`);
      args.push("-c", config);
    }
    const child = spawn(this.binary, args, { stdio: ["ignore", "pipe", "pipe"] });
    const collect = (chunk: Buffer) => {
      // Keeps the tail only: enough to say why it did not start.
      this.output = (this.output + chunk.toString("utf8")).slice(-4_000);
    };
    child.stdout?.on("data", collect);
    child.stderr?.on("data", collect);
    let gone = false;
    this.exited = new Promise((resolve) => {
      const ended = () => {
        gone = true;
        running.delete(child);
        if (this.child === child) {
          this.child = undefined;
          if (this.configDir) rmSync(this.configDir, { recursive: true, force: true });
          this.configDir = undefined;
        }
        resolve();
      };
      child.once("exit", ended);
      child.once("error", (error) => {
        collect(Buffer.from(String(error)));
        ended();
      });
    });
    running.add(child);
    this.child = child;
    const deadline = Date.now() + READY_TIMEOUT_MS;
    while (!(await greets(this.port))) {
      if (gone || Date.now() > deadline) {
        await this.stop();
        throw new Error(`nats-server on port ${this.port} did not ${gone ? "stay up" : "accept clients in time"}: ${this.output.trim()}`);
      }
      await new Promise((resolve) => setTimeout(resolve, READY_POLL_MS));
    }
  }

  async stop(): Promise<void> {
    const child = this.child;
    if (!child) return;
    const exited = this.exited;
    child.kill("SIGTERM");
    const kill = setTimeout(() => child.kill("SIGKILL"), STOP_GRACE_MS);
    await exited;
    clearTimeout(kill);
  }
}

/** Starts a nats-server on a free port of 127.0.0.1; answers once it accepts clients. */
export async function startNatsServer(options: NatsServerOptions = {}): Promise<NatsServer> {
  const binary = natsServerBinary();
  if (binary === undefined) throw new Error("nats-server not found (neither /usr/sbin/nats-server nor on PATH)");
  // The free port may be taken between probing and binding: try a few.
  let lastError: unknown;
  for (let attempt = 0; attempt < 3; attempt++) {
    const server = new NatsServerProcess(binary, await freePort(), options);
    try {
      await server.start();
      return server;
    } catch (error) {
      lastError = error;
    }
  }
  throw lastError;
}
