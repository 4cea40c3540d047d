// One connected agent stream (AgentService.Connect after the join token was
// accepted): waits for hello, registers the agent, answers heartbeats, sends
// commands and routes each result to whoever waits for it by command id. When the
// stream ends or breaks, every in-flight command fails at once with
// `agent disconnected` — nobody waits for a timeout.
import { randomUUID } from "node:crypto";
import { create } from "@bufbuild/protobuf";
import type { ServerDuplexStream } from "@grpc/grpc-js";
import type { Logger } from "../common/logger.js";
import { GrpcStatus, invalidArgument, StatusError, toStatusError, unavailable } from "../common/status-error.js";
import { ConnectResponseSchema, type ConnectRequest, type ConnectResponse } from "../gen/trustplane/v1/agent_pb.js";
import type { AgentLink, CommandWaiter } from "./agent-link.js";
import type { AgentRecord, AgentRegistry } from "./registry.js";

/** The Connect call as the session uses it: encoded frames are written as they are. */
export type AgentCall = ServerDuplexStream<ConnectRequest, ConnectResponse | Uint8Array>;

export interface AgentSessionOptions {
  registry: AgentRegistry;
  /** Who the stream proved to be; with join-token auth every agent has the same identity. */
  identity: string;
  heartbeatIntervalMs: number;
  /** How long a stream may stay silent before its hello; default 30 s. */
  helloTimeoutMs?: number;
  logger: Logger;
  /** Called once when the stream is over. */
  onClosed?: (session: AgentSession) => void;
}

interface PendingCommand {
  waiter: CommandWaiter;
  slot: number;
}

const DISCONNECTED = "agent disconnected";
const RECONNECTED = "agent reconnected";

export class AgentSession implements AgentLink {
  readonly sessionId = randomUUID();
  private readonly pending = new Map<string, PendingCommand>();
  private record: AgentRecord | undefined;
  private closed = false;
  private helloTimer: NodeJS.Timeout | undefined;
  private logger: Logger;

  constructor(
    private readonly call: AgentCall,
    private readonly options: AgentSessionOptions,
  ) {
    this.logger = options.logger;
    this.onData = this.onData.bind(this);
  }

  get inFlight(): number {
    return this.pending.size;
  }

  get hostname(): string | undefined {
    return this.record?.hostname;
  }

  start(): void {
    this.call.on("data", this.onData);
    this.call.on("end", () => this.finish(DISCONNECTED, undefined, "agent closed its stream"));
    this.call.on("cancelled", () => this.finish(DISCONNECTED, undefined, "stream cancelled"));
    this.call.on("error", (error: Error) => this.finish(DISCONNECTED, undefined, `stream error: ${error.message}`));
    this.call.on("close", () => this.finish(DISCONNECTED, undefined, "stream closed"));
    this.helloTimer = setTimeout(() => {
      this.finish(DISCONNECTED, new StatusError(GrpcStatus.DEADLINE_EXCEEDED, "no hello received"), "no hello");
    }, this.options.helloTimeoutMs ?? 30_000);
    this.helloTimer.unref();
  }

  dispatch(commandId: string, frame: Uint8Array, waiter: CommandWaiter, slot: number): boolean {
    if (this.closed) return false;
    this.pending.set(commandId, { waiter, slot });
    this.call.write(frame);
    return true;
  }

  forget(commandId: string): void {
    this.pending.delete(commandId);
  }

  replace(): void {
    this.finish(RECONNECTED, new StatusError(GrpcStatus.ABORTED, "replaced by a newer stream for the same hostname"), "replaced");
  }

  /** Ends the stream because the control plane shuts down. */
  shutdown(): void {
    this.finish(DISCONNECTED, unavailable("control plane shutting down"), "shutdown");
  }

  private onData(message: ConnectRequest): void {
    if (this.closed) return;
    if (!this.record) {
      this.onHello(message);
      return;
    }
    this.options.registry.touch(this.record);
    switch (message.kind.case) {
      case "result": {
        const result = message.kind.value;
        const pending = this.pending.get(result.commandId);
        if (!pending) {
          this.logger.debug({ commandId: result.commandId }, "result for no waiting command (late or unknown); ignored");
          return;
        }
        this.pending.delete(result.commandId);
        pending.waiter.settle(pending.slot, result);
        return;
      }
      case "heartbeat":
        this.call.write(create(ConnectResponseSchema, { kind: { case: "heartbeat", value: { sentUnixMs: BigInt(Date.now()) } } }));
        return;
      case "hello":
        this.logger.warn("second hello on one stream; ignored");
        return;
      default:
        this.logger.warn("empty message from agent; ignored");
    }
  }

  private onHello(message: ConnectRequest): void {
    clearTimeout(this.helloTimer);
    if (message.kind.case !== "hello") {
      this.finish(DISCONNECTED, invalidArgument("the first message must be hello"), "no hello");
      return;
    }
    try {
      this.record = this.options.registry.attach(message.kind.value, this, this.options.identity);
    } catch (error) {
      const status = toStatusError(error);
      this.logger.warn({ err: status.message }, "agent refused");
      this.finish(DISCONNECTED, status, "hello refused");
      return;
    }
    this.logger = this.options.logger.child({ hostname: this.record.hostname, sessionId: this.sessionId });
    this.logger.info({ labels: this.record.labels, agentVersion: this.record.agentVersion }, "agent online");
    this.call.write(
      create(ConnectResponseSchema, {
        kind: { case: "welcome", value: { sessionId: this.sessionId, heartbeatIntervalMs: this.options.heartbeatIntervalMs } },
      }),
    );
  }

  /**
   * Ends the session once: fails every in-flight command with `commandError`, marks
   * the agent offline, and ends the stream (with `status`, or OK) if it is still open.
   */
  private finish(commandError: string, status: StatusError | undefined, why: string): void {
    if (this.closed) return;
    this.closed = true;
    clearTimeout(this.helloTimer);
    const pending = [...this.pending.values()];
    this.pending.clear();
    for (const { waiter, slot } of pending) waiter.fail(slot, commandError);
    if (this.record) {
      this.options.registry.detach(this.record, this);
      this.logger.info({ why, failedCommands: pending.length }, "agent stream ended");
    }
    if (!this.call.destroyed && !this.call.writableEnded) {
      if (status) this.call.emit("error", status.toServiceError());
      else this.call.end();
    }
    this.options.onClosed?.(this);
  }
}
