// Keeps a long-running command alive until SIGTERM or SIGINT, then closes it once.
import type { Logger } from "../common/logger.js";

export function runUntilSignal(logger: Logger, close: () => Promise<void>): Promise<void> {
  return new Promise((resolve, reject) => {
    let closing = false;
    const onSignal = (signal: NodeJS.Signals) => {
      if (closing) return;
      closing = true;
      logger.info({ signal }, "shutting down");
      close().then(resolve, reject);
    };
    process.once("SIGTERM", onSignal);
    process.once("SIGINT", onSignal);
  });
}
