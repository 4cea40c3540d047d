// The bare transport the fan-out bench compares trustplane with: a grpc-js service
// on raw bytes (no protobuf, no registry, no jobs, no validation). Clients hold a
// bidi Connect stream and answer every frame with its first ECHO_ID_BYTES bytes (the
// round id, about the size of a trustplane result); a unary Fanout writes one
// payload to every stream and answers once every stream echoed it.
import type { ServiceDefinition } from "@grpc/grpc-js";

/** Bytes of a frame a client sends back: the round id. */
export const ECHO_ID_BYTES = 8;

const rawBytes = {
  requestSerialize: (value: Buffer) => value,
  requestDeserialize: (bytes: Buffer) => bytes,
  responseSerialize: (value: Buffer) => value,
  responseDeserialize: (bytes: Buffer) => bytes,
};

export const BARE_ECHO_SERVICE: ServiceDefinition = {
  connect: { path: "/trustplane.bench.BareEcho/Connect", requestStream: true, responseStream: true, originalName: "Connect", ...rawBytes },
  fanout: { path: "/trustplane.bench.BareEcho/Fanout", requestStream: false, responseStream: false, originalName: "Fanout", ...rawBytes },
};

/** Fanout request: the payload size as a 4-byte big-endian integer. Answer: 4-byte count of echoes. */
export function fanoutRequest(payloadBytes: number): Buffer {
  const request = Buffer.alloc(4);
  request.writeUInt32BE(payloadBytes);
  return request;
}
