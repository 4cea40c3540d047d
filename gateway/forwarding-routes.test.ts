// The client API through the gateway over every protocol it serves on its one
// port: Connect and gRPC-Web over HTTP/1.1 and HTTP/2, gRPC over h2c. Calls reach
// the fake control plane with the caller's authorization; errors come back with
// their code, message and details metadata.
import * as http2 from "node:http2";
import { create } from "@bufbuild/protobuf";
import { Code, ConnectError, createClient, type Transport } from "@connectrpc/connect";
import { createConnectTransport, createGrpcTransport, createGrpcWebTransport } from "@connectrpc/connect-node";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { ERROR_DETAILS_METADATA_KEY, GrpcStatus, StatusError } from "../common/status-error.js";
import { CertificateService, InstallCARequestSchema } from "../gen/trustplane/v1/certificate_pb.js";
import { ResultStatus } from "../gen/trustplane/v1/common_pb.js";
import { FileService, ListRequestSchema } from "../gen/trustplane/v1/file_pb.js";
import { FleetService, ForgetAgentRequestSchema } from "../gen/trustplane/v1/fleet_pb.js";
import { JobService, WatchJobRequestSchema } from "../gen/trustplane/v1/job_pb.js";
import { startGatewayFixture, type GatewayFixture } from "./testing/gateway-fixture.js";

const AUTHORIZATION = "Bearer tp_forwarded_key";
const JOB_ID = "0b6f2a0e-96a4-4d7e-8b0b-4b1f7f8f9c11";

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

const transports: [string, (baseUrl: string) => Transport][] = [
  ["Connect over HTTP/1.1", (baseUrl) => createConnectTransport({ baseUrl, httpVersion: "1.1" })],
  ["Connect over HTTP/2", (baseUrl) => createConnectTransport({ baseUrl, httpVersion: "2" })],
  ["gRPC-Web over HTTP/1.1", (baseUrl) => createGrpcWebTransport({ baseUrl, httpVersion: "1.1" })],
  ["gRPC over h2c", (baseUrl) => createGrpcTransport({ baseUrl })],
];

