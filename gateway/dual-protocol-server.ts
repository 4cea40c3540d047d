// One TCP port that speaks HTTP/1.1 (curl, REST, Connect, gRPC-Web) and HTTP/2
// with prior knowledge (h2c: gRPC clients, Connect bidi streaming). Node's plain
// `http2.createServer` cannot fall back to HTTP/1.1 without TLS, so a net.Server
// peeks at the first bytes of each connection: the HTTP/2 client preface starts
// with "PRI * HTTP/2.0", which no HTTP/1.1 request does. The bytes read are put
// back and the socket is handed to the matching server with `emit("connection")`.
import * as http from "node:http";
import * as http2 from "node:http2";
import * as net from "node:net";
import type { Duplex } from "node:stream";

const HTTP2_PREFACE = Buffer.from("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", "latin1");

/** A connection that sends nothing for this long is closed before it reaches a server. */
const FIRST_BYTES_TIMEOUT_MS = 30_000;

export type RequestListener = (
  request: http.IncomingMessage | http2.Http2ServerRequest,
  response: http.ServerResponse | http2.Http2ServerResponse,
) => void;

export interface DualProtocolServerOptions {
  /** Handles every request of both protocols. */
  listener: RequestListener;
  /** Answers an HTTP/1.1 request that could not be parsed (http.Server's "clientError"). */
  clientError: (error: Error & { code?: string }, socket: Duplex) => void;
  /** How long close() lets in-flight requests finish before cutting connections. */
  shutdownGraceMs: number;
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
  const http1 = http.createServer(options.listener);
  http1.on("clientError", options.clientError);
  // http.Server tracks its connections (idle keep-alive sockets for close(), the
  // headers/request timeouts) from its "listening" event on. It never listens
  // itself here, so it is told that the port is open.
  http1.emit("listening");
  const h2 = http2.createServer(options.listener);
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
  // A response finishing while we shut down leaves an idle keep-alive socket: close it.
  http1.on("request", (_request: http.IncomingMessage, response: http.ServerResponse) => {
    response.once("finish", () => {
      if (closing) setImmediate(() => http1.closeIdleConnections());
    });
  });

  const server = net.createServer({ noDelay: true }, (socket) => {
    sockets.add(socket);
    socket.once("close", () => sockets.delete(socket));
    socket.on("error", () => socket.destroy());
    undecided.add(socket);
    dispatch(socket, http1, h2, () => undecided.delete(socket));
  });

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
