// AgentService.Connect: checks the stream's credentials before reading anything, then
// hands the stream to an AgentSession.
//
// Credentials: without a client CA, the join token (metadata) is required. With a
// client CA (mutual TLS), a client certificate verified against it is required on
// this method — client-API calls on the same port need none — and the join token is
// then not needed (nor checked): the certificate is the agent's identity.
//
// Liveness: one sweep per control plane (not a timer per agent) ends every stream
// whose agent has been silent for more than 2.5 heartbeat intervals, so an agent
// that stopped without closing its connection is offline, and its in-flight
// commands failed, within three intervals.
import type { ServiceDefinition, UntypedServiceImplementation } from "@grpc/grpc-js";
import { grpcServiceDefinition } from "../../common/grpc-service-definition.js";
import type { Logger } from "../../common/logger.js";
import { JOIN_TOKEN_METADATA_KEY } from "../../common/metadata-keys.js";
import { unauthenticated, type StatusError } from "../../common/status-error.js";
import { AgentService as AgentServiceDesc } from "../../gen/trustplane/v1/agent_pb.js";
import { decodeAgentMessage } from "../agent-messages.js";
import { AgentSession, type AgentCall, type MessageRate } from "../agent-session.js";
import { certificateIdentity, JOIN_TOKEN_IDENTITY, type AgentIdentity } from "../auth/agent-identity.js";
import type { AuthFailureLog } from "../auth/auth-failure-log.js";
import type { JoinTokenVerifier } from "../auth/join-token.js";
import type { AgentRegistry } from "../registry.js";
import { shuttingDown } from "../shutting-down.js";

export interface AgentServiceDeps {
  registry: AgentRegistry;
  joinToken: JoinTokenVerifier;
  /** Streams must present a client certificate verified against the control plane's client CA. */
  requireClientCertificate?: boolean;
  heartbeatIntervalMs: number;
  /** Each stream's message budget; default 50/s, bursts of 200. */
  messageRate?: MessageRate;
  logger: Logger;
  /** Refused credentials are reported here (rate-limited warn lines). */
  authFailures?: AuthFailureLog;
  isClosing: () => boolean;
}

/** Silence longer than this many heartbeat intervals ends a stream. */
export const SILENT_INTERVALS = 2.5;
const CONNECT_PATH = "/trustplane.v1.AgentService/Connect";

/** AgentService's definition: agent messages decoded with their size limits (pre-encoded frames pass the serializer as they are). */
export function agentServiceDefinition(): ServiceDefinition {
  const definition = grpcServiceDefinition(AgentServiceDesc);
  return { ...definition, connect: { ...definition.connect!, requestDeserialize: decodeAgentMessage } };
}

export class AgentService {
  private readonly sessions = new Set<AgentSession>();
  private sweepTimer: NodeJS.Timeout | undefined;
  private readonly silenceMs: number;

  constructor(private readonly deps: AgentServiceDeps) {
    this.silenceMs = deps.heartbeatIntervalMs * SILENT_INTERVALS;
    this.sweep = this.sweep.bind(this);
  }

  handlers(): UntypedServiceImplementation {
    return { connect: (call: AgentCall) => void this.connect(call) };
  }

  /** Every stream still open (registered or still waiting for its hello). */
  get openSessions(): number {
    return this.sessions.size;
  }

  /** Starts the liveness sweep (every half heartbeat interval). */
  startSweeping(): void {
    if (this.sweepTimer) return;
    this.sweepTimer = setInterval(this.sweep, Math.max(20, this.deps.heartbeatIntervalMs / 2));
    this.sweepTimer.unref();
  }

  /** Ends every registered stream silent for longer than 2.5 heartbeat intervals; how many it ended. */
  sweep(now = Date.now()): number {
    let expired = 0;
    for (const session of this.sessions) if (session.expireIfSilent(now, this.silenceMs)) expired++;
    if (expired > 0) this.deps.logger.warn({ expired, silenceMs: this.silenceMs }, "silent agents marked offline");
    return expired;
  }

  /** Stops the sweep and ends every agent stream (shutdown); their in-flight commands fail at once. */
  closeAll(): void {
    clearInterval(this.sweepTimer);
    this.sweepTimer = undefined;
    for (const session of [...this.sessions]) session.shutdown();
  }

  private async connect(call: AgentCall): Promise<void> {
    if (this.deps.isClosing()) {
      call.emit("error", shuttingDown().toServiceError());
      return;
    }
    const identity = await this.identify(call);
    if (!identity || call.cancelled) return;
    if (this.deps.isClosing()) {
      call.emit("error", shuttingDown().toServiceError());
      return;
    }
    const session = new AgentSession(call, {
      registry: this.deps.registry,
      identity,
      heartbeatIntervalMs: this.deps.heartbeatIntervalMs,
      messageRate: this.deps.messageRate,
      logger: this.deps.logger,
      onClosed: (closed) => this.sessions.delete(closed),
    });
    this.sessions.add(session);
    session.start();
  }

  /** The stream's identity, or undefined once it was refused. */
  private async identify(call: AgentCall): Promise<AgentIdentity | undefined> {
    if (this.deps.requireClientCertificate) {
      const certificate = call.getAuthContext().sslPeerCertificate;
      if (!certificate) {
        this.refuse(
          call,
          unauthenticated(
            "agent client certificate required",
            "with mutual TLS an agent must present a client certificate issued by the control plane's client CA",
          ),
        );
        return undefined;
      }
      return certificateIdentity(certificate);
    }
    const token = call.metadata.get(JOIN_TOKEN_METADATA_KEY)[0];
    if (typeof token !== "string" || token === "") {
      this.refuse(call, unauthenticated("join token required", `send metadata ${JOIN_TOKEN_METADATA_KEY}`));
      return undefined;
    }
    if (!(await this.deps.joinToken.verify(token))) {
      this.refuse(call, unauthenticated("invalid join token", "the token does not match the control plane's join token"));
      return undefined;
    }
    return JOIN_TOKEN_IDENTITY;
  }

  private refuse(call: AgentCall, error: StatusError): void {
    if (this.deps.authFailures) this.deps.authFailures.record({ peer: call.getPeer(), method: CONNECT_PATH, reason: error.message });
    else this.deps.logger.warn({ peer: call.getPeer(), reason: error.message }, "agent stream refused");
    if (!call.cancelled) call.emit("error", error.toServiceError());
  }
}
