// An HTTP/1.1 request Node could not parse (bad request line, headers too large,
// headers too slow), or one it does not hand to a request listener (CONNECT),
// still answers with the REST error body, on a raw socket.
// Headers over the limit are 431, unless what overflowed is the request line
// itself: a URL that long is 414, as one merely over MAX_URL_LENGTH is.
import type { Duplex } from "node:stream";
import { MAX_URL_LENGTH } from "./early-refusal.js";
import type { ErrorBody } from "./error-body.js";

const REFUSALS: Readonly<Record<string, ErrorBody>> = {
  HPE_HEADER_OVERFLOW: { error: "request headers too large", details: "the request headers exceed the server's limit", code: 431 },
  ERR_HTTP_REQUEST_TIMEOUT: { error: "request timeout", details: "the request was not received in time", code: 408 },
};

const URL_TOO_LONG: ErrorBody = {
  error: "URL too long",
  details: `the request target must be at most ${MAX_URL_LENGTH} characters`,
  code: 414,
};

const BAD_REQUEST: ErrorBody = { error: "bad request", details: "the request is not valid HTTP/1.1", code: 400 };

const CONNECT_REFUSED: ErrorBody = {
  error: "method not allowed",
  details: "the gateway is not a proxy: CONNECT is not served",
  code: 405,
};

const REASONS: Readonly<Record<number, string>> = {
  400: "Bad Request",
  405: "Method Not Allowed",
  408: "Request Timeout",
  414: "URI Too Long",
  431: "Request Header Fields Too Large",
};

/** A request line: method, space, then a target with no line end in sight. */
const REQUEST_LINE_START = /^[A-Z]{1,16} /;

export function answerClientError(error: Error & { code?: string; rawPacket?: unknown }, socket: Duplex): void {
  if (error.code === "ECONNRESET" || !socket.writable) {
    socket.destroy();
    return;
  }
  answerOnSocket(socket, overflowedUrl(error) ? URL_TOO_LONG : (error.code && REFUSALS[error.code]) || BAD_REQUEST);
}

/** http.Server's "connect" event: a CONNECT request, which no route serves. */
export function answerConnectMethod(socket: Duplex): void {
  answerOnSocket(socket, CONNECT_REFUSED);
}

/**
 * After the answer, the rest of what the client sends is read and dropped (closing
 * with unread input would reset the connection and could lose the answer), for at
 * most this long; the parser gave up on the connection, so nothing else ends it.
 */
const LINGER_MS = 2_000;

function answerOnSocket(socket: Duplex, body: ErrorBody): void {
  const linger = setTimeout(() => socket.destroy(), LINGER_MS);
  linger.unref();
  socket.once("close", () => clearTimeout(linger));
  socket.resume();
  const json = JSON.stringify(body);
  socket.end(
    `HTTP/1.1 ${body.code} ${REASONS[body.code]}\r\n` +
      "content-type: application/json\r\n" +
      `content-length: ${Buffer.byteLength(json)}\r\n` +
      "connection: close\r\n\r\n" +
      json,
  );
}

/** The header limit was hit while the request line (as far as the parser kept it) was still longer than a URL may be. */
function overflowedUrl(error: { code?: string; rawPacket?: unknown }): boolean {
  if (error.code !== "HPE_HEADER_OVERFLOW" || !Buffer.isBuffer(error.rawPacket)) return false;
  const packet = error.rawPacket;
  if (!REQUEST_LINE_START.test(packet.subarray(0, 17).toString("latin1"))) return false;
  const lineEnd = packet.indexOf("\n");
  return lineEnd < 0 || lineEnd > MAX_URL_LENGTH;
}
