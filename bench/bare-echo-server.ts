// The bare echo server (see bare-echo-service.ts), run as a bench child with IPC:
// it answers {type:"listening", port} once bound, {type:"streams", count} and
// {type:"memory", …} when asked, and exits with its parent.
import { Server, ServerCredentials, type ServerDuplexStream, type ServerUnaryCall, type sendUnaryData } from "@grpc/grpc-js";
import { BARE_ECHO_SERVICE, ECHO_ID_BYTES } from "./bare-echo-service.js";

export type BareServerMessage =
  | { type: "listening"; port: number }
  | { type: "streams"; count: number }
  | { type: "memory"; rssBytes: number; heapUsedBytes: number };

type EchoStream = ServerDuplexStream<Buffer, Buffer>;

if (!process.send) throw new Error("bare-echo-server runs as a bench child with IPC");
process.on("disconnect", () => process.exit(0));
process.on("SIGTERM", () => process.exit(0));

const streams = new Set<EchoStream>();
let round = 0n;
let pending: { expected: number; echoed: number; done: sendUnaryData<Buffer> } | undefined;

function onEcho(frame: Buffer): void {
  if (!pending || frame.length < ECHO_ID_BYTES || frame.readBigUInt64BE(0) !== round) return;
  if (++pending.echoed < pending.expected) return;
  const { done, echoed } = pending;
  pending = undefined;
  const answer = Buffer.alloc(4);
  answer.writeUInt32BE(echoed);
  done(null, answer);
}

function connect(call: EchoStream): void {
  let registered = false;
  const drop = () => {
    streams.delete(call);
    if (!call.writableEnded && !call.destroyed) call.end();
  };
  call.on("data", (frame: Buffer) => {
    if (registered) onEcho(frame);
    else {
      registered = true;
      streams.add(call);
    }
  });
  call.on("end", drop);
  call.on("cancelled", drop);
  call.on("error", drop);
  call.on("close", drop);
}

function fanout(call: ServerUnaryCall<Buffer, Buffer>, done: sendUnaryData<Buffer>): void {
  if (pending) {
    done({ code: 9, details: "a fan-out is already running" });
    return;
  }
  const size = call.request.length >= 4 ? call.request.readUInt32BE(0) : 0;
  round++;
  const payload = Buffer.alloc(Math.max(ECHO_ID_BYTES, size), 0x61);
  payload.writeBigUInt64BE(round, 0);
  pending = { expected: streams.size, echoed: 0, done };
  if (streams.size === 0) {
    onEcho(payload);
    return;
  }
  for (const stream of streams) stream.write(payload);
}

const server = new Server();
server.addService(BARE_ECHO_SERVICE, { connect, fanout });
server.bindAsync("127.0.0.1:0", ServerCredentials.createInsecure(), (error, port) => {
  if (error) throw error;
  process.send!({ type: "listening", port } satisfies BareServerMessage);
});

process.on("message", (message: { type?: string }) => {
  if (message.type === "streams") process.send!({ type: "streams", count: streams.size } satisfies BareServerMessage);
  else if (message.type === "memory") {
    const usage = process.memoryUsage();
    process.send!({ type: "memory", rssBytes: usage.rss, heapUsedBytes: usage.heapUsed } satisfies BareServerMessage);
  }
});
