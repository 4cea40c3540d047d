// The control plane: one grpc-js server holding the agents' streams
// (AgentService) and serving the client API (CertificateService, FileService,
// JobService, FleetService) with API-key auth, target routing, PEM validation, the
// object store and the job store; optionally TLS (and mutual TLS for agents), an
// audit file, and Prometheus metrics on plain HTTP.
import { Server, type ServerCredentials } from "@grpc/grpc-js";
import { grpcServiceDefinition } from "../common/grpc-service-definition.js";
import type { Logger } from "../common/logger.js";
import { CertificateService as CertificateServiceDesc } from "../gen/trustplane/v1/certificate_pb.js";
import { FileService as FileServiceDesc } from "../gen/trustplane/v1/file_pb.js";
import { FleetService as FleetServiceDesc } from "../gen/trustplane/v1/fleet_pb.js";
import { JobService as JobServiceDesc } from "../gen/trustplane/v1/job_pb.js";
import type { MessageRate } from "./agent-session.js";
import { MAX_AGENT_MESSAGE_BYTES } from "./agent-messages.js";
import { AuditLog } from "./audit-log.js";
import { ApiKeysFile } from "./auth/api-keys-file.js";
import { AuthFailureLog } from "./auth/auth-failure-log.js";
import { CallAuthorizer } from "./auth/call-authorizer.js";
import { JoinTokenFile } from "./auth/join-token.js";
import { JobRunner } from "./job-runner.js";
import type { JobStore } from "./job-store/job-store.js";
import { openJobStore } from "./job-store/open-job-store.js";
import { startMetricsListener, type MetricsListener } from "./metrics-listener.js";
import { ControlPlaneMetrics } from "./metrics.js";
import { ClusterNode, type ClusterOptions } from "./cluster/cluster-node.js";
import { CountedObjectStore } from "./object-store/counted-object-store.js";
import { openObjectStore } from "./object-store/open-object-store.js";
import { addReflection } from "./reflection.js";
import { AgentRegistry } from "./registry.js";
import { Router } from "./router.js";
import { AgentService, agentServiceDefinition } from "./services/agent-service.js";
import { CertificateService } from "./services/certificate-service.js";
import { FileService } from "./services/file-service.js";
import { FleetService } from "./services/fleet-service.js";
import { JobService } from "./services/job-service.js";
import { controlPlaneCredentials, type ControlPlaneTls } from "./tls-credentials.js";

export type { ControlPlaneTls } from "./tls-credentials.js";
export type { MessageRate } from "./agent-session.js";
export type { ClusterOptions } from "./cluster/cluster-node.js";

export interface ControlPlaneOptions {
  /** "127.0.0.1:7443"; port 0 picks a free one. */
  grpcAddress: string;
  /** JSON keys file; re-read when it changes, no restart. */
  apiKeysFile: string;
  /** Holds the agents' join token, or "sha256:<hex>" of it; re-read when it changes (token rotation), no restart. */
  joinTokenFile: string;
  /** "file:DIR" or "s3://BUCKET". */
  objectStore: string;
  /** For s3://: endpoint URL (path-style always), keys, region. */
  s3?: { endpoint?: string; accessKey?: string; secretKey?: string; region?: string };
  logger: Logger;
  /**
   * TLS for the gRPC port. With `clientCaPem`, agents must present a client
   * certificate issued by that CA (and may claim only the hostname it names); the
   * join token is then not needed. Client-API callers (gateway, buf curl) need no
   * client certificate.
   */
  tls?: ControlPlaneTls;
  /** JSON-lines audit file (created 0600), one line per audited call; default: audit lines go to the log only. */
  auditFile?: string;
  /** Told to agents in Welcome; default 10000. An agent silent for 2.5 intervals is marked offline. */
  heartbeatIntervalMs?: number;
  /** Message budget of each agent stream (token bucket); default 50 per second, bursts of 200. A stream over it is disconnected. */
  agentMessageRate?: MessageRate;
  /** Jobs, results and known agents: "memory:" (default), "sqlite:PATH" or "postgres://…". */
  jobStore?: string;
  /** Jobs created longer ago are pruned, at start and hourly; default 30 days. */
  jobRetentionMs?: number;
  /** Offline agents last seen longer ago are stale: no longer matched by `_all` or selectors; default 7 days. */
  staleAgentMs?: number;
  /** "127.0.0.1:9464" (port 0 picks a free one): serve Prometheus text at GET /metrics there. Default: no listener. */
  metricsAddress?: string;
  /**
   * Run as one replica of a cluster (DESIGN.md section 9): NATS between replicas, the
   * job store (PostgreSQL) shared. Default: one control plane on its own.
   */
  cluster?: ClusterOptions;
}

