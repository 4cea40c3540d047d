// Errors that know their gRPC status. Thrown by the place that knows what went
// wrong (router, auth, object store, PEM validation); grpc-js handlers turn them
// into a call status, the gateway maps the status to an HTTP code.
import { Metadata, status } from "@grpc/grpc-js";

export { status as GrpcStatus };

/** Metadata key carrying the longer explanation (`details` in the REST error body). */
export const ERROR_DETAILS_METADATA_KEY = "trustplane-error-details";

export class StatusError extends Error {
  constructor(
    readonly code: status,
    message: string,
    readonly details = "",
  ) {
    super(message);
    this.name = "StatusError";
  }

  /** The shape grpc-js accepts as a call error (callback or `emit("error")`). */
  toServiceError(): { code: status; details: string; metadata: Metadata } {
    const metadata = new Metadata();
    if (this.details) metadata.set(ERROR_DETAILS_METADATA_KEY, asciiMetadataValue(this.details));
    return { code: this.code, details: this.message, metadata };
  }
}

/** gRPC metadata values must be printable ASCII; anything else (user input quoted in a reason) is escaped. */
function asciiMetadataValue(text: string): string {
  return text.replace(/[^\x20-\x7e]/g, (char) => `\\u${char.charCodeAt(0).toString(16).padStart(4, "0")}`);
}

export const invalidArgument = (message: string, details = "") =>
  new StatusError(status.INVALID_ARGUMENT, message, details);
export const notFound = (message: string, details = "") => new StatusError(status.NOT_FOUND, message, details);
export const alreadyExists = (message: string, details = "") =>
  new StatusError(status.ALREADY_EXISTS, message, details);
export const unauthenticated = (message: string, details = "") =>
  new StatusError(status.UNAUTHENTICATED, message, details);
export const permissionDenied = (message: string, details = "") =>
  new StatusError(status.PERMISSION_DENIED, message, details);
export const unavailable = (message: string, details = "") => new StatusError(status.UNAVAILABLE, message, details);
export const resourceExhausted = (message: string, details = "") =>
  new StatusError(status.RESOURCE_EXHAUSTED, message, details);

/** Any thrown value as a StatusError; unknown faults become INTERNAL without leaking internals. */
export function toStatusError(error: unknown): StatusError {
  if (error instanceof StatusError) return error;
  return new StatusError(status.INTERNAL, "internal error", error instanceof Error ? error.message : String(error));
}
