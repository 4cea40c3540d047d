// Every REST failure answers `{error, details, code}` with the right HTTP status:
// the control plane's gRPC codes, and the gateway's own refusals (routing, body,
// query), which never reach the control plane.
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { GrpcStatus, StatusError } from "../common/status-error.js";
import { startGatewayFixture, type GatewayFixture } from "./testing/gateway-fixture.js";

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

interface Answer {
  status: number;
  type: string | null;
  allow: string | null;
  body: unknown;
}

async function send(method: string, path: string, init: RequestInit = {}): Promise<Answer> {
  const response = await fetch(fixture.gateway.url + path, { method, ...init });
  return {
    status: response.status,
    type: response.headers.get("content-type"),
    allow: response.headers.get("allow"),
    body: await response.json(),
  };
}

const INSTALL_BODY = JSON.stringify({ name: "corp", object: "corp-ca.pem" });
const JSON_HEADERS = { "content-type": "application/json" };

describe("control plane status codes", () => {
  const cases: [keyof typeof GrpcStatus, string, number][] = [
    ["INVALID_ARGUMENT", 'target agent "x" not found', 400],
    ["FAILED_PRECONDITION", "job store not ready", 400],
    ["OUT_OF_RANGE", "timeout out of range", 400],
    ["UNAUTHENTICATED", "missing API key", 401],
    ["PERMISSION_DENIED", "key lacks certificate:write", 403],
    ["NOT_FOUND", 'object "corp-ca.pem" not found', 404],
    ["ALREADY_EXISTS", "different content under corp-ca.pem", 409],
    ["RESOURCE_EXHAUSTED", "content larger than 65536 bytes", 413],
    ["RESOURCE_EXHAUSTED", "too many jobs in flight", 429],
    ["UNAVAILABLE", "object store unreachable", 503],
    ["DEADLINE_EXCEEDED", "deadline passed", 504],
    ["UNIMPLEMENTED", "not implemented", 501],
    ["INTERNAL", "internal error", 500],
    ["UNKNOWN", "something odd", 500],
    ["ABORTED", "aborted", 500],
    ["DATA_LOSS", "lost", 500],
  ];

  it.each(cases)("%s (%s) on a job route is HTTP %i with the details metadata", async (name, message, code) => {
    fixture.fake.streams.set("installCA", () => {
      throw new StatusError(GrpcStatus[name], message, `details of ${name}`);
    });
    const answer = await send("POST", "/node/_all/certificate/ca", { body: INSTALL_BODY, headers: JSON_HEADERS });
    expect(answer).toEqual({
      status: code,
      type: "application/json",
      allow: null,
      body: { error: message, details: `details of ${name}`, code },
    });
  });

  it.each(cases)("%s (%s) on a unary route is HTTP %i", async (name, message, code) => {
    fixture.fake.unaries.set("get", () => {
      throw new StatusError(GrpcStatus[name], message, `details of ${name}`);
    });
    const answer = await send("GET", "/file/corp-ca.pem");
    expect(answer.status).toBe(code);
    expect(answer.body).toEqual({ error: message, details: `details of ${name}`, code });
  });

  const newRoutes: [string, string, string, keyof typeof GrpcStatus, string, number][] = [
    ["getJob", "GET", "/job/8d4a2f1e-0000-4000-8000-000000000000", "NOT_FOUND", 'job "8d4a2f1e" not found', 404],
    ["getJob", "GET", "/job/not-a-uuid", "INVALID_ARGUMENT", 'job id "not-a-uuid" is not a UUID', 400],
    ["getJob", "GET", "/job/8d4a2f1e-0000-4000-8000-000000000000", "PERMISSION_DENIED", "key lacks job:read", 403],
    ["listJobs", "GET", "/job?limit=5", "UNAUTHENTICATED", "missing API key", 401],
    ["listAgents", "GET", "/agent?target=bad%20target", "INVALID_ARGUMENT", 'bad target "bad target"', 400],
    ["getAgent", "GET", "/agent/ghost", "NOT_FOUND", 'agent "ghost" not found', 404],
    ["forgetAgent", "DELETE", "/agent/web-1", "FAILED_PRECONDITION", 'agent "web-1" is online', 400],
    ["forgetAgent", "DELETE", "/agent/ghost", "NOT_FOUND", 'agent "ghost" not found', 404],
    ["forgetAgent", "DELETE", "/agent/web-1", "PERMISSION_DENIED", "key lacks agent:write", 403],
  ];

  it.each(newRoutes)("%s (%s %s) answering %s is HTTP %i", async (method, verb, path, name, message, code) => {
    fixture.fake.unaries.set(method, () => {
      throw new StatusError(GrpcStatus[name], message, `details of ${name}`);
    });
    const answer = await send(verb, path);
    expect(answer).toEqual({
      status: code,
      type: "application/json",
      allow: null,
      body: { error: message, details: `details of ${name}`, code },
    });
    expect(fixture.fake.calls.map((call) => call.method)).toEqual([method]);
  });

  it("an unknown job followed over NDJSON is the normal 404 error body", async () => {
    fixture.fake.streams.set("watchJob", () => {
      throw new StatusError(GrpcStatus.NOT_FOUND, 'job "x" not found', "no job has that id");
    });
    const answer = await send("GET", "/job/x", { headers: { accept: "application/x-ndjson" } });
    expect(answer).toEqual({
      status: 404,
      type: "application/json",
      allow: null,
      body: { error: 'job "x" not found', details: "no job has that id", code: 404 },
    });
  });

  it("without details metadata, details names the code", async () => {
    fixture.fake.unaries.set("get", () => {
      throw new StatusError(GrpcStatus.NOT_FOUND, 'object "x.pem" not found');
    });
    const answer = await send("GET", "/file/x.pem");
    expect(answer.body).toEqual({
      error: 'object "x.pem" not found',
      details: "control plane answered NOT_FOUND",
      code: 404,
    });
  });

  it("a job error in NDJSON mode before the job started is the normal error body", async () => {
    fixture.fake.streams.set("installCA", () => {
      throw new StatusError(GrpcStatus.INVALID_ARGUMENT, 'target agent "x" not found', "known agents: web-1");
    });
    const answer = await send("POST", "/node/x/certificate/ca", {
      body: INSTALL_BODY,
      headers: { ...JSON_HEADERS, accept: "application/x-ndjson" },
    });
    expect(answer).toEqual({
      status: 400,
      type: "application/json",
      allow: null,
      body: { error: 'target agent "x" not found', details: "known agents: web-1", code: 400 },
    });
  });
});

