// The gateway's one connection to the control plane: an HTTP/2 session (kept alive
// with PINGs) under a gRPC transport that every forwarded call and every REST
// route shares, plus the readiness check of GET /health/ready.
import { ConnectError, type Interceptor, type Transport } from "@connectrpc/connect";
import { Http2SessionManager, createGrpcTransport } from "@connectrpc/connect-node";
import { HttpError } from "./error-body.js";

export interface ControlPlaneConnection {
  readonly transport: Transport;
  /** Resolves when the control plane accepts an HTTP/2 connection; throws a 503 HttpError otherwise. */
  checkReady(): Promise<void>;
  /** Closes the connection and every call still open on it. */
  close(): void;
}

export interface ControlPlaneConnectionOptions {
  /** `host:port` of the control plane's plaintext gRPC listener. */
  address: string;
  /** How long the readiness check waits for a connection. */
  readyTimeoutMs?: number;
  /** Run around every call on the transport. */
  interceptors?: Interceptor[];
}

const KEEPALIVE = { pingIntervalMs: 30_000, pingTimeoutMs: 10_000 } as const;
const DEFAULT_READY_TIMEOUT_MS = 2_000;

export function connectControlPlane(options: ControlPlaneConnectionOptions): ControlPlaneConnection {
  const baseUrl = `http://${options.address}`;
  const sessionManager = new Http2SessionManager(baseUrl, KEEPALIVE);
  const transport = createGrpcTransport({ baseUrl, sessionManager, interceptors: options.interceptors ?? [] });
  const readyTimeoutMs = options.readyTimeoutMs ?? DEFAULT_READY_TIMEOUT_MS;

  return {
    transport,
    async checkReady() {
      let timer: NodeJS.Timeout | undefined;
      const timedOut = new Promise<"timeout">((resolve) => {
        timer = setTimeout(() => resolve("timeout"), readyTimeoutMs);
      });
      const state = await Promise.race([sessionManager.connect(), timedOut]).finally(() => clearTimeout(timer));
      if (state === "open" || state === "idle") return;
      const reason =
        state === "timeout"
          ? `no connection to ${options.address} within ${readyTimeoutMs} ms`
          : `cannot connect to ${options.address}: ${describe(sessionManager.error())}`;
      throw new HttpError(503, "control plane unavailable", reason);
    },
    close() {
      sessionManager.abort();
    },
  };
}

/** The system error code (ECONNREFUSED, ...) somewhere in the cause chain, else the message. */
function describe(error: unknown): string {
  for (let cause = error, depth = 0; cause instanceof Error && depth < 8; cause = cause.cause, depth++) {
    const code = (cause as { code?: unknown }).code;
    if (typeof code === "string") return code;
  }
  if (error instanceof ConnectError) return error.rawMessage;
  return error instanceof Error ? error.message : "connection failed";
}
