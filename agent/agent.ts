// The node agent: dials a control plane over AgentService.Connect (plaintext, TLS
// or mutual TLS), says hello, hands each command to a CommandHandler and writes
// back its result. Reconnects forever with full-jitter back-off, failing over among
// the configured servers; a refusal by the control plane is logged and emitted, and
// retried like any other failure.
//
// Each agent owns its grpc-js Client (a new channel per connection attempt, local
// subchannel pool), so many agents in one process each have their own TCP
// connection and back-off; nothing here is global.
import { create, toBinary } from "@bufbuild/protobuf";
import * as grpc from "@grpc/grpc-js";
import { EventEmitter } from "node:events";
import { arch, release } from "node:os";
import { grpcServiceDefinition } from "../common/grpc-service-definition.js";
import type { Logger } from "../common/logger.js";
import { JOIN_TOKEN_METADATA_KEY } from "../common/metadata-keys.js";
import { isValidHostname, labelsProblem } from "../common/names.js";
import { ERROR_DETAILS_METADATA_KEY } from "../common/status-error.js";
import {
  AgentService,
  type Command,
  type CommandResult,
  CommandResultSchema,
  type ConnectRequest,
  ConnectRequestSchema,
  type ConnectResponse,
  HeartbeatSchema,
  HelloSchema,
  OsFactsSchema,
} from "../gen/trustplane/v1/agent_pb.js";
import { ResultStatus } from "../gen/trustplane/v1/common_pb.js";
import { AgentStateFile } from "./agent-state.js";
import { type BackoffSettings, DEFAULT_BACKOFF, fullJitterDelay } from "./backoff.js";
import { CertificateProcessor } from "./certificate-processor.js";
import { type AgentChannelSecurity, type AgentTlsOptions, agentChannelSecurity } from "./channel-credentials.js";
import type { CommandHandler } from "./command-handler.js";
import { CommandMemory } from "./command-memory.js";
import { readOsRelease } from "./os-release.js";
import { selectTrustStoreFamily, unsupportedOsReason } from "./trust-store/select-trust-store.js";
import type { RebuildRunner } from "./trust-store/trust-store.js";

export interface AgentOptions {
  /** Control-plane addresses ("127.0.0.1:7443"); which one first, and which next on disconnect: `serverOrder`. */
  servers: string[];
  /**
   * "random" (default): start at a random address, fail over to another one at random,
   * so a fleet spreads over the replicas. "listed": start at the first, fail over to
   * the next in the list (wrapping), for a preferred replica with fall-backs.
   */
  serverOrder?: ServerOrder;
  hostname: string;
  labels: Record<string, string>;
  /** "/" in production; a sandbox directory in tests and `trustplane up`. */
  root: string;
  /**
   * Sent as metadata `x-trustplane-join-token`. Required unless `tls` carries a
   * client certificate (mutual TLS); empty or absent sends no token.
   */
  joinToken?: string;
  /** TLS to the control plane; mutual TLS with `certPem` and `keyPem`. Without it the channel is plaintext. */
  tls?: AgentTlsOptions;
  /** A program run instead of the family's rebuild binary, with the same arguments. */
  updateCommand?: string;
  /** How the rebuild command runs; default a child process. See TrustStoreOptions.runRebuild. */
  runRebuild?: RebuildRunner;
  version: string;
  /** The agent adds a `hostname` binding itself. */
  logger: Logger;
  /** Reconnect back-off; defaults 500 ms base, 30 s cap, full jitter. */
  backoff?: { baseMs?: number; capMs?: number };
}

export type { AgentTlsOptions };

export type ServerOrder = "random" | "listed";
export const SERVER_ORDERS: readonly ServerOrder[] = ["random", "listed"];

/** "connected": the control plane welcomed the agent. */
export interface AgentConnectedEvent {
  server: string;
  sessionId: string;
}

/** "disconnected": a stream ended, welcomed or not (a failed connection attempt too). */
export interface AgentDisconnectedEvent {
  server: string;
  /** The gRPC status code the stream ended with (`grpc.status`). */
  code: number;
  details: string;
  /** Whether the stream had been welcomed (false: the attempt never got in). */
  connected: boolean;
  /** Delay before the next attempt; undefined when the agent is stopping. */
  retryInMs?: number;
}

/** "refused": the control plane refused this agent (bad join token, hello or certificate identity). */
export interface AgentRefusedEvent {
  server: string;
  /** UNAUTHENTICATED, PERMISSION_DENIED, INVALID_ARGUMENT, ALREADY_EXISTS or RESOURCE_EXHAUSTED (`grpc.status`). */
  code: number;
  /** The control plane's message, e.g. `agent certificate is for "web-1", not "web-2"`. */
  details: string;
}

