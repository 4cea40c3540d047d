// The control plane's /metrics endpoint: Prometheus text with the right values after
// real jobs, one registry per control plane, 404 for anything else.
import { create } from "@bufbuild/protobuf";
import { createServer } from "node:net";
import { afterEach, describe, expect, it } from "vitest";
import { makeCa } from "../test/fixtures/pki.js";
import { InstallCARequestSchema } from "../gen/trustplane/v1/certificate_pb.js";
import { ResultStatus } from "../gen/trustplane/v1/common_pb.js";
import { UploadRequestSchema } from "../gen/trustplane/v1/file_pb.js";
import { certificateClient, fileClient, streamJob, unary } from "./testing/client-calls.js";
import { startTestControlPlane, TEST_JOIN_TOKEN, type TestControlPlane } from "./testing/control-plane-fixture.js";
import { FakeAgent } from "./testing/fake-agent.js";
import { ControlPlaneMetrics } from "./metrics.js";

const planes: TestControlPlane[] = [];
const agents: FakeAgent[] = [];
const clients: { close(): void }[] = [];

async function start(options: Parameters<typeof startTestControlPlane>[0] = {}): Promise<TestControlPlane> {
  const cp = await startTestControlPlane({ metricsAddress: "127.0.0.1:0", ...options });
  planes.push(cp);
  return cp;
}

async function scrape(cp: TestControlPlane): Promise<string> {
  const response = await fetch(cp.controlPlane.metricsUrl!);
  expect(response.status).toBe(200);
  expect(response.headers.get("content-type")).toMatch(/^text\/plain; version=0\.0\.4/);
  return response.text();
}

/** The sample lines of `text` that start with `name` (a metric name with or without labels). */
function samples(text: string, name: string): string[] {
  return text.split("\n").filter((line) => line.startsWith(`${name} `) || line.startsWith(`${name}{`));
}

afterEach(async () => {
  for (const agent of agents.splice(0)) agent.close();
  for (const client of clients.splice(0)) client.close();
  for (const cp of planes.splice(0)) await cp.close();
});

