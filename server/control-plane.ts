// The control plane: one grpc-js server holding the agents' streams
// (AgentService) and serving the client API (CertificateService, FileService) with
// API-key auth, target routing, PEM validation and the object store.
import { Server, ServerCredentials, type ServiceDefinition } from "@grpc/grpc-js";
import { grpcServiceDefinition } from "../common/grpc-service-definition.js";
import type { Logger } from "../common/logger.js";
import { AgentService as AgentServiceDesc } from "../gen/trustplane/v1/agent_pb.js";
import { CertificateService as CertificateServiceDesc } from "../gen/trustplane/v1/certificate_pb.js";
import { FileService as FileServiceDesc } from "../gen/trustplane/v1/file_pb.js";
import { ApiKeysFile } from "./auth/api-keys-file.js";
import { CallAuthorizer } from "./auth/call-authorizer.js";
import { JoinToken } from "./auth/join-token.js";
import { JobRunner } from "./job-runner.js";
import { MemoryJobStore, type JobStore } from "./job-store.js";
import { openObjectStore } from "./object-store/open-object-store.js";
import { addReflection } from "./reflection.js";
import { AgentRegistry } from "./registry.js";
import { Router } from "./router.js";
import { AgentService } from "./services/agent-service.js";
import { CertificateService } from "./services/certificate-service.js";
import { FileService } from "./services/file-service.js";

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
  /** How long a disconnected agent stays known; default 7 days. */
  offlineRetentionMs?: number;
  /** Where jobs are recorded; default in memory. */
  jobStore?: JobStore;
}

export interface ControlPlane {
  /** "127.0.0.1:<bound port>". */
  readonly address: string;
  readonly registry: AgentRegistry;
  /** Stops accepting, waits for in-flight jobs up to graceMs, closes agent streams, shuts down. */
  close(graceMs?: number): Promise<void>;
}

const MAX_RECEIVE_MESSAGE_BYTES = 1024 * 1024;
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
  const objects = await openObjectStore(options.objectStore, options.s3);
  const registry = new AgentRegistry({ offlineRetentionMs: options.offlineRetentionMs });
  const router = new Router(registry);
  const jobs = new JobRunner({ store: options.jobStore ?? new MemoryJobStore(), logger });
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

  const server = new Server(SERVER_CHANNEL_OPTIONS);
  server.addService(agentServiceDefinition(), agents.handlers());
  server.addService(grpcServiceDefinition(CertificateServiceDesc), certificates.handlers());
  server.addService(grpcServiceDefinition(FileServiceDesc), files.handlers());
  addReflection(server);

  const { host } = splitHostPort(options.grpcAddress);
  const port = await new Promise<number>((resolve, reject) => {
    server.bindAsync(options.grpcAddress, ServerCredentials.createInsecure(), (error, bound) => (error ? reject(error) : resolve(bound)));
  });
  const address = `${host}:${port}`;
  logger.debug({ address }, "control plane bound");

  let closed: Promise<void> | undefined;
  const close = async (graceMs = DEFAULT_CLOSE_GRACE_MS) => {
    closing = true;
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
    logger.info({ address }, "control plane stopped");
  };

  return {
    address,
    registry,
    close: (graceMs?: number) => (closed ??= close(graceMs)),
  };
}
