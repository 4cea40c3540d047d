// REST routes end to end over real HTTP, against a fake control plane: the exact
// JSON answers, the exact requests and authorization that reach the control plane.
import { create, type MessageInitShape } from "@bufbuild/protobuf";
import { timestampFromDate } from "@bufbuild/protobuf/wkt";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import {
  DeleteCARequestSchema,
  InstallCARequestSchema,
  ListCARequestSchema,
  UpdateCARequestSchema,
} from "../gen/trustplane/v1/certificate_pb.js";
import { CertificateSource, ResultStatus, type JobEventSchema } from "../gen/trustplane/v1/common_pb.js";
import { DeleteRequestSchema, GetRequestSchema, UploadRequestSchema } from "../gen/trustplane/v1/file_pb.js";
import {
  AgentState,
  ForgetAgentRequestSchema,
  GetAgentRequestSchema,
  ListAgentsRequestSchema,
  type AgentInfoSchema,
} from "../gen/trustplane/v1/fleet_pb.js";
import { GetJobRequestSchema, JobState, ListJobsRequestSchema, type JobSchema } from "../gen/trustplane/v1/job_pb.js";
import { startGatewayFixture, type GatewayFixture } from "./testing/gateway-fixture.js";

const JOB_ID = "550e8400-e29b-41d4-a716-446655440000";
const AUTHORIZATION = "Bearer tp_test_key_123";
const PEM = "-----BEGIN CERTIFICATE-----\nMIIBfake\n-----END CERTIFICATE-----\n";
const UPDATED_AT = new Date("2025-01-02T03:04:05.000Z");

type EventInit = MessageInitShape<typeof JobEventSchema>;

function scriptedJob(operation: string, name: string, dryRun = false): EventInit[] {
  return [
    { event: { case: "started", value: { jobId: JOB_ID, hostnames: ["web-1", "web-2"], operation, dryRun } } },
    { event: { case: "result", value: { hostname: "web-1", status: ResultStatus.OK, name, changed: true } } },
    {
      event: {
        case: "result",
        value: { hostname: "web-2", status: ResultStatus.FAILED, name, changed: false, error: "agent offline" },
      },
    },
    { event: { case: "summary", value: { jobId: JOB_ID, ok: 1, failed: 1, skipped: 0, durationMs: 12n, dryRun } } },
  ];
}

const FILE_INFO = { name: "corp-ca.pem", sha256: "ab".repeat(32), size: 1234n, updatedAt: timestampFromDate(UPDATED_AT) };

let fixture: GatewayFixture;

beforeAll(async () => {
  fixture = await startGatewayFixture();
});

afterAll(async () => {
  await fixture.close();
});

beforeEach(() => {
  fixture.fake.reset();
});

async function call(method: string, path: string, init: RequestInit = {}): Promise<{ status: number; body: unknown; type: string | null }> {
  const response = await fetch(fixture.gateway.url + path, {
    method,
    ...init,
    headers: { authorization: AUTHORIZATION, ...(init.headers as Record<string, string> | undefined) },
  });
  return { status: response.status, body: await response.json(), type: response.headers.get("content-type") };
}

function jsonInit(body: unknown): RequestInit {
  return { body: JSON.stringify(body), headers: { "content-type": "application/json" } };
}