/**
 * Events: "connected" (AgentConnectedEvent), "disconnected" (AgentDisconnectedEvent,
 * after every stream or attempt that ends), "refused" (AgentRefusedEvent, before the
 * "disconnected" of that attempt; the agent keeps retrying with back-off), "error"
 * (the agent could not start, e.g. os-release unreadable).
 */
export interface Agent extends EventEmitter {
  readonly hostname: string;
  /** Resolves at once when connected, else at the next welcome; rejects on timeout or stop. */
  waitConnected(timeoutMs?: number): Promise<void>;
  /** Finishes the command in progress, closes the stream, stops reconnecting; resolves when closed. */
  stop(): Promise<void>;
}

export function startAgent(options: AgentOptions): Agent {
  if (options.servers.length === 0) throw new Error("agent needs at least one control-plane address");
  if (!isValidHostname(options.hostname)) throw new Error(`agent hostname "${options.hostname}" is not a valid RFC 1123 host name`);
  const labelProblem = labelsProblem(options.labels);
  if (labelProblem) throw new Error(labelProblem);
  const security = agentChannelSecurity(options.tls);
  if (!options.joinToken && !security.clientCertificate) {
    throw new Error("agent needs a join token unless it presents a client certificate (mutual TLS)");
  }
  const agent = new StreamAgent(options, security);
  agent.start();
  return agent;
}

const CONNECT_METHOD = grpcServiceDefinition(AgentService).connect!;
const CHANNEL_OPTIONS: grpc.ChannelOptions = {
  "grpc.use_local_subchannel_pool": 1,
  "grpc.keepalive_time_ms": 10_000,
  "grpc.keepalive_timeout_ms": 5_000,
  "grpc.keepalive_permit_without_calls": 1,
};
/** Statuses by which the control plane refuses an agent (token, hello, certificate identity). */
/** How the control plane says no: bad credentials or hello, a hostname held by another identity, flooding. */
const REFUSAL_CODES = new Set<number>([
  grpc.status.UNAUTHENTICATED,
  grpc.status.PERMISSION_DENIED,
  grpc.status.INVALID_ARGUMENT,
  grpc.status.ALREADY_EXISTS,
  grpc.status.RESOURCE_EXHAUSTED,
]);
/** How grpc-js words a failed TLS handshake (certificate refused, untrusted or misnamed) in UNAVAILABLE's details. */
const TLS_FAILURE = /certificate|altnames|SSL routines|TLS/i;
/** How long stop() waits for the control plane to close a half-closed stream before cancelling it. */
const STOP_CLOSE_GRACE_MS = 1_000;
/** How long stop() lets the command in progress finish (a rebuild may hang) before closing anyway. */
const STOP_COMMAND_DEADLINE_MS = 20_000;

type OutgoingMessage = ConnectRequest | Buffer;
type AgentCall = grpc.ClientDuplexStream<OutgoingMessage, ConnectResponse>;

const serializeRequest = (message: OutgoingMessage): Buffer =>
  Buffer.isBuffer(message) ? message : CONNECT_METHOD.requestSerialize(message);
const deserializeResponse = CONNECT_METHOD.responseDeserialize as (bytes: Buffer) => ConnectResponse;

interface ConnectedWaiter {
  resolve: () => void;
  reject: (error: Error) => void;
  timer?: NodeJS.Timeout;
}

class StreamAgent extends EventEmitter implements Agent {
  readonly hostname: string;
  private readonly logger: Logger;
  private readonly backoff: BackoffSettings;
  private readonly credentials: grpc.ChannelCredentials;
  private readonly channelOptions: grpc.ChannelOptions;
  private readonly memory = new CommandMemory();
  private handler: CommandHandler | undefined;
  /** The hello, encoded once per agent. */
  private helloBytes: Buffer | undefined;

  private serverIndex: number;
  private attempt = 0;
  private client: grpc.Client | undefined;
  private call: AgentCall | undefined;
  private connected = false;
  private heartbeatTimer: NodeJS.Timeout | undefined;
  private retryTimer: NodeJS.Timeout | undefined;
  private readonly inFlight = new Set<Promise<void>>();
  private readonly waiters = new Set<ConnectedWaiter>();
  private stopping = false;
  private stopped: Promise<void> | undefined;
  private callClosed: (() => void) | undefined;

  constructor(
    private readonly options: AgentOptions,
    security: AgentChannelSecurity,
  ) {
    super();
    this.credentials = security.credentials;
    this.channelOptions = { ...CHANNEL_OPTIONS, ...security.channelOptions };
    this.hostname = options.hostname;
    // The agent binds its hostname itself; callers pass a logger without it.
    this.logger = options.logger.child({ hostname: options.hostname });
    this.backoff = {
      baseMs: options.backoff?.baseMs ?? DEFAULT_BACKOFF.baseMs,
      capMs: options.backoff?.capMs ?? DEFAULT_BACKOFF.capMs,
    };
    this.serverIndex = options.serverOrder === "listed" ? 0 : Math.floor(Math.random() * options.servers.length);
  }

