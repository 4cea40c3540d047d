// The OpenAPI document: a real validator accepts it, it has every route of the
// table with its method, and every operation it documents is served: called on
// the running gateway (with the fake control plane answering every method with
// every optional field set), each answers 200 with a body that matches the
// documented schema, also line by line in NDJSON.
import type { MessageInitShape } from "@bufbuild/protobuf";
import { timestampFromDate } from "@bufbuild/protobuf/wkt";
import { compileErrors, validate } from "@readme/openapi-parser";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { CertificateSource, ResultStatus, type JobEventSchema } from "../gen/trustplane/v1/common_pb.js";
import { AgentState, type AgentInfoSchema } from "../gen/trustplane/v1/fleet_pb.js";
import { JobState, type JobSchema } from "../gen/trustplane/v1/job_pb.js";
import { openApiDocument, type OpenApiDocument } from "./openapi-document.js";
import { REST_ROUTES } from "./rest-routes.js";
import type { JsonSchema } from "./rest-schemas.js";
import { schemaViolations } from "./testing/json-schema-check.js";
import { startGatewayFixture, type GatewayFixture } from "./testing/gateway-fixture.js";

const JOB_ID = "9f1c2d3e-4b5a-4c6d-8e7f-0a1b2c3d4e5f";
const WHEN = timestampFromDate(new Date("2025-05-06T07:08:09.000Z"));
const PARAM_SAMPLES: Readonly<Record<string, string>> = { hostname: "web-1", name: "corp", id: JOB_ID };

const CERTIFICATE = {
  name: "corp",
  source: CertificateSource.CUSTOM,
  object: "corp-ca.pem",
  sha256: "ab".repeat(32),
  subject: "CN=corp",
  fingerprintSha256: "AA:BB",
  notAfter: "2030-01-01T00:00:00Z",
};
const RESULTS = [
  { hostname: "web-1", status: ResultStatus.OK, name: "corp", changed: true, certificates: [CERTIFICATE] },
  { hostname: "web-2", status: ResultStatus.FAILED, name: "corp", error: "timeout" },
  { hostname: "web-3", status: ResultStatus.SKIPPED, name: "corp", error: "no supported trust store" },
];
const EVENTS: MessageInitShape<typeof JobEventSchema>[] = [
  {
    event: {
      case: "started",
      value: { jobId: JOB_ID, hostnames: ["web-1", "web-2", "web-3"], operation: "certificate.list", dryRun: true },
    },
  },
  ...RESULTS.map((value) => ({ event: { case: "result" as const, value } })),
  { event: { case: "summary", value: { jobId: JOB_ID, ok: 1, failed: 1, skipped: 1, durationMs: 30n, dryRun: true } } },
];
const JOB: MessageInitShape<typeof JobSchema> = {
  id: JOB_ID,
  operation: "certificate.list",
  target: "_all",
  name: "corp",
  object: "corp-ca.pem",
  options: {
    timeoutSeconds: 5,
    dryRun: true,
    maxConcurrency: { limit: { case: "percent", value: 25 } },
    maxErrors: { limit: { case: "count", value: 2 } },
  },
  requestedBy: "key_1",
  createdAt: WHEN,
  finishedAt: WHEN,
  state: JobState.PARTIAL_FAILURE,
  hostnames: ["web-1", "web-2", "web-3", "web-4"],
  results: RESULTS,
  unansweredHostnames: ["web-4"],
  ok: 1,
  failed: 1,
  skipped: 1,
};
const AGENT: MessageInitShape<typeof AgentInfoSchema> = {
  hostname: "web-1",
  labels: { env: "prod" },
  state: AgentState.ONLINE,
  os: { id: "debian", idLike: [], versionId: "12", prettyName: "Debian 12", kernel: "6.1.0", arch: "x64", trustStore: "debian" },
  agentVersion: "0.1.0",
  connectedAt: WHEN,
  lastSeenAt: WHEN,
  commandsInFlight: 1,
};
const FILE = { name: "corp-ca.pem", sha256: "cd".repeat(32), size: 900n, updatedAt: WHEN };

