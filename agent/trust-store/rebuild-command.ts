// Runs a trust store's rebuild tool: no shell, a timeout, output captured, and
// TRUSTPLANE_ROOT in its environment so stand-in tools can find a sandbox tree.
import { execFile } from "node:child_process";

export const DEFAULT_REBUILD_TIMEOUT_MS = 120_000;
const MAX_ERROR_OUTPUT = 4096;

export interface RebuildInvocation {
  command: string;
  args: readonly string[];
  root: string;
  timeoutMs?: number;
}

/** A rebuild that exited non-zero, timed out or could not start; `message` holds its stderr. */
export class RebuildError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "RebuildError";
  }
}

export function runRebuildCommand(invocation: RebuildInvocation): Promise<{ stdout: string; stderr: string }> {
  const timeoutMs = invocation.timeoutMs ?? DEFAULT_REBUILD_TIMEOUT_MS;
  return new Promise((resolve, reject) => {
    execFile(
      invocation.command,
      invocation.args,
      {
        env: { ...process.env, TRUSTPLANE_ROOT: invocation.root },
        timeout: timeoutMs,
        killSignal: "SIGKILL",
        maxBuffer: 1024 * 1024,
        shell: false,
        windowsHide: true,
      },
      (error, stdout, stderr) => {
        if (!error) {
          resolve({ stdout, stderr });
          return;
        }
        const output = bounded(stderr.trim() || stdout.trim());
        const failure = error as NodeJS.ErrnoException & { killed?: boolean; signal?: string | null; code?: unknown };
        let why: string;
        if (typeof failure.code === "string") why = `could not run: ${failure.code}`;
        else if (failure.killed && failure.signal) why = `timed out after ${timeoutMs} ms`;
        else if (failure.signal) why = `killed by ${failure.signal}`;
        else why = `exited with code ${String(failure.code)}`;
        reject(new RebuildError(`${invocation.command} ${why}${output ? `: ${output}` : ""}`));
      },
    );
  });
}

function bounded(text: string): string {
  return text.length <= MAX_ERROR_OUTPUT ? text : `${text.slice(0, MAX_ERROR_OUTPUT)}…`;
}
