// The REST API of DESIGN.md section 3, one row per route: method, path, what it
// is for and what it takes and answers (the OpenAPI document is built from these
// rows), and the client call it makes. The control plane decides everything else;
// its answers are shaped into JSON here and in job-response.ts, job-json.ts,
// agent-json.ts and file-info-json.ts.
import { CertificateSource } from "../gen/trustplane/v1/common_pb.js";
import { AgentState } from "../gen/trustplane/v1/fleet_pb.js";
import { JobState } from "../gen/trustplane/v1/job_pb.js";
import { AGENT_STATE_WORDS, agentJson } from "./agent-json.js";
import { HttpError } from "./error-body.js";
import { fileInfoJson } from "./file-info-json.js";
import { JOB_STATE_WORDS, jobJson } from "./job-json.js";
import type { JobEventResponse } from "./job-response.js";
import {
  boolean,
  hostLimit,
  oneOf,
  seconds,
  text,
  wholeNumber,
  type ParsedQuery,
} from "./query-params.js";
import { route, type RestAnswer, type RestRoute } from "./rest-route.js";

const json = (body: unknown): RestAnswer => ({ kind: "json", body });
const job = (events: AsyncIterable<JobEventResponse>, certificates = false): RestAnswer => ({
  kind: "job",
  events,
  certificates,
});

/** An answer the control plane must fill; its absence is the control plane's fault. */
function required<T>(value: T | undefined, what: string): T {
  if (value === undefined) throw new HttpError(500, "internal error", `the control plane answered without ${what}`);
  return value;
}

/** The control plane's largest per-host timeout (it refuses more), for the document. */
const MAX_TIMEOUT_SECONDS = 600;

const JOB_QUERY = {
  timeout: seconds(
    "Per-host answer deadline in seconds, 1 to 600; absent or 0 means 30. Above 600 the control plane answers 400.",
    MAX_TIMEOUT_SECONDS,
  ),
  dry_run: boolean("Every host answers what it would do and changes nothing."),
  max_concurrency: hostLimit(
    "At most N hosts (or N% of the matched hosts, rounded up, at least 1) work on the command at once; " +
      "the next starts as soon as one finishes. Absent: no limit.",
    1,
  ),
  max_errors: hostLimit(
    "Once more than N hosts (or N% of the matched hosts) have failed, no further host is started; those answer " +
      "`skipped`, `max errors reached`. 0 stops after the first failure. Absent: no limit.",
    0,
  ),
} as const;
const LIST_QUERY = {
  ...JOB_QUERY,
  source: oneOf(
    { custom: CertificateSource.CUSTOM, system: CertificateSource.SYSTEM, unmanaged: CertificateSource.UNMANAGED },
    "Only CAs of this source: `custom` (installed by trustplane), `system` (the distribution's), " +
      "`unmanaged` (dropped into the anchors directory by someone else). Absent: all.",
  ),
} as const;
const UPLOAD_QUERY = { force: boolean("Replace different content already stored under the name.") } as const;
const JOB_LIST_QUERY = {
  status: oneOf(JOB_STATE_WORDS, "Only jobs in this state."),
  target: text("Only jobs whose target is exactly this text."),
  limit: wholeNumber("Page size; absent or 0 means 20, above 100 means 100."),
  offset: wholeNumber("Jobs to skip, newest first."),
} as const;
const AGENT_LIST_QUERY = {
  state: oneOf(AGENT_STATE_WORDS, "Only agents in this state."),
  target: text("Only agents this target matches (`_all`, `env:prod`, a hostname)."),
} as const;
const NO_QUERY = {} as const;

/** ListJobsRequest's documented page size: 0 means 20, at most 100. */
const DEFAULT_JOB_PAGE = 20;
const MAX_JOB_PAGE = 100;

function jobOptions(query: ParsedQuery<typeof JOB_QUERY>) {
  return {
    timeoutSeconds: query.timeout ?? 0,
    dryRun: query.dry_run ?? false,
    ...(query.max_concurrency ? { maxConcurrency: query.max_concurrency } : {}),
    ...(query.max_errors ? { maxErrors: query.max_errors } : {}),
  };
}

