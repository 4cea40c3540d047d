// Builds grpc-js service definitions from the protobuf-es descriptors generated
// from proto/, so that the control plane, the agent and the gateway share one set
// of generated types (DESIGN.md section 11). A grpc-js definition is only a path,
// two stream flags and (de)serializers per method. A message a hot path encoded
// itself (a Uint8Array, e.g. server/command-frames.ts) is written as it is.
import { fromBinary, toBinary, type DescMessage, type MessageShape } from "@bufbuild/protobuf";
import type { DescMethod, DescService } from "@bufbuild/protobuf";
import type { MethodDefinition, ServiceDefinition } from "@grpc/grpc-js";

function serializerFor<Desc extends DescMessage>(schema: Desc) {
  return (message: MessageShape<Desc> | Uint8Array): Buffer => {
    const bytes = message instanceof Uint8Array ? message : toBinary(schema, message);
    if (Buffer.isBuffer(bytes)) return bytes;
    return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  };
}

function deserializerFor<Desc extends DescMessage>(schema: Desc) {
  return (bytes: Buffer): MessageShape<Desc> => fromBinary(schema, bytes);
}

function methodDefinition(method: DescMethod): MethodDefinition<unknown, unknown> {
  return {
    path: `/${method.parent.typeName}/${method.name}`,
    requestStream: method.methodKind === "client_streaming" || method.methodKind === "bidi_streaming",
    responseStream: method.methodKind === "server_streaming" || method.methodKind === "bidi_streaming",
    requestSerialize: serializerFor(method.input) as (value: unknown) => Buffer,
    requestDeserialize: deserializerFor(method.input),
    responseSerialize: serializerFor(method.output) as (value: unknown) => Buffer,
    responseDeserialize: deserializerFor(method.output),
    originalName: method.localName,
  };
}

/**
 * The grpc-js definition of a generated service. Method keys are the protobuf-es
 * local names (`installCA`, `connect`), which is what grpc-js handler objects and
 * generated clients use.
 */
export function grpcServiceDefinition(service: DescService): ServiceDefinition {
  const definition: Record<string, MethodDefinition<unknown, unknown>> = {};
  for (const method of service.methods) {
    definition[method.localName] = methodDefinition(method);
  }
  return definition as ServiceDefinition;
}