export interface ControlPlane {
  /** "127.0.0.1:<bound port>". */
  readonly address: string;
  readonly registry: AgentRegistry;
  /** "http://HOST:PORT/metrics" when `metricsAddress` was given. */
  readonly metricsUrl?: string;
  /** This replica's id in a cluster; "" with one control plane. */
  readonly replicaId: string;
  /**
   * Graceful stop (SIGTERM): from the call on, new calls, jobs and agent streams
   * answer UNAVAILABLE "control plane is shutting down"; running jobs finish, up to
   * graceMs (default 10 s); then agent streams close (commands still out fail
   * `agent disconnected`), the port shuts and the stores are closed.
   */
  close(graceMs?: number): Promise<void>;
}

/** Whole-port limit; agent messages have their own, tighter one (agent-messages.ts). */
const MAX_RECEIVE_MESSAGE_BYTES = 1024 * 1024;
export const DEFAULT_JOB_RETENTION_MS = 30 * 24 * 3600 * 1000;
const PRUNE_INTERVAL_MS = 3600 * 1000;
const DEFAULT_CLOSE_GRACE_MS = 10_000;
/** After the grace: how long finished calls get to flush before the server is torn down. */
const FLUSH_MS = 2_000;

export const SERVER_CHANNEL_OPTIONS = {
  // A ping every 10 s, unanswered for 5 s, closes the connection: an agent gone
  // without a TCP close (SIGSTOP, cut network) is offline within ~15 s; the heartbeat
  // sweep (2.5 intervals of silence) is the second line.
  "grpc.keepalive_time_ms": 10_000,
  "grpc.keepalive_timeout_ms": 5_000,
  "grpc.http2.min_ping_interval_without_data_ms": 5_000,
  "grpc.keepalive_permit_without_calls": 1,
  // Client requests hold at most a 64 KiB PEM; agent messages are limited to MAX_AGENT_MESSAGE_BYTES on their own.
  "grpc.max_receive_message_length": Math.max(MAX_RECEIVE_MESSAGE_BYTES, MAX_AGENT_MESSAGE_BYTES),
};

function splitHostPort(address: string): { host: string; port: string } {
  const colon = address.lastIndexOf(":");
  if (colon < 0) throw new Error(`grpc address "${address}" must be HOST:PORT`);
  return { host: address.slice(0, colon), port: address.slice(colon + 1) };
}

/** Throws for option values that cannot work. */
function checkOptions(options: ControlPlaneOptions): void {
  const interval = options.heartbeatIntervalMs;
  if (interval !== undefined && !(Number.isInteger(interval) && interval > 0)) {
    throw new Error(`heartbeat interval must be a positive number of milliseconds, got ${interval}`);
  }
  if (options.cluster) {
    if (options.cluster.natsUrls.length === 0) throw new Error("cluster needs at least one NATS URL");
    if (!(options.jobStore ?? "").startsWith("postgres")) {
      throw new Error("a cluster replica needs the shared PostgreSQL job store (postgres://…), not a store of its own");
    }
  }
  const rate = options.agentMessageRate;
  if (rate && !(rate.perSecond > 0 && Number.isFinite(rate.perSecond) && Number.isInteger(rate.burst) && rate.burst >= 1)) {
    throw new Error(`agent message rate needs perSecond > 0 and a whole burst >= 1, got ${rate.perSecond}/s, burst ${rate.burst}`);
  }
}