describe("the gateway's own refusals", () => {
  const multipart = (fields: Record<string, string | Blob>) => {
    const form = new FormData();
    for (const [key, value] of Object.entries(fields)) form.set(key, value);
    return form;
  };
  const pem = new Blob(["-----BEGIN CERTIFICATE-----\n"]);

  const cases: [string, string, string, RequestInit, number, string, string | RegExp][] = [
    ["unknown route", "GET", "/nope", {}, 404, "route not found", "no route for GET /nope"],
    ["unknown route below a known one", "GET", "/file/a/b", {}, 404, "route not found", "no route for GET /file/a/b"],
    ["empty target segment", "GET", "/node//certificate/ca", {}, 404, "route not found", "no route for GET /node//certificate/ca"],
    ["malformed JSON", "POST", "/node/_all/certificate/ca", { body: "{not json", headers: JSON_HEADERS }, 400, "invalid JSON body", /.+/],
    ["empty body", "POST", "/node/_all/certificate/ca", { body: "", headers: JSON_HEADERS }, 400, "invalid JSON body", "the request body is empty"],
    ["array body", "POST", "/node/_all/certificate/ca", { body: "[]", headers: JSON_HEADERS }, 400, "invalid JSON body", "the body must be a JSON object"],
    [
      "unknown field",
      "POST",
      "/node/_all/certificate/ca",
      { body: JSON.stringify({ name: "corp", object: "o.pem", x: 1 }), headers: JSON_HEADERS },
      400,
      'unknown field "x"',
      'the body takes only "name", "object"',
    ],
    [
      "missing field",
      "POST",
      "/node/_all/certificate/ca",
      { body: JSON.stringify({ name: "corp" }), headers: JSON_HEADERS },
      400,
      'missing field "object"',
      'the body must have "name", "object"',
    ],
    [
      "wrong type",
      "POST",
      "/node/_all/certificate/ca",
      { body: JSON.stringify({ name: 5, object: "o.pem" }), headers: JSON_HEADERS },
      400,
      'field "name" must be a string',
      "got a number",
    ],
    [
      "empty field",
      "PUT",
      "/node/_all/certificate/ca/corp",
      { body: JSON.stringify({ object: "" }), headers: JSON_HEADERS },
      400,
      'field "object" must not be empty',
      'the body must have "object"',
    ],
    [
      "wrong content type",
      "POST",
      "/node/_all/certificate/ca",
      { body: INSTALL_BODY, headers: { "content-type": "text/plain" } },
      415,
      "unsupported content type",
      "send the body as application/json, not text/plain",
    ],
    [
      "unknown query parameter",
      "POST",
      "/node/_all/certificate/ca?force=true",
      { body: INSTALL_BODY, headers: JSON_HEADERS },
      400,
      'unknown query parameter "force"',
      "this route takes timeout, dry_run, max_concurrency, max_errors",
    ],
    [
      "non-numeric timeout",
      "DELETE",
      "/node/_all/certificate/ca/corp?timeout=abc",
      {},
      400,
      'query parameter "timeout" must be a whole number of seconds',
      'got "abc"',
    ],
    [
      "negative timeout",
      "DELETE",
      "/node/_all/certificate/ca/corp?timeout=-1",
      {},
      400,
      'query parameter "timeout" must be a whole number of seconds',
      'got "-1"',
    ],
    ["bad dry_run", "DELETE", "/node/_all/certificate/ca/corp?dry_run=yes", {}, 400, 'query parameter "dry_run" must be true or false', 'got "yes"'],
    [
      "repeated query parameter",
      "DELETE",
      "/node/_all/certificate/ca/corp?timeout=1&timeout=2",
      {},
      400,
      'query parameter "timeout" given more than once',
      "give it once",
    ],
    [
      "bad source",
      "GET",
      "/node/_all/certificate/ca?source=everything",
      {},
      400,
      'query parameter "source" must be one of custom, system, unmanaged',
      'got "everything"',
    ],
    ["query on a route without any", "GET", "/file?limit=3", {}, 400, 'unknown query parameter "limit"', "this route takes no query parameters"],
    [
      "max_errors not a number",
      "DELETE",
      "/node/_all/certificate/ca/corp?max_errors=x",
      {},
      400,
      'query parameter "max_errors" must be a number of hosts or a percentage (N or N%)',
      'got "x"',
    ],
    [
      "max_concurrency of 0 hosts",
      "GET",
      "/node/_all/certificate/ca?max_concurrency=0",
      {},
      400,
      'query parameter "max_concurrency" must be at least 1',
      'got "0"',
    ],
    [
      "max_concurrency above 100%",
      "POST",
      "/node/_all/certificate/ca?max_concurrency=150%25",
      { body: INSTALL_BODY, headers: JSON_HEADERS },
      400,
      'query parameter "max_concurrency" must be a percentage from 0% to 100%',
      'got "150%"',
    ],
    [
      "unknown job status",
      "GET",
      "/job?status=done",
      {},
      400,
      'query parameter "status" must be one of running, completed, partial_failure, failed, interrupted',
      'got "done"',
    ],
    ["negative limit", "GET", "/job?limit=-1", {}, 400, 'query parameter "limit" must be a whole number', 'got "-1"'],
    ["empty job target", "GET", "/job?target=", {}, 400, 'query parameter "target" must not be empty', "leave it out instead"],
    [
      "unknown agent state",
      "GET",
      "/agent?state=stale",
      {},
      400,
      'query parameter "state" must be one of online, offline',
      'got "stale"',
    ],
    ["query on GET /job/{id}", "GET", "/job/abc?verbose=true", {}, 400, 'unknown query parameter "verbose"', "this route takes no query parameters"],
    ["bad percent-encoding", "GET", "/node/%E0%A4%A/certificate/ca", {}, 400, "invalid path", '"%E0%A4%A" is not valid percent-encoding'],
    [
      "upload without file",
      "POST",
      "/file",
      { body: multipart({ name: "a.pem" }) },
      400,
      'missing field "file"',
      'the form must have the fields "name" and "file"',
    ],
    [
      "upload without name",
      "POST",
      "/file",
      { body: multipart({ file: pem }) },
      400,
      'missing field "name"',
      'the form must have the fields "name" and "file"',
    ],
    [
      "upload with an unknown form field",
      "POST",
      "/file",
      { body: multipart({ name: "a.pem", file: pem, force: "true" }) },
      400,
      'unknown field "force"',
      'the form takes only the fields "name" and "file"',
    ],
    [
      "upload JSON without content",
      "POST",
      "/file",
      { body: JSON.stringify({ name: "a.pem" }), headers: JSON_HEADERS },
      400,
      'missing field "content"',
      'the body must have "name", "content"',
    ],
    [
      "upload as plain text",
      "POST",
      "/file",
      { body: "pem", headers: { "content-type": "text/plain" } },
      415,
      "unsupported content type",
      'send the file as multipart/form-data (fields "name" and "file") or application/json ({"name", "content"}), not text/plain',
    ],
  ];

  it.each(cases)("%s: %s %s", async (_case, method, path, init, code, error, details) => {
    const answer = await send(method, path, init);
    expect(answer).toEqual({
      status: code,
      type: "application/json",
      allow: null,
      body: { error, details: typeof details === "string" ? details : expect.stringMatching(details), code },
    });
    expect(fixture.fake.calls).toEqual([]);
  });

  it.each([
    ["PATCH", "/file", "GET, POST"],
    ["PUT", "/node/web-1/certificate/ca", "GET, POST"],
    ["GET", "/node/web-1/certificate/ca/corp", "DELETE, PUT"],
    ["POST", "/health", "GET"],
    ["POST", "/job", "GET"],
    ["DELETE", "/job/abc", "GET"],
    ["PUT", "/agent/web-1", "DELETE, GET"],
    ["POST", "/metrics", "GET"],
  ])("%s %s is 405 with Allow: %s", async (method, path, allow) => {
    const answer = await send(method, path);
    expect(answer).toEqual({
      status: 405,
      type: "application/json",
      allow,
      body: { error: "method not allowed", details: `${path} allows ${allow}, not ${method}`, code: 405 },
    });
  });

  it("a 2 MiB body with Content-Length is 413 and the connection stays usable", async () => {
    const big = JSON.stringify({ name: "corp", object: "x".repeat(2 * 1024 * 1024) });
    const answer = await send("POST", "/node/_all/certificate/ca", { body: big, headers: JSON_HEADERS });
    expect(answer).toEqual({
      status: 413,
      type: "application/json",
      allow: null,
      body: { error: "request body too large", details: "the body must be at most 1048576 bytes", code: 413 },
    });
    expect((await send("GET", "/health")).body).toEqual({ status: "ok" });
    expect(fixture.fake.calls).toEqual([]);
  });

  it("a 2 MiB chunked body (no Content-Length) is 413", async () => {
    const chunk = new Uint8Array(64 * 1024).fill(0x61);
    let sent = 0;
    const body = new ReadableStream<Uint8Array>({
      pull(controller) {
        if (sent >= 2 * 1024 * 1024) return controller.close();
        sent += chunk.byteLength;
        controller.enqueue(chunk);
      },
    });
    const answer = await send("POST", "/file", {
      body,
      headers: JSON_HEADERS,
      duplex: "half",
    } as RequestInit);
    expect(answer.status).toBe(413);
    expect(answer.body).toEqual({ error: "request body too large", details: "the body must be at most 1048576 bytes", code: 413 });
    expect(fixture.fake.calls).toEqual([]);
  });
});
