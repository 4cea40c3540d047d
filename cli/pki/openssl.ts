// Runs the `openssl` command without a shell: arguments as an array, optional
// bytes on its stdin, its stdout back. A failure carries openssl's own stderr.
import { execFile } from "node:child_process";

/** Runs `openssl ARGS` (stdin: `input`, else nothing); resolves to its stdout. */
export type Openssl = (args: readonly string[], input?: string | Buffer) => Promise<Buffer>;

const TIMEOUT_MS = 30_000;
const MAX_OUTPUT_BYTES = 1024 * 1024;

export class OpensslError extends Error {
  override readonly name = "OpensslError";
}

/** The `openssl` on PATH, or `binary`. */
export function opensslCommand(binary = "openssl"): Openssl {
  return (args, input) =>
    new Promise((resolve, reject) => {
      const child = execFile(
        binary,
        [...args],
        { encoding: "buffer", timeout: TIMEOUT_MS, maxBuffer: MAX_OUTPUT_BYTES, windowsHide: true },
        (error, stdout, stderr) => {
          if (!error) return resolve(stdout);
          if ((error as NodeJS.ErrnoException).code === "ENOENT") {
            return reject(new OpensslError(`cannot run ${binary}: not found on PATH (install OpenSSL)`));
          }
          const reason = stderr.toString("utf8").trim().split("\n").slice(0, 3).join("; ") || error.message;
          reject(new OpensslError(`openssl ${args[0] ?? ""} failed: ${reason}`));
        },
      );
      // An exited child (ENOENT, early failure) must not turn the write into an unhandled EPIPE.
      child.stdin?.on("error", () => {});
      child.stdin?.end(input);
    });
}