describe("metrics endpoint", () => {
  it("counts agents, commands, jobs, latencies and streams after a job", async () => {
    const cp = await start();
    expect(cp.controlPlane.metricsUrl).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/metrics$/);
    const files = fileClient(cp.address);
    const certificates = certificateClient(cp.address);
    clients.push(files, certificates);
    await unary(files, "upload", create(UploadRequestSchema, { name: "ca.pem", content: Buffer.from(makeCa().certPem) }), cp.keys.write);
    for (const [hostname, answer] of [
      ["ok-1", ResultStatus.OK],
      ["ok-2", ResultStatus.OK],
      ["bad-1", ResultStatus.FAILED],
    ] as const) {
      agents.push(await FakeAgent.connect(cp.address, { hostname, joinToken: TEST_JOIN_TOKEN, autoAnswer: () => ({ status: answer, error: answer === ResultStatus.OK ? "" : "no" }) }));
    }
    const gone = await FakeAgent.connect(cp.address, { hostname: "gone-1", joinToken: TEST_JOIN_TOKEN });
    gone.end();
    await cp.controlPlane.registry.whenOffline("gone-1");
    // A second stream for a known hostname is a reconnect.
    agents.push(await FakeAgent.connect(cp.address, { hostname: "gone-1", joinToken: TEST_JOIN_TOKEN, autoAnswer: () => ({ status: ResultStatus.SKIPPED, error: "unsupported" }) }));

    const { error } = await streamJob(certificates, "installCA", create(InstallCARequestSchema, { target: "_all", name: "corp-root", object: "ca.pem" }), cp.keys.write);
    expect(error).toBeUndefined();

    const text = await scrape(cp);
    expect(samples(text, "trustplane_agents_online")).toEqual(["trustplane_agents_online 4"]);
    expect(samples(text, "trustplane_agents_offline")).toEqual(["trustplane_agents_offline 0"]);
    expect(samples(text, "trustplane_commands_total").sort()).toEqual([
      'trustplane_commands_total{kind="certificate.install",status="failed"} 1',
      'trustplane_commands_total{kind="certificate.install",status="ok"} 2',
      'trustplane_commands_total{kind="certificate.install",status="skipped"} 1',
    ]);
    expect(samples(text, "trustplane_jobs_total")).toEqual(['trustplane_jobs_total{kind="certificate.install",state="partial_failure"} 1']);
    expect(samples(text, "trustplane_job_duration_seconds_count")).toEqual(['trustplane_job_duration_seconds_count{kind="certificate.install"} 1']);
    expect(samples(text, "trustplane_host_latency_seconds_count")).toEqual(['trustplane_host_latency_seconds_count{kind="certificate.install"} 4']);
    expect(samples(text, "trustplane_agent_stream_connects_total")).toEqual(["trustplane_agent_stream_connects_total 5"]);
    expect(samples(text, "trustplane_agent_stream_reconnects_total")).toEqual(["trustplane_agent_stream_reconnects_total 1"]);
    expect(samples(text, "trustplane_object_store_errors_total")).toEqual(["trustplane_object_store_errors_total 0"]);
    expect(samples(text, "trustplane_job_store_errors_total")).toEqual(["trustplane_job_store_errors_total 0"]);
    expect(text).toContain("# TYPE trustplane_job_duration_seconds histogram");
    expect(samples(text, "process_cpu_user_seconds_total")).toHaveLength(1);

    agents.at(-1)!.close();
    await cp.controlPlane.registry.whenOffline("gone-1");
    const after = await scrape(cp);
    expect(samples(after, "trustplane_agents_online")).toEqual(["trustplane_agents_online 3"]);
    expect(samples(after, "trustplane_agents_offline")).toEqual(["trustplane_agents_offline 1"]);
  });

  it("shows a running job's results at a scrape, and adds each result once", async () => {
    const metrics = new ControlPlaneMetrics();
    const job = metrics.job("certificate.delete");
    job.result(ResultStatus.OK, 3);
    job.result(ResultStatus.OK, 4);
    job.result(ResultStatus.FAILED, undefined);
    const commands = async () => samples(await metrics.registry.metrics(), "trustplane_commands_total").sort();
    expect(await commands()).toEqual([
      'trustplane_commands_total{kind="certificate.delete",status="failed"} 1',
      'trustplane_commands_total{kind="certificate.delete",status="ok"} 2',
    ]);
    job.result(ResultStatus.SKIPPED, undefined);
    job.finished("partial_failure", 12);
    expect(await commands()).toEqual([
      'trustplane_commands_total{kind="certificate.delete",status="failed"} 1',
      'trustplane_commands_total{kind="certificate.delete",status="ok"} 2',
      'trustplane_commands_total{kind="certificate.delete",status="skipped"} 1',
    ]);
    expect(samples(await metrics.registry.metrics(), "trustplane_host_latency_seconds_count")).toEqual([
      'trustplane_host_latency_seconds_count{kind="certificate.delete"} 2',
    ]);
  });

  it("keeps each control plane's metrics apart", async () => {
    const first = await start();
    const second = await start();
    agents.push(await FakeAgent.connect(first.address, { hostname: "one-1", joinToken: TEST_JOIN_TOKEN }));
    expect(samples(await scrape(first), "trustplane_agent_stream_connects_total")).toEqual(["trustplane_agent_stream_connects_total 1"]);
    expect(samples(await scrape(second), "trustplane_agent_stream_connects_total")).toEqual(["trustplane_agent_stream_connects_total 0"]);
  });

  it("counts object-store faults", async () => {
    const closedPort = await new Promise<number>((resolve) => {
      const probe = createServer().listen(0, "127.0.0.1", () => {
        const { port } = probe.address() as { port: number };
        probe.close(() => resolve(port));
      });
    });
    const cp = await start({ objectStore: "s3://down-bucket", s3: { endpoint: `http://127.0.0.1:${closedPort}`, accessKey: "a", secretKey: "b" } });
    const certificates = certificateClient(cp.address);
    clients.push(certificates);
    agents.push(await FakeAgent.connect(cp.address, { hostname: "s3-1", joinToken: TEST_JOIN_TOKEN }));
    const { error } = await streamJob(certificates, "installCA", create(InstallCARequestSchema, { target: "s3-1", name: "corp-root", object: "ca.pem" }), cp.keys.write);
    expect(error?.message).toMatch(/^object store unavailable: /);
    expect(samples(await scrape(cp), "trustplane_object_store_errors_total")).toEqual(["trustplane_object_store_errors_total 1"]);
  });

  it.each([
    ["GET", "/"],
    ["GET", "/metrics/extra"],
    ["POST", "/metrics"],
  ])("answers %s %s with 404", async (method, path) => {
    const cp = await start();
    const response = await fetch(new URL(path, cp.controlPlane.metricsUrl), { method });
    expect(response.status).toBe(404);
    await response.text();
  });

  it("has no listener without metricsAddress", async () => {
    const cp = await startTestControlPlane();
    planes.push(cp);
    expect(cp.controlPlane.metricsUrl).toBeUndefined();
  });
});