  start(): void {
    this.prepare().then(
      () => this.connect(),
      (error: Error) => {
        this.logger.error({ err: error.message }, "agent could not start");
        if (this.listenerCount("error") > 0) this.emit("error", error);
      },
    );
  }

  /** Reads os-release once, chooses the trust store, builds the processor and the hello. */
  private async prepare(): Promise<void> {
    const { root } = this.options;
    const os = await readOsRelease(root);
    const family = selectTrustStoreFamily(os);
    const trustStore = family?.create({ root, updateCommand: this.options.updateCommand, runRebuild: this.options.runRebuild });
    if (!trustStore) this.logger.warn({ osId: os.id }, unsupportedOsReason(os));
    this.handler = new CertificateProcessor({
      trustStore,
      unsupportedReason: unsupportedOsReason(os),
      state: new AgentStateFile(root, this.logger),
      logger: this.logger,
    });
    const hello = create(ConnectRequestSchema, {
      kind: {
        case: "hello",
        value: create(HelloSchema, {
          hostname: this.options.hostname,
          labels: this.options.labels,
          agentVersion: this.options.version,
          os: create(OsFactsSchema, {
            id: os.id,
            idLike: os.idLike,
            versionId: os.versionId,
            prettyName: os.prettyName,
            kernel: release(),
            arch: arch(),
            trustStore: trustStore?.family ?? "",
          }),
        }),
      },
    });
    this.helloBytes = Buffer.from(toBinary(ConnectRequestSchema, hello));
  }

  private get server(): string {
    return this.options.servers[this.serverIndex]!;
  }

  private connect(): void {
    this.retryTimer = undefined;
    if (this.stopping) return;
    const client = new grpc.Client(this.server, this.credentials, this.channelOptions);
    const metadata = new grpc.Metadata();
    if (this.options.joinToken) metadata.set(JOIN_TOKEN_METADATA_KEY, this.options.joinToken);
    const call = client.makeBidiStreamRequest(CONNECT_METHOD.path, serializeRequest, deserializeResponse, metadata);
    this.client = client;
    this.call = call;
    call.on("data", (message: ConnectResponse) => this.onMessage(call, message));
    call.on("status", (status: grpc.StatusObject) => this.onStatus(call, client, status));
    call.on("error", () => {
      // The status event carries the outcome; this listener keeps the error from being thrown.
    });
    call.write(this.helloBytes!);
  }

  private onMessage(call: AgentCall, message: ConnectResponse): void {
    if (call !== this.call) return;
    switch (message.kind.case) {
      case "welcome":
        this.onWelcome(message.kind.value.sessionId, message.kind.value.heartbeatIntervalMs);
        break;
      case "command":
        this.onCommand(call, message.kind.value);
        break;
      case "heartbeat":
        break;
      default:
        this.logger.debug("ignoring an unknown message from the control plane");
    }
  }

  private onWelcome(sessionId: string, heartbeatIntervalMs: number): void {
    this.connected = true;
    this.attempt = 0;
    this.stopHeartbeats();
    if (heartbeatIntervalMs > 0) {
      this.heartbeatTimer = setInterval(() => this.sendHeartbeat(), heartbeatIntervalMs);
      this.heartbeatTimer.unref();
    }
    this.logger.info({ server: this.server, sessionId }, "connected to the control plane");
    for (const waiter of this.waiters) {
      clearTimeout(waiter.timer);
      waiter.resolve();
    }
    this.waiters.clear();
    this.emit("connected", { server: this.server, sessionId } satisfies AgentConnectedEvent);
  }

  private sendHeartbeat(): void {
    const call = this.call;
    if (!call || !call.writable) return;
    call.write(
      create(ConnectRequestSchema, {
        kind: { case: "heartbeat", value: create(HeartbeatSchema, { sentUnixMs: BigInt(Date.now()) }) },
      }),
    );
  }

  private onCommand(call: AgentCall, command: Command): void {
    if (this.stopping) {
      // Answered at once, so the control plane need not wait for the stream to end.
      this.logger.debug({ commandId: command.id }, "stopping: not starting a new command");
      this.sendResult(call, create(CommandResultSchema, { commandId: command.id, status: ResultStatus.FAILED, error: "agent is stopping" }));
      return;
    }
    const handler = this.handler!;
    const work = this.memory
      .run(command.id, () => handler.handle(command))
      .then(
        (result) => this.sendResult(call, result),
        (error: Error) => {
          this.sendResult(call, create(CommandResultSchema, { commandId: command.id, status: ResultStatus.FAILED, error: error.message }));
        },
      )
      .finally(() => this.inFlight.delete(work));
    this.inFlight.add(work);
  }

