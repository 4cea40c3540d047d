// A call the gateway refused or that never reached it, as the one line a client
// command prints before exiting with EXIT_API_ERROR.
import { ConnectError } from "@connectrpc/connect";
import { grpcCodeName } from "../../gateway/error-body.js";
import { ERROR_DETAILS_METADATA_KEY } from "../../common/status-error.js";
import type { CommandIo } from "../command-io.js";
import { EXIT_API_ERROR } from "../usage-error.js";

/** Node's codes for a server certificate whose CA is not trusted. */
const UNTRUSTED_CERTIFICATE = new Set([
  "UNABLE_TO_VERIFY_LEAF_SIGNATURE",
  "UNABLE_TO_GET_ISSUER_CERT",
  "UNABLE_TO_GET_ISSUER_CERT_LOCALLY",
  "SELF_SIGNED_CERT_IN_CHAIN",
  "DEPTH_ZERO_SELF_SIGNED_CERT",
  "CERT_UNTRUSTED",
]);

function untrustedCertificate(error: unknown): boolean {
  for (let cause = error, depth = 0; cause instanceof Error && depth < 8; cause = cause.cause, depth++) {
    if (UNTRUSTED_CERTIFICATE.has(String((cause as { code?: unknown }).code))) return true;
  }
  return false;
}

/** `trustplane: <message>[: <details>] (<CODE>)`, on one line. */
export function apiErrorLine(error: ConnectError): string {
  const code = grpcCodeName(error.code);
  const message = oneLine(error.rawMessage) || code.toLowerCase().replace(/_/g, " ");
  const details = oneLine(error.metadata.get(ERROR_DETAILS_METADATA_KEY) ?? "");
  const hint = untrustedCertificate(error) ? "; a gateway with a private CA needs --ca FILE or TRUSTPLANE_CA" : "";
  return `trustplane: ${message}${details && details !== message ? `: ${details}` : ""} (${code})${hint}\n`;
}

/** Runs a command's calls; a ConnectError becomes its line on stderr and exit code 3. */
export async function withApiErrors(io: CommandIo, run: () => Promise<number>, cleanup?: () => void): Promise<number> {
  try {
    return await run();
  } catch (error) {
    if (!(error instanceof ConnectError)) throw error;
    cleanup?.();
    io.stderr.write(apiErrorLine(error));
    return EXIT_API_ERROR;
  }
}

function oneLine(text: string): string {
  return text.replace(/\s*\n\s*/g, " ").trim();
}
