/** A mistake in how the command was called: printed as one line, exit code 2. */
export class UsageError extends Error {
  override readonly name = "UsageError";
}

/** Exit codes scripts can rely on. */
export const EXIT_OK = 0;
/** A failure of the command, or, for a job, at least one host that did not answer ok or skipped. */
export const EXIT_FAILURE = 1;
export const EXIT_USAGE = 2;
/** The gateway refused the call or could not be reached (a Connect/gRPC status). */
export const EXIT_API_ERROR = 3;
