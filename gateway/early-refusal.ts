// Requests refused before they reach a route or an RPC: every request while the
// gateway shuts down (503, and `Connection: close` on HTTP/1.1 so the client
// opens its next connection elsewhere), a URL longer than the gateway takes
// (414), and a request without a usable Host (or :authority), which the RPC
// adapter needs to build the request's URL (400). All answer the REST error body.
import type { NodeServerRequest } from "./node-handler-types.js";
import { HttpError } from "./error-body.js";

/** Longest request target (path and query) taken, in characters. */
export const MAX_URL_LENGTH = 8 * 1024;

export function earlyRefusal(request: NodeServerRequest, closing: boolean): HttpError | undefined {
  if (closing) {
    return new HttpError(
      503,
      "gateway is shutting down",
      "the gateway stopped taking requests; retry on a new connection",
      request.httpVersionMajor === 1 ? { connection: "close" } : {},
    );
  }
  const length = request.url?.length ?? 0;
  if (length > MAX_URL_LENGTH) {
    return new HttpError(414, "URL too long", `the request target must be at most ${MAX_URL_LENGTH} characters, got ${length}`);
  }
  const authority = "authority" in request ? request.authority : request.headers.host;
  if (!authority || !URL.canParse(`http://${authority}`)) {
    return new HttpError(400, "bad request", "the request names no valid host (Host header or :authority)");
  }
  return undefined;
}
