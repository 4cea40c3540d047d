// The REST side of the gateway: matches the route, parses the query, runs the
// route's client call with the caller's authorization, and writes the JSON (or
// NDJSON) answer or the error body. Every failure ends as `{error, details, code}`.
import type { CallOptions } from "@connectrpc/connect";
import type { NodeHandlerFn, NodeServerRequest, NodeServerResponse } from "./node-handler-types.js";
import { AUTHORIZATION_METADATA_KEY } from "../common/metadata-keys.js";
import type { Logger } from "../common/logger.js";
import { HttpError, errorBodyFrom } from "./error-body.js";
import { parseJsonBody, requireJsonContentType, requiredStringFields } from "./json-body.js";
import { NDJSON_CONTENT_TYPE, writeJobAnswer } from "./job-response.js";
import { writeErrorBody, writeJson } from "./json-response.js";
import { readUploadBody } from "./multipart-upload.js";
import { parseQuery } from "./query-params.js";
import { readRequestBody } from "./request-body.js";
import { RestRouter } from "./rest-router.js";
import type { RestApi, RestCall, RestRoute } from "./rest-routes.js";

export interface RestHandlerOptions {
  routes: readonly RestRoute[];
  api: RestApi;
  /** Larger request bodies are refused with 413. */
  maxBodyBytes: number;
  logger: Logger;
}

export function createRestHandler(options: RestHandlerOptions): NodeHandlerFn {
  const router = new RestRouter(options.routes);
  return (request, response) => {
    void handle(router, options, request, response);
  };
}

async function handle(
  router: RestRouter<RestRoute>,
  options: RestHandlerOptions,
  request: NodeServerRequest,
  response: NodeServerResponse,
): Promise<void> {
  const gone = new AbortController();
  response.once("close", () => gone.abort());
  try {
    const { pathname, search } = splitUrl(request.url ?? "/");
    const { route, params } = router.match(request.method ?? "GET", pathname);
    const call = restCall(request, options, params, parseQuery(route.query, new URLSearchParams(search)), gone.signal);
    const answer = await route.handle(call);
    if (answer.kind === "json") {
      writeJson(response, 200, answer.body);
    } else {
      const ndjson = accepts(request, NDJSON_CONTENT_TYPE);
      await writeJobAnswer(answer.events, response, ndjson, { certificates: answer.certificates }, gone.signal);
    }
  } catch (error) {
    if (gone.signal.aborted) return;
    const body = errorBodyFrom(error);
    if (!(error instanceof HttpError) && body.code === 500) {
      options.logger.error({ err: error, method: request.method }, "request failed");
    }
    if (response.headersSent) {
      response.end();
      return;
    }
    writeErrorBody(response, body, error instanceof HttpError ? error.headers : {});
  }
}

function restCall(
  request: NodeServerRequest,
  options: RestHandlerOptions,
  params: Readonly<Record<string, string>>,
  query: Readonly<Record<string, unknown>>,
  signal: AbortSignal,
): RestCall<string, Record<string, never>> {
  const authorization = request.headers[AUTHORIZATION_METADATA_KEY];
  const callOptions: CallOptions = {
    signal,
    headers: typeof authorization === "string" ? { [AUTHORIZATION_METADATA_KEY]: authorization } : {},
  };
  return {
    params,
    query,
    api: options.api,
    callOptions,
    readJson: async (fields) => {
      requireJsonContentType(request.headers);
      return requiredStringFields(parseJsonBody(await readRequestBody(request, options.maxBodyBytes)), fields);
    },
    readUpload: () => readUploadBody(request, options.maxBodyBytes),
  } as RestCall<string, Record<string, never>>;
}

function splitUrl(url: string): { pathname: string; search: string } {
  const question = url.indexOf("?");
  return question < 0
    ? { pathname: url, search: "" }
    : { pathname: url.slice(0, question), search: url.slice(question + 1) };
}

function accepts(request: NodeServerRequest, type: string): boolean {
  const accept = request.headers.accept;
  if (!accept) return false;
  return accept.split(",").some((part) => part.split(";", 1)[0]!.trim().toLowerCase() === type);
}
