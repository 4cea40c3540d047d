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
  fixture.fake.calls.length = 0;
  fixture.fake.streams.clear();
  fixture.fake.unaries.clear();
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
