// The control plane: one grpc-js server holding the agents' streams
// (AgentService) and serving the client API (CertificateService, FileService,
// JobService, FleetService) with API-key auth, target routing, PEM validation, the
// object store and the job store; optionally Prometheus metrics on plain HTTP.
import { Server, ServerCredentials, type ServiceDefinition } from "@grpc/grpc-js";
import { grpcServiceDefinition } from "../common/grpc-service-definition.js";
import type { Logger } from "../common/logger.js";
import { AgentService as AgentServiceDesc } from "../gen/trustplane/v1/agent_pb.js";
import { CertificateService as CertificateServiceDesc } from "../gen/trustplane/v1/certificate_pb.js";
import { FileService as FileServiceDesc } from "../gen/trustplane/v1/file_pb.js";
import { FleetService as FleetServiceDesc } from "../gen/trustplane/v1/fleet_pb.js";
import { JobService as JobServiceDesc } from "../gen/trustplane/v1/job_pb.js";
import { ApiKeysFile } from "./auth/api-keys-file.js";
import { CallAuthorizer } from "./auth/call-authorizer.js";
import { JoinToken } from "./auth/join-token.js";
import { JobRunner } from "./job-runner.js";
import type { JobStore } from "./job-store/job-store.js";
import { openJobStore } from "./job-store/open-job-store.js";
import { startMetricsListener, type MetricsListener } from "./metrics-listener.js";
import { ControlPlaneMetrics } from "./metrics.js";
import { CountedObjectStore } from "./object-store/counted-object-store.js";
import { openObjectStore } from "./object-store/open-object-store.js";
import { addReflection } from "./reflection.js";
import { AgentRegistry } from "./registry.js";
import { Router } from "./router.js";
import { AgentService } from "./services/agent-service.js";
import { CertificateService } from "./services/certificate-service.js";
import { FileService } from "./services/file-service.js";
import { FleetService } from "./services/fleet-service.js";
import { JobService } from "./services/job-service.js";

export interface ControlPlaneOptions {
  /** "127.0.0.1:7443"; port 0 picks a free one. */
  grpcAddress: string;
  /** JSON keys file; re-read when it changes, no restart. */
  apiKeysFile: string;
  /** Holds the agents' join token, or "sha256:<hex>" of it. */
  joinTokenFile: string;
  /** "file:DIR" or "s3://BUCKET". */
  objectStore: string;
  /** For s3://: endpoint URL (path-style always), keys, region. */
  s3?: { endpoint?: string; accessKey?: string; secretKey?: string; region?: string };
  logger: Logger;
  /** Told to agents in Welcome; default 10000. */
  heartbeatIntervalMs?: number;
  /** Jobs, results and known agents: "memory:" (default), "sqlite:PATH" or "postgres://…". */
  jobStore?: string;
  /** Jobs created longer ago are pruned, at start and hourly; default 30 days. */
  jobRetentionMs?: number;
  /** Offline agents last seen longer ago are stale: no longer matched by `_all` or selectors; default 7 days. */
  staleAgentMs?: number;
  /** "127.0.0.1:9464" (port 0 picks a free one): serve Prometheus text at GET /metrics there. Default: no listener. */
  metricsAddress?: string;
}

export interface ControlPlane {
  /** "127.0.0.1:<bound port>". */
  readonly address: string;
  readonly registry: AgentRegistry;
  /** "http://HOST:PORT/metrics" when `metricsAddress` was given. */
  readonly metricsUrl?: string;
  /** Stops accepting, waits for in-flight jobs up to graceMs, closes agent streams, shuts down. */
  close(graceMs?: number): Promise<void>;
}

const MAX_RECEIVE_MESSAGE_BYTES = 1024 * 1024;
export const DEFAULT_JOB_RETENTION_MS = 30 * 24 * 3600 * 1000;
const PRUNE_INTERVAL_MS = 3600 * 1000;
const DEFAULT_CLOSE_GRACE_MS = 10_000;
/** After the grace: how long finished calls get to flush before the server is torn down. */
const FLUSH_MS = 2_000;

export const SERVER_CHANNEL_OPTIONS = {
  "grpc.keepalive_time_ms": 10_000,
  "grpc.keepalive_timeout_ms": 5_000,
  "grpc.http2.min_ping_interval_without_data_ms": 5_000,
  "grpc.keepalive_permit_without_calls": 1,
  // Client requests hold at most a 64 KiB PEM; agents' list results stay far below this.
  "grpc.max_receive_message_length": MAX_RECEIVE_MESSAGE_BYTES,
};

