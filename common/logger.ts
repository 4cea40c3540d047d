// One pino logger factory for every process. Structured JSON on stderr; the
// redaction list keeps secrets out even if a caller passes a whole object.
import { pino, type Logger } from "pino";

export type { Logger };

export interface LoggerOptions {
  /** Process or component name, added to every line as `component`. */
  component: string;
  /** pino level; defaults to TRUSTPLANE_LOG_LEVEL or "info". */
  level?: string;
}

export function createLogger(options: LoggerOptions): Logger {
  return pino(
    {
      level: options.level ?? process.env.TRUSTPLANE_LOG_LEVEL ?? "info",
      base: { component: options.component },
      redact: {
        paths: [
          "authorization",
          "*.authorization",
          "apiKey",
          "*.apiKey",
          "token",
          "*.token",
          "joinToken",
          "*.joinToken",
          "pem",
          "*.pem",
          "content",
          "*.content",
        ],
        censor: "[redacted]",
      },
    },
    pino.destination({ fd: 2, sync: false }),
  );
}
