// A bench worker running many wire-level stand-ins for the agent: each speaks
// AgentService.Connect as agent/agent.ts does (own grpc-js channel and TCP
// connection, the same keepalive, join token, hello, heartbeats at the welcomed
// interval, reconnects with full-jitter back-off) but answers every command at once with `ok, changed` instead of
// touching a trust store. The fan-out bench runs it beside the real agents to show
// what the control plane and the gateway cost without the simulated nodes' local
// work, which on a real fleet runs on each node in parallel.
import { create, toBinary } from "@bufbuild/protobuf";
import * as grpc from "@grpc/grpc-js";
import { arch, release } from "node:os";
import { DEFAULT_BACKOFF, fullJitterDelay } from "../agent/backoff.js";
import { grpcServiceDefinition } from "../common/grpc-service-definition.js";
import { JOIN_TOKEN_METADATA_KEY } from "../common/metadata-keys.js";
import {
  AgentService,
  CommandResultSchema,
  type ConnectRequest,
  ConnectRequestSchema,
  type ConnectResponse,
  HeartbeatSchema,
} from "../gen/trustplane/v1/agent_pb.js";
import { ResultStatus } from "../gen/trustplane/v1/common_pb.js";
import { hostnames, sendToParent, swarmWorker } from "./swarm-messages.js";

const CONNECT = grpcServiceDefinition(AgentService).connect!;
/** agent/agent.ts's channel options. */
const CHANNEL_OPTIONS: grpc.ChannelOptions = {
  "grpc.use_local_subchannel_pool": 1,
  "grpc.keepalive_time_ms": 10_000,
  "grpc.keepalive_timeout_ms": 5_000,
  "grpc.keepalive_permit_without_calls": 1,
};

type Outgoing = ConnectRequest | Buffer;
const serialize = (message: Outgoing): Buffer => (Buffer.isBuffer(message) ? message : CONNECT.requestSerialize(message));
const deserialize = CONNECT.responseDeserialize as (bytes: Buffer) => ConnectResponse;

const config = swarmWorker(() => start());
if (!config.joinToken) throw new Error("wire-agent-swarm needs the join token");
const names = hostnames(config);
sendToParent({ type: "ready", prepareMs: 0 });

const clients: grpc.Client[] = [];
/** Failed attempts before a welcome, by status and details: reported once every agent is online. */
const attemptFailures = new Map<string, number>();
let started = false;

function helloFor(hostname: string): Buffer {
  return Buffer.from(
    toBinary(
      ConnectRequestSchema,
      create(ConnectRequestSchema, {
        kind: {
          case: "hello",
          value: {
            hostname,
            labels: { bench: "fanout" },
            agentVersion: "bench-wire",
            os: { id: "debian", versionId: "12", prettyName: "Debian GNU/Linux 12 (bookworm)", kernel: release(), arch: arch(), trustStore: "debian" },
          },
        },
      }),
    ),
  );
}

function start(): void {
  if (started) return;
  started = true;
  let online = 0;
  for (const hostname of names) {
    let attempt = 0;
    let welcomed = false;
    const hello = helloFor(hostname);
    const connect = () => {
      const client = new grpc.Client(config.server, grpc.credentials.createInsecure(), CHANNEL_OPTIONS);
      clients.push(client);
      const metadata = new grpc.Metadata();
      metadata.set(JOIN_TOKEN_METADATA_KEY, config.joinToken!);
      const call = client.makeBidiStreamRequest<Outgoing, ConnectResponse>(CONNECT.path, serialize, deserialize, metadata);
      let heartbeat: NodeJS.Timeout | undefined;
      call.on("data", (message: ConnectResponse) => {
        switch (message.kind.case) {
          case "welcome": {
            attempt = 0;
            const interval = message.kind.value.heartbeatIntervalMs;
            if (interval > 0) {
              heartbeat = setInterval(() => {
                call.write(create(ConnectRequestSchema, { kind: { case: "heartbeat", value: create(HeartbeatSchema, { sentUnixMs: BigInt(Date.now()) }) } }));
              }, interval);
              heartbeat.unref();
            }
            if (!welcomed && ++online === names.length) {
              sendToParent({ type: "online", count: online });
              for (const [why, count] of attemptFailures) sendToParent({ type: "note", text: `${count} connection attempt(s) retried: ${why}` });
            }
            welcomed = true;
            break;
          }
          case "command":
            call.write(
              create(ConnectRequestSchema, {
                kind: { case: "result", value: create(CommandResultSchema, { commandId: message.kind.value.id, status: ResultStatus.OK, changed: true }) },
              }),
            );
            break;
          default:
            break;
        }
      });
      call.on("status", (status: grpc.StatusObject) => {
        clearInterval(heartbeat);
        client.close();
        clients.splice(clients.indexOf(client), 1);
        if (welcomed) sendToParent({ type: "failed", error: `${hostname}: stream lost (${grpc.status[status.code]}: ${status.details})` });
        else {
          // Without the timestamps grpc-js puts in parentheses, so that equal causes count together.
          const why = `${grpc.status[status.code]}: ${status.details.replace(/\s*\([^)]*\)/g, "")}`;
          attemptFailures.set(why, (attemptFailures.get(why) ?? 0) + 1);
        }
        // Like the agent: reconnect forever with full-jitter exponential back-off.
        setTimeout(connect, fullJitterDelay(attempt++, DEFAULT_BACKOFF));
      });
      call.on("error", () => undefined);
      call.write(hello);
    };
    connect();
  }
}
