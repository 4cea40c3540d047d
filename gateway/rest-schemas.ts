// JSON Schemas (2020-12, as OpenAPI 3.1 takes them) of every body the REST
// routes answer with. Routes name them in their `answer`; the OpenAPI document
// puts them under `components.schemas`. The shapes are the ones written by
// job-response.ts, job-json.ts, agent-json.ts and file-info-json.ts.

export type JsonSchema = Readonly<Record<string, unknown>>;

const string = (description?: string): JsonSchema => (description ? { type: "string", description } : { type: "string" });
const count = (description: string): JsonSchema => ({ type: "integer", minimum: 0, description });
/** A reference to another schema of this table (checked by the OpenAPI validator test). */
const ref = (name: string): JsonSchema => ({ $ref: `#/components/schemas/${name}` });
const dateTime = (description: string): JsonSchema => ({ type: "string", format: "date-time", description });
const dryRunMark: JsonSchema = { const: true, description: "Present (true) only for a dry run: nothing was changed." };

function object(properties: Readonly<Record<string, JsonSchema>>, optional: readonly string[] = [], description?: string): JsonSchema {
  return {
    type: "object",
    ...(description ? { description } : {}),
    required: Object.keys(properties).filter((name) => !optional.includes(name)),
    properties,
    additionalProperties: false,
  };
}

