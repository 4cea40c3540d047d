// A control plane and a gateway as child processes (`trustplane server`, `trustplane
// gateway`) on 127.0.0.1 with free ports, a data dir in a temp dir, an admin API
// key, a join token, and the client calls a bench makes: upload, install through
// REST or gRPC, count online agents. spawnControlPlane alone starts just the control
// plane (on a fixed port, for a bench that restarts it).
import { create } from "@bufbuild/protobuf";
import { createClient, type Client } from "@connectrpc/connect";
import { createGrpcTransport, Http2SessionManager } from "@connectrpc/connect-node";
import { randomBytes } from "node:crypto";
import { mkdir, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { createApiKey } from "../server/auth/api-keys-file.js";
import { CertificateService, InstallCARequestSchema } from "../gen/trustplane/v1/certificate_pb.js";
import { ResultStatus } from "../gen/trustplane/v1/common_pb.js";
import { AgentState, FleetService } from "../gen/trustplane/v1/fleet_pb.js";
import { TRUSTPLANE_BIN, type BenchChild, type ChildProcessGroup, type LogLine } from "./child-process-group.js";

export type JobStoreKind = "sqlite" | "memory" | "postgres";

/** Several control-plane replicas (issue 7): NATS between them, one PostgreSQL job store. */
export interface StackCluster {
  replicas: number;
  natsUrl: string;
  /** postgres://… of a schema of the bench's own. */
  postgresUrl: string;
}

export interface StackOptions {
  group: ChildProcessGroup;
  /** An empty temp dir for the data dir. */
  dir: string;
  jobStore: JobStoreKind;
  /** Soft open-files limit for the control plane. */
  openFiles: number;
  /** Write V8 CPU profiles of the control plane and the gateway into DIR/server and DIR/gateway (at their exit). */
  cpuProfileDir?: string;
  /** TRUSTPLANE_LOG_LEVEL of server and gateway; default info. */
  logLevel?: string;
  startTimeoutMs?: number;
  /** Start this many replicas on NATS and PostgreSQL instead of one control plane; the gateway fronts the first. */
  cluster?: StackCluster;
}

/** What one fan-out round answered. */
export interface RoundOutcome {
  ms: number;
  hosts: number;
  ok: number;
  changed: number;
  /** First error seen, if any host did not answer ok. */
  firstError?: string;
}

/** An admin API key and a join token, written into a data dir. */
export interface StackCredentials {
  apiKey: string;
  apiKeysFile: string;
  joinToken: string;
  joinTokenFile: string;
}

export async function writeStackCredentials(dir: string): Promise<StackCredentials> {
  const apiKeysFile = join(dir, "api-keys.json");
  const { key } = await createApiKey(apiKeysFile, { role: "admin", name: "bench" });
  const joinToken = randomBytes(24).toString("base64url");
  const joinTokenFile = join(dir, "join-token");
  await writeFile(joinTokenFile, `${joinToken}\n`, { mode: 0o600 });
  return { apiKey: key, apiKeysFile, joinToken, joinTokenFile };
}

export interface ControlPlaneProcessOptions {
  group: ChildProcessGroup;
  /** The data dir (it holds the credentials and, for sqlite, the job store). */
  dir: string;
  credentials: StackCredentials;
  jobStore: JobStoreKind;
  openFiles: number;
  /** "127.0.0.1:PORT"; default port 0 (a free one). A fixed port lets a bench restart the control plane where its agents look. */
  grpcAddress?: string;
  nodeArgs?: string[];
  logLevel?: string;
  timeoutMs: number;
  /** Called with every log line of the process, from its first. */
  onLog?: (line: LogLine) => void;
  /** With jobStore "postgres": its URL. */
  postgresUrl?: string;
  /** Run as a cluster replica: `--cluster natsUrl --replica-id replicaId`. */
  replica?: { natsUrl: string; replicaId: string };
}

export interface ControlPlaneProcess {
  server: BenchChild;
  /** "127.0.0.1:PORT" of the gRPC port. */
  address: string;
  metricsUrl: string;
  /** The `time` (epoch ms) of its "control plane listening" line. */
  listeningAtMs: number;
}

async function mkdirReplica(dir: string): Promise<string> {
  await mkdir(dir, { recursive: true });
  return dir;
}

function jobStoreUrl(options: ControlPlaneProcessOptions): string {
  if (options.jobStore === "memory") return "memory:";
  if (options.jobStore === "sqlite") return `sqlite:${join(options.dir, "jobs.sqlite")}`;
  if (!options.postgresUrl) throw new Error("the postgres job store needs its URL");
  return options.postgresUrl;
}

/** `trustplane server` as a child process; resolves once it logged that it listens (gRPC and metrics). */
export async function spawnControlPlane(options: ControlPlaneProcessOptions): Promise<ControlPlaneProcess> {
  const { dir, credentials, timeoutMs } = options;
  const server = options.group.spawn({
    name: "control plane",
    nodeArgs: options.nodeArgs,
    args: [
      TRUSTPLANE_BIN, "server",
      "--grpc", options.grpcAddress ?? "127.0.0.1:0",
      "--data-dir", dir,
      "--api-keys", credentials.apiKeysFile,
      "--join-token-file", credentials.joinTokenFile,
      "--job-store", jobStoreUrl(options),
      "--metrics", "127.0.0.1:0",
      "--shutdown-grace", "2",
      ...(options.replica ? ["--cluster", options.replica.natsUrl, "--replica-id", options.replica.replicaId] : []),
    ],
    env: { TRUSTPLANE_LOG_LEVEL: options.logLevel ?? "info" },
    openFiles: options.openFiles,
  });
  if (options.onLog) server.onLog(options.onLog);
  const [listening, metrics] = await Promise.all([
    server.waitForLog((line) => line.msg === "control plane listening", timeoutMs),
    server.waitForLog((line) => line.msg === "metrics listening", timeoutMs),
    options.replica ? server.waitForLog((line) => line.msg === "cluster joined", timeoutMs) : undefined,
  ]);
  return { server, address: String(listening.address), metricsUrl: String(metrics.url), listeningAtMs: Number(listening.time) };
}

/** One value of a Prometheus text endpoint (first sample of `metric`). */
export async function scrapeMetric(url: string, metric: string): Promise<number> {
  const response = await fetch(url);
  const text = await response.text();
  const match = new RegExp(`^${metric}(?:\\{[^}]*\\})? ([-+0-9.eE]+|NaN)$`, "m").exec(text);
  if (!match) throw new Error(`metric ${metric} not found at ${url}`);
  return Number(match[1]);
}

export class TrustplaneStack {
  private readonly fleet: Client<typeof FleetService>;
  private readonly certificates: Client<typeof CertificateService>;
  private readonly session: Http2SessionManager;

  private constructor(
    /** Every control plane: one, or the cluster's replicas (the gateway and gRPC calls use the first). */
    readonly replicas: readonly ControlPlaneProcess[],
    readonly server: BenchChild,
    readonly gateway: BenchChild,
    /** "127.0.0.1:PORT" of the control plane. */
    readonly address: string,
    readonly metricsUrl: string,
    /** "http://127.0.0.1:PORT" of the gateway. */
    readonly gatewayUrl: string,
    readonly apiKey: string,
    readonly joinToken: string,
  ) {
    const baseUrl = `http://${address}`;
    this.session = new Http2SessionManager(baseUrl);
    const transport = createGrpcTransport({ baseUrl, sessionManager: this.session });
    this.fleet = createClient(FleetService, transport);
    this.certificates = createClient(CertificateService, transport);
  }

  static async start(options: StackOptions): Promise<TrustplaneStack> {
    const { group, dir } = options;
    const timeoutMs = options.startTimeoutMs ?? 60_000;
    const credentials = await writeStackCredentials(dir);
    const env = { TRUSTPLANE_LOG_LEVEL: options.logLevel ?? "info" };
    const profile = (name: string) => (options.cpuProfileDir ? ["--cpu-prof", "--cpu-prof-dir", join(options.cpuProfileDir, name)] : []);
    const replicas: ControlPlaneProcess[] = [];
    const count = options.cluster?.replicas ?? 1;
    // One at a time: the first creates the job store's schema.
    for (let index = 0; index < count; index++) {
      const replicaId = `replica-${String.fromCharCode(97 + index)}`;
      replicas.push(
        await spawnControlPlane({
          ...options,
          dir: count === 1 ? dir : await mkdirReplica(join(dir, replicaId)),
          credentials,
          nodeArgs: profile(count === 1 ? "server" : `server-${replicaId}`),
          timeoutMs,
          postgresUrl: options.cluster?.postgresUrl,
          replica: options.cluster && { natsUrl: options.cluster.natsUrl, replicaId },
        }),
      );
    }
    const { server, address, metricsUrl } = replicas[0]!;
    const gateway = group.spawn({
      name: "gateway",
      nodeArgs: profile("gateway"),
      args: [TRUSTPLANE_BIN, "gateway", "--http", "127.0.0.1:0", "--server", address],
      env,
    });
    const gatewayListening = await gateway.waitForLog((line) => line.msg === "gateway listening", timeoutMs);
    return new TrustplaneStack(replicas, server, gateway, address, metricsUrl, String(gatewayListening.url).replace(/\/$/, ""), credentials.apiKey, credentials.joinToken);
  }

  /** Stores a PEM object through the gateway (POST /file). */
  async upload(name: string, pem: string): Promise<void> {
    const response = await fetch(`${this.gatewayUrl}/file?force=true`, {
      method: "POST",
      headers: { authorization: `Bearer ${this.apiKey}`, "content-type": "application/json" },
      body: JSON.stringify({ name, content: pem }),
    });
    if (response.status !== 200) throw new Error(`POST /file ${name}: ${response.status} ${await response.text()}`);
  }

  /** One value of the control planes' Prometheus text (first sample of `metric`), summed over the replicas. */
  async metric(metric: string): Promise<number> {
    const values = await Promise.all(this.replicas.map(({ metricsUrl }) => scrapeMetric(metricsUrl, metric)));
    return values.reduce((sum, value) => sum + value, 0);
  }

  /** Agents online as the control planes count their own streams. */
  onlineAgents(): Promise<number> {
    return this.metric("trustplane_agents_online");
  }

  /** Resident memory of every control plane, KiB. */
  rssKb(): number {
    return this.replicas.reduce((sum, { server }) => sum + server.rssKb(), 0);
  }

  /** CPU time of every control plane so far, ms. */
  cpuMs(): number {
    return this.replicas.reduce((sum, { server }) => sum + server.cpuMs(), 0);
  }

  /** Online agents as FleetService.ListAgents(state=ONLINE) counts them (one full listing). */
  async listOnline(): Promise<number> {
    const answer = await this.fleet.listAgents({ state: AgentState.ONLINE }, { headers: this.authorization() });
    return answer.agents.length;
  }

  /** POST /node/{target}/certificate/ca through the gateway, timed until the whole JSON answer is read. */
  async installRest(target: string, name: string, object: string, timeoutSeconds: number): Promise<RoundOutcome> {
    const started = performance.now();
    const response = await fetch(`${this.gatewayUrl}/node/${encodeURIComponent(target)}/certificate/ca?timeout=${timeoutSeconds}`, {
      method: "POST",
      headers: { authorization: `Bearer ${this.apiKey}`, "content-type": "application/json" },
      body: JSON.stringify({ name, object }),
    });
    const text = await response.text();
    const ms = performance.now() - started;
    if (response.status !== 200) throw new Error(`POST /node/${target}/certificate/ca: ${response.status} ${text.slice(0, 500)}`);
    const body = JSON.parse(text) as { results: { status: string; changed: boolean; error?: string }[] };
    const outcome: RoundOutcome = { ms, hosts: body.results.length, ok: 0, changed: 0 };
    for (const result of body.results) {
      if (result.status === "ok") outcome.ok++;
      else outcome.firstError ??= `${result.status}: ${result.error ?? ""}`;
      if (result.changed) outcome.changed++;
    }
    return outcome;
  }

  /** CertificateService.InstallCA straight to the control plane, timed until the job summary. */
  async installGrpc(target: string, name: string, object: string, timeoutSeconds: number): Promise<RoundOutcome> {
    const request = create(InstallCARequestSchema, { target, name, object, options: { timeoutSeconds } });
    const started = performance.now();
    const outcome: RoundOutcome = { ms: 0, hosts: 0, ok: 0, changed: 0 };
    for await (const answer of this.certificates.installCA(request, { headers: this.authorization() })) {
      const event = answer.event?.event;
      if (event?.case !== "result") continue;
      outcome.hosts++;
      if (event.value.status === ResultStatus.OK) outcome.ok++;
      else outcome.firstError ??= `${ResultStatus[event.value.status]}: ${event.value.error}`;
      if (event.value.changed) outcome.changed++;
    }
    outcome.ms = performance.now() - started;
    return outcome;
  }

  /** Closes the client connection and stops both processes (SIGTERM: the server writes its CPU profile). */
  async stop(): Promise<void> {
    this.session.abort();
    await this.gateway.stop(5_000);
    await Promise.all(this.replicas.map(({ server }) => server.stop(15_000)));
  }

  private authorization(): Record<string, string> {
    return { authorization: `Bearer ${this.apiKey}` };
  }
}