describe("certificate routes", () => {
  it("POST installs: the exact results, request and authorization", async () => {
    fixture.fake.streams.set("installCA", (_request, send) => scriptedJob("certificate.install", "corp").forEach(send));
    const answer = await call("POST", "/node/_all/certificate/ca", jsonInit({ name: "corp", object: "corp-ca.pem" }));
    expect(answer).toEqual({
      status: 200,
      type: "application/json",
      body: {
        job_id: JOB_ID,
        results: [
          { hostname: "web-1", status: "ok", name: "corp", changed: true },
          { hostname: "web-2", status: "failed", name: "corp", changed: false, error: "agent offline" },
        ],
      },
    });
    expect(fixture.fake.calls).toEqual([
      {
        method: "installCA",
        authorization: AUTHORIZATION,
        request: create(InstallCARequestSchema, {
          target: "_all",
          name: "corp",
          object: "corp-ca.pem",
          options: { timeoutSeconds: 0, dryRun: false },
        }),
      },
    ]);
  });

  it("passes ?timeout and ?dry_run into the job options and marks the answer as a dry run", async () => {
    fixture.fake.streams.set("installCA", (_request, send) => scriptedJob("certificate.install", "corp", true).forEach(send));
    const answer = await call("POST", "/node/web-1/certificate/ca?timeout=3&dry_run=true", jsonInit({ name: "corp", object: "o.pem" }));
    expect(answer.status).toBe(200);
    expect(answer.body).toMatchObject({ job_id: JOB_ID, dry_run: true });
    expect(fixture.fake.callsOf("installCA")[0]!.request).toEqual(
      create(InstallCARequestSchema, { target: "web-1", name: "corp", object: "o.pem", options: { timeoutSeconds: 3, dryRun: true } }),
    );
  });

  it.each([
    ["env%3Aprod%2Cgroup%3Aweb", "env:prod,group:web"],
    ["env:prod,group:web", "env:prod,group:web"],
    ["_any", "_any"],
  ])("URL-decodes the target %s", async (segment, target) => {
    fixture.fake.streams.set("deleteCA", (_request, send) => scriptedJob("certificate.delete", "corp").forEach(send));
    const answer = await call("DELETE", `/node/${segment}/certificate/ca/corp`);
    expect(answer.status).toBe(200);
    expect(fixture.fake.callsOf("deleteCA")[0]!.request).toEqual(
      create(DeleteCARequestSchema, { target, name: "corp", options: { timeoutSeconds: 0, dryRun: false } }),
    );
  });

  it("PUT updates with the name from the path and the object from the body", async () => {
    fixture.fake.streams.set("updateCA", (_request, send) => scriptedJob("certificate.update", "corp").forEach(send));
    const answer = await call("PUT", "/node/web-2/certificate/ca/corp?dry_run=false", jsonInit({ object: "new.pem" }));
    expect(answer.status).toBe(200);
    expect(fixture.fake.callsOf("updateCA")).toEqual([
      {
        method: "updateCA",
        authorization: AUTHORIZATION,
        request: create(UpdateCARequestSchema, {
          target: "web-2",
          name: "corp",
          object: "new.pem",
          options: { timeoutSeconds: 0, dryRun: false },
        }),
      },
    ]);
  });

  it("GET lists with the certificates of each host and ?source", async () => {
    fixture.fake.streams.set("listCA", (_request, send) => {
      send({ event: { case: "started", value: { jobId: JOB_ID, hostnames: ["web-1"], operation: "certificate.list" } } });
      send({
        event: {
          case: "result",
          value: {
            hostname: "web-1",
            status: ResultStatus.OK,
            certificates: [
              {
                name: "corp",
                source: CertificateSource.CUSTOM,
                object: "corp-ca.pem",
                sha256: "cd".repeat(32),
                subject: "CN=corp",
                fingerprintSha256: "AA:BB",
                notAfter: "2030-01-01T00:00:00Z",
              },
              {
                name: "mozilla/ISRG_Root_X1.crt",
                source: CertificateSource.SYSTEM,
                subject: "CN=ISRG Root X1",
                fingerprintSha256: "CC:DD",
                notAfter: "2035-06-04T11:04:38Z",
              },
            ],
          },
        },
      });
      send({ event: { case: "summary", value: { jobId: JOB_ID, ok: 1 } } });
    });
    const answer = await call("GET", "/node/web-1/certificate/ca?source=custom&timeout=10");
    expect(answer).toEqual({
      status: 200,
      type: "application/json",
      body: {
        job_id: JOB_ID,
        results: [
          {
            hostname: "web-1",
            status: "ok",
            name: "",
            changed: false,
            certificates: [
              {
                name: "corp",
                source: "custom",
                object: "corp-ca.pem",
                sha256: "cd".repeat(32),
                subject: "CN=corp",
                fingerprint_sha256: "AA:BB",
                not_after: "2030-01-01T00:00:00Z",
              },
              {
                name: "mozilla/ISRG_Root_X1.crt",
                source: "system",
                subject: "CN=ISRG Root X1",
                fingerprint_sha256: "CC:DD",
                not_after: "2035-06-04T11:04:38Z",
              },
            ],
          },
        ],
      },
    });
    expect(fixture.fake.callsOf("listCA")[0]!.request).toEqual(
      create(ListCARequestSchema, {
        target: "web-1",
        source: CertificateSource.CUSTOM,
        options: { timeoutSeconds: 10, dryRun: false },
      }),
    );
  });
});

