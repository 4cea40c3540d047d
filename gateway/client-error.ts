// An HTTP/1.1 request Node could not parse (bad request line, headers too large,
// headers too slow) still answers with the REST error body, on a raw socket.
import type { Duplex } from "node:stream";
import type { ErrorBody } from "./error-body.js";

const REFUSALS: Readonly<Record<string, ErrorBody>> = {
  HPE_HEADER_OVERFLOW: { error: "request headers too large", details: "the request headers exceed the server's limit", code: 431 },
  ERR_HTTP_REQUEST_TIMEOUT: { error: "request timeout", details: "the request was not received in time", code: 408 },
};

const BAD_REQUEST: ErrorBody = { error: "bad request", details: "the request is not valid HTTP/1.1", code: 400 };

const REASONS: Readonly<Record<number, string>> = { 400: "Bad Request", 408: "Request Timeout", 431: "Request Header Fields Too Large" };

export function answerClientError(error: Error & { code?: string }, socket: Duplex): void {
  if (error.code === "ECONNRESET" || !socket.writable) {
    socket.destroy();
    return;
  }
  const body = (error.code && REFUSALS[error.code]) || BAD_REQUEST;
  const json = JSON.stringify(body);
  socket.end(
    `HTTP/1.1 ${body.code} ${REASONS[body.code]}\r\n` +
      "content-type: application/json\r\n" +
      `content-length: ${Buffer.byteLength(json)}\r\n` +
      "connection: close\r\n\r\n" +
      json,
  );
}
