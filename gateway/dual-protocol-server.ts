// One TCP port that speaks HTTP/1.1 (curl, REST, Connect, gRPC-Web) and HTTP/2
// (gRPC clients, Connect bidi streaming), in plaintext or over TLS.
//
// Plaintext: Node's `http2.createServer` cannot fall back to HTTP/1.1 without
// TLS, so a net.Server peeks at the first bytes of each connection: the HTTP/2
// client preface starts with "PRI * HTTP/2.0", which no HTTP/1.1 request does.
// The bytes read are put back and the socket is handed to the matching server
// with `emit("connection")`.
// TLS: a tls.Server offers "h2" and "http/1.1" by ALPN and hands each connection,
// once the handshake is done, to the server of the protocol agreed (HTTP/1.1
// when the client named none). Both ways the same two servers answer, so limits,
// unparsable-request answers and graceful close are the same.
import * as http from "node:http";
import * as http2 from "node:http2";
import * as net from "node:net";
import * as tls from "node:tls";
import type { Duplex } from "node:stream";

const HTTP2_PREFACE = Buffer.from("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", "latin1");

/** A connection that sends nothing (plaintext) or does not finish its handshake (TLS) for this long is closed. */
const FIRST_BYTES_TIMEOUT_MS = 30_000;
const TLS_HANDSHAKE_TIMEOUT_MS = 10_000;

/**
 * Request line plus headers (HTTP/1.1), or the header list (HTTP/2), at most this
 * many bytes: an API key and a few headers need a fraction of it. Larger is 431.
 */
export const MAX_HEADER_BYTES = 16 * 1024;

export type RequestListener = (
  request: http.IncomingMessage | http2.Http2ServerRequest,
  response: http.ServerResponse | http2.Http2ServerResponse,
) => void;

export interface ServerTls {
  /** PEM of the server certificate, followed by any intermediates. */
  certPem: Buffer;
  /** PEM of its private key. */
  keyPem: Buffer;
}

export interface DualProtocolServerOptions {
  /** Handles every request of both protocols. */
  listener: RequestListener;
  /** Answers an HTTP/1.1 request that could not be parsed (http.Server's "clientError"). */
  clientError: (error: Error & { code?: string }, socket: Duplex) => void;
  /** Answers an HTTP/1.1 CONNECT request (http.Server's "connect"), which never reaches the listener. */
  connectMethod: (socket: Duplex) => void;
  /** How long close() lets in-flight requests finish before cutting connections. */
  shutdownGraceMs: number;
  /** Serve HTTPS (HTTP/1.1 and HTTP/2 by ALPN) with this certificate; plaintext when absent. */
  tls?: ServerTls;
}

export interface DualProtocolServer {
  /** The bound port. */
  readonly port: number;
  /** Stop accepting, let in-flight requests finish (up to the grace period), close every connection. */
  close(): Promise<void>;
}

