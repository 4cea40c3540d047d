// Writing JSON (and plain-text) answers and the REST error body to an HTTP/1.1 or HTTP/2 response.
import type { NodeServerResponse } from "./node-handler-types.js";
import type { ErrorBody } from "./error-body.js";

export const JSON_CONTENT_TYPE = "application/json";

export function writeJson(
  response: NodeServerResponse,
  status: number,
  value: unknown,
  headers: Readonly<Record<string, string>> = {},
): void {
  const body = Buffer.from(JSON.stringify(value));
  response.writeHead(status, {
    ...headers,
    "content-type": JSON_CONTENT_TYPE,
    "content-length": body.byteLength,
  });
  response.end(body);
}

export function writeText(response: NodeServerResponse, status: number, contentType: string, text: string): void {
  const body = Buffer.from(text);
  response.writeHead(status, { "content-type": contentType, "content-length": body.byteLength });
  response.end(body);
}

export function writeErrorBody(
  response: NodeServerResponse,
  body: ErrorBody,
  headers: Readonly<Record<string, string>> = {},
): void {
  writeJson(response, body.code, body, headers);
}
