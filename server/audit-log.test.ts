// The audit trail of a real control plane: one JSON line per authenticated call that
// changes state or reads trust data, in a 0600 file, without keys or PEM bodies.
import { create } from "@bufbuild/protobuf";
import { createHash } from "node:crypto";
import { mkdtemp, readFile, rm, stat, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Writable } from "node:stream";
import { pino } from "pino";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { DeleteCARequestSchema, InstallCARequestSchema, ListCARequestSchema } from "../gen/trustplane/v1/certificate_pb.js";
import { ResultStatus } from "../gen/trustplane/v1/common_pb.js";
import { GetRequestSchema, ListRequestSchema, UploadRequestSchema } from "../gen/trustplane/v1/file_pb.js";
import { ForgetAgentRequestSchema } from "../gen/trustplane/v1/fleet_pb.js";
import { GetJobRequestSchema } from "../gen/trustplane/v1/job_pb.js";
import { makeCa } from "../test/fixtures/pki.js";
import { AuditLog } from "./audit-log.js";
import { AuthFailureLog, peerAddress } from "./auth/auth-failure-log.js";
import { certificateClient, fileClient, fleetClient, jobClient, streamJob, unary } from "./testing/client-calls.js";
import { startTestControlPlane, TEST_JOIN_TOKEN, type TestControlPlane } from "./testing/control-plane-fixture.js";
import { FakeAgent } from "./testing/fake-agent.js";

let dir: string;
const cleanups: (() => void | Promise<void>)[] = [];

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), "trustplane-audit-"));
});

afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
  await rm(dir, { recursive: true, force: true });
});

function collectingLogger(level = "info") {
  const lines: Record<string, unknown>[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _encoding, callback) {
      for (const line of chunk.toString("utf8").split("\n")) if (line !== "") lines.push(JSON.parse(line) as Record<string, unknown>);
      callback();
    },
  });
  return { logger: pino({ level }, sink), lines };
}

