// GET /metrics: requests by route template (never the raw path), control-plane
// errors by gRPC code, open NDJSON answers, the process metrics, and one registry
// per gateway.
import { createClient } from "@connectrpc/connect";
import { createConnectTransport } from "@connectrpc/connect-node";
import { afterEach, describe, expect, it } from "vitest";
import { GrpcStatus, StatusError } from "../common/status-error.js";
import { ResultStatus } from "../gen/trustplane/v1/common_pb.js";
import { FileService } from "../gen/trustplane/v1/file_pb.js";
import { startGatewayFixture, type GatewayFixture } from "./testing/gateway-fixture.js";

const JOB_ID = "5b0e3c1a-7d2f-4e6a-9b8c-1d2e3f4a5b6c";
const fixtures: GatewayFixture[] = [];

afterEach(async () => {
  for (const fixture of fixtures.splice(0)) await fixture.close();
});

async function start(): Promise<GatewayFixture> {
  const fixture = await startGatewayFixture();
  fixtures.push(fixture);
  return fixture;
}

interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

async function scrape(fixture: GatewayFixture): Promise<{ type: string | null; text: string; samples: Sample[] }> {
  const response = await fetch(`${fixture.gateway.url}/metrics`);
  expect(response.status).toBe(200);
  const text = await response.text();
  const samples = text
    .split("\n")
    .filter((line) => line && !line.startsWith("#"))
    .map((line) => {
      const match = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$/.exec(line);
      if (!match) throw new Error(`unparsable metrics line: ${line}`);
      const labels = Object.fromEntries([...(match[2] ?? "").matchAll(/(\w+)="([^"]*)"/g)].map((label) => [label[1]!, label[2]!]));
      return { name: match[1]!, labels, value: Number(match[3]) };
    });
  return { type: response.headers.get("content-type"), text, samples };
}

/** The value of the sample with exactly these labels, or undefined. */
async function value(fixture: GatewayFixture, name: string, labels: Record<string, string> = {}): Promise<number | undefined> {
  const { samples } = await scrape(fixture);
  const wanted = JSON.stringify(Object.entries(labels).sort());
  return samples.find((sample) => sample.name === name && JSON.stringify(Object.entries(sample.labels).sort()) === wanted)
    ?.value;
}

const REQUESTS = "trustplane_gateway_http_requests_total";

describe("GET /metrics", () => {
  it("counts REST requests by route template, method and status, without an API key", async () => {
    const fixture = await start();
    fixture.fake.unaries.set("getJob", () => ({ job: { id: JOB_ID, operation: "certificate.delete" } }));
    fixture.fake.unaries.set("getAgent", () => {
      throw new StatusError(GrpcStatus.NOT_FOUND, 'agent "ghost" not found');
    });
    for (let i = 0; i < 2; i++) expect((await fetch(`${fixture.gateway.url}/job/${JOB_ID}`)).status).toBe(200);
    expect((await fetch(`${fixture.gateway.url}/agent/ghost`)).status).toBe(404);
    expect((await fetch(`${fixture.gateway.url}/no/such/path`)).status).toBe(404);

    await expect.poll(() => value(fixture, REQUESTS, { method: "GET", route: "/job/{id}", status: "200" })).toBe(2);
    await expect.poll(() => value(fixture, REQUESTS, { method: "GET", route: "/agent/{hostname}", status: "404" })).toBe(1);
    await expect.poll(() => value(fixture, REQUESTS, { method: "GET", route: "unmatched", status: "404" })).toBe(1);
    const { type, text, samples } = await scrape(fixture);
    expect(type).toBe("text/plain; version=0.0.4; charset=utf-8");
    expect(text).not.toContain(JOB_ID);
    expect(text).not.toContain("ghost");
    expect(text).toContain("# TYPE trustplane_gateway_http_request_duration_seconds histogram");
    const durations = samples.find(
      (sample) =>
        sample.name === "trustplane_gateway_http_request_duration_seconds_count" &&
        sample.labels.route === "/job/{id}" &&
        sample.labels.method === "GET",
    );
    expect(durations?.value).toBe(2);
    expect(await value(fixture, "trustplane_gateway_control_plane_errors_total", { code: "NOT_FOUND" })).toBe(1);
  });

  it("labels a forwarded RPC with its path", async () => {
    const fixture = await start();
    fixture.fake.unaries.set("list", () => ({ files: [] }));
    const files = createClient(FileService, createConnectTransport({ baseUrl: fixture.gateway.url, httpVersion: "1.1" }));
    await files.list({});
    await expect
      .poll(() => value(fixture, REQUESTS, { method: "POST", route: "/trustplane.v1.FileService/List", status: "200" }))
      .toBe(1);
  });

  it("counts a control-plane error in the middle of a stream, and open NDJSON answers", async () => {
    const fixture = await start();
    let fail!: () => void;
    const failNow = new Promise<void>((resolve) => (fail = resolve));
    fixture.fake.streams.set("deleteCA", async (_request, send) => {
      send({ event: { case: "started", value: { jobId: JOB_ID, hostnames: ["web-1"] } } });
      send({ event: { case: "result", value: { hostname: "web-1", status: ResultStatus.OK, name: "corp" } } });
      await failNow;
      throw new StatusError(GrpcStatus.INTERNAL, "job store write failed");
    });
    expect(await value(fixture, "trustplane_gateway_ndjson_streams_open")).toBe(0);
    const response = await fetch(`${fixture.gateway.url}/node/_all/certificate/ca/corp`, {
      method: "DELETE",
      headers: { accept: "application/x-ndjson" },
    });
    expect(response.status).toBe(200);
    expect(await value(fixture, "trustplane_gateway_ndjson_streams_open")).toBe(1);
    fail();
    const lines = (await response.text()).trim().split("\n").map((line) => JSON.parse(line) as unknown);
    expect(lines.at(-1)).toEqual({ error: "job store write failed", details: "control plane answered INTERNAL", code: 500 });
    await expect.poll(() => value(fixture, "trustplane_gateway_ndjson_streams_open")).toBe(0);
    expect(await value(fixture, "trustplane_gateway_control_plane_errors_total", { code: "INTERNAL" })).toBe(1);
  });

  it("has the process metrics, and each gateway its own registry", async () => {
    const first = await start();
    const second = await start();
    expect((await fetch(`${first.gateway.url}/health`)).status).toBe(200);
    await expect.poll(() => value(first, REQUESTS, { method: "GET", route: "/health", status: "200" })).toBe(1);
    expect(await value(second, REQUESTS, { method: "GET", route: "/health", status: "200" })).toBeUndefined();
    const { samples } = await scrape(second);
    const names = new Set(samples.map((sample) => sample.name));
    for (const name of ["process_cpu_user_seconds_total", "process_resident_memory_bytes", "nodejs_heap_size_used_bytes"]) {
      expect(names, name).toContain(name);
    }
  });
});
