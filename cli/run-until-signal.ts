// Keeps a long-running command (server, gateway, agent, up) alive until SIGTERM or
// SIGINT, closes it once, flushes the log and ends the process: exit 0 after a clean
// close even if some handle lingers, exit 1 with one line on stderr when closing
// fails or the service fails by itself. A second signal during the close exits 1 at
// once (Ctrl-C twice).
import type { Logger } from "../common/logger.js";
import { EXIT_FAILURE, EXIT_OK } from "./usage-error.js";

export interface LongRunningService {
  /** "trustplane server": starts the one-line failure message. */
  command: string;
  logger: Logger;
  /** Stops the service (it may wait for in-flight work); resolves when it has. */
  close(): Promise<void>;
  /** Rejects when the service fails by itself (an agent that cannot start): closed, then exit 1. */
  failure?: Promise<never>;
}

/** What the process offers; tests pass their own. */
export interface ProcessHooks {
  on(signal: NodeJS.Signals, listener: (signal: NodeJS.Signals) => void): unknown;
  exit(code: number): void;
  stderr: { write(text: string): unknown };
}

const SIGNALS: readonly NodeJS.Signals[] = ["SIGTERM", "SIGINT"];

function message(error: unknown): string {
  return (error instanceof Error ? error.message : String(error)).replace(/\s*\n\s*/g, " ");
}

/** Resolves to the exit code, after `hooks.exit` was called with it (the real one does not return). */
export function runUntilSignal(service: LongRunningService, hooks: ProcessHooks = process): Promise<number> {
  const { command, logger } = service;
  return new Promise((resolve) => {
    let closing = false;
    let exited = false;
    const exit = (code: number) => {
      if (exited) return;
      exited = true;
      logger.flush(() => {
        hooks.exit(code);
        resolve(code);
      });
    };
    const shutDown = (why: { signal: NodeJS.Signals } | { failure: unknown }) => {
      if (closing) {
        if ("signal" in why) {
          hooks.stderr.write(`${command}: ${why.signal} again, exiting before the shutdown finished\n`);
          exit(EXIT_FAILURE);
        }
        return;
      }
      closing = true;
      if ("signal" in why) logger.info({ signal: why.signal }, "shutting down");
      service.close().then(
        () => {
          if ("failure" in why) {
            hooks.stderr.write(`${command}: ${message(why.failure)}\n`);
            exit(EXIT_FAILURE);
          } else {
            exit(EXIT_OK);
          }
        },
        (error: unknown) => {
          logger.error({ err: message(error) }, "shutdown failed");
          hooks.stderr.write(`${command}: shutdown failed: ${message(error)}\n`);
          exit(EXIT_FAILURE);
        },
      );
    };
    for (const signal of SIGNALS) hooks.on(signal, (received) => shutDown({ signal: received }));
    service.failure?.catch((error: unknown) => shutDown({ failure: error }));
  });
}