describe("audit file of a control plane", () => {
  it("records audited calls with key id, RPC, target, job id, status and duration; nothing else; no secrets", async () => {
    const auditFile = join(dir, "nested", "audit.jsonl");
    const cp: TestControlPlane = await startTestControlPlane({ auditFile });
    let stopped = false;
    cleanups.push(async () => {
      if (!stopped) await cp.close();
    });
    const files = fileClient(cp.address);
    const certificates = certificateClient(cp.address);
    const fleet = fleetClient(cp.address);
    const jobs = jobClient(cp.address);
    cleanups.push(() => [files, certificates, fleet, jobs].forEach((client) => client.close()));
    const agent = await FakeAgent.connect(cp.address, { hostname: "web-1", joinToken: TEST_JOIN_TOKEN, autoAnswer: () => ({ status: ResultStatus.OK, changed: true }) });
    cleanups.push(() => agent.close());
    const ca = makeCa();
    const sha256 = createHash("sha256").update(ca.certPem).digest("hex");

    const upload = (key: string) => unary(files, "upload", create(UploadRequestSchema, { name: "ca.pem", content: Buffer.from(ca.certPem) }), key);
    expect((await upload(cp.keys.write)).error).toBeUndefined();
    expect((await upload(cp.keys.read)).error?.code).toBeDefined(); // PERMISSION_DENIED: audited
    expect((await upload("tp_not-a-key")).error?.code).toBeDefined(); // unauthenticated: not audited
    expect((await unary(files, "list", create(ListRequestSchema), cp.keys.read)).error).toBeUndefined(); // not audited
    expect((await unary(files, "get", create(GetRequestSchema, { name: "ca.pem" }), cp.keys.read)).error).toBeUndefined();
    const install = await streamJob(certificates, "installCA", create(InstallCARequestSchema, { target: "web-1", name: "corp", object: "ca.pem" }), cp.keys.write);
    const jobId = install.events[0]!.event.case === "started" ? install.events[0]!.event.value.jobId : "";
    const list = await streamJob(certificates, "listCA", create(ListCARequestSchema, { target: "web-1" }), cp.keys.read);
    const listJobId = list.events[0]!.event.case === "started" ? list.events[0]!.event.value.jobId : "";
    const refused = await streamJob(certificates, "deleteCA", create(DeleteCARequestSchema, { target: "nope-1", name: "corp" }), cp.keys.write);
    expect(refused.error?.message).toBe('target agent "nope-1" not found');
    expect((await unary(fleet, "forgetAgent", create(ForgetAgentRequestSchema, { hostname: "web-1" }), cp.keys.admin)).error?.message).toBe('agent "web-1" is online');
    expect((await unary(jobs, "getJob", create(GetJobRequestSchema, { id: jobId }), cp.keys.read)).error).toBeUndefined(); // not audited

    await cp.close();
    stopped = true;
    const text = await readFile(auditFile, "utf8");
    const entries = text
      .trimEnd()
      .split("\n")
      .map((line) => JSON.parse(line) as Record<string, unknown>);
    for (const entry of entries) {
      expect(entry.time).toMatch(/^\d{4}-\d\d-\d\dT/);
      expect(entry.durationMs).toEqual(expect.any(Number));
      expect(entry.peer).toMatch(/^127\.0\.0\.1:\d+$/);
      delete entry.time;
      delete entry.durationMs;
      delete entry.peer;
    }
    const writer = { keyId: cp.keyIds.write, keyName: "test write" };
    const reader = { keyId: cp.keyIds.read, keyName: "test read" };
    expect(entries).toEqual([
      { ...writer, method: "/trustplane.v1.FileService/Upload", target: "ca.pem", code: "OK", sha256, force: false, changed: true },
      {
        ...reader,
        method: "/trustplane.v1.FileService/Upload",
        target: "ca.pem",
        code: "PERMISSION_DENIED",
        error: `key "${cp.keyIds.read}" lacks permission file:write`,
      },
      { ...reader, method: "/trustplane.v1.FileService/Get", target: "ca.pem", code: "OK", sha256 },
      {
        ...writer,
        method: "/trustplane.v1.CertificateService/InstallCA",
        target: "web-1",
        code: "OK",
        jobId,
        ok: 1,
        failed: 0,
        skipped: 0,
        name: "corp",
        object: "ca.pem",
        dryRun: false,
      },
      { ...reader, method: "/trustplane.v1.CertificateService/ListCA", target: "web-1", code: "OK", jobId: listJobId, ok: 1, failed: 0, skipped: 0, dryRun: false },
      {
        ...writer,
        method: "/trustplane.v1.CertificateService/DeleteCA",
        target: "nope-1",
        code: "INVALID_ARGUMENT",
        name: "corp",
        dryRun: false,
        error: 'target agent "nope-1" not found',
      },
      {
        keyId: cp.keyIds.admin,
        keyName: "test admin",
        method: "/trustplane.v1.FleetService/ForgetAgent",
        target: "web-1",
        code: "FAILED_PRECONDITION",
        error: 'agent "web-1" is online',
      },
    ]);
    for (const secret of [cp.keys.write, cp.keys.read, cp.keys.admin, TEST_JOIN_TOKEN, "BEGIN CERTIFICATE", ca.certPem.split("\n")[1]!]) {
      expect(text).not.toContain(secret);
    }
    expect((await stat(auditFile)).mode & 0o777).toBe(0o600);
  });

  it("appends to an existing file and makes it 0600; refuses a file it cannot open", async () => {
    const file = join(dir, "audit.jsonl");
    await writeFile(file, '{"earlier":true}\n', { mode: 0o644 });
    const { logger, lines } = collectingLogger();
    const audit = await AuditLog.open({ logger, file });
    audit.record({ keyId: "k_1", keyName: "ops", method: "/trustplane.v1.FileService/Delete", target: "a.pem", code: "OK", durationMs: 3, peer: "127.0.0.1:1" });
    await audit.close();
    const [earlier, line] = (await readFile(file, "utf8")).trimEnd().split("\n");
    expect(earlier).toBe('{"earlier":true}');
    expect(JSON.parse(line!)).toMatchObject({ keyId: "k_1", method: "/trustplane.v1.FileService/Delete", target: "a.pem", code: "OK", durationMs: 3 });
    expect((await stat(file)).mode & 0o777).toBe(0o600);
    expect(lines).toEqual([expect.objectContaining({ level: 30, msg: "audit", audit: true, keyId: "k_1", target: "a.pem", code: "OK" })]);

    await expect(AuditLog.open({ logger, file: join(file, "below-a-file") })).rejects.toThrow(/ENOTDIR|EEXIST/);
  });
});

describe("AuthFailureLog", () => {
  it("logs one line per source address per window, then the count it suppressed", () => {
    let now = 1_000_000;
    const { logger, lines } = collectingLogger("warn");
    const failures = new AuthFailureLog({ logger, windowMs: 10_000, now: () => now });
    const fail = (peer: string) => failures.record({ peer, method: "/trustplane.v1.FileService/List", reason: "unknown API key" });

    fail("10.0.0.7:5000");
    fail("10.0.0.7:5001");
    fail("10.0.0.7:5002");
    fail("[::1]:6000");
    now += 9_999;
    fail("10.0.0.7:5003");
    now += 1;
    fail("10.0.0.7:5004");
    expect(lines.map((line) => [line.level, line.msg, line.peer, line.reason, line.suppressed])).toEqual([
      [40, "authentication failed", "10.0.0.7:5000", "unknown API key", 0],
      [40, "authentication failed", "[::1]:6000", "unknown API key", 0],
      [40, "authentication failed", "10.0.0.7:5004", "unknown API key", 3],
    ]);
  });

  it.each([
    ["127.0.0.1:51234", "127.0.0.1"],
    ["[::1]:51234", "::1"],
    ["[2001:db8::7]:443", "2001:db8::7"],
    ["unix:/tmp/socket", "unix:/tmp/socket"],
    ["", ""],
  ])("the source address of peer %j is %j", (peer, address) => {
    expect(peerAddress(peer)).toBe(address);
  });
});
