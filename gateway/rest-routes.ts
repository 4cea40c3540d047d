// The REST API of DESIGN.md section 3, one row per route: method, path, the query
// parameters it takes, and the client call it makes. The control plane decides
// everything else; its answers are shaped into JSON here and in job-response.ts.
import type { CallOptions, Client } from "@connectrpc/connect";
import type { CertificateService } from "../gen/trustplane/v1/certificate_pb.js";
import { CertificateSource } from "../gen/trustplane/v1/common_pb.js";
import type { FileService } from "../gen/trustplane/v1/file_pb.js";
import { fileInfoJson } from "./file-info-json.js";
import type { JobEventResponse } from "./job-response.js";
import type { UploadBody } from "./multipart-upload.js";
import { boolean, oneOf, seconds, type ParsedQuery, type QuerySchema } from "./query-params.js";

/** The client API the routes call, all on the gateway's one control-plane transport. */
export interface RestApi {
  readonly certificates: Client<typeof CertificateService>;
  readonly files: Client<typeof FileService>;
  /** Throws (a 503) when the control plane cannot be reached. */
  checkReady(): Promise<void>;
}

/** `{hostname: string, name: string}` for "/node/{hostname}/certificate/ca/{name}". */
export type PathParams<Path extends string> = Path extends `${string}{${infer Param}}${infer Rest}`
  ? { readonly [Name in Param]: string } & PathParams<Rest>
  : unknown;

export interface RestCall<Path extends string, Query extends QuerySchema> {
  readonly params: PathParams<Path>;
  readonly query: ParsedQuery<Query>;
  readonly api: RestApi;
  /** The caller's authorization and a signal that fires when the caller goes away. */
  readonly callOptions: CallOptions;
  /** Reads a JSON object body whose fields are exactly these required strings. */
  readJson<const Field extends string>(fields: readonly Field[]): Promise<Record<Field, string>>;
  /** Reads the multipart or JSON body of a file upload. */
  readUpload(): Promise<UploadBody>;
}

export type RestAnswer =
  | { readonly kind: "json"; readonly body: unknown }
  | { readonly kind: "job"; readonly events: AsyncIterable<JobEventResponse>; readonly certificates: boolean };

export interface RestRoute<Path extends string = string, Query extends QuerySchema = QuerySchema> {
  readonly method: "GET" | "POST" | "PUT" | "DELETE";
  readonly path: Path;
  readonly query: Query;
  handle(call: RestCall<Path, Query>): Promise<RestAnswer> | RestAnswer;
}

function route<const Path extends string, const Query extends QuerySchema>(
  definition: RestRoute<Path, Query>,
): RestRoute {
  return definition as unknown as RestRoute;
}

const json = (body: unknown): RestAnswer => ({ kind: "json", body });
const job = (events: AsyncIterable<JobEventResponse>, certificates = false): RestAnswer => ({
  kind: "job",
  events,
  certificates,
});

const JOB_QUERY = { timeout: seconds, dry_run: boolean } as const;
const LIST_QUERY = {
  ...JOB_QUERY,
  source: oneOf({
    custom: CertificateSource.CUSTOM,
    system: CertificateSource.SYSTEM,
    unmanaged: CertificateSource.UNMANAGED,
  }),
} as const;
const UPLOAD_QUERY = { force: boolean } as const;
const NO_QUERY = {} as const;

function jobOptions(query: ParsedQuery<typeof JOB_QUERY>) {
  return { timeoutSeconds: query.timeout ?? 0, dryRun: query.dry_run ?? false };
}

export const REST_ROUTES: readonly RestRoute[] = [
  route({
    method: "POST",
    path: "/node/{hostname}/certificate/ca",
    query: JOB_QUERY,
    async handle({ params, query, api, callOptions, readJson }) {
      const body = await readJson(["name", "object"]);
      const request = { target: params.hostname, name: body.name, object: body.object, options: jobOptions(query) };
      return job(api.certificates.installCA(request, callOptions));
    },
  }),
  route({
    method: "GET",
    path: "/node/{hostname}/certificate/ca",
    query: LIST_QUERY,
    handle({ params, query, api, callOptions }) {
      const request = {
        target: params.hostname,
        source: query.source ?? CertificateSource.UNSPECIFIED,
        options: jobOptions(query),
      };
      return job(api.certificates.listCA(request, callOptions), true);
    },
  }),
  route({
    method: "PUT",
    path: "/node/{hostname}/certificate/ca/{name}",
    query: JOB_QUERY,
    async handle({ params, query, api, callOptions, readJson }) {
      const body = await readJson(["object"]);
      const request = { target: params.hostname, name: params.name, object: body.object, options: jobOptions(query) };
      return job(api.certificates.updateCA(request, callOptions));
    },
  }),
  route({
    method: "DELETE",
    path: "/node/{hostname}/certificate/ca/{name}",
    query: JOB_QUERY,
    handle({ params, query, api, callOptions }) {
      const request = { target: params.hostname, name: params.name, options: jobOptions(query) };
      return job(api.certificates.deleteCA(request, callOptions));
    },
  }),
  route({
    method: "POST",
    path: "/file",
    query: UPLOAD_QUERY,
    async handle({ query, api, callOptions, readUpload }) {
      const body = await readUpload();
      const answer = await api.files.upload({ ...body, force: query.force ?? false }, callOptions);
      const { name, sha256, size } = fileInfoJson(answer.file);
      return json({ name, sha256, size, changed: answer.changed });
    },
  }),
  route({
    method: "GET",
    path: "/file",
    query: NO_QUERY,
    async handle({ api, callOptions }) {
      const answer = await api.files.list({}, callOptions);
      return json({ files: answer.files.map(fileInfoJson) });
    },
  }),
  route({
    method: "GET",
    path: "/file/{name}",
    query: NO_QUERY,
    async handle({ params, api, callOptions }) {
      const answer = await api.files.get({ name: params.name }, callOptions);
      return json({ ...fileInfoJson(answer.file), content: new TextDecoder().decode(answer.content) });
    },
  }),
  route({
    method: "DELETE",
    path: "/file/{name}",
    query: NO_QUERY,
    async handle({ params, api, callOptions }) {
      const answer = await api.files.delete({ name: params.name }, callOptions);
      return json(fileInfoJson(answer.file));
    },
  }),
  route({
    method: "GET",
    path: "/health",
    query: NO_QUERY,
    handle: () => json({ status: "ok" }),
  }),
  route({
    method: "GET",
    path: "/health/ready",
    query: NO_QUERY,
    async handle({ api }) {
      await api.checkReady();
      return json({ status: "ready" });
    },
  }),
];
