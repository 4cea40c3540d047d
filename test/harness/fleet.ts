// A whole trustplane deployment made of real processes on 127.0.0.1: one control
// plane, one gateway and N agents, each agent in its own sandbox root.
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { RestClient, type RestAnswer, type RestInit } from "./rest-client.js";
import { makeSandboxRoot } from "./sandbox-root.js";
import { killAllProcesses, runTrustplane, TrustplaneProcess } from "./trustplane-process.js";

export interface AgentSpec {
  hostname: string;
  labels?: Record<string, string>;
  updateCommand?: string;
  osRelease?: string;
}

export interface FleetOptions {
  agents: AgentSpec[];
  /** Extra flags for `trustplane server` (for example the S3 object store). */
  serverArgs?: string[];
  serverEnv?: NodeJS.ProcessEnv;
}

export type { RestAnswer } from "./rest-client.js";

export interface FleetAgent {
  spec: AgentSpec;
  root: string;
  process: TrustplaneProcess;
}

export class Fleet {
  readonly dir: string;
  readonly keysFile: string;
  readonly joinTokenFile: string;
  server!: TrustplaneProcess;
  gateway!: TrustplaneProcess;
  grpcAddress!: string;
  url!: string;
  adminKey!: string;
  readonly agents = new Map<string, FleetAgent>();

  private constructor(private readonly options: FleetOptions) {
    this.dir = mkdtempSync(join(tmpdir(), "trustplane-fleet-"));
    this.keysFile = join(this.dir, "api-keys.json");
    this.joinTokenFile = join(this.dir, "join-token");
  }

  static async start(options: FleetOptions): Promise<Fleet> {
    const fleet = new Fleet(options);
    try {
      await fleet.boot();
    } catch (error) {
      await fleet.close();
      throw error;
    }
    return fleet;
  }

  private async boot(): Promise<void> {
    writeFileSync(this.joinTokenFile, "test-join-token-0123456789\n", { mode: 0o600 });
    this.adminKey = await this.createKey("admin");
    await this.startServer();
    this.gateway = new TrustplaneProcess(["gateway", "--http", "127.0.0.1:0", "--server", this.grpcAddress]);
    this.url = String((await this.gateway.waitForMessage("gateway listening")).url);
    await Promise.all(this.options.agents.map((spec) => this.startAgent(spec)));
  }

  /** Starts (or restarts) the control plane, on the same port after the first start. */
  async startServer(): Promise<void> {
    const address = this.grpcAddress ?? "127.0.0.1:0";
    this.server = new TrustplaneProcess(
      [
        "server", "--grpc", address, "--data-dir", join(this.dir, "server"), "--api-keys", this.keysFile,
        "--join-token-file", this.joinTokenFile, "--shutdown-grace", "5", ...(this.options.serverArgs ?? []),
      ],
      this.options.serverEnv,
    );
    this.grpcAddress = String((await this.server.waitForMessage("control plane listening")).address);
  }

  /** Starts an agent process and waits until it is connected. */
  async startAgent(spec: AgentSpec): Promise<FleetAgent> {
    const previous = this.agents.get(spec.hostname);
    const root = previous?.root ?? makeSandboxRoot(join(this.dir, "roots", spec.hostname), spec.osRelease);
    const args = ["agent", "--server", this.grpcAddress, "--hostname", spec.hostname, "--root", root, "--join-token-file", this.joinTokenFile];
    for (const [key, value] of Object.entries(spec.labels ?? {})) args.push("--label", `${key}:${value}`);
    if (spec.updateCommand) args.push("--update-command", spec.updateCommand);
    const agent: FleetAgent = { spec, root, process: new TrustplaneProcess(args) };
    this.agents.set(spec.hostname, agent);
    await agent.process.waitForMessage("connected to the control plane");
    return agent;
  }

  agent(hostname: string): FleetAgent {
    const agent = this.agents.get(hostname);
    if (!agent) throw new Error(`no agent ${hostname} in this fleet`);
    return agent;
  }

  /** `trustplane keys create` through the real CLI; returns the key. */
  async createKey(role: "read" | "write" | "admin"): Promise<string> {
    return (await this.createKeyRecord(role)).key;
  }

  createKeyRecord(role: "read" | "write" | "admin"): Promise<{ id: string; key: string }> {
    return createKeyRecord(this.keysFile, role);
  }

  /** The gateway's REST API with the admin key (set once the gateway is up). */
  get api(): RestClient {
    return new RestClient(this.url, this.adminKey);
  }

  rest(method: string, path: string, init: RestInit = {}): Promise<RestAnswer> {
    return this.api.rest(method, path, init);
  }

  ndjson(method: string, path: string, json?: unknown): AsyncGenerator<{ line: any; at: number }> {
    return this.api.ndjson(method, path, json);
  }

  upload(name: string, pem: string, query = ""): Promise<RestAnswer> {
    return this.api.upload(name, pem, query);
  }

  install(target: string, name: string, object: string, query = ""): Promise<RestAnswer> {
    return this.api.install(target, name, object, query);
  }

  async close(): Promise<void> {
    await killAllProcesses();
    rmSync(this.dir, { recursive: true, force: true });
  }
}

/** `trustplane keys create` through the real CLI. */
export async function createKeyRecord(keysFile: string, role: "read" | "write" | "admin"): Promise<{ id: string; key: string }> {
  const result = await runTrustplane(["keys", "create", "--role", role, "--keys-file", keysFile, "--json"]);
  if (result.code !== 0) throw new Error(`keys create failed: ${result.stderr}`);
  return JSON.parse(result.stdout) as { id: string; key: string };
}

/** A stand-in rebuild command: records its arguments, then runs `body` (shell). */
export function writeScript(dir: string, name: string, body: string): string {
  mkdirSync(dir, { recursive: true });
  const path = join(dir, name);
  writeFileSync(path, `#!/bin/sh\n${body}\n`, { mode: 0o755 });
  return path;
}

/** Results sorted by hostname, for exact comparison. */
export function byHostname<T extends { hostname: string }>(results: T[]): T[] {
  return [...results].sort((a, b) => a.hostname.localeCompare(b.hostname));
}