export async function listenDualProtocol(
  host: string,
  port: number,
  options: DualProtocolServerOptions,
): Promise<DualProtocolServer> {
  const http1 = http.createServer({ maxHeaderSize: MAX_HEADER_BYTES }, options.listener);
  // Connections with an answer under way: garbage pipelined behind a request must
  // not write an error answer into the middle of that one; the connection just ends.
  const answering = new WeakMap<Duplex, number>();
  http1.on("clientError", (error: Error & { code?: string }, socket: Duplex) => {
    if ((answering.get(socket) ?? 0) > 0) socket.destroy();
    else options.clientError(error, socket);
  });
  http1.on("connect", (_request: http.IncomingMessage, socket: Duplex) => options.connectMethod(socket));
  // An Expect other than 100-continue: served like any request (RFC 9110 allows
  // ignoring it) rather than Node's bare 417 without the error body.
  http1.on("checkExpectation", options.listener);
  // http.Server tracks its connections (idle keep-alive sockets for close(), the
  // headers/request timeouts) from its "listening" event on. It never listens
  // itself here, so it is told that the port is open.
  http1.emit("listening");
  const h2 = http2.createServer({ settings: { maxHeaderListSize: MAX_HEADER_BYTES } }, options.listener);
  h2.on("checkExpectation", options.listener);
  /** Every TCP connection (under TLS, the raw one: destroying it ends the TLS socket too). */
  const sockets = new Set<net.Socket>();
  const undecided = new Set<net.Socket>();
  const sessions = new Set<http2.ServerHttp2Session>();
  let closing = false;
  let closed: Promise<void> | undefined;

  h2.on("session", (session) => {
    sessions.add(session);
    session.once("close", () => sessions.delete(session));
    if (closing) session.close();
  });
  // Counts the answers under way per connection (see "clientError"). A response
  // finishing while we shut down leaves an idle keep-alive socket: close it.
  http1.on("request", (request: http.IncomingMessage, response: http.ServerResponse) => {
    const socket = request.socket;
    answering.set(socket, (answering.get(socket) ?? 0) + 1);
    response.once("close", () => answering.set(socket, (answering.get(socket) ?? 1) - 1));
    response.once("finish", () => {
      if (closing) setImmediate(() => http1.closeIdleConnections());
    });
  });

  const track = (socket: net.Socket) => {
    sockets.add(socket);
    socket.once("close", () => sockets.delete(socket));
    socket.on("error", () => socket.destroy());
  };
  let server: net.Server;
  if (options.tls) {
    const secure = tls.createServer({
      cert: options.tls.certPem,
      key: options.tls.keyPem,
      ALPNProtocols: ["h2", "http/1.1"],
      handshakeTimeout: TLS_HANDSHAKE_TIMEOUT_MS,
      noDelay: true,
    });
    secure.on("connection", track);
    // A failed handshake (wrong CA, plaintext on the TLS port) only ends its own connection.
    secure.on("tlsClientError", (_error, socket) => socket.destroy());
    secure.on("secureConnection", (socket: tls.TLSSocket) => {
      socket.on("error", () => socket.destroy());
      if (closing) {
        socket.destroy();
        return;
      }
      (socket.alpnProtocol === "h2" ? h2 : http1).emit("connection", socket);
    });
    server = secure;
  } else {
    server = net.createServer({ noDelay: true }, (socket) => {
      track(socket);
      undecided.add(socket);
      dispatch(socket, http1, h2, () => undecided.delete(socket));
    });
  }

  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(port, host, () => {
      server.off("error", reject);
      resolve();
    });
  });
  const address = server.address() as net.AddressInfo;

  return {
    port: address.port,
    close() {
      if (closed) return closed;
      closing = true;
      closed = new Promise<void>((resolve) => {
        server.close(() => resolve());
        http1.close();
        for (const socket of undecided) socket.destroy();
        for (const session of sessions) session.close();
        const deadline = setTimeout(() => {
          for (const socket of sockets) socket.destroy();
        }, options.shutdownGraceMs);
        deadline.unref();
        server.once("close", () => clearTimeout(deadline));
      });
      return closed;
    },
  };
}

/** Reads until the first bytes tell HTTP/2 from HTTP/1.x, then hands the socket over. */
function dispatch(socket: net.Socket, http1: http.Server, h2: http2.Http2Server, decided: () => void): void {
  let received: Buffer = Buffer.alloc(0);
  const onTimeout = () => socket.destroy();
  socket.setTimeout(FIRST_BYTES_TIMEOUT_MS);
  socket.once("timeout", onTimeout);
  const onData = (chunk: Buffer) => {
    received = received.length === 0 ? chunk : Buffer.concat([received, chunk]);
    const compared = Math.min(received.length, HTTP2_PREFACE.length);
    const looksLikeHttp2 = received.subarray(0, compared).equals(HTTP2_PREFACE.subarray(0, compared));
    if (looksLikeHttp2 && received.length < HTTP2_PREFACE.length) return;
    socket.off("data", onData);
    socket.setTimeout(0);
    socket.off("timeout", onTimeout);
    decided();
    socket.pause();
    socket.unshift(received);
    (looksLikeHttp2 ? h2 : http1).emit("connection", socket);
    // http2 takes the bytes put back from the socket's buffer itself; the HTTP/1
    // parser reads them from "data" events, which need the socket flowing again.
    if (!looksLikeHttp2) socket.resume();
  };
  socket.on("data", onData);
}