describe("rate control on the certificate routes", () => {
  const routes: [string, string, string, RequestInit][] = [
    ["installCA", "POST", "/node/_all/certificate/ca", jsonInit({ name: "corp", object: "o.pem" })],
    ["listCA", "GET", "/node/_all/certificate/ca", {}],
    ["updateCA", "PUT", "/node/_all/certificate/ca/corp", jsonInit({ object: "o.pem" })],
    ["deleteCA", "DELETE", "/node/_all/certificate/ca/corp", {}],
  ];
  const limits: [string, unknown][] = [
    ["max_concurrency=50%25&max_errors=0", { maxConcurrency: { limit: { case: "percent", value: 50 } }, maxErrors: { limit: { case: "count", value: 0 } } }],
    ["max_concurrency=1", { maxConcurrency: { limit: { case: "count", value: 1 } } }],
    ["max_errors=10%25&timeout=5", { timeoutSeconds: 5, maxErrors: { limit: { case: "percent", value: 10 } } }],
  ];
  const cases = routes.flatMap(([method, verb, path, init]) =>
    limits.map(([query, options]) => [method, verb, path, init, query, options] as const),
  );

  it.each(cases)("%s (%s %s) takes ?%s into the job options", async (method, verb, path, init, query, options) => {
    fixture.fake.streams.set(method, (_request, send) => scriptedJob("certificate.x", "corp").forEach(send));
    const answer = await call(verb, `${path}?${query}`, init);
    expect(answer.status).toBe(200);
    const request = fixture.fake.callsOf(method)[0]!.request as { options: unknown };
    expect(request.options).toEqual(
      create(InstallCARequestSchema, { options: { timeoutSeconds: 0, dryRun: false, ...(options as object) } }).options,
    );
  });
});

const CREATED_AT = new Date("2025-03-04T05:06:07.000Z");
const FINISHED_AT = new Date("2025-03-04T05:06:09.500Z");

const INTERRUPTED_JOB: MessageInitShape<typeof JobSchema> = {
  id: JOB_ID,
  operation: "certificate.install",
  target: "group:web",
  name: "corp",
  object: "corp-ca.pem",
  options: {
    timeoutSeconds: 10,
    dryRun: false,
    maxConcurrency: { limit: { case: "percent", value: 50 } },
    maxErrors: { limit: { case: "count", value: 0 } },
  },
  requestedBy: "key_ops",
  createdAt: timestampFromDate(CREATED_AT),
  finishedAt: timestampFromDate(FINISHED_AT),
  state: JobState.INTERRUPTED,
  hostnames: ["web-1", "web-2", "web-3"],
  results: [
    { hostname: "web-1", status: ResultStatus.OK, name: "corp", changed: true },
    { hostname: "web-2", status: ResultStatus.FAILED, name: "corp", error: "update-ca-certificates exited 1" },
  ],
  unansweredHostnames: ["web-3"],
  ok: 1,
  failed: 1,
};

const INTERRUPTED_JOB_JSON = {
  id: JOB_ID,
  operation: "certificate.install",
  target: "group:web",
  name: "corp",
  object: "corp-ca.pem",
  dry_run: false,
  options: { timeout_seconds: 10, max_concurrency: { percent: 50 }, max_errors: { count: 0 } },
  requested_by: "key_ops",
  created_at: "2025-03-04T05:06:07.000Z",
  finished_at: "2025-03-04T05:06:09.500Z",
  state: "interrupted",
  hostnames: ["web-1", "web-2", "web-3"],
  results: [
    { hostname: "web-1", status: "ok", name: "corp", changed: true },
    { hostname: "web-2", status: "failed", name: "corp", changed: false, error: "update-ca-certificates exited 1" },
  ],
  unanswered_hostnames: ["web-3"],
  summary: { ok: 1, failed: 1, skipped: 0 },
};

