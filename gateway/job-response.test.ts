// NDJSON job answers: each host's line leaves the gateway as soon as the control
// plane sends it, between the hosts line and the summary line.
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { GrpcStatus, StatusError } from "../common/status-error.js";
import { create } from "@bufbuild/protobuf";
import { CertificateSource, ResultStatus } from "../gen/trustplane/v1/common_pb.js";
import { WatchJobRequestSchema } from "../gen/trustplane/v1/job_pb.js";
import { startGatewayFixture, type GatewayFixture } from "./testing/gateway-fixture.js";

const JOB_ID = "7d3f1c52-3b8e-4a59-9a51-0c8d1f6f2a10";

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

/** Reads NDJSON lines from a response body as they arrive. */
function lineReader(body: ReadableStream<Uint8Array>) {
  const reader = body.getReader();
  const decoder = new TextDecoder();
  let buffered = "";
  return {
    async next(): Promise<unknown | undefined> {
      for (;;) {
        const newline = buffered.indexOf("\n");
        if (newline >= 0) {
          const line = buffered.slice(0, newline);
          buffered = buffered.slice(newline + 1);
          return JSON.parse(line);
        }
        const chunk = await reader.read();
        if (chunk.done) {
          expect(buffered).toBe("");
          return undefined;
        }
        buffered += decoder.decode(chunk.value, { stream: true });
      }
    },
  };
}

function ndjsonRequest(path: string, method = "DELETE"): Promise<Response> {
  return fetch(fixture.gateway.url + path, {
    method,
    headers: { accept: "application/x-ndjson", authorization: "Bearer tp_watch" },
  });
}

describe("NDJSON job answers", () => {
  it("streams the first host's line before the control plane sends the last result", async () => {
    let releaseLast!: () => void;
    const lastMayGo = new Promise<void>((resolve) => (releaseLast = resolve));
    fixture.fake.streams.set("deleteCA", async (_request, send) => {
      send({ event: { case: "started", value: { jobId: JOB_ID, hostnames: ["web-1", "web-2"] } } });
      send({ event: { case: "result", value: { hostname: "web-1", status: ResultStatus.OK, name: "corp", changed: true } } });
      await lastMayGo;
      send({
        event: {
          case: "result",
          value: { hostname: "web-2", status: ResultStatus.SKIPPED, name: "corp", error: "no supported trust store" },
        },
      });
      send({ event: { case: "summary", value: { jobId: JOB_ID, ok: 1, skipped: 1, durationMs: 42n } } });
    });

    const response = await ndjsonRequest("/node/_all/certificate/ca/corp");
    expect(response.status).toBe(200);
    expect(response.headers.get("content-type")).toBe("application/x-ndjson");
    const lines = lineReader(response.body!);
    expect(await lines.next()).toEqual({ job_id: JOB_ID, hosts: ["web-1", "web-2"] });
    expect(await lines.next()).toEqual({ hostname: "web-1", status: "ok", name: "corp", changed: true });
    releaseLast();
    expect(await lines.next()).toEqual({
      hostname: "web-2",
      status: "skipped",
      name: "corp",
      changed: false,
      error: "no supported trust store",
    });
    expect(await lines.next()).toEqual({ job_id: JOB_ID, summary: { ok: 1, failed: 0, skipped: 1 }, duration_ms: 42 });
    expect(await lines.next()).toBeUndefined();
  });

  it("marks a dry run on the hosts and summary lines", async () => {
    fixture.fake.streams.set("deleteCA", (_request, send) => {
      send({ event: { case: "started", value: { jobId: JOB_ID, hostnames: [], dryRun: true } } });
      send({ event: { case: "summary", value: { jobId: JOB_ID, dryRun: true } } });
    });
    const response = await ndjsonRequest("/node/_all/certificate/ca/corp?dry_run=true");
    const lines = lineReader(response.body!);
    expect(await lines.next()).toEqual({ job_id: JOB_ID, hosts: [], dry_run: true });
    expect(await lines.next()).toEqual({
      job_id: JOB_ID,
      summary: { ok: 0, failed: 0, skipped: 0 },
      duration_ms: 0,
      dry_run: true,
    });
    expect(await lines.next()).toBeUndefined();
  });

  it("ends with an error-body line when the stream fails after the job started", async () => {
    fixture.fake.streams.set("deleteCA", (_request, send) => {
      send({ event: { case: "started", value: { jobId: JOB_ID, hostnames: ["web-1"] } } });
      throw new StatusError(GrpcStatus.INTERNAL, "job store write failed", "disk full");
    });
    const response = await ndjsonRequest("/node/_all/certificate/ca/corp");
    expect(response.status).toBe(200);
    const lines = lineReader(response.body!);
    expect(await lines.next()).toEqual({ job_id: JOB_ID, hosts: ["web-1"] });
    expect(await lines.next()).toEqual({ error: "job store write failed", details: "disk full", code: 500 });
    expect(await lines.next()).toBeUndefined();
  });

  it("a failure after the job started without NDJSON is the error body", async () => {
    fixture.fake.streams.set("deleteCA", (_request, send) => {
      send({ event: { case: "started", value: { jobId: JOB_ID, hostnames: ["web-1"] } } });
      throw new StatusError(GrpcStatus.INTERNAL, "job store write failed", "disk full");
    });
    const response = await fetch(`${fixture.gateway.url}/node/_all/certificate/ca/corp`, { method: "DELETE" });
    expect(response.status).toBe(500);
    expect(await response.json()).toEqual({ error: "job store write failed", details: "disk full", code: 500 });
  });

  it("cancels the control-plane call when the client goes away", async () => {
    fixture.fake.streams.set("deleteCA", (_request, send) => {
      send({ event: { case: "started", value: { jobId: JOB_ID, hostnames: ["web-1"] } } });
      return new Promise<void>(() => undefined);
    });
    const cancelled = fixture.fake.nextCancellation();
    const controller = new AbortController();
    const response = await fetch(`${fixture.gateway.url}/node/_all/certificate/ca/corp`, {
      method: "DELETE",
      headers: { accept: "application/x-ndjson" },
      signal: controller.signal,
    });
    const lines = lineReader(response.body!);
    expect(await lines.next()).toEqual({ job_id: JOB_ID, hosts: ["web-1"] });
    controller.abort();
    expect(await cancelled).toBe("deleteCA");
  });
});

