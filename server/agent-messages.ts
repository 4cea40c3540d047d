// Decoding what an agent sends on AgentService.Connect, with the stream's size
// limits. grpc-js has one receive limit per server (the client API's); an agent's
// messages get their own, tighter ones here, answered with a clear status instead of
// grpc-js's INTERNAL "Error deserializing request":
//
// - any message: at most 512 KiB encoded. The biggest legitimate one is a list_ca
//   result: a distribution's trust store holds about 150 CAs at roughly 300–400
//   bytes each (~60 KiB), so 512 KiB leaves room for over 1,300 certificates.
// - hello: at most 16 KiB encoded (a hostname of 253 characters, 16 labels of 63+63
//   characters and the OS facts need about 3 KiB).
//
// Results and heartbeats, nearly all of the traffic, are decoded by hand
// (hot-agent-messages.ts); everything else by protobuf-es.
import { fromBinary } from "@bufbuild/protobuf";
import { invalidArgument, resourceExhausted, type StatusError } from "../common/status-error.js";
import { ConnectRequestSchema, type ConnectRequest } from "../gen/trustplane/v1/agent_pb.js";
import { decodeHotAgentMessage } from "./hot-agent-messages.js";

export const MAX_AGENT_MESSAGE_BYTES = 512 * 1024;
export const MAX_HELLO_BYTES = 16 * 1024;

/** A message from an agent that is refused before it is looked at; the stream ends with `status`. */
export class RefusedAgentMessage {
  constructor(readonly status: StatusError) {}
}

export type AgentMessage = ConnectRequest | RefusedAgentMessage;

/** The grpc-js request deserializer of AgentService.Connect. */
export function decodeAgentMessage(bytes: Buffer): AgentMessage {
  if (bytes.byteLength > MAX_AGENT_MESSAGE_BYTES) {
    return new RefusedAgentMessage(
      resourceExhausted("agent message too large", `${bytes.byteLength} bytes; an agent message may be at most ${MAX_AGENT_MESSAGE_BYTES} bytes`),
    );
  }
  const hot = decodeHotAgentMessage(bytes);
  if (hot) return hot;
  let message: ConnectRequest;
  try {
    message = fromBinary(ConnectRequestSchema, bytes);
  } catch (error) {
    return new RefusedAgentMessage(invalidArgument("malformed agent message", error instanceof Error ? error.message : String(error)));
  }
  if (message.kind.case === "hello" && bytes.byteLength > MAX_HELLO_BYTES) {
    return new RefusedAgentMessage(invalidArgument("hello too large", `${bytes.byteLength} bytes; a hello may be at most ${MAX_HELLO_BYTES} bytes`));
  }
  return message;
}