const RUNNING_LIST_JOB: MessageInitShape<typeof JobSchema> = {
  id: "1e7c0a9e-5f6b-4c1d-8e2f-3a4b5c6d7e8f",
  operation: "certificate.list",
  target: "web-1",
  options: { timeoutSeconds: 0, dryRun: true },
  requestedBy: "key_read",
  createdAt: timestampFromDate(CREATED_AT),
  state: JobState.RUNNING,
  hostnames: ["web-1"],
  results: [
    {
      hostname: "web-1",
      status: ResultStatus.OK,
      certificates: [
        {
          name: "corp",
          source: CertificateSource.CUSTOM,
          object: "corp-ca.pem",
          sha256: "cd".repeat(32),
          subject: "CN=corp",
          fingerprintSha256: "AA:BB",
          notAfter: "2030-01-01T00:00:00Z",
        },
      ],
    },
  ],
  ok: 1,
};

const RUNNING_LIST_JOB_JSON = {
  id: "1e7c0a9e-5f6b-4c1d-8e2f-3a4b5c6d7e8f",
  operation: "certificate.list",
  target: "web-1",
  name: "",
  dry_run: true,
  options: { timeout_seconds: 0 },
  requested_by: "key_read",
  created_at: "2025-03-04T05:06:07.000Z",
  state: "running",
  hostnames: ["web-1"],
  results: [
    {
      hostname: "web-1",
      status: "ok",
      name: "",
      changed: false,
      certificates: [
        {
          name: "corp",
          source: "custom",
          object: "corp-ca.pem",
          sha256: "cd".repeat(32),
          subject: "CN=corp",
          fingerprint_sha256: "AA:BB",
          not_after: "2030-01-01T00:00:00Z",
        },
      ],
    },
  ],
  unanswered_hostnames: [],
  summary: { ok: 1, failed: 0, skipped: 0 },
};

describe("job routes", () => {
  it("GET /job/{id} answers the job with its results, options and times", async () => {
    fixture.fake.unaries.set("getJob", () => ({ job: INTERRUPTED_JOB }));
    const answer = await call("GET", `/job/${JOB_ID}`);
    expect(answer).toEqual({ status: 200, type: "application/json", body: INTERRUPTED_JOB_JSON });
    expect(fixture.fake.calls).toEqual([
      { method: "getJob", authorization: AUTHORIZATION, request: create(GetJobRequestSchema, { id: JOB_ID }) },
    ]);
  });

  it("GET /job/{id} of a running listing: no finished_at, no object, each host's certificates", async () => {
    fixture.fake.unaries.set("getJob", () => ({ job: RUNNING_LIST_JOB }));
    const answer = await call("GET", "/job/1e7c0a9e-5f6b-4c1d-8e2f-3a4b5c6d7e8f");
    expect(answer.body).toEqual(RUNNING_LIST_JOB_JSON);
  });

  it.each([
    ["", { state: JobState.UNSPECIFIED, target: "", limit: 0, offset: 0 }, 20, 0],
    ["?status=running", { state: JobState.RUNNING, target: "", limit: 0, offset: 0 }, 20, 0],
    ["?status=completed&limit=5", { state: JobState.COMPLETED, target: "", limit: 5, offset: 0 }, 5, 0],
    ["?status=partial_failure", { state: JobState.PARTIAL_FAILURE, target: "", limit: 0, offset: 0 }, 20, 0],
    ["?status=failed&offset=3", { state: JobState.FAILED, target: "", limit: 0, offset: 3 }, 20, 3],
    [
      "?status=interrupted&target=env%3Aprod%2Cgroup%3Aweb&limit=500&offset=20",
      { state: JobState.INTERRUPTED, target: "env:prod,group:web", limit: 500, offset: 20 },
      100,
      20,
    ],
  ])("GET /job%s asks %j and answers the page", async (query, request, limit, offset) => {
    fixture.fake.unaries.set("listJobs", () => ({ jobs: [RUNNING_LIST_JOB, INTERRUPTED_JOB], total: 42 }));
    const answer = await call("GET", `/job${query}`);
    expect(answer).toEqual({
      status: 200,
      type: "application/json",
      body: { jobs: [RUNNING_LIST_JOB_JSON, INTERRUPTED_JOB_JSON], total: 42, limit, offset },
    });
    expect(fixture.fake.calls).toEqual([
      { method: "listJobs", authorization: AUTHORIZATION, request: create(ListJobsRequestSchema, request) },
    ]);
  });
});