describe.each(transports)("%s", (_name, makeTransport) => {
  it("forwards a unary call with the caller's authorization", async () => {
    fixture.fake.unaries.set("list", () => ({ files: [{ name: "corp-ca.pem", sha256: "ab", size: 3n }] }));
    const files = createClient(FileService, makeTransport(fixture.gateway.url));
    const answer = await files.list({}, { headers: { authorization: AUTHORIZATION } });
    expect(answer.files.map((file) => [file.name, file.sha256, file.size])).toEqual([["corp-ca.pem", "ab", 3n]]);
    expect(fixture.fake.calls).toEqual([
      { method: "list", authorization: AUTHORIZATION, request: create(ListRequestSchema, {}) },
    ]);
  });

  it("forwards a server-streaming call event by event", async () => {
    fixture.fake.streams.set("installCA", (_request, send) => {
      send({ event: { case: "started", value: { jobId: JOB_ID, hostnames: ["web-1"] } } });
      send({ event: { case: "result", value: { hostname: "web-1", status: ResultStatus.OK, name: "corp", changed: true } } });
      send({ event: { case: "summary", value: { jobId: JOB_ID, ok: 1 } } });
    });
    const certificates = createClient(CertificateService, makeTransport(fixture.gateway.url));
    const cases: string[] = [];
    const request = { target: "web-1", name: "corp", object: "o.pem", options: { timeoutSeconds: 5 } };
    for await (const response of certificates.installCA(request, { headers: { authorization: AUTHORIZATION } })) {
      cases.push(response.event?.event.case ?? "none");
    }
    expect(cases).toEqual(["started", "result", "summary"]);
    expect(fixture.fake.calls).toEqual([
      {
        method: "installCA",
        authorization: AUTHORIZATION,
        request: create(InstallCARequestSchema, request),
      },
    ]);
  });

  it("forwards JobService and FleetService", async () => {
    fixture.fake.streams.set("watchJob", (_request, send) => {
      send({ event: { case: "started", value: { jobId: JOB_ID, hostnames: ["web-1"] } } });
      send({ event: { case: "summary", value: { jobId: JOB_ID } } });
    });
    fixture.fake.unaries.set("forgetAgent", () => {
      throw new StatusError(GrpcStatus.FAILED_PRECONDITION, 'agent "web-1" is online', "stop it first");
    });
    const transport = makeTransport(fixture.gateway.url);
    const jobs = createClient(JobService, transport);
    const cases: string[] = [];
    for await (const response of jobs.watchJob({ id: JOB_ID }, { headers: { authorization: AUTHORIZATION } })) {
      cases.push(response.event?.event.case ?? "none");
    }
    expect(cases).toEqual(["started", "summary"]);
    const fleet = createClient(FleetService, transport);
    const error = await fleet.forgetAgent({ hostname: "web-1" }, { headers: { authorization: AUTHORIZATION } }).then(
      () => undefined,
      (reason: unknown) => reason as ConnectError,
    );
    expect([error?.code, error?.rawMessage, error?.metadata.get(ERROR_DETAILS_METADATA_KEY)]).toEqual([
      Code.FailedPrecondition,
      'agent "web-1" is online',
      "stop it first",
    ]);
    expect(fixture.fake.calls).toEqual([
      { method: "watchJob", authorization: AUTHORIZATION, request: create(WatchJobRequestSchema, { id: JOB_ID }) },
      { method: "forgetAgent", authorization: AUTHORIZATION, request: create(ForgetAgentRequestSchema, { hostname: "web-1" }) },
    ]);
  });

  it("passes the control plane's error through with its code, message and details", async () => {
    fixture.fake.streams.set("installCA", () => {
      throw new StatusError(GrpcStatus.PERMISSION_DENIED, "key lacks certificate:write", "key tp_1 has role read");
    });
    const certificates = createClient(CertificateService, makeTransport(fixture.gateway.url));
    const error = await (async () => {
      for await (const _response of certificates.installCA({ target: "_all", name: "corp", object: "o.pem" })) {
        // no events expected
      }
    })().then(
      () => undefined,
      (reason: unknown) => reason,
    );
    expect(error).toBeInstanceOf(ConnectError);
    const connectError = error as ConnectError;
    expect([connectError.code, connectError.rawMessage]).toEqual([Code.PermissionDenied, "key lacks certificate:write"]);
    expect(connectError.metadata.get(ERROR_DETAILS_METADATA_KEY)).toBe("key tp_1 has role read");
  });

  it("passes a unary error through", async () => {
    fixture.fake.unaries.set("get", () => {
      throw new StatusError(GrpcStatus.NOT_FOUND, 'object "x.pem" not found', "no such object");
    });
    const files = createClient(FileService, makeTransport(fixture.gateway.url));
    const error = await files.get({ name: "x.pem" }).then(
      () => undefined,
      (reason: unknown) => reason as ConnectError,
    );
    expect([error?.code, error?.rawMessage, error?.metadata.get(ERROR_DETAILS_METADATA_KEY)]).toEqual([
      Code.NotFound,
      'object "x.pem" not found',
      "no such object",
    ]);
  });
});

describe("REST over HTTP/2 with prior knowledge", () => {
  it("serves a REST route to an h2c client", async () => {
    fixture.fake.unaries.set("list", () => ({ files: [] }));
    const session = http2.connect(fixture.gateway.url);
    try {
      const answer = await new Promise<{ status: number; body: string }>((resolve, reject) => {
        const stream = session.request({ ":method": "GET", ":path": "/file", authorization: AUTHORIZATION });
        let status = 0;
        let body = "";
        stream.on("response", (headers) => (status = Number(headers[":status"])));
        stream.setEncoding("utf8");
        stream.on("data", (chunk: string) => (body += chunk));
        stream.on("end", () => resolve({ status, body }));
        stream.on("error", reject);
      });
      expect(answer).toEqual({ status: 200, body: JSON.stringify({ files: [] }) });
      expect(fixture.fake.calls.map((call) => call.authorization)).toEqual([AUTHORIZATION]);
    } finally {
      session.close();
    }
  });
});
