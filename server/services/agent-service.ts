// AgentService.Connect: checks the join token before reading anything, then hands
// the stream to an AgentSession.
import type { UntypedServiceImplementation } from "@grpc/grpc-js";
import type { Logger } from "../../common/logger.js";
import { JOIN_TOKEN_METADATA_KEY } from "../../common/metadata-keys.js";
import { unauthenticated, unavailable } from "../../common/status-error.js";
import { AgentSession, type AgentCall } from "../agent-session.js";
import type { JoinTokenVerifier } from "../auth/join-token.js";
import type { AgentRegistry } from "../registry.js";

export interface AgentServiceDeps {
  registry: AgentRegistry;
  joinToken: JoinTokenVerifier;
  heartbeatIntervalMs: number;
  logger: Logger;
  isClosing: () => boolean;
}

/** With join-token auth every agent proves the same thing: that it holds the token. */
const JOIN_TOKEN_IDENTITY = "join-token";

export class AgentService {
  private readonly sessions = new Set<AgentSession>();

  constructor(private readonly deps: AgentServiceDeps) {}

  handlers(): UntypedServiceImplementation {
    return { connect: (call: AgentCall) => this.connect(call) };
  }

  /** Every stream still open (registered or still waiting for its hello). */
  get openSessions(): number {
    return this.sessions.size;
  }

  /** Ends every agent stream (shutdown); their in-flight commands fail at once. */
  closeAll(): void {
    for (const session of [...this.sessions]) session.shutdown();
  }

  private connect(call: AgentCall): void {
    const token = call.metadata.get(JOIN_TOKEN_METADATA_KEY)[0];
    if (typeof token !== "string" || token === "") {
      this.refuse(call, "join token required", `send metadata ${JOIN_TOKEN_METADATA_KEY}`);
      return;
    }
    if (!this.deps.joinToken.verify(token)) {
      this.refuse(call, "invalid join token", "the token does not match the control plane's join token");
      return;
    }
    if (this.deps.isClosing()) {
      call.emit("error", unavailable("control plane shutting down").toServiceError());
      return;
    }
    const session = new AgentSession(call, {
      registry: this.deps.registry,
      identity: JOIN_TOKEN_IDENTITY,
      heartbeatIntervalMs: this.deps.heartbeatIntervalMs,
      logger: this.deps.logger,
      onClosed: (closed) => this.sessions.delete(closed),
    });
    this.sessions.add(session);
    session.start();
  }

  private refuse(call: AgentCall, message: string, details: string): void {
    this.deps.logger.warn({ peer: call.getPeer(), reason: message }, "agent stream refused");
    call.emit("error", unauthenticated(message, details).toServiceError());
  }
}
