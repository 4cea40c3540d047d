// The bare echo server as a bench child, with the calls the fan-out bench makes:
// count its streams, read its memory, and time one fan-out over gRPC.
import * as grpc from "@grpc/grpc-js";
import { fileURLToPath } from "node:url";
import { BARE_ECHO_SERVICE, fanoutRequest } from "./bare-echo-service.js";
import type { BareServerMessage } from "./bare-echo-server.js";
import type { BenchChild, ChildProcessGroup } from "./child-process-group.js";

const SERVER_SCRIPT = fileURLToPath(new URL("bare-echo-server.ts", import.meta.url));
const FANOUT = BARE_ECHO_SERVICE.fanout!;

type Answer<K extends BareServerMessage["type"]> = Extract<BareServerMessage, { type: K }>;

function isAnswer<K extends BareServerMessage["type"]>(type: K) {
  return (message: unknown): message is Answer<K> => (message as { type?: unknown } | null)?.type === type;
}

export class BareEchoStack {
  private readonly client: grpc.Client;

  private constructor(
    readonly server: BenchChild,
    readonly address: string,
  ) {
    this.client = new grpc.Client(address, grpc.credentials.createInsecure(), { "grpc.use_local_subchannel_pool": 1 });
  }

  static async start(group: ChildProcessGroup, openFiles: number, cpuProfileDir?: string): Promise<BareEchoStack> {
    const nodeArgs = cpuProfileDir ? ["--cpu-prof", "--cpu-prof-dir", cpuProfileDir] : [];
    const server = group.spawn({ name: "bare echo server", args: [SERVER_SCRIPT], ipc: true, openFiles, nodeArgs });
    const listening = await server.waitForMessage(isAnswer("listening"), 60_000);
    return new BareEchoStack(server, `127.0.0.1:${listening.port}`);
  }

  async streams(): Promise<number> {
    const answer = this.server.waitForMessage(isAnswer("streams"), 10_000);
    this.server.send({ type: "streams" });
    return (await answer).count;
  }

  async heapUsedBytes(): Promise<number> {
    const answer = this.server.waitForMessage(isAnswer("memory"), 10_000);
    this.server.send({ type: "memory" });
    return (await answer).heapUsedBytes;
  }

  /** One fan-out of a `payloadBytes` frame to every stream; ms until every echo is back, and how many came. */
  fanout(payloadBytes: number, timeoutMs: number): Promise<{ ms: number; echoed: number }> {
    const started = performance.now();
    return new Promise((resolve, reject) => {
      this.client.makeUnaryRequest(
        FANOUT.path,
        FANOUT.requestSerialize,
        FANOUT.responseDeserialize,
        fanoutRequest(payloadBytes),
        new grpc.Metadata(),
        { deadline: Date.now() + timeoutMs },
        (error: grpc.ServiceError | null, answer?: Buffer) => {
          if (error || !answer) reject(error ?? new Error("empty fan-out answer"));
          else resolve({ ms: performance.now() - started, echoed: answer.readUInt32BE(0) });
        },
      );
    });
  }

  async stop(): Promise<void> {
    this.client.close();
    await this.server.stop(5_000);
  }
}
