// Serves services over Connect, gRPC and gRPC-Web by forwarding every call to the
// control plane through one gRPC transport. Built from the service descriptors,
// so a new RPC in proto/ needs no code here. The caller's authorization header,
// address (as x-forwarded-for) and deadline travel with the call; the control plane's errors come back with
// their code, message and metadata (minus the protocol's own headers).
import type { DescMethod, DescService } from "@bufbuild/protobuf";
import {
  Code,
  ConnectError,
  type ConnectRouter,
  type HandlerContext,
  type MethodImpl,
  type Transport,
} from "@connectrpc/connect";
import { AUTHORIZATION_METADATA_KEY } from "../common/metadata-keys.js";
import { CALLER_ADDRESS, FORWARDED_FOR_METADATA_KEY } from "./caller-address.js";

/** Request headers passed on to the control plane. */
const FORWARDED_HEADERS: readonly string[] = [AUTHORIZATION_METADATA_KEY];

/** Headers of the gRPC exchange with the control plane that must not leak into the caller's protocol. */
const PROTOCOL_HEADER = /^(:|grpc-|content-|connect-|accept-|te$|trailer$|transfer-encoding$|connection$|keep-alive$|date$|vary$|server$)/;

export function forwardServices(router: ConnectRouter, services: readonly DescService[], transport: Transport): void {
  for (const service of services) {
    for (const method of service.methods) {
      router.rpc(method, forwardingImpl(method, transport) as MethodImpl<typeof method>);
    }
  }
}

function forwardingImpl(method: DescMethod, transport: Transport): unknown {
  switch (method.methodKind) {
    case "unary":
      return async (request: unknown, context: HandlerContext) => {
        try {
          const answer = await transport.unary(
            method as never,
            context.signal,
            context.timeoutMs(),
            forwardedHeaders(context),
            request as never,
          );
          return answer.message;
        } catch (error) {
          throw passThrough(error);
        }
      };
    case "server_streaming":
      return async function* (request: unknown, context: HandlerContext) {
        yield* forwardStream(method, transport, context, single(request));
      };
    case "client_streaming":
      return async (requests: AsyncIterable<unknown>, context: HandlerContext) => {
        for await (const message of forwardStream(method, transport, context, requests)) return message;
        throw new ConnectError("control plane sent no response", Code.Internal);
      };
    case "bidi_streaming":
      return async function* (requests: AsyncIterable<unknown>, context: HandlerContext) {
        yield* forwardStream(method, transport, context, requests);
      };
  }
}

async function* forwardStream(
  method: DescMethod,
  transport: Transport,
  context: HandlerContext,
  requests: AsyncIterable<unknown>,
): AsyncGenerator<unknown> {
  try {
    const answer = await transport.stream(
      method as never,
      context.signal,
      context.timeoutMs(),
      forwardedHeaders(context),
      requests as AsyncIterable<never>,
    );
    yield* answer.message;
  } catch (error) {
    throw passThrough(error);
  }
}

async function* single<T>(message: T): AsyncIterable<T> {
  yield message;
}

function forwardedHeaders(context: HandlerContext): Headers {
  const headers = new Headers();
  for (const name of FORWARDED_HEADERS) {
    const value = context.requestHeader.get(name);
    if (value !== null) headers.set(name, value);
  }
  const address = context.values.get(CALLER_ADDRESS);
  if (address !== undefined) headers.set(FORWARDED_FOR_METADATA_KEY, address);
  return headers;
}

/** The control plane's error as the caller should see it: same code, message, details and metadata. */
export function passThrough(error: unknown): ConnectError {
  const original = ConnectError.from(error);
  const metadata = new Headers();
  original.metadata.forEach((value, key) => {
    if (!PROTOCOL_HEADER.test(key)) metadata.append(key, value);
  });
  const forwarded = new ConnectError(original.rawMessage, original.code, metadata, undefined, original.cause);
  forwarded.details = original.details;
  return forwarded;
}