  private sendResult(call: AgentCall, result: CommandResult): void {
    if (call !== this.call || !call.writable) {
      this.logger.debug({ commandId: result.commandId }, "stream closed before the result could be sent");
      return;
    }
    call.write(create(ConnectRequestSchema, { kind: { case: "result", value: result } }));
  }

  private onStatus(call: AgentCall, client: grpc.Client, status: grpc.StatusObject): void {
    client.close();
    if (call !== this.call) return;
    this.call = undefined;
    this.client = undefined;
    this.stopHeartbeats();
    const wasConnected = this.connected;
    this.connected = false;
    const server = this.server;
    if (this.stopping) {
      this.emit("disconnected", { server, code: status.code, details: status.details, connected: wasConnected } satisfies AgentDisconnectedEvent);
      this.callClosed?.();
      return;
    }
    const delayMs = fullJitterDelay(this.attempt, this.backoff);
    this.attempt++;
    const fields = { server, code: grpc.status[status.code] ?? status.code, details: status.details, retryInMs: delayMs };
    if (REFUSAL_CODES.has(status.code)) {
      const hint = status.metadata?.get(ERROR_DETAILS_METADATA_KEY)[0];
      this.logger.error(hint ? { ...fields, hint: String(hint) } : fields, `control plane refused the agent: ${status.details}`);
      this.emit("refused", { server, code: status.code, details: status.details } satisfies AgentRefusedEvent);
    } else if (status.code === grpc.status.UNAVAILABLE && TLS_FAILURE.test(status.details)) {
      // A configuration problem on one side, not a passing outage: an operator must see it.
      this.logger.error(fields, "TLS handshake with the control plane failed");
    } else if (wasConnected) {
      this.logger.warn(fields, "disconnected from the control plane");
    } else {
      this.logger.warn(fields, "cannot connect to the control plane");
    }
    this.pickAnotherServer();
    this.retryTimer = setTimeout(() => this.connect(), delayMs);
    this.emit("disconnected", {
      server,
      code: status.code,
      details: status.details,
      connected: wasConnected,
      retryInMs: delayMs,
    } satisfies AgentDisconnectedEvent);
  }

  private pickAnotherServer(): void {
    const count = this.options.servers.length;
    if (count < 2) return;
    if (this.options.serverOrder === "listed") {
      this.serverIndex = (this.serverIndex + 1) % count;
      return;
    }
    // Any server but the current one, uniformly.
    this.serverIndex = (this.serverIndex + 1 + Math.floor(Math.random() * (count - 1))) % count;
  }

  private stopHeartbeats(): void {
    if (this.heartbeatTimer) clearInterval(this.heartbeatTimer);
    this.heartbeatTimer = undefined;
  }

  waitConnected(timeoutMs?: number): Promise<void> {
    if (this.connected) return Promise.resolve();
    if (this.stopping) return Promise.reject(new Error("agent stopped"));
    return new Promise((resolve, reject) => {
      const waiter: ConnectedWaiter = { resolve, reject };
      if (timeoutMs !== undefined) {
        waiter.timer = setTimeout(() => {
          this.waiters.delete(waiter);
          reject(new Error(`agent ${this.hostname} not connected after ${timeoutMs} ms`));
        }, timeoutMs);
      }
      this.waiters.add(waiter);
    });
  }

  stop(): Promise<void> {
    this.stopped ??= this.shutdown();
    return this.stopped;
  }

  private async shutdown(): Promise<void> {
    this.stopping = true;
    if (this.retryTimer) clearTimeout(this.retryTimer);
    this.retryTimer = undefined;
    for (const waiter of this.waiters) {
      clearTimeout(waiter.timer);
      waiter.reject(new Error("agent stopped"));
    }
    this.waiters.clear();
    // Finish what is running, up to a deadline; its result goes out on the stream that asked.
    if (this.inFlight.size > 0) {
      let deadline: NodeJS.Timeout | undefined;
      const finished = await Promise.race([
        Promise.all([...this.inFlight]).then(() => true),
        new Promise<boolean>((resolve) => (deadline = setTimeout(() => resolve(false), STOP_COMMAND_DEADLINE_MS))),
      ]);
      clearTimeout(deadline);
      if (!finished) this.logger.warn({ deadlineMs: STOP_COMMAND_DEADLINE_MS }, "stopping with a command still running");
    }
    const call = this.call;
    if (call) {
      const closed = new Promise<void>((resolve) => (this.callClosed = resolve));
      call.end();
      const grace = setTimeout(() => call.cancel(), STOP_CLOSE_GRACE_MS);
      await closed;
      clearTimeout(grace);
    }
    this.stopHeartbeats();
    this.client?.close();
    this.client = undefined;
    this.logger.info("agent stopped");
  }
}
