// What one row of the REST table declares: method and path, what it is for, the
// permission the control plane checks, its path and query parameters, its body,
// its answer and the errors it can end with, next to the client call it makes.
// The router serves the rows and the OpenAPI document is built from them, so a
// route cannot exist without its documentation.
import type { CallOptions, Client } from "@connectrpc/connect";
import type { CertificateService } from "../gen/trustplane/v1/certificate_pb.js";
import type { FileService } from "../gen/trustplane/v1/file_pb.js";
import type { FleetService } from "../gen/trustplane/v1/fleet_pb.js";
import type { JobService } from "../gen/trustplane/v1/job_pb.js";
import type { JobEventResponse } from "./job-response.js";
import type { UploadBody } from "./multipart-upload.js";
import type { ParsedQuery, QuerySchema } from "./query-params.js";
import type { SchemaName } from "./rest-schemas.js";

/** The Prometheus text of the gateway's registry (a prom-client Registry is one). */
export interface MetricsSource {
  readonly contentType: string;
  metrics(): Promise<string>;
}

/**
 * What the routes call: the client API on the gateway's one control-plane
 * transport, plus the gateway's own readiness, metrics and API document.
 */
export interface RestApi {
  readonly certificates: Client<typeof CertificateService>;
  readonly files: Client<typeof FileService>;
  readonly jobs: Client<typeof JobService>;
  readonly fleet: Client<typeof FleetService>;
  /** Throws (a 503) when the control plane cannot be reached. */
  checkReady(): Promise<void>;
  readonly metrics: MetricsSource;
  openApiDocument(): unknown;
}

/** Permissions of DESIGN.md section 7; the control plane enforces them. */
export type Permission =
  | "certificate:read"
  | "certificate:write"
  | "file:read"
  | "file:write"
  | "job:read"
  | "agent:read"
  | "agent:write";

/** `{hostname: string, name: string}` for "/node/{hostname}/certificate/ca/{name}". */
export type PathParams<Path extends string> = Path extends `${string}{${infer Param}}${infer Rest}`
  ? { readonly [Name in Param]: string } & PathParams<Rest>
  : unknown;

/** A description for every path parameter of the path. */
export type PathParamDocs<Path extends string> = { readonly [Name in keyof PathParams<Path>]: string };

/** A request body: a JSON object of required non-empty strings (field → description), or a file upload. */
export type RestBody =
  | { readonly kind: "json"; readonly fields: Readonly<Record<string, string>> }
  | { readonly kind: "upload" };

export type BodyValue<Body extends RestBody | undefined> = Body extends { kind: "json"; fields: infer Fields }
  ? Record<keyof Fields & string, string>
  : Body extends { kind: "upload" }
    ? UploadBody
    : never;

/** HTTP error statuses a route documents (the error body is always ErrorBody). */
export type ErrorStatus = 400 | 401 | 403 | 404 | 409 | 413 | 415 | 429 | 500 | 501 | 503 | 504;

export interface RestAnswerDoc {
  /** The 200 body: a schema of rest-schemas.ts, or plain text of this content type. */
  readonly json?: SchemaName;
  readonly text?: string;
  /** With `Accept: application/x-ndjson`: the schema of one line. */
  readonly ndjson?: SchemaName;
  readonly description: string;
}

export interface RestCall<Path extends string, Query extends QuerySchema, Body extends RestBody | undefined> {
  readonly params: PathParams<Path>;
  readonly query: ParsedQuery<Query>;
  readonly api: RestApi;
  /** The caller's authorization and a signal that fires when the caller goes away. */
  readonly callOptions: CallOptions;
  /** The caller asked for `application/x-ndjson`. */
  readonly ndjson: boolean;
  /** Reads and checks the declared body. */
  readBody(): Promise<BodyValue<Body>>;
}

export type RestAnswer =
  | { readonly kind: "json"; readonly body: unknown }
  | { readonly kind: "text"; readonly contentType: string; readonly body: string }
  | { readonly kind: "job"; readonly events: AsyncIterable<JobEventResponse>; readonly certificates: boolean };

export interface RestRoute<
  Path extends string = string,
  Query extends QuerySchema = QuerySchema,
  Body extends RestBody | undefined = RestBody | undefined,
> {
  readonly method: "GET" | "POST" | "PUT" | "DELETE";
  readonly path: Path;
  /** Unique name of the operation in the OpenAPI document. */
  readonly operationId: string;
  /** OpenAPI tag grouping the route. */
  readonly tag: string;
  readonly summary: string;
  readonly description?: string;
  /** The permission the control plane checks; null for an open route (no API key). */
  readonly permission: Permission | null;
  readonly params: PathParamDocs<Path>;
  readonly query: Query;
  readonly body?: Body;
  readonly answer: RestAnswerDoc;
  /**
   * Errors particular to the route, with when they happen. The document adds the
   * ones every route of its kind has: 401 and 403 with a permission, 503 for a
   * route that calls the control plane, 400 for query parameters, 400, 413 and
   * 415 for a body, 500 always.
   */
  readonly errors: Readonly<Partial<Record<ErrorStatus, string>>>;
  handle(call: RestCall<Path, Query, Body>): Promise<RestAnswer> | RestAnswer;
}

/** Checks a row against its own path, query and body, then erases those types for the table. */
export function route<const Path extends string, const Query extends QuerySchema, const Body extends RestBody | undefined = undefined>(
  definition: RestRoute<Path, Query, Body>,
): RestRoute {
  return definition as unknown as RestRoute;
}
