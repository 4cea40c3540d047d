// Test support: a minimal control plane for agent stream tests. A real grpc-js
// server on 127.0.0.1 that checks the join token, answers hello with welcome,
// sends commands on request and emits what the agent sends.
import { create } from "@bufbuild/protobuf";
import * as grpc from "@grpc/grpc-js";
import { EventEmitter, once } from "node:events";
import { grpcServiceDefinition } from "../../common/grpc-service-definition.js";
import { JOIN_TOKEN_METADATA_KEY } from "../../common/metadata-keys.js";
import {
  AgentService,
  type Command,
  type CommandResult,
  type ConnectRequest,
  type ConnectResponse,
  ConnectResponseSchema,
  type Hello,
  HeartbeatSchema,
  WelcomeSchema,
} from "../../gen/trustplane/v1/agent_pb.js";

type ServerCall = grpc.ServerDuplexStream<ConnectRequest, ConnectResponse>;

export interface FakeControlPlaneOptions {
  /** Accepted join token; anything else ends the stream with UNAUTHENTICATED. */
  joinToken: string;
  heartbeatIntervalMs?: number;
  /** Reuse a port (to restart "the same" control plane); default a free one. */
  port?: number;
}

/**
 * Events: "stream" (token as received), "hello" (Hello), "result" (CommandResult),
 * "heartbeat", "end" (the agent half-closed), "cancelled".
 */
export class FakeControlPlane extends EventEmitter {
  private readonly server = new grpc.Server();
  private readonly calls = new Set<ServerCall>();
  private current: ServerCall | undefined;
  port = 0;
  acceptedToken: string;
  private sessions = 0;

  constructor(private readonly options: FakeControlPlaneOptions) {
    super();
    this.acceptedToken = options.joinToken;
    this.server.addService(grpcServiceDefinition(AgentService), { connect: (call: ServerCall) => this.onConnect(call) });
  }

  get address(): string {
    return `127.0.0.1:${this.port}`;
  }

  async start(): Promise<this> {
    this.port = await new Promise<number>((resolve, reject) =>
      this.server.bindAsync(`127.0.0.1:${this.options.port ?? 0}`, grpc.ServerCredentials.createInsecure(), (error, port) =>
        error ? reject(error) : resolve(port),
      ),
    );
    return this;
  }

  private onConnect(call: ServerCall): void {
    const token = call.metadata.get(JOIN_TOKEN_METADATA_KEY)[0];
    this.emit("stream", token);
    if (token !== this.acceptedToken) {
      call.emit("error", { code: grpc.status.UNAUTHENTICATED, details: "join token is not valid" });
      return;
    }
    this.calls.add(call);
    call.on("data", (message: ConnectRequest) => {
      switch (message.kind.case) {
        case "hello":
          this.current = call;
          call.write(
            create(ConnectResponseSchema, {
              kind: {
                case: "welcome",
                value: create(WelcomeSchema, {
                  sessionId: `session-${++this.sessions}`,
                  heartbeatIntervalMs: this.options.heartbeatIntervalMs ?? 60_000,
                }),
              },
            }),
          );
          this.emit("hello", message.kind.value satisfies Hello);
          break;
        case "result":
          this.emit("result", message.kind.value satisfies CommandResult);
          break;
        case "heartbeat":
          call.write(create(ConnectResponseSchema, { kind: { case: "heartbeat", value: create(HeartbeatSchema, { sentUnixMs: BigInt(Date.now()) }) } }));
          this.emit("heartbeat");
          break;
      }
    });
    call.on("end", () => {
      this.emit("end");
      call.end();
    });
    call.on("cancelled", () => this.emit("cancelled"));
    call.on("error", () => undefined);
    call.on("close", () => this.calls.delete(call));
  }

  /** Sends a command on the latest welcomed stream. */
  send(command: Command): void {
    if (!this.current) throw new Error("no agent connected");
    this.current.write(create(ConnectResponseSchema, { kind: { case: "command", value: command } }));
  }

  /** The next result the agent sends. */
  async nextResult(): Promise<CommandResult> {
    const [result] = (await once(this, "result")) as [CommandResult];
    return result;
  }

  stop(): void {
    this.server.forceShutdown();
    this.current = undefined;
  }
}
