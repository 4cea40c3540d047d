// A clustered trustplane made of real processes on 127.0.0.1: a nats-server of its
// own on a free port, a fresh PostgreSQL schema, several `trustplane server
// --cluster` replicas sharing one object-store directory, a gateway in front of
// each replica, and agents that each prefer one replica (`--server-order listed`)
// and fail over to the others.
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { startNatsServer, type NatsServer } from "../../server/testing/nats-server.js";
import { createTestSchema, type TestSchema } from "../../server/testing/postgres-test-schema.js";
import { createKeyRecord, type AgentSpec } from "./fleet.js";
import { RestClient } from "./rest-client.js";
import { makeSandboxRoot } from "./sandbox-root.js";
import { killAllProcesses, TrustplaneProcess } from "./trustplane-process.js";

export interface Replica {
  readonly id: string;
  process: TrustplaneProcess;
  grpcAddress: string;
  gateway: TrustplaneProcess;
  /** REST through this replica's gateway, with the admin key. */
  api: RestClient;
}

export interface ClusterAgentSpec extends AgentSpec {
  /** The replica the agent prefers; the others follow in the order the replicas were given. */
  home: string;
}

export interface ClusterAgent {
  spec: ClusterAgentSpec;
  root: string;
  process: TrustplaneProcess;
}

export interface ClusterFleetOptions {
  replicas: string[];
  agents: ClusterAgentSpec[];
}

export class ClusterFleet {
  readonly dir = mkdtempSync(join(tmpdir(), "trustplane-cluster-"));
  readonly keysFile = join(this.dir, "api-keys.json");
  readonly joinTokenFile = join(this.dir, "join-token");
  nats!: NatsServer;
  schema!: TestSchema;
  adminKey!: string;
  readonly replicas = new Map<string, Replica>();
  readonly agents = new Map<string, ClusterAgent>();

  private constructor(private readonly options: ClusterFleetOptions) {}

  static async start(options: ClusterFleetOptions): Promise<ClusterFleet> {
    const fleet = new ClusterFleet(options);
    try {
      await fleet.boot();
    } catch (error) {
      await fleet.close();
      throw error;
    }
    return fleet;
  }

  private async boot(): Promise<void> {
    writeFileSync(this.joinTokenFile, "cluster-join-token-0123456789\n", { mode: 0o600 });
    this.adminKey = (await createKeyRecord(this.keysFile, "admin")).key;
    this.nats = await startNatsServer();
    this.schema = await createTestSchema();
    // One at a time: the first replica creates the schema (migrations), the others find it.
    for (const id of this.options.replicas) await this.startReplica(id);
    await Promise.all(this.options.agents.map((spec) => this.startAgent(spec)));
  }

  /**
   * Starts (or restarts, on the same port) replica `id` and a gateway in front of it;
   * waits until it joined the cluster unless `joined` is false (NATS is down, say).
   */
  async startReplica(id: string, { joined = true }: { joined?: boolean } = {}): Promise<Replica> {
    const previous = this.replicas.get(id);
    const process = new TrustplaneProcess([
      ...["server", "--grpc", previous?.grpcAddress ?? "127.0.0.1:0", "--data-dir", join(this.dir, id)],
      ...["--api-keys", this.keysFile, "--join-token-file", this.joinTokenFile, "--shutdown-grace", "5"],
      ...["--object-store", `file:${join(this.dir, "objects")}`, "--job-store", this.schema.url],
      ...["--cluster", this.nats.url, "--replica-id", id],
    ]);
    const grpcAddress = String((await process.waitForMessage("control plane listening")).address);
    if (joined) await process.waitForMessage("cluster joined");
    // A restarted replica keeps its port, so its gateway stays and dials it again.
    const gateway = previous?.gateway ?? new TrustplaneProcess(["gateway", "--http", "127.0.0.1:0", "--server", grpcAddress]);
    const url = String((await gateway.waitForMessage("gateway listening")).url);
    const replica: Replica = { id, process, grpcAddress, gateway, api: new RestClient(url, this.adminKey) };
    this.replicas.set(id, replica);
    return replica;
  }

  /** Stops replica `id` and its gateway, and forgets them. */
  async stopReplica(id: string): Promise<void> {
    const replica = this.replica(id);
    this.replicas.delete(id);
    await Promise.all([replica.process.stop(), replica.gateway.stop()]);
  }

  replica(id: string): Replica {
    const replica = this.replicas.get(id);
    if (!replica) throw new Error(`no replica ${id} in this cluster`);
    return replica;
  }

  /** The replicas' gRPC addresses, `home` first, then the others in their given order. */
  private serverList(home: string): string {
    const ids = this.options.replicas;
    const first = ids.indexOf(home);
    if (first < 0) throw new Error(`agent home "${home}" is not a replica`);
    return [...ids.slice(first), ...ids.slice(0, first)].map((id) => this.replica(id).grpcAddress).join(",");
  }

  /** Starts an agent process and waits until it is connected (to its home replica). */
  async startAgent(spec: ClusterAgentSpec): Promise<ClusterAgent> {
    const root = makeSandboxRoot(join(this.dir, "roots", spec.hostname), spec.osRelease);
    const args = [
      ...["agent", "--server", this.serverList(spec.home), "--server-order", "listed"],
      ...["--hostname", spec.hostname, "--root", root, "--join-token-file", this.joinTokenFile],
    ];
    for (const [key, value] of Object.entries(spec.labels ?? {})) args.push("--label", `${key}:${value}`);
    if (spec.updateCommand) args.push("--update-command", spec.updateCommand);
    const agent: ClusterAgent = { spec, root, process: new TrustplaneProcess(args) };
    this.agents.set(spec.hostname, agent);
    await agent.process.waitForMessage("connected to the control plane");
    return agent;
  }

  agent(hostname: string): ClusterAgent {
    const agent = this.agents.get(hostname);
    if (!agent) throw new Error(`no agent ${hostname} in this cluster`);
    return agent;
  }

  async close(): Promise<void> {
    await killAllProcesses();
    await this.nats?.stop();
    await this.schema?.drop().catch(() => undefined);
    rmSync(this.dir, { recursive: true, force: true });
  }
}
