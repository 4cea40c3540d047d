// A stand-in agent for tests and benchmarks: a raw grpc-js client of
// AgentService.Connect that says hello, records the commands it gets and answers
// them when told to (or at once, with `autoAnswer`).
import { create } from "@bufbuild/protobuf";
import { credentials, Client, Metadata, type ClientDuplexStream, type StatusObject } from "@grpc/grpc-js";
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
  private heartbeats = 0;

  constructor(
    address: string,
    private readonly options: FakeAgentOptions,
  ) {
    this.client = new Client(address, credentials.createInsecure());
    const metadata = new Metadata();
    if (options.joinToken !== undefined) metadata.set(JOIN_TOKEN_METADATA_KEY, options.joinToken);
    this.stream = this.client.makeBidiStreamRequest(
      connectMethod.path,
      connectMethod.requestSerialize as (value: ConnectRequest) => Buffer,
      connectMethod.responseDeserialize as (bytes: Buffer) => ConnectResponse,
      metadata,
    );
    this.status = new Promise((resolve) => this.stream.on("status", resolve));
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
        case "welcome":
          welcomed(message.kind.value);
          break;
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
    const want = this.heartbeats + 1;
    this.send(create(ConnectRequestSchema, { kind: { case: "heartbeat", value: { sentUnixMs: BigInt(Date.now()) } } }));
    await this.until(() => this.heartbeats >= want, timeoutMs, "heartbeat answer");
  }

  /** Half-closes the stream, as an agent that stops cleanly. */
  end(): void {
    this.stream.end();
  }

  /** Drops the stream and the connection, as an agent that dies. */
  close(): void {
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