const ONLINE_AGENT: MessageInitShape<typeof AgentInfoSchema> = {
  hostname: "web-1",
  labels: { group: "web.dev.us-east", env: "prod" },
  state: AgentState.ONLINE,
  os: {
    id: "ubuntu",
    idLike: ["debian"],
    versionId: "24.04",
    prettyName: "Ubuntu 24.04.1 LTS",
    kernel: "6.8.0-45-generic",
    arch: "x64",
    trustStore: "debian",
  },
  agentVersion: "0.1.0",
  connectedAt: timestampFromDate(CREATED_AT),
  lastSeenAt: timestampFromDate(FINISHED_AT),
  commandsInFlight: 2,
  replica: "replica-b",
};

const ONLINE_AGENT_JSON = {
  hostname: "web-1",
  labels: { env: "prod", group: "web.dev.us-east" },
  state: "online",
  stale: false,
  os: {
    id: "ubuntu",
    id_like: ["debian"],
    version_id: "24.04",
    pretty_name: "Ubuntu 24.04.1 LTS",
    kernel: "6.8.0-45-generic",
    arch: "x64",
    trust_store: "debian",
  },
  agent_version: "0.1.0",
  connected_at: "2025-03-04T05:06:07.000Z",
  last_seen_at: "2025-03-04T05:06:09.500Z",
  commands_in_flight: 2,
  replica: "replica-b",
};

const STALE_AGENT: MessageInitShape<typeof AgentInfoSchema> = {
  hostname: "old-1",
  state: AgentState.OFFLINE,
  stale: true,
  lastSeenAt: timestampFromDate(CREATED_AT),
};

const STALE_AGENT_JSON = {
  hostname: "old-1",
  labels: {},
  state: "offline",
  stale: true,
  os: { id: "", id_like: [], version_id: "", pretty_name: "", kernel: "", arch: "", trust_store: "" },
  agent_version: "",
  last_seen_at: "2025-03-04T05:06:07.000Z",
  commands_in_flight: 0,
  replica: "",
};

describe("agent routes", () => {
  it.each([
    ["", { state: AgentState.UNSPECIFIED, target: "" }],
    ["?state=online", { state: AgentState.ONLINE, target: "" }],
    ["?state=offline&target=env%3Aprod", { state: AgentState.OFFLINE, target: "env:prod" }],
  ])("GET /agent%s asks %j and answers every agent", async (query, request) => {
    fixture.fake.unaries.set("listAgents", () => ({ agents: [ONLINE_AGENT, STALE_AGENT] }));
    const answer = await call("GET", `/agent${query}`);
    expect(answer).toEqual({
      status: 200,
      type: "application/json",
      body: { agents: [ONLINE_AGENT_JSON, STALE_AGENT_JSON] },
    });
    expect(fixture.fake.calls).toEqual([
      { method: "listAgents", authorization: AUTHORIZATION, request: create(ListAgentsRequestSchema, request) },
    ]);
  });

  it("GET /agent/{hostname} answers the agent", async () => {
    fixture.fake.unaries.set("getAgent", () => ({ agent: ONLINE_AGENT }));
    const answer = await call("GET", "/agent/web-1");
    expect(answer).toEqual({ status: 200, type: "application/json", body: ONLINE_AGENT_JSON });
    expect(fixture.fake.calls).toEqual([
      { method: "getAgent", authorization: AUTHORIZATION, request: create(GetAgentRequestSchema, { hostname: "web-1" }) },
    ]);
  });

  it("DELETE /agent/{hostname} forgets the agent and answers what it was", async () => {
    fixture.fake.unaries.set("forgetAgent", () => ({ agent: STALE_AGENT }));
    const answer = await call("DELETE", "/agent/old-1");
    expect(answer).toEqual({ status: 200, type: "application/json", body: STALE_AGENT_JSON });
    expect(fixture.fake.calls).toEqual([
      {
        method: "forgetAgent",
        authorization: AUTHORIZATION,
        request: create(ForgetAgentRequestSchema, { hostname: "old-1" }),
      },
    ]);
  });

  it("an answer without the agent is a 500, not an empty agent", async () => {
    fixture.fake.unaries.set("getAgent", () => ({}));
    const answer = await call("GET", "/agent/web-1");
    expect(answer).toEqual({
      status: 500,
      type: "application/json",
      body: { error: "internal error", details: "the control plane answered without an agent", code: 500 },
    });
  });
});

