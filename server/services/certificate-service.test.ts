// In-process: a real control plane on port 0, fake agents on raw grpc-js streams,
// raw grpc-js clients calling CertificateService.
import { create } from "@bufbuild/protobuf";
import { status } from "@grpc/grpc-js";
import { createHash } from "node:crypto";
import { createServer } from "node:net";
import { afterEach, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { makeCa, makeLeaf, type TestCa } from "../../test/fixtures/pki.js";
import {
  DeleteCARequestSchema,
  InstallCARequestSchema,
  ListCARequestSchema,
  UpdateCARequestSchema,
} from "../../gen/trustplane/v1/certificate_pb.js";
import { CertificateSource, ResultStatus, type HostResult, type JobEvent } from "../../gen/trustplane/v1/common_pb.js";
import { UploadRequestSchema } from "../../gen/trustplane/v1/file_pb.js";
import { certificateClient, fileClient, streamJob, unary } from "../testing/client-calls.js";
import { startTestControlPlane, TEST_JOIN_TOKEN, type TestControlPlane } from "../testing/control-plane-fixture.js";
import { FakeAgent, type FakeAgentOptions } from "../testing/fake-agent.js";

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

let cp: TestControlPlane;
let certificates: ReturnType<typeof certificateClient>;
let files: ReturnType<typeof fileClient>;
let ca: TestCa;
const agents: FakeAgent[] = [];

async function connectAgent(options: Omit<FakeAgentOptions, "joinToken">): Promise<FakeAgent> {
  const agent = await FakeAgent.connect(cp.address, { joinToken: TEST_JOIN_TOKEN, ...options });
  agents.push(agent);
  return agent;
}

const answerOk: FakeAgentOptions["autoAnswer"] = () => ({ status: ResultStatus.OK, changed: true });

async function upload(name: string, content: string | Buffer): Promise<void> {
  const answer = await unary(files, "upload", create(UploadRequestSchema, { name, content: Buffer.from(content), force: true }), cp.keys.write);
  expect(answer.error).toBeUndefined();
}

function install(target: string, name: string, object: string, key: string | null = cp.keys.write, options: { timeoutSeconds?: number; dryRun?: boolean } = {}) {
  return streamJob(certificates, "installCA", create(InstallCARequestSchema, { target, name, object, options }), key ?? undefined);
}

function results(events: JobEvent[]): HostResult[] {
  return events.flatMap((event) => (event.event.case === "result" ? [event.event.value] : [])).sort((a, b) => a.hostname.localeCompare(b.hostname));
}

function plain(result: HostResult) {
  return { hostname: result.hostname, status: result.status, name: result.name, changed: result.changed, error: result.error };
}

const objects = new Map<string, string>();

beforeAll(() => {
  ca = makeCa({ commonName: "service test CA" });
  objects.set("corp-ca.pem", ca.certPem);
  objects.set("leaf.pem", makeLeaf(ca).certPem);
  objects.set("not-ca.pem", makeCa({ notCa: true }).certPem);
  objects.set("expired.pem", makeCa({ expired: true }).certPem);
  objects.set("with-key.pem", ca.certPem + ca.keyPem);
  objects.set("bundle.pem", ca.certPem + makeCa({ commonName: "second" }).certPem);
  objects.set("garbage.pem", "hello, not a certificate\n");
});

// A fresh control plane per test: agents a test leaves offline stay known, and must
// not show up in the next test's `_all`.
beforeEach(async () => {
  cp = await startTestControlPlane({ heartbeatIntervalMs: 1234 });
  certificates = certificateClient(cp.address);
  files = fileClient(cp.address);
  for (const [name, content] of objects) await upload(name, content);
});

afterEach(async () => {
  for (const agent of agents.splice(0)) agent.close();
  certificates?.close();
  files?.close();
  await cp?.close();
});

describe("InstallCA", () => {
  it("streams started, one result per host, then the summary; each agent gets the PEM and its digest", async () => {
    const web = await connectAgent({ hostname: "web-1", labels: { env: "prod", group: "web.dev.us-east" }, autoAnswer: answerOk });
    const db = await connectAgent({ hostname: "db-1", labels: { env: "prod", group: "db" }, autoAnswer: answerOk });
    expect((await web.welcome).heartbeatIntervalMs).toBe(1234);

    const { events, error } = await install("env:prod", "corp-root", "corp-ca.pem");
    expect(error).toBeUndefined();
    expect(events).toHaveLength(4);
    const started = events[0]!.event;
    expect(started.case).toBe("started");
    if (started.case !== "started") throw new Error("unreachable");
    expect(started.value.jobId).toMatch(UUID);
    expect(started.value.hostnames).toEqual(["db-1", "web-1"]);
    expect(started.value.operation).toBe("certificate.install");
    expect(started.value.target).toBe("env:prod");
    expect(started.value.dryRun).toBe(false);
    expect(events.slice(1, 3).every((event) => event.event.case === "result")).toBe(true);
    expect(results(events).map(plain)).toEqual([
      { hostname: "db-1", status: ResultStatus.OK, name: "corp-root", changed: true, error: "" },
      { hostname: "web-1", status: ResultStatus.OK, name: "corp-root", changed: true, error: "" },
    ]);
    const summary = events[3]!.event;
    expect(summary.case).toBe("summary");
    if (summary.case !== "summary") throw new Error("unreachable");
    expect({ jobId: summary.value.jobId, ok: summary.value.ok, failed: summary.value.failed, skipped: summary.value.skipped, dryRun: summary.value.dryRun }).toEqual({
      jobId: started.value.jobId,
      ok: 2,
      failed: 0,
      skipped: 0,
      dryRun: false,
    });

    for (const agent of [web, db]) {
      expect(agent.commands).toHaveLength(1);
      const command = agent.commands[0]!;
      expect(command.jobId).toBe(started.value.jobId);
      expect(command.dryRun).toBe(false);
      expect(command.kind.case).toBe("installCa");
      if (command.kind.case !== "installCa") throw new Error("unreachable");
      expect(Buffer.from(command.kind.value.pem).toString()).toBe(ca.certPem);
      expect(command.kind.value.sha256).toBe(createHash("sha256").update(ca.certPem).digest("hex"));
      expect(command.kind.value.name).toBe("corp-root");
      expect(command.kind.value.object).toBe("corp-ca.pem");
      expect(command.kind.value.requireExisting).toBe(false);
    }
    expect(web.commands[0]!.id).not.toBe(db.commands[0]!.id);
  });

  it("matches label hierarchies on dot boundaries and ANDs selectors", async () => {
    await connectAgent({ hostname: "a-1", labels: { env: "prod", group: "web.dev.us-east" }, autoAnswer: answerOk });
    await connectAgent({ hostname: "b-1", labels: { env: "dev", group: "web" }, autoAnswer: answerOk });
    await connectAgent({ hostname: "c-1", labels: { env: "prod", group: "webserver" }, autoAnswer: answerOk });

    expect(results((await install("group:web", "x", "corp-ca.pem")).events).map((r) => r.hostname)).toEqual(["a-1", "b-1"]);
    expect(results((await install("env:prod,group:web", "x", "corp-ca.pem")).events).map((r) => r.hostname)).toEqual(["a-1"]);
    expect(results((await install("group:web.dev", "x", "corp-ca.pem")).events).map((r) => r.hostname)).toEqual(["a-1"]);
    expect(results((await install("c-1", "x", "corp-ca.pem")).events).map((r) => r.hostname)).toEqual(["c-1"]);
  });

  it("passes dry run through to the command, JobStarted and JobSummary", async () => {
    const agent = await connectAgent({ hostname: "dry-1", autoAnswer: () => ({ status: ResultStatus.OK, changed: true }) });
    const { events, error } = await install("dry-1", "corp-root", "corp-ca.pem", cp.keys.write, { dryRun: true });
    expect(error).toBeUndefined();
    expect(agent.commands[0]!.dryRun).toBe(true);
    expect(events[0]!.event.case === "started" && events[0]!.event.value.dryRun).toBe(true);
    const summary = events.at(-1)?.event;
    expect(summary?.case === "summary" && summary.value.dryRun).toBe(true);
  });

  it("reports failed and skipped answers as results, not call errors", async () => {
    await connectAgent({ hostname: "f-1", autoAnswer: () => ({ status: ResultStatus.FAILED, error: "update-ca-certificates: exit 1" }) });
    await connectAgent({ hostname: "s-1", autoAnswer: () => ({ status: ResultStatus.SKIPPED, error: "no supported trust store" }) });
    const { events, error } = await install("_all", "corp-root", "corp-ca.pem");
    expect(error).toBeUndefined();
    expect(results(events).map(plain)).toEqual([
      { hostname: "f-1", status: ResultStatus.FAILED, name: "corp-root", changed: false, error: "update-ca-certificates: exit 1" },
      { hostname: "s-1", status: ResultStatus.SKIPPED, name: "corp-root", changed: false, error: "no supported trust store" },
    ]);
    const summary = events.at(-1)!.event;
    expect(summary.case === "summary" && [summary.value.ok, summary.value.failed, summary.value.skipped]).toEqual([0, 1, 1]);
  });

  it("refuses without a key, with an unknown key, and with a read key — before anything is dispatched", async () => {
    const agent = await connectAgent({ hostname: "auth-1", autoAnswer: answerOk });
    const none = await install("auth-1", "corp-root", "corp-ca.pem", null);
    expect(none.error).toMatchObject({ code: status.UNAUTHENTICATED, message: "API key required" });
    expect(none.events).toEqual([]);
    const unknown = await install("auth-1", "corp-root", "corp-ca.pem", "tp_not-a-key");
    expect(unknown.error).toMatchObject({ code: status.UNAUTHENTICATED, message: "unknown API key" });
    const reader = await install("auth-1", "corp-root", "corp-ca.pem", cp.keys.read);
    expect(reader.error).toMatchObject({ code: status.PERMISSION_DENIED, message: `key "${cp.keyIds.read}" lacks permission certificate:write` });
    await agent.roundTrip();
    expect(agent.commands).toEqual([]);
  });

  it.each([
    ["a bad name", "val-1", "../x", "corp-ca.pem", /^invalid certificate name "\.\.\/x": /],
    ["a bad target", "env:pr*d", "corp-root", "corp-ca.pem", /^invalid target "env:pr\*d": /],
    ["an unknown host", "nope-1", "corp-root", "corp-ca.pem", /^target agent "nope-1" not found$/],
    ["a selector matching nothing", "env:nope", "corp-root", "corp-ca.pem", /^no agent matches target "env:nope"$/],
    ["an unknown object", "val-1", "corp-root", "missing.pem", /^object "missing\.pem" not found$/],
    ["a bad object name", "val-1", "corp-root", "../etc/passwd", /^invalid object name "\.\.\/etc\/passwd": /],
    ["a non-CA certificate", "val-1", "corp-root", "not-ca.pem", /^object "not-ca\.pem" is not a CA certificate: basic constraints CA:FALSE$/],
    ["a leaf", "val-1", "corp-root", "leaf.pem", /^object "leaf\.pem" is not a CA certificate: basic constraints CA:FALSE$/],
    ["an expired CA", "val-1", "corp-root", "expired.pem", /^object "expired\.pem" expired on 2020-01-02T00:00:00\.000Z$/],
    ["a CA with its private key", "val-1", "corp-root", "with-key.pem", /^object "with-key\.pem" contains a PRIVATE KEY block/],
    ["a bundle", "val-1", "corp-root", "bundle.pem", /^object "bundle\.pem" holds 2 certificates, expected exactly 1$/],
    ["garbage", "val-1", "corp-root", "garbage.pem", /^object "garbage\.pem" is not PEM/],
  ])("refuses %s with INVALID_ARGUMENT and dispatches nothing", async (_case, target, name, object, message) => {
    const agent = await connectAgent({ hostname: "val-1", labels: { env: "prod" }, autoAnswer: answerOk });
    const { events, error } = await install(target, name, object);
    expect(error?.code).toBe(status.INVALID_ARGUMENT);
    expect(error?.message).toMatch(message);
    expect(error?.details).not.toBe("");
    expect(events).toEqual([]);
    await agent.roundTrip();
    expect(agent.commands).toEqual([]);
  });

  it("refuses a timeout above 600 s", async () => {
    await connectAgent({ hostname: "t-1", autoAnswer: answerOk });
    const { error } = await install("t-1", "corp-root", "corp-ca.pem", cp.keys.write, { timeoutSeconds: 601 });
    expect(error).toMatchObject({ code: status.INVALID_ARGUMENT, message: "timeout_seconds must be at most 600, got 601" });
  });

  it("fails a host whose stream ends mid-command at once with `agent disconnected`", async () => {
    const leaving = await connectAgent({ hostname: "leaving-1" });
    await connectAgent({ hostname: "staying-1", autoAnswer: answerOk });
    const started = Date.now();
    const job = install("_all", "corp-root", "corp-ca.pem"); // default timeout: 30 s
    await leaving.nextCommand();
    leaving.end();
    const { events, error } = await job;
    expect(error).toBeUndefined();
    expect(Date.now() - started).toBeLessThan(10_000);
    expect(results(events).map(plain)).toEqual([
      { hostname: "leaving-1", status: ResultStatus.FAILED, name: "corp-root", changed: false, error: "agent disconnected" },
      { hostname: "staying-1", status: ResultStatus.OK, name: "corp-root", changed: true, error: "" },
    ]);
  });

  it("fails `agent disconnected` when the agent's connection dies", async () => {
    const dying = await connectAgent({ hostname: "dying-1" });
    const job = install("dying-1", "corp-root", "corp-ca.pem");
    await dying.nextCommand();
    dying.close();
    const { events } = await job;
    expect(results(events).map(plain)).toEqual([
      { hostname: "dying-1", status: ResultStatus.FAILED, name: "corp-root", changed: false, error: "agent disconnected" },
    ]);
  });

  it("fails `timeout` when the agent does not answer in time, and ignores the late answer", async () => {
    const slow = await connectAgent({ hostname: "slow-1" });
    const { events, error } = await install("slow-1", "corp-root", "corp-ca.pem", cp.keys.write, { timeoutSeconds: 1 });
    expect(error).toBeUndefined();
    expect(results(events).map(plain)).toEqual([
      { hostname: "slow-1", status: ResultStatus.FAILED, name: "corp-root", changed: false, error: "timeout" },
    ]);
    expect(cp.controlPlane.registry.view("slow-1")?.inFlight).toBe(0);
    slow.answer(slow.commands[0]!.id, { status: ResultStatus.OK, changed: true });
    await slow.roundTrip();
    expect(cp.controlPlane.registry.view("slow-1")).toMatchObject({ state: "online", inFlight: 0 });
  });

  it("reports a known offline agent as failed with its last-seen time", async () => {
    const gone = await connectAgent({ hostname: "gone-1", labels: { env: "gone" } });
    gone.end();
    const view = await cp.controlPlane.registry.whenOffline("gone-1");
    const online = await connectAgent({ hostname: "here-1", labels: { env: "gone" }, autoAnswer: answerOk });
    const { events, error } = await install("env:gone", "corp-root", "corp-ca.pem");
    expect(error).toBeUndefined();
    expect(events[0]!.event.case === "started" && events[0]!.event.value.hostnames).toEqual(["gone-1", "here-1"]);
    expect(results(events).map(plain)).toEqual([
      { hostname: "gone-1", status: ResultStatus.FAILED, name: "corp-root", changed: false, error: `agent offline (last seen ${view.lastSeen.toISOString()})` },
      { hostname: "here-1", status: ResultStatus.OK, name: "corp-root", changed: true, error: "" },
    ]);
    expect(online.commands).toHaveLength(1);
  });

  it("_any sends to exactly one online agent, the least busy", async () => {
    const busy = await connectAgent({ hostname: "any-1" });
    const idle = await connectAgent({ hostname: "any-2", autoAnswer: answerOk });
    const pending = install("any-1", "corp-root", "corp-ca.pem");
    await busy.nextCommand();
    for (let i = 0; i < 3; i++) {
      const { events } = await install("_any", "corp-root", "corp-ca.pem");
      expect(results(events).map((r) => r.hostname)).toEqual(["any-2"]);
    }
    expect(idle.commands).toHaveLength(3);
    busy.answer(busy.commands[0]!.id, { status: ResultStatus.OK });
    expect(results((await pending).events).map((r) => r.status)).toEqual([ResultStatus.OK]);
  });

  it("_any with no online agent is INVALID_ARGUMENT", async () => {
    const { error } = await install("_any", "corp-root", "corp-ca.pem");
    expect(error).toMatchObject({ code: status.INVALID_ARGUMENT, message: 'no agent online for target "_any"' });
  });

  it("a reconnecting agent replaces its old stream; the old stream's command fails `agent reconnected`", async () => {
    const first = await connectAgent({ hostname: "twice-1" });
    const job = install("twice-1", "corp-root", "corp-ca.pem");
    await first.nextCommand();
    await connectAgent({ hostname: "twice-1", autoAnswer: answerOk });
    const { events } = await job;
    expect(results(events).map(plain)).toEqual([
      { hostname: "twice-1", status: ResultStatus.FAILED, name: "corp-root", changed: false, error: "agent reconnected" },
    ]);
    expect((await first.status).code).toBe(status.ABORTED);
    const again = await install("twice-1", "corp-root", "corp-ca.pem");
    expect(results(again.events).map((r) => r.status)).toEqual([ResultStatus.OK]);
  });
});

describe("UpdateCA, DeleteCA, ListCA", () => {
  it("UpdateCA sends install_ca with require_existing", async () => {
    const agent = await connectAgent({ hostname: "upd-1", autoAnswer: () => ({ status: ResultStatus.FAILED, error: 'certificate "corp-root" is not installed' }) });
    const { events, error } = await streamJob(
      certificates,
      "updateCA",
      create(UpdateCARequestSchema, { target: "upd-1", name: "corp-root", object: "corp-ca.pem" }),
      cp.keys.write,
    );
    expect(error).toBeUndefined();
    const command = agent.commands[0]!;
    expect(command.kind.case === "installCa" && command.kind.value.requireExisting).toBe(true);
    expect(events[0]!.event.case === "started" && events[0]!.event.value.operation).toBe("certificate.update");
    expect(results(events).map(plain)).toEqual([
      { hostname: "upd-1", status: ResultStatus.FAILED, name: "corp-root", changed: false, error: 'certificate "corp-root" is not installed' },
    ]);
  });

  it("DeleteCA sends delete_ca and needs certificate:write", async () => {
    const agent = await connectAgent({ hostname: "del-1", autoAnswer: () => ({ status: ResultStatus.OK, changed: true }) });
    const request = create(DeleteCARequestSchema, { target: "del-1", name: "corp-root" });
    const denied = await streamJob(certificates, "deleteCA", request, cp.keys.read);
    expect(denied.error?.code).toBe(status.PERMISSION_DENIED);
    const bad = await streamJob(certificates, "deleteCA", create(DeleteCARequestSchema, { target: "del-1", name: "a b" }), cp.keys.write);
    expect(bad.error?.code).toBe(status.INVALID_ARGUMENT);
    const { events } = await streamJob(certificates, "deleteCA", request, cp.keys.write);
    expect(agent.commands).toHaveLength(1);
    const command = agent.commands[0]!;
    expect(command.kind.case).toBe("deleteCa");
    expect(command.kind.case === "deleteCa" && command.kind.value.name).toBe("corp-root");
    expect(events[0]!.event.case === "started" && events[0]!.event.value.operation).toBe("certificate.delete");
    expect(results(events).map(plain)).toEqual([{ hostname: "del-1", status: ResultStatus.OK, name: "corp-root", changed: true, error: "" }]);
  });

  it("ListCA needs only certificate:read and returns each host's certificates", async () => {
    const agent = await connectAgent({
      hostname: "list-1",
      autoAnswer: () => ({
        status: ResultStatus.OK,
        certificates: [
          { $typeName: "trustplane.v1.CertificateInfo", name: "corp-root", source: CertificateSource.CUSTOM, object: "corp-ca.pem", sha256: "ab", subject: "CN=x", fingerprintSha256: "AA:BB", notAfter: "2035-01-01T00:00:00Z" },
        ],
      }),
    });
    const { events, error } = await streamJob(
      certificates,
      "listCA",
      create(ListCARequestSchema, { target: "list-1", source: CertificateSource.CUSTOM }),
      cp.keys.read,
    );
    expect(error).toBeUndefined();
    const command = agent.commands[0]!;
    expect(command.kind.case === "listCa" && command.kind.value.source).toBe(CertificateSource.CUSTOM);
    const [result] = results(events);
    expect(result!.name).toBe("");
    expect(result!.certificates.map((c) => [c.name, c.source, c.object, c.fingerprintSha256])).toEqual([["corp-root", CertificateSource.CUSTOM, "corp-ca.pem", "AA:BB"]]);
  });
});

describe("object store down", () => {
  it("InstallCA answers UNAVAILABLE and dispatches nothing", async () => {
    const closedPort = await new Promise<number>((resolve) => {
      const probe = createServer().listen(0, "127.0.0.1", () => {
        const { port } = probe.address() as { port: number };
        probe.close(() => resolve(port));
      });
    });
    await cp.close();
    cp = await startTestControlPlane({ objectStore: "s3://down-bucket", s3: { endpoint: `http://127.0.0.1:${closedPort}`, accessKey: "a", secretKey: "b" } });
    certificates.close();
    certificates = certificateClient(cp.address);
    const agent = await connectAgent({ hostname: "s3-1", autoAnswer: answerOk });
    const { events, error } = await install("s3-1", "corp-root", "corp-ca.pem");
    expect(error?.code).toBe(status.UNAVAILABLE);
    expect(error?.message).toMatch(/^object store unavailable: /);
    expect(events).toEqual([]);
    await agent.roundTrip();
    expect(agent.commands).toEqual([]);
  });
});
