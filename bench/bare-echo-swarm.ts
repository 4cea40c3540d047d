// A bench worker running many bare echo clients (see bare-echo-service.ts), each
// with its own grpc-js channel and TCP connection like a trustplane agent, with
// the same process layout as agent-swarm.ts, reconnecting with the agent's
// full-jitter back-off when a stream cannot start or breaks. The bench counts
// connected streams at the server.
import * as grpc from "@grpc/grpc-js";
import { DEFAULT_BACKOFF, fullJitterDelay } from "../agent/backoff.js";
import { BARE_ECHO_SERVICE, ECHO_ID_BYTES } from "./bare-echo-service.js";
import { hostnames, sendToParent, swarmWorker } from "./swarm-messages.js";

const CONNECT = BARE_ECHO_SERVICE.connect!;
const CHANNEL_OPTIONS: grpc.ChannelOptions = { "grpc.use_local_subchannel_pool": 1 };

let started = false;
const config = swarmWorker(() => start());
const names = hostnames(config);
sendToParent({ type: "ready", prepareMs: 0 });

function start(): void {
  if (started) return;
  started = true;
  for (const hostname of names) {
    let attempt = 0;
    const hello = Buffer.from(hostname);
    const connect = () => {
      const client = new grpc.Client(config.server, grpc.credentials.createInsecure(), CHANNEL_OPTIONS);
      const call = client.makeBidiStreamRequest(CONNECT.path, CONNECT.requestSerialize, CONNECT.responseDeserialize);
      call.on("data", (frame: Buffer) => {
        attempt = 0;
        call.write(frame.subarray(0, ECHO_ID_BYTES));
      });
      call.on("error", () => undefined);
      call.on("status", (status: grpc.StatusObject) => {
        client.close();
        sendToParent({ type: "failed", error: `${hostname}: stream ended (${grpc.status[status.code]}: ${status.details})` });
        setTimeout(connect, fullJitterDelay(attempt++, DEFAULT_BACKOFF));
      });
      call.write(hello);
    };
    connect();
  }
}
