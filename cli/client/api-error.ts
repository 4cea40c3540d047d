// A call the gateway refused or that never reached it, as the one line a client
// command prints before exiting with EXIT_API_ERROR.
import { ConnectError } from "@connectrpc/connect";
import { grpcCodeName } from "../../gateway/error-body.js";
import { ERROR_DETAILS_METADATA_KEY } from "../../common/status-error.js";
import type { CommandIo } from "../command-io.js";
import { EXIT_API_ERROR } from "../usage-error.js";

/** `trustplane: <message>[: <details>] (<CODE>)`, on one line. */
export function apiErrorLine(error: ConnectError): string {
  const code = grpcCodeName(error.code);
  const message = oneLine(error.rawMessage) || code.toLowerCase().replace(/_/g, " ");
  const details = oneLine(error.metadata.get(ERROR_DETAILS_METADATA_KEY) ?? "");
  return `trustplane: ${message}${details && details !== message ? `: ${details}` : ""} (${code})\n`;
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
