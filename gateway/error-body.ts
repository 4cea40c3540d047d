// The REST error body `{"error", "details", "code"}` (DESIGN.md section 3) and the
// mapping from the control plane's gRPC status codes to HTTP status codes.
import { Code, ConnectError } from "@connectrpc/connect";
import { ERROR_DETAILS_METADATA_KEY } from "../common/status-error.js";

export interface ErrorBody {
  /** What went wrong: the control plane's message, or the gateway's own. */
  error: string;
  /** The longer explanation; never empty. */
  details: string;
  /** The HTTP status of the response. */
  code: number;
}

/** An error the gateway answers itself (routing, body parsing, query parameters). */
export class HttpError extends Error {
  constructor(
    readonly status: number,
    message: string,
    readonly details: string,
    /** Extra response headers, such as `Allow` on a 405. */
    readonly headers: Readonly<Record<string, string>> = {},
  ) {
    super(message);
    this.name = "HttpError";
  }
}

const HTTP_STATUS_BY_CODE: ReadonlyMap<Code, number> = new Map([
  [Code.InvalidArgument, 400],
  [Code.FailedPrecondition, 400],
  [Code.OutOfRange, 400],
  [Code.Unauthenticated, 401],
  [Code.PermissionDenied, 403],
  [Code.NotFound, 404],
  [Code.AlreadyExists, 409],
  [Code.Unimplemented, 501],
  [Code.Unavailable, 503],
  [Code.DeadlineExceeded, 504],
]);

/** A RESOURCE_EXHAUSTED about a size is 413; any other (a rate or quota) is 429. */
const SIZE_MESSAGE = /\b(size|large|larger|long|bytes|exceeds?|limit of \d+)\b/i;

export function httpStatusForCode(code: Code, message: string): number {
  if (code === Code.ResourceExhausted) return SIZE_MESSAGE.test(message) ? 413 : 429;
  return HTTP_STATUS_BY_CODE.get(code) ?? 500;
}

/** The gRPC spelling of a code, as in `INVALID_ARGUMENT`. */
export function grpcCodeName(code: Code): string {
  if (code === Code.Canceled) return "CANCELLED";
  const name = Code[code] as string | undefined;
  if (name === undefined) return `CODE_${code}`;
  return name.replace(/([a-z])([A-Z])/g, "$1_$2").toUpperCase();
}

/**
 * Codes a failed connection (rather than an answer of the control plane) shows up
 * as; a stream reset when the connection dies is CANCELLED. (A call the REST
 * caller cancelled itself is never answered, so it does not get here.)
 */
const TRANSPORT_FAILURE_CODES: ReadonlySet<Code> = new Set([
  Code.Unavailable,
  Code.Aborted,
  Code.Unknown,
  Code.Internal,
  Code.Canceled,
]);

/**
 * True when the call never got a gRPC status from the control plane: the
 * connection was refused, reset or broke. A status sent by the control plane
 * always arrives with `grpc-status` in its trailers (or trailers-only headers).
 */
export function isControlPlaneUnreachable(error: ConnectError): boolean {
  return !error.metadata.has("grpc-status") && TRANSPORT_FAILURE_CODES.has(error.code);
}

export function errorBodyFromConnectError(error: ConnectError): ErrorBody {
  if (isControlPlaneUnreachable(error)) {
    return {
      error: "control plane unavailable",
      details: `the gateway cannot reach the control plane: ${error.rawMessage || grpcCodeName(error.code)}`,
      code: 503,
    };
  }
  const message = error.rawMessage || grpcCodeName(error.code).toLowerCase().replace(/_/g, " ");
  return {
    error: message,
    details: error.metadata.get(ERROR_DETAILS_METADATA_KEY) || `control plane answered ${grpcCodeName(error.code)}`,
    code: httpStatusForCode(error.code, message),
  };
}

/** Any thrown value as an error body; unknown faults are a 500 without internals. */
export function errorBodyFrom(error: unknown): ErrorBody {
  if (error instanceof HttpError) return { error: error.message, details: error.details, code: error.status };
  if (error instanceof ConnectError) return errorBodyFromConnectError(error);
  return { error: "internal error", details: "the gateway failed to handle the request", code: 500 };
}
