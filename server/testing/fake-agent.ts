// A stand-in agent for tests and benchmarks: a raw grpc-js client of
// AgentService.Connect that says hello, records the commands it gets and answers
// them when told to (or at once, with `autoAnswer`). It sends heartbeats at the
// interval the welcome asks for, unless told not to (a silently dead agent).
import { create } from "@bufbuild/protobuf";
import { credentials, Client, Metadata, type ChannelCredentials, type ClientDuplexStream, type StatusObject } from "@grpc/grpc-js";
import { grpcServiceDefinition } from "../../common/grpc-service-definition.js";
import { JOIN_TOKEN_METADATA_KEY } from "../../common/metadata-keys.js";
import {
  AgentService,
  ConnectRequestSchema,
  type Command,
  type CommandResult,
  type ConnectRequest,
  type ConnectResponse,
  type Welcome,
} from "../../gen/trustplane/v1/agent_pb.js";
import { CommandResultSchema } from "../../gen/trustplane/v1/agent_pb.js";
import { ResultStatus } from "../../gen/trustplane/v1/common_pb.js";

export interface FakeAgentOptions {
  hostname: string;
  labels?: Record<string, string>;
  joinToken?: string;
  /** Answer each command at once with this (undefined: leave it for the test). */
  autoAnswer?: (command: Command) => Partial<Omit<CommandResult, "$typeName" | "commandId">> | undefined;
  /** Send no hello (to test the protocol). */
  skipHello?: boolean;
  /** Send heartbeats at the welcome's interval; default true. */
  heartbeats?: boolean;
  /** TLS to the control plane: its CA, and the agent's client certificate for mutual TLS. */
  tls?: FakeAgentTls;
}

export interface FakeAgentTls {
  caPem: string | Buffer;
  certPem?: string | Buffer;
  keyPem?: string | Buffer;
  /** The name the control plane's certificate is for, when it is not the address's host. */
  serverName?: string;
}

function channelCredentials(tls: FakeAgentTls | undefined): ChannelCredentials {
  if (!tls) return credentials.createInsecure();
  const buffer = (pem: string | Buffer | undefined) => (pem === undefined ? null : Buffer.from(pem));
  return credentials.createSsl(buffer(tls.caPem), buffer(tls.keyPem), buffer(tls.certPem));
}

const connectMethod = grpcServiceDefinition(AgentService).connect!;

export class FakeAgent {
  readonly commands: Command[] = [];
  /** The stream's final status. */
  readonly status: Promise<StatusObject>;
  /** The control plane's welcome (rejects if the stream ends first). */
  readonly welcome: Promise<Welcome>;
  private readonly client: Client;
  private readonly stream: ClientDuplexStream<ConnectRequest, ConnectResponse>;
  private readonly waiters: (() => void)[] = [];
  /** Heartbeats sent, and heartbeat answers received (the control plane answers in order). */
  private heartbeatsSent = 0;
  private heartbeats = 0;
  private heartbeatTimer: NodeJS.Timeout | undefined;

