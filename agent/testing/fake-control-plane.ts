// Test support: a minimal control plane for agent stream tests. A real grpc-js
// server on 127.0.0.1 (plaintext, TLS or mutual TLS) that checks the join token,
// answers hello with welcome (or refuses it), sends commands on request — also as
// raw bytes, to send what the generated types cannot express — and emits what the
// agent sends.
import { create } from "@bufbuild/protobuf";
import * as grpc from "@grpc/grpc-js";
import { EventEmitter } from "node:events";
import type { PeerCertificate } from "node:tls";
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

/** What grpc-js 1.14 reports about a stream's transport (`call.getAuthContext()`). */
export interface AuthContext {
  transportSecurityType?: string;
  sslPeerCertificate?: PeerCertificate;
}

type ServerCall = grpc.ServerDuplexStream<ConnectRequest, ConnectResponse | Buffer>;

export interface FakeControlPlaneTls {
  /** CA that signs client certificates; required with `requireClientCertificate`. */
  caPem?: string;
  certPem: string;
  keyPem: string;
  /** Mutual TLS: the handshake refuses a client without a certificate signed by `caPem`. */
  requireClientCertificate?: boolean;
}

export interface HelloRefusal {
  code: grpc.status;
  details: string;
}

export interface FakeControlPlaneOptions {
  /** Accepted join token; anything else ends the stream with UNAUTHENTICATED. Undefined: no token needed. */
  joinToken: string | undefined;
  heartbeatIntervalMs?: number;
  /** Reuse a port (to restart "the same" control plane); default a free one. */
  port?: number;
  tls?: FakeControlPlaneTls;
  /** Refuses a hello (ending the stream with the status) when it answers a refusal. */
  checkHello?(hello: Hello, authContext: AuthContext): HelloRefusal | undefined;
}

/**
 * Events: "stream" (token as received), "peer" (AuthContext of the stream),
 * "hello" (Hello), "refused" (HelloRefusal), "result" (CommandResult), "heartbeat",
 * "end" (the agent half-closed), "cancelled".
 */
export class FakeControlPlane extends EventEmitter {
  private readonly server = new grpc.Server();
  private readonly calls = new Set<ServerCall>();
  private current: ServerCall | undefined;
  port = 0;
  acceptedToken: string | undefined;
  private sessions = 0;
  /** Results not yet taken by nextResult(), oldest first. */
  private readonly results: CommandResult[] = [];
  private readonly resultWaiters: ((result: CommandResult) => void)[] = [];

  constructor(private readonly options: FakeControlPlaneOptions) {
    super();
    this.acceptedToken = options.joinToken;
    const connect = grpcServiceDefinition(AgentService).connect!;
    // Raw Buffers pass through, so tests can send bytes the generated types cannot express.
    const serialize = connect.responseSerialize;
    const definition = { connect: { ...connect, responseSerialize: (value: unknown) => (Buffer.isBuffer(value) ? value : serialize(value)) } };
    this.server.addService(definition, { connect: (call: ServerCall) => this.onConnect(call) });
  }

  get address(): string {
    return `127.0.0.1:${this.port}`;
  }

  async start(): Promise<this> {
    this.port = await new Promise<number>((resolve, reject) =>
      this.server.bindAsync(`127.0.0.1:${this.options.port ?? 0}`, this.credentials(), (error, port) =>
        error ? reject(error) : resolve(port),
      ),
    );
    return this;
  }

  private credentials(): grpc.ServerCredentials {
    const tls = this.options.tls;
    if (!tls) return grpc.ServerCredentials.createInsecure();
    return grpc.ServerCredentials.createSsl(
      tls.caPem ? Buffer.from(tls.caPem) : null,
      [{ cert_chain: Buffer.from(tls.certPem), private_key: Buffer.from(tls.keyPem) }],
      tls.requireClientCertificate ?? false,
    );
  }

  private onConnect(call: ServerCall): void {
    const token = call.metadata.get(JOIN_TOKEN_METADATA_KEY)[0];
    this.emit("stream", token);
    this.emit("peer", call.getAuthContext());
    if (this.acceptedToken !== undefined && token !== this.acceptedToken) {
      call.emit("error", { code: grpc.status.UNAUTHENTICATED, details: "join token is not valid" });
      return;
    }
    this.calls.add(call);
    call.on("data", (message: ConnectRequest) => {
      switch (message.kind.case) {
        case "hello": {
          const refusal = this.options.checkHello?.(message.kind.value, call.getAuthContext());
          if (refusal) {
            this.emit("refused", refusal);
            call.emit("error", refusal);
            return;
          }
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
        }
        case "result": {
          const result = message.kind.value satisfies CommandResult;
          const waiter = this.resultWaiters.shift();
          if (waiter) waiter(result);
          else this.results.push(result);
          this.emit("result", result);
          break;
        }
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

  /**
   * Sends a Command given as its encoded bytes (unknown fields, future kinds), wrapped
   * in a ConnectResponse by hand: field 2 (`command`), length-delimited.
   */
  sendCommandBytes(command: Uint8Array): void {
    if (!this.current) throw new Error("no agent connected");
    this.current.write(Buffer.concat([Buffer.from([0x12]), varint(command.byteLength), command]));
  }

  /** Sends arbitrary bytes as one ConnectResponse frame. */
  sendFrame(bytes: Uint8Array): void {
    if (!this.current) throw new Error("no agent connected");
    this.current.write(Buffer.from(bytes));
  }

  /** The oldest result not yet taken, waiting for the next one when there is none (rejecting after `timeoutMs`). */
  nextResult(timeoutMs = 10_000): Promise<CommandResult> {
    const queued = this.results.shift();
    if (queued) return Promise.resolve(queued);
    return new Promise((resolve, reject) => {
      const waiter = (result: CommandResult) => {
        clearTimeout(timer);
        resolve(result);
      };
      const timer = setTimeout(() => {
        this.resultWaiters.splice(this.resultWaiters.indexOf(waiter), 1);
        reject(new Error(`no result from the agent within ${timeoutMs} ms`));
      }, timeoutMs);
      this.resultWaiters.push(waiter);
    });
  }

  /** How many results arrived that nextResult() has not taken. */
  get pendingResults(): number {
    return this.results.length;
  }

  stop(): void {
    this.server.forceShutdown();
    this.current = undefined;
  }
}

function varint(value: number): Buffer {
  const bytes: number[] = [];
  while (value > 0x7f) {
    bytes.push((value & 0x7f) | 0x80);
    value >>>= 7;
  }
  bytes.push(value);
  return Buffer.from(bytes);
}