export const REST_SCHEMAS = {
  ErrorBody: object(
    {
      error: string("What went wrong."),
      details: string("The longer explanation; never empty."),
      code: { type: "integer", description: "The HTTP status of the response." },
    },
    [],
    "Every error, from the gateway or the control plane.",
  ),
  Certificate: object(
    {
      name: string("custom: the trustplane name; system: path below the system directory; unmanaged: file name."),
      source: { type: "string", enum: ["custom", "system", "unmanaged", "unknown"] },
      object: string("custom only: the object it was installed from."),
      sha256: string("custom only: lower-case hex SHA-256 of the installed PEM."),
      subject: string("RFC 2253-style subject."),
      fingerprint_sha256: string("SHA-256 fingerprint of the DER certificate, colon-separated upper-case hex."),
      not_after: dateTime("Expiry time."),
    },
    ["object", "sha256"],
    "One CA in a node's trust store.",
  ),
  HostResult: object(
    {
      hostname: string(),
      status: { type: "string", enum: ["ok", "failed", "skipped"] },
      name: string("The CA name the command was about (empty for a list)."),
      changed: { type: "boolean", description: "Whether the host's trust store was (or, in a dry run, would be) modified." },
      error: string("Why the host failed or was skipped."),
      certificates: { type: "array", items: ref("Certificate"), description: "Listing only: the host's CAs, ours first." },
    },
    ["error", "certificates"],
    "One host's answer.",
  ),
  ResultCounts: object({ ok: count("Hosts that answered ok."), failed: count("Hosts that failed."), skipped: count("Hosts skipped.") }),
  JobAnswer: object(
    {
      job_id: { type: "string", format: "uuid" },
      results: { type: "array", items: ref("HostResult"), description: "One per matched host, in the order they answered." },
      dry_run: dryRunMark,
    },
    ["dry_run"],
    "The answer of a certificate route once every matched host answered.",
  ),
  JobStartedLine: object(
    {
      job_id: { type: "string", format: "uuid" },
      hosts: { type: "array", items: string(), description: "Every host the target matched." },
      dry_run: dryRunMark,
    },
    ["dry_run"],
    "First NDJSON line.",
  ),
  JobSummaryLine: object(
    {
      job_id: { type: "string", format: "uuid" },
      summary: ref("ResultCounts"),
      duration_ms: count("How long the job took."),
      dry_run: dryRunMark,
    },
    ["dry_run"],
    "Last NDJSON line.",
  ),
  JobStreamLine: {
    description:
      "One line of an application/x-ndjson answer: the started line, then one HostResult per host as it answers, " +
      "then the summary line. A failure after the first line ends the stream with an ErrorBody line.",
    oneOf: [ref("JobStartedLine"), ref("HostResult"), ref("JobSummaryLine"), ref("ErrorBody")],
  },
  HostLimit: {
    description: "A number of hosts, or a percentage of the job's matched hosts.",
    oneOf: [
      object({ count: count("Hosts.") }),
      object({ percent: { type: "integer", minimum: 0, maximum: 100, description: "Percent of the matched hosts." } }),
    ],
  },
  Job: object(
    {
      id: { type: "string", format: "uuid" },
      operation: { type: "string", enum: ["certificate.install", "certificate.update", "certificate.delete", "certificate.list"] },
      target: string("The target as asked."),
      name: string("CA name (empty for a list)."),
      object: string("Object name (install and update)."),
      dry_run: { type: "boolean" },
      options: object(
        {
          timeout_seconds: count("Per-host answer deadline asked (0: the default)."),
          max_concurrency: ref("HostLimit"),
          max_errors: ref("HostLimit"),
        },
        ["max_concurrency", "max_errors"],
      ),
      requested_by: string("Id of the API key that asked."),
      created_at: dateTime("When the job started."),
      finished_at: dateTime("When the last host answered; absent while running."),
      state: { type: "string", enum: ["running", "completed", "partial_failure", "failed", "interrupted", "unknown"] },
      hostnames: { type: "array", items: string(), description: "Every host the target matched." },
      results: { type: "array", items: ref("HostResult"), description: "One per host that answered, in arrival order." },
      unanswered_hostnames: { type: "array", items: string(), description: "Matched hosts without a result." },
      summary: ref("ResultCounts"),
    },
    ["object", "finished_at"],
    "The record of one job.",
  ),
  JobList: object(
    {
      jobs: { type: "array", items: ref("Job"), description: "Newest first." },
      total: count("Jobs matching the filter, ignoring limit and offset."),
      limit: count("The page size used."),
      offset: count("Jobs skipped before the first one shown."),
    },
  ),
  OsFacts: object({
    id: string("os-release ID."),
    id_like: { type: "array", items: string(), description: "os-release ID_LIKE." },
    version_id: string(),
    pretty_name: string(),
    kernel: string(),
    arch: string(),
    trust_store: string("Trust-store family the agent chose; empty if unsupported."),
  }),
  Agent: object(
    {
      hostname: string(),
      labels: { type: "object", additionalProperties: { type: "string" } },
      state: { type: "string", enum: ["online", "offline", "unknown"] },
      stale: { type: "boolean", description: "Offline for so long that `_all` and selectors no longer match it." },
      os: ref("OsFacts"),
      agent_version: string(),
      connected_at: dateTime("When the current stream connected; absent while offline."),
      last_seen_at: dateTime("Last message from the agent."),
      commands_in_flight: count("Commands sent and not answered yet."),
      replica: string("The control-plane replica holding the agent's stream; empty while offline or with a single control plane."),
    },
    ["connected_at", "last_seen_at"],
    "An agent the control plane knows.",
  ),
  AgentList: object({ agents: { type: "array", items: ref("Agent") } }),
  FileInfo: object(
    {
      name: string(),
      sha256: string("Lower-case hex SHA-256 of the content."),
      size: count("Bytes."),
      updated_at: dateTime("When the content was stored."),
    },
    ["updated_at"],
  ),
  FileList: object({ files: { type: "array", items: ref("FileInfo") } }),
  FileContent: object(
    {
      name: string(),
      sha256: string(),
      size: count("Bytes."),
      updated_at: dateTime("When the content was stored."),
      content: string("The PEM text."),
    },
    ["updated_at"],
  ),
  UploadAnswer: object({
    name: string(),
    sha256: string(),
    size: count("Bytes."),
    changed: { type: "boolean", description: "False when the same content was already stored under the name." },
  }),
  Health: object({ status: { const: "ok" } }),
  Ready: object({ status: { const: "ready" } }),
  OpenApiDocument: { type: "object", description: "This document." },
} as const satisfies Readonly<Record<string, JsonSchema>>;

export type SchemaName = keyof typeof REST_SCHEMAS;