const document: OpenApiDocument = openApiDocument();
let fixture: GatewayFixture;

beforeAll(async () => {
  fixture = await startGatewayFixture();
  const { streams, unaries } = fixture.fake;
  for (const method of ["installCA", "listCA", "updateCA", "deleteCA", "watchJob"]) {
    streams.set(method, (_request, send) => EVENTS.forEach(send));
  }
  unaries.set("upload", () => ({ file: FILE, changed: true }));
  unaries.set("list", () => ({ files: [FILE] }));
  unaries.set("get", () => ({ file: FILE, content: new TextEncoder().encode("-----BEGIN CERTIFICATE-----\n") }));
  unaries.set("delete", () => ({ file: FILE }));
  unaries.set("getJob", () => ({ job: JOB }));
  unaries.set("listJobs", () => ({ jobs: [JOB], total: 1 }));
  unaries.set("listAgents", () => ({ agents: [AGENT, { hostname: "old-1", state: AgentState.OFFLINE, stale: true }] }));
  unaries.set("getAgent", () => ({ agent: AGENT }));
  unaries.set("forgetAgent", () => ({ agent: AGENT }));
});

afterAll(async () => {
  await fixture.close();
});

interface Operation {
  method: string;
  path: string;
  operation: {
    security: unknown[];
    parameters: { name: string; in: string }[];
    requestBody?: { content: Record<string, { schema: JsonSchema }> };
    responses: Record<string, { content: Record<string, { schema: JsonSchema }> }>;
  };
}

function operations(): Operation[] {
  return Object.entries(document.paths).flatMap(([path, methods]) =>
    Object.entries(methods).map(([method, operation]) => ({ method: method.toUpperCase(), path, operation }) as Operation),
  );
}

function check(value: unknown, schema: JsonSchema): string[] {
  return schemaViolations(value, schema, document.components.schemas);
}

/** The request an operation documents: sample path parameters and a body with every required JSON field. */
function sampleRequest({ method, path, operation }: Operation, accept?: string): [string, RequestInit] {
  const url = path.replace(/\{([^}]+)\}/g, (_match, name: string) => encodeURIComponent(PARAM_SAMPLES[name]!));
  const headers: Record<string, string> = { authorization: "Bearer tp_doc" };
  if (accept) headers.accept = accept;
  const init: RequestInit = { method, headers };
  const jsonBody = operation.requestBody?.content["application/json"]?.schema;
  if (jsonBody) {
    headers["content-type"] = "application/json";
    init.body = JSON.stringify(Object.fromEntries(((jsonBody.required ?? []) as string[]).map((field) => [field, "x"])));
  }
  return [fixture.gateway.url + url, init];
}