describe("following a job over NDJSON (GET /job/{id})", () => {
  it("streams WatchJob: the first lines arrive before the control plane sends the rest", async () => {
    let releaseRest!: () => void;
    const restMayGo = new Promise<void>((resolve) => (releaseRest = resolve));
    fixture.fake.streams.set("watchJob", async (_request, send) => {
      send({
        event: {
          case: "started",
          value: { jobId: JOB_ID, hostnames: ["web-1", "web-2"], operation: "certificate.install", target: "_all" },
        },
      });
      send({ event: { case: "result", value: { hostname: "web-1", status: ResultStatus.OK, name: "corp", changed: true } } });
      await restMayGo;
      send({
        event: {
          case: "result",
          value: { hostname: "web-2", status: ResultStatus.FAILED, name: "corp", error: "agent disconnected" },
        },
      });
      send({ event: { case: "summary", value: { jobId: JOB_ID, ok: 1, failed: 1, durationMs: 1500n } } });
    });

    const response = await ndjsonRequest(`/job/${JOB_ID}`, "GET");
    expect(response.status).toBe(200);
    expect(response.headers.get("content-type")).toBe("application/x-ndjson");
    const lines = lineReader(response.body!);
    expect(await lines.next()).toEqual({ job_id: JOB_ID, hosts: ["web-1", "web-2"] });
    expect(await lines.next()).toEqual({ hostname: "web-1", status: "ok", name: "corp", changed: true });
    releaseRest();
    expect(await lines.next()).toEqual({
      hostname: "web-2",
      status: "failed",
      name: "corp",
      changed: false,
      error: "agent disconnected",
    });
    expect(await lines.next()).toEqual({ job_id: JOB_ID, summary: { ok: 1, failed: 1, skipped: 0 }, duration_ms: 1500 });
    expect(await lines.next()).toBeUndefined();
    expect(fixture.fake.calls).toEqual([
      { method: "watchJob", authorization: "Bearer tp_watch", request: create(WatchJobRequestSchema, { id: JOB_ID }) },
    ]);
  });

  it("a followed listing carries each host's certificates", async () => {
    fixture.fake.streams.set("watchJob", (_request, send) => {
      send({ event: { case: "started", value: { jobId: JOB_ID, hostnames: ["web-1"], operation: "certificate.list" } } });
      send({
        event: {
          case: "result",
          value: {
            hostname: "web-1",
            status: ResultStatus.OK,
            certificates: [
              { name: "corp", source: CertificateSource.CUSTOM, subject: "CN=corp", fingerprintSha256: "AA", notAfter: "2030-01-01T00:00:00Z" },
            ],
          },
        },
      });
      send({ event: { case: "summary", value: { jobId: JOB_ID, ok: 1 } } });
    });
    const response = await ndjsonRequest(`/job/${JOB_ID}`, "GET");
    const lines = lineReader(response.body!);
    expect(await lines.next()).toEqual({ job_id: JOB_ID, hosts: ["web-1"] });
    expect(await lines.next()).toEqual({
      hostname: "web-1",
      status: "ok",
      name: "",
      changed: false,
      certificates: [
        { name: "corp", source: "custom", subject: "CN=corp", fingerprint_sha256: "AA", not_after: "2030-01-01T00:00:00Z" },
      ],
    });
    expect(await lines.next()).toEqual({ job_id: JOB_ID, summary: { ok: 1, failed: 0, skipped: 0 }, duration_ms: 0 });
    expect(await lines.next()).toBeUndefined();
  });

  it("without NDJSON, GET /job/{id} reads the job and does not follow it", async () => {
    fixture.fake.unaries.set("getJob", () => ({ job: { id: JOB_ID, operation: "certificate.delete" } }));
    const response = await fetch(`${fixture.gateway.url}/job/${JOB_ID}`);
    expect(response.status).toBe(200);
    expect(((await response.json()) as { id: string }).id).toBe(JOB_ID);
    expect(fixture.fake.calls.map((call) => call.method)).toEqual(["getJob"]);
  });
});
