// The gateway's one connection to the control plane: an HTTP/2 session (kept alive
// with PINGs, over TLS when the control plane serves TLS) under a gRPC transport
// that every forwarded call and every REST route shares, plus the readiness check
// of GET /health/ready.
import type { ClientHttp2Stream, IncomingHttpHeaders, SecureClientSessionOptions } from "node:http2";
import { isIP } from "node:net";
import { checkServerIdentity, type PeerCertificate } from "node:tls";
import { ConnectError, type Interceptor, type Transport } from "@connectrpc/connect";
import { Http2SessionManager, createGrpcTransport } from "@connectrpc/connect-node";
import { HttpError } from "./error-body.js";

export interface ControlPlaneConnection {
  readonly transport: Transport;
  /** Resolves when the control plane answers gRPC on the connection; throws a 503 HttpError otherwise. */
  checkReady(): Promise<void>;
  /** Closes the connection and every call still open on it. */
  close(): void;
}

/** How the gateway reaches a control plane that serves TLS. */
export interface ControlPlaneTls {
  /** PEM of the CA(s) that signed the control plane's certificate; Node's built-in roots when absent. */
  caPem?: Buffer;
  /** PEM of the client certificate the gateway presents (a control plane that requires mutual TLS). */
  certPem?: Buffer;
  /** PEM of that certificate's private key. */
  keyPem?: Buffer;
  /** Name checked against the control plane's certificate (and sent as SNI) instead of the address's host. */
  serverName?: string;
}

export interface ControlPlaneConnectionOptions {
  /** `host:port` of the control plane's gRPC listener. */
  address: string;
  /** Connect over TLS; plaintext (h2c) when absent. */
  tls?: ControlPlaneTls;
  /** How long the readiness check waits for a connection. */
  readyTimeoutMs?: number;
  /** Run around every call on the transport. */
  interceptors?: Interceptor[];
}

const KEEPALIVE = { pingIntervalMs: 30_000, pingTimeoutMs: 10_000 } as const;
const READINESS_PROBE_PATH = "/trustplane.gateway.Readiness/Probe";
const PROBE_HEADERS = { "content-type": "application/grpc", te: "trailers" } as const;
const DEFAULT_READY_TIMEOUT_MS = 2_000;

export function connectControlPlane(options: ControlPlaneConnectionOptions): ControlPlaneConnection {
  const baseUrl = `${options.tls ? "https" : "http"}://${options.address}`;
  // The transport's own `nodeOptions` are ignored once it is given a session
  // manager, so the TLS options go to the manager, which passes them to http2.connect().
  const sessionManager = new Http2SessionManager(baseUrl, KEEPALIVE, options.tls && secureSessionOptions(options.tls));
  const transport = createGrpcTransport({ baseUrl, sessionManager, interceptors: options.interceptors ?? [] });
  const readyTimeoutMs = options.readyTimeoutMs ?? DEFAULT_READY_TIMEOUT_MS;

  return {
    transport,
    async checkReady() {
      const timeout = new AbortController();
      const timer = setTimeout(() => timeout.abort(), readyTimeoutMs);
      try {
        await probe(sessionManager, timeout.signal);
      } catch (error) {
        const reason = timeout.signal.aborted
          ? `no answer from ${options.address} within ${readyTimeoutMs} ms`
          : `cannot connect to ${options.address}: ${describe(error)}`;
        throw new HttpError(503, "control plane unavailable", reason);
      } finally {
        clearTimeout(timer);
      }
    },
    close() {
      sessionManager.abort();
    },
  };
}

/**
 * Sends a call to a method no server implements on the shared connection and
 * waits for the gRPC answer (UNIMPLEMENTED). An open TCP connection or a finished
 * TLS handshake alone proves little: a TLS port spoken to in plaintext, or a
 * control plane about to refuse the client certificate, lets both happen. The
 * probe reaches no handler, so the control plane sees no call (and no failed
 * authentication) to log.
 */
async function probe(sessionManager: Http2SessionManager, signal: AbortSignal): Promise<void> {
  const stream = await sessionManager.request("POST", READINESS_PROBE_PATH, PROBE_HEADERS, {});
  try {
    const headers = await responseHeaders(stream, signal);
    const contentType = headers["content-type"] ?? "";
    if (headers["grpc-status"] === undefined && !contentType.startsWith("application/grpc")) {
      throw new Error(`it does not answer gRPC (HTTP ${headers[":status"]})`);
    }
  } finally {
    stream.close();
  }
}

/** The stream's response headers; rejects when it closes (or errs, or the signal fires) before them. */
function responseHeaders(stream: ClientHttp2Stream, signal: AbortSignal): Promise<IncomingHttpHeaders> {
  return new Promise((resolve, reject) => {
    const settle = (settled: () => void) => {
      stream.off("response", onResponse).off("error", onError).off("close", onClose);
      signal.removeEventListener("abort", onClose);
      settled();
    };
    const onResponse = (headers: IncomingHttpHeaders) => settle(() => resolve(headers));
    const onError = (error: Error) => settle(() => reject(error));
    const onClose = () => settle(() => reject(new Error("the connection closed without an answer")));
    stream.on("response", onResponse).on("error", onError).on("close", onClose);
    signal.addEventListener("abort", onClose);
  });
}

function secureSessionOptions(tls: ControlPlaneTls): SecureClientSessionOptions {
  if ((tls.certPem === undefined) !== (tls.keyPem === undefined)) {
    throw new Error("control-plane TLS: give both the client certificate and its key, or neither");
  }
  const serverName = tls.serverName;
  return {
    ...(tls.caPem ? { ca: tls.caPem } : {}),
    ...(tls.certPem ? { cert: tls.certPem, key: tls.keyPem } : {}),
    // SNI carries host names only (RFC 6066): an IP address is checked against the certificate without being sent.
    ...(serverName && isIP(serverName) === 0 ? { servername: serverName } : {}),
    ...(serverName && isIP(serverName) !== 0
      ? { checkServerIdentity: (_host: string, certificate: PeerCertificate) => checkServerIdentity(serverName, certificate) }
      : {}),
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