describe("file routes", () => {
  it("POST /file takes a multipart form with name and file", async () => {
    fixture.fake.unaries.set("upload", () => ({ file: FILE_INFO, changed: true }));
    const form = new FormData();
    form.set("name", "corp-ca.pem");
    form.set("file", new Blob([PEM], { type: "application/x-pem-file" }), "ca.pem");
    const answer = await call("POST", "/file?force=true", { body: form });
    expect(answer).toEqual({
      status: 200,
      type: "application/json",
      body: { name: "corp-ca.pem", sha256: "ab".repeat(32), size: 1234, changed: true },
    });
    expect(fixture.fake.calls).toEqual([
      {
        method: "upload",
        authorization: AUTHORIZATION,
        request: create(UploadRequestSchema, { name: "corp-ca.pem", content: new TextEncoder().encode(PEM), force: true }),
      },
    ]);
  });

  it("POST /file takes JSON {name, content}", async () => {
    fixture.fake.unaries.set("upload", () => ({ file: FILE_INFO, changed: false }));
    const answer = await call("POST", "/file", jsonInit({ name: "corp-ca.pem", content: PEM }));
    expect(answer.body).toEqual({ name: "corp-ca.pem", sha256: "ab".repeat(32), size: 1234, changed: false });
    expect(fixture.fake.callsOf("upload")[0]!.request).toEqual(
      create(UploadRequestSchema, { name: "corp-ca.pem", content: new TextEncoder().encode(PEM), force: false }),
    );
  });

  it("GET /file lists the objects", async () => {
    fixture.fake.unaries.set("list", () => ({ files: [FILE_INFO, { name: "b.pem", sha256: "ef", size: 7n }] }));
    const answer = await call("GET", "/file");
    expect(answer.body).toEqual({
      files: [
        { name: "corp-ca.pem", sha256: "ab".repeat(32), size: 1234, updated_at: "2025-01-02T03:04:05.000Z" },
        { name: "b.pem", sha256: "ef", size: 7 },
      ],
    });
  });

  it("GET /file/{name} answers the content as text", async () => {
    fixture.fake.unaries.set("get", () => ({ file: FILE_INFO, content: new TextEncoder().encode(PEM) }));
    const answer = await call("GET", "/file/corp-ca.pem");
    expect(answer.body).toEqual({
      name: "corp-ca.pem",
      sha256: "ab".repeat(32),
      size: 1234,
      updated_at: "2025-01-02T03:04:05.000Z",
      content: PEM,
    });
    expect(fixture.fake.callsOf("get")[0]!.request).toEqual(create(GetRequestSchema, { name: "corp-ca.pem" }));
  });

  it("DELETE /file/{name} answers what was deleted", async () => {
    fixture.fake.unaries.set("delete", () => ({ file: FILE_INFO }));
    const answer = await call("DELETE", "/file/corp-ca.pem");
    expect(answer.body).toEqual({
      name: "corp-ca.pem",
      sha256: "ab".repeat(32),
      size: 1234,
      updated_at: "2025-01-02T03:04:05.000Z",
    });
    expect(fixture.fake.callsOf("delete")[0]).toEqual({
      method: "delete",
      authorization: AUTHORIZATION,
      request: create(DeleteRequestSchema, { name: "corp-ca.pem" }),
    });
  });
});

describe("request log", () => {
  it("logs method, path, status and duration, never the authorization header", async () => {
    fixture.fake.unaries.set("list", () => ({ files: [] }));
    await call("GET", "/file?x=1");
    const isThisRequest = (line: Record<string, unknown>) =>
      line.msg === "request" && line.method === "GET" && line.path === "/file" && line.status === 400;
    await expect.poll(() => fixture.logs.filter(isThisRequest)).toHaveLength(1);
    const line = fixture.logs.find(isThisRequest)!;
    expect(typeof line.durationMs).toBe("number");
    expect(JSON.stringify(fixture.logs)).not.toContain("tp_test_key_123");
  });
});