export async function startControlPlane(options: ControlPlaneOptions): Promise<ControlPlane> {
  checkOptions(options);
  const { logger } = options;
  const credentials = controlPlaneCredentials(options.tls);
  const apiKeys = await ApiKeysFile.open(options.apiKeysFile, logger);
  const joinToken = await JoinTokenFile.open(options.joinTokenFile, logger.child({ service: "join-token" }));
  const metrics = new ControlPlaneMetrics();
  const store = await openJobStore(options.jobStore ?? "memory:", {
    logger: logger.child({ service: "job-store" }),
    onError: () => metrics.jobStoreError(),
  });
  // What opened after the store is released again if the start fails.
  const release: (() => Promise<void>)[] = [() => store.close()];
  try {
    const audit = await AuditLog.open({ logger: logger.child({ service: "audit" }), file: options.auditFile });
    release.push(() => audit.close());
    return await startOnStore(options, { credentials, apiKeys, joinToken, audit }, metrics, store, release);
  } catch (error) {
    for (const close of release.reverse()) await close().catch(() => undefined);
    throw error;
  }
}

interface Security {
  credentials: ServerCredentials;
  apiKeys: ApiKeysFile;
  joinToken: JoinTokenFile;
  audit: AuditLog;
}

async function startOnStore(
  options: ControlPlaneOptions,
  { credentials, apiKeys, joinToken, audit }: Security,
  metrics: ControlPlaneMetrics,
  store: JobStore,
  release: (() => Promise<void>)[],
): Promise<ControlPlane> {
  const { logger } = options;
  // A cluster replica interrupts only its own jobs, once it knows its id (ClusterNode.join).
  const interrupted = options.cluster ? 0 : await store.interruptRunningJobs(new Date());
  if (interrupted > 0) logger.warn({ interrupted }, "jobs left running by a previous control plane marked interrupted");
  const retentionMs = options.jobRetentionMs ?? DEFAULT_JOB_RETENTION_MS;
  const prune = async () => {
    try {
      const pruned = await store.pruneJobs(new Date(Date.now() - retentionMs));
      if (pruned > 0) logger.info({ pruned, retentionMs }, "old jobs pruned");
    } catch {
      // The store logged and counted it; the next round tries again.
    }
  };
  await prune();

  // The cluster node needs the registry and the registry asks it about other replicas' agents.
  let cluster: ClusterNode | undefined;
  const registry = new AgentRegistry({
    staleAgentMs: options.staleAgentMs,
    recorder: store,
    onAttach: (reconnect) => metrics.agentAttached(reconnect),
    heldElsewhere: options.cluster ? (hostname) => cluster?.heldElsewhere(hostname) : undefined,
  });
  registry.load(await store.loadAgents());
  metrics.observeAgents(registry);

  const objects = new CountedObjectStore(await openObjectStore(options.objectStore, options.s3), () => metrics.objectStoreError());
  release.push(() => objects.close());
  cluster = options.cluster ? new ClusterNode(options.cluster, { registry, store, logger: logger.child({ service: "cluster" }) }) : undefined;
  const directory = cluster?.view ?? registry;
  const router = new Router(directory);
  const jobs = new JobRunner({ store, logger, metrics });
  const authFailures = new AuthFailureLog({ logger });
  const authorizer = new CallAuthorizer(apiKeys, authFailures);

  let closing = false;
  const isClosing = () => closing;
  const agents = new AgentService({
    registry,
    joinToken,
    requireClientCertificate: options.tls?.clientCaPem !== undefined,
    heartbeatIntervalMs: options.heartbeatIntervalMs ?? 10_000,
    messageRate: options.agentMessageRate,
    logger: logger.child({ service: "agent" }),
    authFailures,
    isClosing,
  });
  const certificates = new CertificateService({ authorizer, router, objects, jobs, logger, isClosing, audit });
  const files = new FileService({ authorizer, objects, logger, isClosing, audit });
  // A job just started on another replica is in the store a moment later: a watch on it waits that long.
  const storedJobs = cluster ? { unknownJobGraceMs: 2_000 } : undefined;
  const jobRecords = new JobService({ authorizer, jobs, store, logger, isClosing, storedJobs });
  const fleet = new FleetService({ authorizer, registry: directory, router, store, logger, isClosing, audit });

  let metricsListener: MetricsListener | undefined;
  if (options.metricsAddress !== undefined) {
    metrics.collectProcessMetrics();
    metricsListener = await startMetricsListener(options.metricsAddress, metrics.registry, logger);
    const listener = metricsListener;
    release.push(() => listener.close());
  }

  const server = new Server(SERVER_CHANNEL_OPTIONS);
  server.addService(agentServiceDefinition(), agents.handlers());
  server.addService(grpcServiceDefinition(CertificateServiceDesc), certificates.handlers());
  server.addService(grpcServiceDefinition(FileServiceDesc), files.handlers());
  server.addService(grpcServiceDefinition(JobServiceDesc), jobRecords.handlers());
  server.addService(grpcServiceDefinition(FleetServiceDesc), fleet.handlers());
  addReflection(server);
  release.push(async () => server.forceShutdown());

  const { host } = splitHostPort(options.grpcAddress);
  const port = await new Promise<number>((resolve, reject) => {
    server.bindAsync(options.grpcAddress, credentials, (error, bound) => (error ? reject(error) : resolve(bound)));
  });
  const address = `${host}:${port}`;
  const transport = options.tls ? (options.tls.clientCaPem ? "mutual-tls" : "tls") : "plaintext";
  logger.debug({ address, transport, metricsUrl: metricsListener?.url }, "control plane bound");
  if (cluster) {
    release.push(() => cluster.leave());
    // Joins in the background: until then fleet-wide calls answer UNAVAILABLE (503).
    jobs.owner = cluster.start(address);
  }
  agents.startSweeping();

  const pruneTimer = setInterval(() => void prune(), PRUNE_INTERVAL_MS);
  pruneTimer.unref();

  let closed: Promise<void> | undefined;
  const close = async (graceMs = DEFAULT_CLOSE_GRACE_MS) => {
    // From here every new call and agent stream answers UNAVAILABLE "control plane is
    // shutting down" (the port stays open through the grace so callers get that
    // answer rather than a refused connection); running jobs go on.
    closing = true;
    clearInterval(pruneTimer);
    logger.info({ runningJobs: jobs.runningCount, graceMs }, "control plane shutting down");
    const finished = await jobs.drain(graceMs);
    if (!finished) logger.warn({ runningJobs: jobs.runningCount }, "shutdown grace over; closing agent streams under running jobs");
    agents.closeAll();
    await jobs.drain(FLUSH_MS);
    await cluster?.leave();
    // No new connections; existing ones get GOAWAY and may finish what is open.
    const shutdown = new Promise<void>((resolve) => server.tryShutdown(() => resolve()));
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([shutdown, new Promise<void>((resolve) => (timer = setTimeout(resolve, FLUSH_MS)))]);
    clearTimeout(timer);
    server.forceShutdown();
    await objects.close();
    await store.close();
    await audit.close();
    await metricsListener?.close();
    logger.info({ address }, "control plane stopped");
  };

  return {
    address,
    registry,
    metricsUrl: metricsListener?.url,
    replicaId: cluster?.replicaId ?? "",
    close: (graceMs?: number) => (closed ??= close(graceMs)),
  };
}
