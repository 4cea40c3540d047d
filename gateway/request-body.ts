// Reads a request body up to a byte limit. Above the limit it stops collecting at
// once (413) and lets the rest of the body drain into nothing, so the connection
// stays usable and the answer reaches the client.
import type { NodeServerRequest } from "./node-handler-types.js";
import { HttpError } from "./error-body.js";

function tooLarge(maxBytes: number): HttpError {
  return new HttpError(413, "request body too large", `the body must be at most ${maxBytes} bytes`);
}

export function readRequestBody(request: NodeServerRequest, maxBytes: number): Promise<Buffer> {
  const declared = Number(request.headers["content-length"]);
  if (Number.isFinite(declared) && declared > maxBytes) {
    request.resume();
    return Promise.reject(tooLarge(maxBytes));
  }
  return new Promise<Buffer>((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    const stop = () => {
      request.off("data", onData);
      request.off("end", onEnd);
      request.off("error", onError);
      request.off("close", onClose);
    };
    const onData = (chunk: Buffer) => {
      size += chunk.byteLength;
      if (size > maxBytes) {
        stop();
        chunks.length = 0;
        request.resume();
        reject(tooLarge(maxBytes));
        return;
      }
      chunks.push(chunk);
    };
    const onEnd = () => {
      stop();
      resolve(Buffer.concat(chunks, size));
    };
    const onError = () => {
      stop();
      reject(new HttpError(400, "request body not readable", "the client aborted the request body"));
    };
    const onClose = () => {
      if (request.readableEnded) return;
      onError();
    };
    request.on("data", onData);
    request.once("end", onEnd);
    request.once("error", onError);
    request.once("close", onClose);
  });
}