  constructor(
    address: string,
    private readonly options: FakeAgentOptions,
  ) {
    const channelOptions = options.tls?.serverName ? { "grpc.ssl_target_name_override": options.tls.serverName } : {};
    this.client = new Client(address, channelCredentials(options.tls), channelOptions);
    const metadata = new Metadata();
    if (options.joinToken !== undefined) metadata.set(JOIN_TOKEN_METADATA_KEY, options.joinToken);
    this.stream = this.client.makeBidiStreamRequest(
      connectMethod.path,
      connectMethod.requestSerialize as (value: ConnectRequest) => Buffer,
      connectMethod.responseDeserialize as (bytes: Buffer) => ConnectResponse,
      metadata,
    );
    this.status = new Promise((resolve) => this.stream.on("status", resolve));
    void this.status.then(() => clearInterval(this.heartbeatTimer));
    this.stream.on("error", () => undefined); // the status promise carries the outcome
    let welcomed: (welcome: Welcome) => void;
    let notWelcomed: (error: Error) => void;
    this.welcome = new Promise<Welcome>((resolve, reject) => {
      welcomed = resolve;
      notWelcomed = reject;
    });
    this.welcome.catch(() => undefined);
    void this.status.then((status) => notWelcomed(new Error(`stream ended before welcome: ${status.code} ${status.details}`)));
    this.stream.on("data", (message: ConnectResponse) => {
      switch (message.kind.case) {
        case "welcome": {
          const interval = message.kind.value.heartbeatIntervalMs;
          if (options.heartbeats !== false && interval > 0) {
            this.heartbeatTimer = setInterval(() => this.heartbeat(), interval);
            this.heartbeatTimer.unref();
          }
          welcomed(message.kind.value);
          break;
        }
        case "command": {
          const command = message.kind.value;
          this.commands.push(command);
          const answer = options.autoAnswer?.(command);
          if (answer) this.answer(command.id, answer);
          break;
        }
        case "heartbeat":
          this.heartbeats++;
          break;
      }
      for (const wake of this.waiters.splice(0)) wake();
    });
    if (!options.skipHello) {
      this.send(
        create(ConnectRequestSchema, {
          kind: { case: "hello", value: { hostname: options.hostname, labels: options.labels ?? {}, agentVersion: "test", os: { id: "debian", trustStore: "debian" } } },
        }),
      );
    }
  }

  /** Connects and waits for the welcome. */
  static async connect(address: string, options: FakeAgentOptions): Promise<FakeAgent> {
    const agent = new FakeAgent(address, options);
    await agent.welcome;
    return agent;
  }

  send(message: ConnectRequest): void {
    this.stream.write(message);
  }

  /** Sends one heartbeat without waiting for the answer. */
  heartbeat(): void {
    this.heartbeatsSent++;
    this.send(create(ConnectRequestSchema, { kind: { case: "heartbeat", value: { sentUnixMs: BigInt(Date.now()) } } }));
  }

  /** Stops sending heartbeats (as an agent whose process was stopped), keeping the connection. */
  stopHeartbeats(): void {
    clearInterval(this.heartbeatTimer);
    this.heartbeatTimer = undefined;
  }

  answer(commandId: string, result: Partial<Omit<CommandResult, "$typeName" | "commandId">> = {}): void {
    this.send(
      create(ConnectRequestSchema, {
        kind: { case: "result", value: create(CommandResultSchema, { status: ResultStatus.OK, ...result, commandId }) },
      }),
    );
  }

  /** Waits until `count` commands arrived; returns the latest. */
  async nextCommand(count = this.commands.length + 1, timeoutMs = 5_000): Promise<Command> {
    await this.until(() => this.commands.length >= count, timeoutMs, `${count} command(s) on ${this.options.hostname}`);
    return this.commands[count - 1]!;
  }

  /**
   * Sends a heartbeat and waits for the control plane's answer: every message the
   * control plane wrote before it has then arrived.
   */
  async roundTrip(timeoutMs = 5_000): Promise<void> {
    this.heartbeat();
    const want = this.heartbeatsSent;
    await this.until(() => this.heartbeats >= want, timeoutMs, "heartbeat answer");
  }

  /** Half-closes the stream, as an agent that stops cleanly. */
  end(): void {
    this.stopHeartbeats();
    this.stream.end();
  }

  /** Drops the stream and the connection, as an agent that dies. */
  close(): void {
    this.stopHeartbeats();
    this.stream.cancel();
    this.client.close();
  }

  private async until(done: () => boolean, timeoutMs: number, what: string): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (!done()) {
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`timed out waiting for ${what}`);
      let timer: NodeJS.Timeout | undefined;
      await new Promise<void>((resolve) => {
        this.waiters.push(resolve);
        timer = setTimeout(resolve, left);
      });
      clearTimeout(timer);
    }
  }
}
