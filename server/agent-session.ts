// One connected agent stream (AgentService.Connect after its credentials were
// accepted): waits for hello, checks the hostname against the stream's identity,
// registers the agent, answers heartbeats, sends commands and routes each result to
// whoever waits for it by command id. When the stream ends or breaks, every
// in-flight command fails at once with `agent disconnected` — nobody waits for a
// timeout.
//
// Each stream has a message budget (a token bucket: `perSecond` sustained, `burst`
// at once). Every message costs one token except a result the control plane is
// waiting for (those are bounded by the commands it sent); a stream that runs out is
// ended with RESOURCE_EXHAUSTED `agent sent too many messages`. The time of the last
// message is kept for the control plane's liveness sweep (expireIfSilent).
import { randomUUID } from "node:crypto";
import { create } from "@bufbuild/protobuf";
import type { ServerDuplexStream } from "@grpc/grpc-js";
import type { Logger } from "../common/logger.js";
import {
  GrpcStatus,
  invalidArgument,
  resourceExhausted,
  StatusError,
  toStatusError,
  unavailable,
} from "../common/status-error.js";
import { ConnectResponseSchema, type ConnectResponse } from "../gen/trustplane/v1/agent_pb.js";
import type { AgentLink, CommandWaiter } from "./agent-link.js";
import { RefusedAgentMessage, type AgentMessage } from "./agent-messages.js";
import { heartbeatFrame } from "./hot-agent-messages.js";
import type { AgentIdentity } from "./auth/agent-identity.js";
import { helloProblem, type AgentRecord, type AgentRegistry } from "./registry.js";
import { shuttingDown } from "./shutting-down.js";

/** The Connect call as the session uses it: messages come through decodeAgentMessage, encoded frames are written as they are. */
export type AgentCall = ServerDuplexStream<AgentMessage, ConnectResponse | Uint8Array>;

/** A token bucket: `perSecond` messages sustained, `burst` at once. */
export interface MessageRate {
  perSecond: number;
  burst: number;
}

export const DEFAULT_AGENT_MESSAGE_RATE: MessageRate = { perSecond: 50, burst: 200 };

export interface AgentSessionOptions {
  registry: AgentRegistry;
  /** Who the stream proved to be (join token or client certificate). */
  identity: AgentIdentity;
  heartbeatIntervalMs: number;
  /** How long a stream may stay silent before its hello; default 30 s. */
  helloTimeoutMs?: number;
  /** Message budget of the stream; default 50/s, bursts of 200. */
  messageRate?: MessageRate;
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
  private readonly rate: MessageRate;
  private tokens: number;
  private refilledAt: number;
  /** Unix ms of the last message from the agent (or of the stream's start). */
  private lastMessageAt: number;

  constructor(
    private readonly call: AgentCall,
    private readonly options: AgentSessionOptions,
  ) {
    this.logger = options.logger;
    this.rate = options.messageRate ?? DEFAULT_AGENT_MESSAGE_RATE;
    this.tokens = this.rate.burst;
    this.refilledAt = this.lastMessageAt = Date.now();
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
    this.finish(DISCONNECTED, shuttingDown(), "shutdown");
  }

  /**
   * Ends a registered stream whose last message is older than `silenceMs` (the agent
   * stopped, or its network is gone without a TCP close): offline now, in-flight
   * commands failed `agent disconnected`. True if it did.
   */
  expireIfSilent(now: number, silenceMs: number): boolean {
    if (this.closed || !this.record || now - this.lastMessageAt <= silenceMs) return false;
    this.finish(
      DISCONNECTED,
      unavailable("agent silent for too long", `no message for ${now - this.lastMessageAt} ms; heartbeats are due every ${this.options.heartbeatIntervalMs} ms`),
      "silent",
    );
    return true;
  }

  private onData(message: AgentMessage): void {
    if (this.closed) return;
    if (message instanceof RefusedAgentMessage) {
      this.logger.warn({ peer: this.call.getPeer(), err: message.status.message, details: message.status.details }, "agent message refused");
      this.finish(DISCONNECTED, message.status, "message refused");
      return;
    }
    const now = Date.now();
    this.lastMessageAt = now;
    if (message.kind.case === "result" && this.record) {
      const result = message.kind.value;
      const pending = this.pending.get(result.commandId);
      if (pending) {
        // Answers to commands sent are free: the control plane chose how many to send.
        this.options.registry.touch(this.record);
        this.pending.delete(result.commandId);
        pending.waiter.settle(pending.slot, result);
        return;
      }
    }
    if (!this.spend(now)) return;
    if (!this.record) {
      this.onHello(message);
      return;
    }
    this.options.registry.touch(this.record);
    switch (message.kind.case) {
      case "result":
        this.logger.debug({ commandId: message.kind.value.commandId }, "result for no waiting command (late or unknown); ignored");
        return;
      case "heartbeat":
        this.call.write(heartbeatFrame(now));
        return;
      case "hello":
        this.logger.warn("second hello on one stream; ignored");
        return;
      default:
        this.logger.warn("empty message from agent; ignored");
    }
  }

  /** Takes one token from the stream's budget; ends the stream when there is none. */
  private spend(now: number): boolean {
    const { perSecond, burst } = this.rate;
    this.tokens = Math.min(burst, this.tokens + ((now - this.refilledAt) * perSecond) / 1000);
    this.refilledAt = now;
    if (this.tokens >= 1) {
      this.tokens -= 1;
      return true;
    }
    this.logger.warn({ peer: this.call.getPeer(), perSecond, burst }, "agent sent too many messages; disconnecting it");
    this.finish(
      DISCONNECTED,
      resourceExhausted("agent sent too many messages", `at most ${perSecond} messages per second, ${burst} at once`),
      "flooding",
    );
    return false;
  }

  private onHello(message: Exclude<AgentMessage, RefusedAgentMessage>): void {
    clearTimeout(this.helloTimer);
    if (message.kind.case !== "hello") {
      this.finish(DISCONNECTED, invalidArgument("the first message must be hello"), "no hello");
      return;
    }
    const hello = message.kind.value;
    try {
      const problem = helloProblem(hello);
      if (problem) throw invalidArgument(`invalid hello: ${problem}`);
      const refusal = this.options.identity.refusal(hello.hostname.toLowerCase());
      if (refusal) throw refusal;
      this.record = this.options.registry.attach(hello, this, this.options.identity.id);
    } catch (error) {
      const status = toStatusError(error);
      this.logger.warn({ peer: this.call.getPeer(), hostname: hello.hostname.slice(0, 253), err: status.message }, "agent refused");
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