const TARGET_DOC =
  "Target: a hostname, `_any` (one online agent), `_all` (every known agent), or label selectors " +
  "`key:value[,key:value...]` (percent-encoding optional).";
const CA_NAME_DOC = "CA name, `^[A-Za-z0-9_-]{1,64}$`.";
const TARGET_ERRORS = "bad target or a target matching no known agent";
const JOB_ANSWER = {
  json: "JobAnswer",
  ndjson: "JobStreamLine",
  description:
    "One result per matched host. A failure on a node is a `failed` result, never an HTTP error. " +
    "With `Accept: application/x-ndjson`: one line per host as it finishes, between a first line and a summary line.",
} as const;

export const REST_ROUTES: readonly RestRoute[] = [
  route({
    method: "POST",
    path: "/node/{hostname}/certificate/ca",
    operationId: "installCA",
    tag: "certificates",
    summary: "Install a CA on every node the target matches",
    description: "Installs the PEM of the stored object as CA `name` in each matched node's trust store.",
    permission: "certificate:write",
    params: { hostname: TARGET_DOC },
    query: JOB_QUERY,
    body: {
      kind: "json",
      fields: { name: CA_NAME_DOC, object: "Name of the stored PEM object (POST /file)." },
    },
    answer: JOB_ANSWER,
    errors: {
      400: `${TARGET_ERRORS}; bad name; unknown object; object not exactly one valid, unexpired CA certificate`,
    },
    async handle({ params, query, api, callOptions, readBody }) {
      const body = await readBody();
      const request = { target: params.hostname, name: body.name, object: body.object, options: jobOptions(query) };
      return job(api.certificates.installCA(request, callOptions));
    },
  }),
  route({
    method: "GET",
    path: "/node/{hostname}/certificate/ca",
    operationId: "listCA",
    tag: "certificates",
    summary: "List the CAs in the trust store of every node the target matches",
    permission: "certificate:read",
    params: { hostname: TARGET_DOC },
    query: LIST_QUERY,
    answer: { ...JOB_ANSWER, description: `Each result carries the host's \`certificates\`, ours first. ${JOB_ANSWER.description}` },
    errors: { 400: TARGET_ERRORS },
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
    operationId: "updateCA",
    tag: "certificates",
    summary: "Replace an installed CA on every node the target matches",
    description: "A host without CA `name` answers `failed`; nothing is installed there.",
    permission: "certificate:write",
    params: { hostname: TARGET_DOC, name: CA_NAME_DOC },
    query: JOB_QUERY,
    body: { kind: "json", fields: { object: "Name of the stored PEM object (POST /file)." } },
    answer: JOB_ANSWER,
    errors: {
      400: `${TARGET_ERRORS}; bad name; unknown object; object not exactly one valid, unexpired CA certificate`,
    },
    async handle({ params, query, api, callOptions, readBody }) {
      const body = await readBody();
      const request = { target: params.hostname, name: params.name, object: body.object, options: jobOptions(query) };
      return job(api.certificates.updateCA(request, callOptions));
    },
  }),
  route({
    method: "DELETE",
    path: "/node/{hostname}/certificate/ca/{name}",
    operationId: "deleteCA",
    tag: "certificates",
    summary: "Remove a CA from every node the target matches",
    description: "Afterwards the node no longer trusts it. A host without it answers `ok`, `changed: false`.",
    permission: "certificate:write",
    params: { hostname: TARGET_DOC, name: CA_NAME_DOC },
    query: JOB_QUERY,
    answer: JOB_ANSWER,
    errors: { 400: `${TARGET_ERRORS}; bad name` },
    handle({ params, query, api, callOptions }) {
      const request = { target: params.hostname, name: params.name, options: jobOptions(query) };
      return job(api.certificates.deleteCA(request, callOptions));
    },
  }),
  route({
    method: "POST",
    path: "/file",
    operationId: "uploadFile",
    tag: "files",
    summary: "Store a PEM object",
    description: "Answers 200 whether or not the content changed (`changed`).",
    permission: "file:write",
    params: {},
    query: UPLOAD_QUERY,
    body: { kind: "upload" },
    answer: { json: "UploadAnswer", description: "The stored object." },
    errors: { 400: "bad object name", 409: "different content already stored under the name (use `?force=true`)" },
    async handle({ query, api, callOptions, readBody }) {
      const body = await readBody();
      const answer = await api.files.upload({ ...body, force: query.force ?? false }, callOptions);
      const { name, sha256, size } = fileInfoJson(answer.file);
      return json({ name, sha256, size, changed: answer.changed });
    },
  }),
  route({
    method: "GET",
    path: "/file",
    operationId: "listFiles",
    tag: "files",
    summary: "List the stored objects",
    permission: "file:read",
    params: {},
    query: NO_QUERY,
    answer: { json: "FileList", description: "Every stored object." },
    errors: {},
    async handle({ api, callOptions }) {
      const answer = await api.files.list({}, callOptions);
      return json({ files: answer.files.map(fileInfoJson) });
    },
  }),
  route({
    method: "GET",
    path: "/file/{name}",
    operationId: "getFile",
    tag: "files",
    summary: "Read a stored object",
    permission: "file:read",
    params: { name: "Object name." },
    query: NO_QUERY,
    answer: { json: "FileContent", description: "The object with its PEM text." },
    errors: { 400: "bad object name", 404: "no such object" },
    async handle({ params, api, callOptions }) {
      const answer = await api.files.get({ name: params.name }, callOptions);
      return json({ ...fileInfoJson(answer.file), content: new TextDecoder().decode(answer.content) });
    },
  }),
  route({
    method: "DELETE",
    path: "/file/{name}",
    operationId: "deleteFile",
    tag: "files",
    summary: "Delete a stored object",
    permission: "file:write",
    params: { name: "Object name." },
    query: NO_QUERY,
    answer: { json: "FileInfo", description: "The object that was deleted." },
    errors: { 400: "bad object name", 404: "no such object" },
    async handle({ params, api, callOptions }) {
      const answer = await api.files.delete({ name: params.name }, callOptions);
      return json(fileInfoJson(answer.file));
    },
  }),
  route({
    method: "GET",
    path: "/job/{id}",
    operationId: "getJob",
    tag: "jobs",
    summary: "Read a job with its per-host results",
    description:
      "With `Accept: application/x-ndjson`, follows the job instead: its first line, every result so far, each new " +
      "result as it arrives, then the summary line when the job ends (at once for a finished job).",
    permission: "job:read",
    params: { id: "Job id, as answered by a certificate route." },
    query: NO_QUERY,
    answer: { json: "Job", ndjson: "JobStreamLine", description: "The job." },
    errors: { 400: "malformed job id", 404: "no such job" },
    async handle({ params, api, callOptions, ndjson }) {
      if (ndjson) return job(api.jobs.watchJob({ id: params.id }, callOptions));
      const answer = await api.jobs.getJob({ id: params.id }, callOptions);
      return json(jobJson(required(answer.job, "a job")));
    },
  }),
  route({
    method: "GET",
    path: "/job",
    operationId: "listJobs",
    tag: "jobs",
    summary: "List jobs, newest first",
    permission: "job:read",
    params: {},
    query: JOB_LIST_QUERY,
    answer: { json: "JobList", description: "One page of jobs and how many match the filter." },
    errors: {},
    async handle({ query, api, callOptions }) {
      const limit = query.limit ?? 0;
      const offset = query.offset ?? 0;
      const request = { state: query.status ?? JobState.UNSPECIFIED, target: query.target ?? "", limit, offset };
      const answer = await api.jobs.listJobs(request, callOptions);
      return json({
        jobs: answer.jobs.map(jobJson),
        total: answer.total,
        limit: limit === 0 ? DEFAULT_JOB_PAGE : Math.min(limit, MAX_JOB_PAGE),
        offset,
      });
    },
  }),
  route({
    method: "GET",
    path: "/agent",
    operationId: "listAgents",
    tag: "agents",
    summary: "List the agents the control plane knows",
    description: "Connected agents and agents seen before, with their state, labels and OS facts.",
    permission: "agent:read",
    params: {},
    query: AGENT_LIST_QUERY,
    answer: { json: "AgentList", description: "The agents." },
    errors: { 400: "bad target" },
    async handle({ query, api, callOptions }) {
      const request = { state: query.state ?? AgentState.UNSPECIFIED, target: query.target ?? "" };
      const answer = await api.fleet.listAgents(request, callOptions);
      return json({ agents: answer.agents.map(agentJson) });
    },
  }),
  route({
    method: "GET",
    path: "/agent/{hostname}",
    operationId: "getAgent",
    tag: "agents",
    summary: "Read one agent",
    permission: "agent:read",
    params: { hostname: "The agent's hostname." },
    query: NO_QUERY,
    answer: { json: "Agent", description: "The agent." },
    errors: { 400: "bad hostname", 404: "no such agent" },
    async handle({ params, api, callOptions }) {
      const answer = await api.fleet.getAgent({ hostname: params.hostname }, callOptions);
      return json(agentJson(required(answer.agent, "an agent")));
    },
  }),
  route({
    method: "DELETE",
    path: "/agent/{hostname}",
    operationId: "forgetAgent",
    tag: "agents",
    summary: "Forget an offline agent",
    description: "It is no longer listed nor matched by targets until it connects again.",
    permission: "agent:write",
    params: { hostname: "The agent's hostname." },
    query: NO_QUERY,
    answer: { json: "Agent", description: "The agent as it was before it was forgotten." },
    errors: { 400: "bad hostname; the agent is online (FAILED_PRECONDITION)", 404: "no such agent" },
    async handle({ params, api, callOptions }) {
      const answer = await api.fleet.forgetAgent({ hostname: params.hostname }, callOptions);
      return json(agentJson(required(answer.agent, "an agent")));
    },
  }),
  route({
    method: "GET",
    path: "/health",
    operationId: "health",
    tag: "operations",
    summary: "Liveness: the gateway answers",
    permission: null,
    params: {},
    query: NO_QUERY,
    answer: { json: "Health", description: "Always ok." },
    errors: {},
    handle: () => json({ status: "ok" }),
  }),
  route({
    method: "GET",
    path: "/health/ready",
    operationId: "ready",
    tag: "operations",
    summary: "Readiness: the control plane is reachable",
    permission: null,
    params: {},
    query: NO_QUERY,
    answer: { json: "Ready", description: "An HTTP/2 connection to the control plane opened within 2 s." },
    errors: { 503: "control plane unavailable" },
    async handle({ api }) {
      await api.checkReady();
      return json({ status: "ready" });
    },
  }),
  route({
    method: "GET",
    path: "/openapi.json",
    operationId: "openApiDocument",
    tag: "operations",
    summary: "This OpenAPI document",
    permission: null,
    params: {},
    query: NO_QUERY,
    answer: { json: "OpenApiDocument", description: "The OpenAPI 3.1 document of every REST route." },
    errors: {},
    handle: ({ api }) => json(api.openApiDocument()),
  }),
  route({
    method: "GET",
    path: "/metrics",
    operationId: "metrics",
    tag: "operations",
    summary: "The gateway's Prometheus metrics",
    description:
      "Prometheus text format. Open, like /health: bind the gateway (or filter this path) so that only your " +
      "monitoring reaches it.",
    permission: null,
    params: {},
    query: NO_QUERY,
    answer: { text: "text/plain", description: "Every metric of the gateway (exposition format 0.0.4)." },
    errors: {},
    async handle({ api }) {
      return { kind: "text", contentType: api.metrics.contentType, body: await api.metrics.metrics() };
    },
  }),
];