describe("GET /openapi.json", () => {
  it("is accepted by @readme/openapi-parser as OpenAPI 3.1", async () => {
    const result = await validate(structuredClone(document) as never);
    expect(result.valid ? "valid" : compileErrors(result)).toBe("valid");
    expect(result.specification).toBe("OpenAPI");
    expect(result.warnings).toEqual([]);
  });

  it("is what the gateway serves, without an API key", async () => {
    const response = await fetch(`${fixture.gateway.url}/openapi.json`);
    expect(response.status).toBe(200);
    expect(response.headers.get("content-type")).toBe("application/json");
    expect(await response.json()).toEqual(JSON.parse(JSON.stringify(document)));
  });

  it("has every route of the table with its method, and nothing else", () => {
    const documented = operations().map(({ method, path }) => `${method} ${path}`).sort();
    const routes = REST_ROUTES.map((route) => `${route.method} ${route.path}`).sort();
    expect(documented).toEqual(routes);
    expect(routes).toEqual(
      expect.arrayContaining(["GET /job/{id}", "GET /job", "GET /agent", "GET /agent/{hostname}", "DELETE /agent/{hostname}"]),
    );
  });

  it("documents each route's path and query parameters", () => {
    for (const route of REST_ROUTES) {
      const operation = document.paths[route.path]![route.method.toLowerCase()] as Operation["operation"];
      const names = operation.parameters.map((parameter) => `${parameter.in}:${parameter.name}`);
      const pathNames = [...route.path.matchAll(/\{([^}]+)\}/g)].map((match) => `path:${match[1]}`);
      expect(names, `${route.method} ${route.path}`).toEqual([
        ...pathNames,
        ...Object.keys(route.query).map((name) => `query:${name}`),
      ]);
    }
  });

  it("asks a bearer key of every route but health, readiness, the document and metrics", () => {
    const open = operations()
      .filter(({ operation }) => operation.security.length === 0)
      .map(({ method, path }) => `${method} ${path}`);
    expect(open.sort()).toEqual(["GET /health", "GET /health/ready", "GET /metrics", "GET /openapi.json"]);
    for (const { method, path, operation } of operations()) {
      const codes = Object.keys(operation.responses);
      expect(codes, `${method} ${path}`).toContain("500");
      if (operation.security.length > 0) expect(codes, `${method} ${path}`).toEqual(expect.arrayContaining(["401", "403", "503"]));
      for (const code of codes.filter((code) => code !== "200")) {
        expect(operation.responses[code]!.content).toEqual({
          "application/json": { schema: { $ref: "#/components/schemas/ErrorBody" } },
        });
      }
    }
  });

  it("documents the upload as a multipart form or JSON", () => {
    const upload = document.paths["/file"]!.post as Operation["operation"];
    expect(Object.keys(upload.requestBody!.content)).toEqual(["multipart/form-data", "application/json"]);
    expect(upload.requestBody!.content["multipart/form-data"]!.schema.required).toEqual(["name", "file"]);
    expect(Object.keys(upload.responses)).toEqual(["200", "400", "401", "403", "409", "413", "415", "500", "503"]);
  });
});

describe("every documented operation is served as documented", () => {
  it.each(operations().map((operation) => [operation.method, operation.path, operation] as const))(
    "%s %s answers 200 with the documented body",
    async (_method, _path, operation) => {
      const response = await fetch(...sampleRequest(operation));
      const type = response.headers.get("content-type")!;
      const text = await response.text();
      expect([response.status, text.slice(0, 200)]).toEqual([200, expect.any(String)]);
      const documented = operation.operation.responses["200"]!.content;
      if (type.startsWith("text/plain")) {
        expect(documented["text/plain"]).toBeDefined();
        expect(text).toContain("trustplane_gateway_http_requests_total");
        return;
      }
      expect(Object.keys(documented)).toContain(type);
      expect(check(JSON.parse(text), documented[type]!.schema)).toEqual([]);
    },
  );

  const streamed = operations().filter(({ operation }) => operation.responses["200"]!.content["application/x-ndjson"]);

  it("documents NDJSON for the four certificate routes and GET /job/{id}", () => {
    expect(streamed.map(({ method, path }) => `${method} ${path}`).sort()).toEqual([
      "DELETE /node/{hostname}/certificate/ca/{name}",
      "GET /job/{id}",
      "GET /node/{hostname}/certificate/ca",
      "POST /node/{hostname}/certificate/ca",
      "PUT /node/{hostname}/certificate/ca/{name}",
    ]);
  });

  it.each(streamed.map((operation) => [operation.method, operation.path, operation] as const))(
    "%s %s streams NDJSON lines of the documented schema",
    async (_method, _path, operation) => {
      const response = await fetch(...sampleRequest(operation, "application/x-ndjson"));
      expect(response.status).toBe(200);
      expect(response.headers.get("content-type")).toBe("application/x-ndjson");
      const lines = (await response.text()).split("\n");
      expect(lines.pop()).toBe("");
      expect(lines).toHaveLength(EVENTS.length);
      const schema = operation.operation.responses["200"]!.content["application/x-ndjson"]!.schema;
      for (const line of lines) expect(check(JSON.parse(line), schema), line).toEqual([]);
    },
  );

  it("an unknown path is route-not-found, so the 200s above are real routes", async () => {
    const response = await fetch(`${fixture.gateway.url}/jobs/${JOB_ID}`);
    expect([response.status, await response.json()]).toEqual([
      404,
      { error: "route not found", details: `no route for GET /jobs/${JOB_ID}`, code: 404 },
    ]);
  });
});
