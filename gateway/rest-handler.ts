// The REST side of the gateway: matches the route, parses the query, runs the
// route's client call with the caller's authorization, and writes the JSON (or
// NDJSON) answer or the error body. Every failure ends as `{error, details, code}`.
import type { CallOptions } from "@connectrpc/connect";
import type { NodeHandlerFn, NodeServerRequest, NodeServerResponse } from "./node-handler-types.js";
import { AUTHORIZATION_METADATA_KEY } from "../common/metadata-keys.js";
import type { Logger } from "../common/logger.js";
import { FORWARDED_FOR_METADATA_KEY, callerAddress } from "./caller-address.js";
import { HttpError, errorBodyFrom } from "./error-body.js";
import { parseJsonBody, requireJsonContentType, requiredStringFields } from "./json-body.js";
import { NDJSON_CONTENT_TYPE, writeJobAnswer, type NdjsonStreamObserver } from "./job-response.js";
import { writeErrorBody, writeJson, writeText } from "./json-response.js";
import { readUploadBody } from "./multipart-upload.js";
import { parseQuery } from "./query-params.js";
import { readRequestBody } from "./request-body.js";
import type { RestApi, RestBody, RestCall, RestRoute } from "./rest-route.js";
import { RestRouter } from "./rest-router.js";

/** What the REST side tells the gateway's metrics. */
export interface RestObserver extends NdjsonStreamObserver {
  /** The route a request matched, by its template such as "/job/{id}". */
  routeMatched(request: NodeServerRequest, template: string): void;
}

export interface RestHandlerOptions {
  routes: readonly RestRoute[];
  api: RestApi;
  /** Larger request bodies are refused with 413. */
  maxBodyBytes: number;
  logger: Logger;
  observer?: RestObserver;
}

const PRINTABLE_ASCII = /^[\x20-\x7e]*$/;

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
    options.observer?.routeMatched(request, route.path);
    const ndjson = accepts(request, NDJSON_CONTENT_TYPE);
    const query = parseQuery(route.query, new URLSearchParams(search));
    const answer = await route.handle(restCall(request, options, route, params, query, ndjson, gone.signal));
    if (answer.kind === "json") {
      writeJson(response, 200, answer.body);
    } else if (answer.kind === "text") {
      writeText(response, 200, answer.contentType, answer.body);
    } else {
      const answerOptions = { certificates: answer.certificates };
      await writeJobAnswer(answer.events, response, ndjson, answerOptions, gone.signal, options.observer);
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
  route: RestRoute,
  params: Readonly<Record<string, string>>,
  query: Readonly<Record<string, unknown>>,
  ndjson: boolean,
  signal: AbortSignal,
): RestCall<string, Record<string, never>, RestBody | undefined> {
  const headers: Record<string, string> = {};
  const authorization = request.headers[AUTHORIZATION_METADATA_KEY];
  if (typeof authorization === "string") {
    // gRPC metadata is ASCII: another value would be dropped on the way and look like no key at all.
    if (!PRINTABLE_ASCII.test(authorization)) {
      throw new HttpError(400, "invalid Authorization header", "the header must be printable ASCII, as `Bearer <API key>` is");
    }
    headers[AUTHORIZATION_METADATA_KEY] = authorization;
  }
  const address = callerAddress(request);
  if (address !== undefined) headers[FORWARDED_FOR_METADATA_KEY] = address;
  const callOptions: CallOptions = { signal, headers };
  return {
    params,
    query,
    api: options.api,
    callOptions,
    ndjson,
    readBody: () => readBody(request, route.body, options.maxBodyBytes),
  } as RestCall<string, Record<string, never>, RestBody | undefined>;
}

/** Reads the body the route declares: JSON with exactly its fields, or an upload. */
async function readBody(request: NodeServerRequest, body: RestBody | undefined, maxBodyBytes: number): Promise<never> {
  if (body === undefined) throw new Error("the route declares no body");
  if (body.kind === "upload") return (await readUploadBody(request, maxBodyBytes)) as never;
  requireJsonContentType(request.headers);
  const fields = Object.keys(body.fields);
  return requiredStringFields(parseJsonBody(await readRequestBody(request, maxBodyBytes)), fields) as never;
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