/** AgentService's definition, writing pre-encoded command frames as they are. */
function agentServiceDefinition(): ServiceDefinition {
  const definition = grpcServiceDefinition(AgentServiceDesc);
  const connect = definition.connect!;
  const serialize = connect.responseSerialize;
  return {
    ...definition,
    connect: {
      ...connect,
      responseSerialize: (value: unknown) =>
        value instanceof Uint8Array ? (Buffer.isBuffer(value) ? value : Buffer.from(value.buffer, value.byteOffset, value.byteLength)) : serialize(value),
    },
  };
}

function splitHostPort(address: string): { host: string; port: string } {
  const colon = address.lastIndexOf(":");
  if (colon < 0) throw new Error(`grpc address "${address}" must be HOST:PORT`);
  return { host: address.slice(0, colon), port: address.slice(colon + 1) };
}

export async function startControlPlane(options: ControlPlaneOptions): Promise<ControlPlane> {
  const { logger } = options;
  const apiKeys = await ApiKeysFile.open(options.apiKeysFile, logger);
  const joinToken = await JoinToken.fromFile(options.joinTokenFile);
  const metrics = new ControlPlaneMetrics();
  const store = await openJobStore(options.jobStore ?? "memory:", {
    logger: logger.child({ service: "job-store" }),
    onError: () => metrics.jobStoreError(),
  });
  // What opened after the store is released again if the start fails.
  const release: (() => Promise<void>)[] = [() => store.close()];
  try {
    return await startOnStore(options, apiKeys, joinToken, metrics, store, release);
  } catch (error) {
    for (const close of release.reverse()) await close().catch(() => undefined);
    throw error;
  }
}

async function startOnStore(
  options: ControlPlaneOptions,
  apiKeys: ApiKeysFile,
  joinToken: JoinToken,
  metrics: ControlPlaneMetrics,
  store: JobStore,
  release: (() => Promise<void>)[],
): Promise<ControlPlane> {
  const { logger } = options;
  const interrupted = await store.interruptRunningJobs(new Date());
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

  const registry = new AgentRegistry({
    staleAgentMs: options.staleAgentMs,
    recorder: store,
    onAttach: (reconnect) => metrics.agentAttached(reconnect),
  });
  registry.load(await store.loadAgents());
  metrics.observeAgents(registry);

  const objects = new CountedObjectStore(await openObjectStore(options.objectStore, options.s3), () => metrics.objectStoreError());
  release.push(() => objects.close());
  const router = new Router(registry);
  const jobs = new JobRunner({ store, logger, metrics });
  const authorizer = new CallAuthorizer(apiKeys);

  let closing = false;
  const isClosing = () => closing;
  const agents = new AgentService({
    registry,
    joinToken,
    heartbeatIntervalMs: options.heartbeatIntervalMs ?? 10_000,
    logger: logger.child({ service: "agent" }),
    isClosing,
  });
  const certificates = new CertificateService({ authorizer, router, objects, jobs, logger, isClosing });
  const files = new FileService({ authorizer, objects, logger, isClosing });
  const jobRecords = new JobService({ authorizer, jobs, store, logger, isClosing });
  const fleet = new FleetService({ authorizer, registry, router, store, logger, isClosing });

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
    server.bindAsync(options.grpcAddress, ServerCredentials.createInsecure(), (error, bound) => (error ? reject(error) : resolve(bound)));
  });
  const address = `${host}:${port}`;
  logger.debug({ address, metricsUrl: metricsListener?.url }, "control plane bound");

  const pruneTimer = setInterval(() => void prune(), PRUNE_INTERVAL_MS);
  pruneTimer.unref();

  let closed: Promise<void> | undefined;
  const close = async (graceMs = DEFAULT_CLOSE_GRACE_MS) => {
    closing = true;
    clearInterval(pruneTimer);
    // No new connections; existing ones get GOAWAY and keep their open calls.
    const shutdown = new Promise<void>((resolve) => server.tryShutdown(() => resolve()));
    const finished = await jobs.drain(graceMs);
    if (!finished) logger.warn({ runningJobs: jobs.runningCount }, "shutdown grace over; closing agent streams under running jobs");
    agents.closeAll();
    await jobs.drain(FLUSH_MS);
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([shutdown, new Promise<void>((resolve) => (timer = setTimeout(resolve, FLUSH_MS)))]);
    clearTimeout(timer);
    server.forceShutdown();
    await objects.close();
    await store.close();
    await metricsListener?.close();
    logger.info({ address }, "control plane stopped");
  };

  return {
    address,
    registry,
    metricsUrl: metricsListener?.url,
    close: (graceMs?: number) => (closed ??= close(graceMs)),
  };
}
