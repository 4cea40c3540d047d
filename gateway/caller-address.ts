// The address a caller connected from, passed to the control plane as the
// `x-forwarded-for` metadata of every call made for it (REST or forwarded RPC),
// so that the control plane can log the real source of a request, such as a
// failed authentication. The gateway sets it to the remote address of the
// caller's socket and never passes on a value the caller sent itself.
import { createContextKey, createContextValues, type ContextValues } from "@connectrpc/connect";
import type { NodeServerRequest } from "./node-handler-types.js";

export const FORWARDED_FOR_METADATA_KEY = "x-forwarded-for";

/** The caller's address in a forwarded call's context (connectNodeAdapter's `contextValues`). */
export const CALLER_ADDRESS = createContextKey<string | undefined>(undefined, { description: "caller address" });

/** The remote address of the request's connection; undefined once the socket is gone. */
export function callerAddress(request: NodeServerRequest): string | undefined {
  try {
    return request.socket.remoteAddress;
  } catch {
    // An HTTP/2 request's socket proxy throws once its stream has closed.
    return undefined;
  }
}

export function callerContextValues(request: NodeServerRequest): ContextValues {
  return createContextValues().set(CALLER_ADDRESS, callerAddress(request));
}
