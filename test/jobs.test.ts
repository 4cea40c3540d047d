// Issue #4, behaviours 1–4: jobs you can look up and watch, a crash that interrupts
// a job without losing answered hosts, NDJSON as results happen, and rate control.
import { createClient } from "@connectrpc/connect";
import { createConnectTransport } from "@connectrpc/connect-node";
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ResultStatus } from "../gen/trustplane/v1/common_pb.js";
import { JobService } from "../gen/trustplane/v1/job_pb.js";
import { makeCa } from "./fixtures/pki.js";
import { byHostname, Fleet, writeScript } from "./harness/fleet.js";

const STATUS_NAMES: Record<number, string> = { [ResultStatus.OK]: "ok", [ResultStatus.FAILED]: "failed", [ResultStatus.SKIPPED]: "skipped" };

describe("jobs", () => {
  let fleet: Fleet;
  let scripts: string;
  let gate: string;

  beforeAll(async () => {
    fleet = await Fleet.start({ agents: [{ hostname: "fast-1", labels: { pace: "mixed" } }] });
    scripts = join(fleet.dir, "scripts");
    gate = join(fleet.dir, "gate");
    // Waits until the test opens the gate, then runs the real tool.
    const gated = writeScript(scripts, "gated.sh", `while [ ! -e "${gate}" ]; do sleep 0.02; done\nexec update-ca-certificates "$@"`);
    await fleet.startAgent({ hostname: "slow-1", labels: { pace: "mixed" }, updateCommand: gated });
    expect((await fleet.upload("ca.pem", makeCa({ commonName: "jobs CA" }).certPem)).status).toBe(200);
  });
  afterAll(async () => {
    writeFileSync(gate, "");
    await fleet?.close();
  });

  it("streams the fast host's line before the slow host finishes, then the summary", async () => {
    const lines: { line: any; at: number }[] = [];
    let gateOpenedAt = 0;
    for await (const entry of fleet.ndjson("POST", "/node/pace:mixed/certificate/ca", { name: "ndjson", object: "ca.pem" })) {
      lines.push(entry);
      if (entry.line.hostname === "fast-1") {
        gateOpenedAt = Date.now();
        writeFileSync(gate, "");
      }
    }
    const [started, first, second, summary] = lines;
    expect(started!.line).toEqual({ job_id: expect.any(String), hosts: ["fast-1", "slow-1"].sort() });
    expect(first!.line).toEqual({ hostname: "fast-1", status: "ok", name: "ndjson", changed: true });
    expect(second!.line).toEqual({ hostname: "slow-1", status: "ok", name: "ndjson", changed: true });
    expect(summary!.line).toMatchObject({ job_id: started!.line.job_id, summary: { ok: 2, failed: 0, skipped: 0 } });
    expect(lines).toHaveLength(4);
    // The slow host could not finish before the gate opened, which happened only
    // after the fast host's line had arrived.
    expect(first!.at).toBeLessThanOrEqual(gateOpenedAt);
    expect(second!.at).toBeGreaterThanOrEqual(gateOpenedAt);
  });

  it("records the same results in the POST answer, GET /job/{id} and WatchJob", async () => {
    const posted = await fleet.install("pace:mixed", "recorded", "ca.pem");
    expect(posted.status).toBe(200);
    const id = posted.body.job_id;

    const got = await fleet.rest("GET", `/job/${id}`);
    expect(got.status).toBe(200);
    expect(got.body).toMatchObject({
      id,
      operation: "certificate.install",
      target: "pace:mixed",
      name: "recorded",
      object: "ca.pem",
      state: "completed",
      hostnames: ["fast-1", "slow-1"],
      unanswered_hostnames: [],
      summary: { ok: 2, failed: 0, skipped: 0 },
    });
    expect(got.body.requested_by).toMatch(/^k_/);
    expect(JSON.stringify(got.body)).not.toContain("BEGIN CERTIFICATE");
    expect(byHostname(got.body.results)).toEqual(byHostname(posted.body.results));

    const jobs = createClient(JobService, createConnectTransport({ baseUrl: fleet.url, httpVersion: "1.1" }));
    const watched = [];
    for await (const response of jobs.watchJob({ id }, { headers: { authorization: `Bearer ${fleet.adminKey}` } })) {
      watched.push(response.event!.event);
    }
    expect(watched[0]).toMatchObject({ case: "started", value: { jobId: id } });
    expect(watched.at(-1)).toMatchObject({ case: "summary", value: { jobId: id, ok: 2 } });
    const results = watched.filter((e) => e.case === "result").map((e) => e.value as any);
    expect(byHostname(results.map((r) => ({ hostname: r.hostname, status: STATUS_NAMES[r.status], name: r.name, changed: r.changed })))).toEqual(
      byHostname(posted.body.results),
    );

    const listed = await fleet.rest("GET", `/job?target=${encodeURIComponent("pace:mixed")}&limit=1`);
    expect(listed.status).toBe(200);
    expect(listed.body.jobs.map((job: any) => job.id)).toEqual([id]);
    expect(listed.body.total).toBeGreaterThanOrEqual(2);
    expect((await fleet.rest("GET", "/job/00000000-0000-4000-8000-000000000000")).status).toBe(404);
    const reader = await fleet.createKey("read");
    expect((await fleet.rest("GET", `/job/${id}`, { key: reader })).status).toBe(200);
  });

  it("marks a job interrupted by a control-plane crash, keeping the answered hosts", async () => {
    const hang = writeScript(scripts, "hang.sh", "exec sleep 600");
    await fleet.startAgent({ hostname: "stuck-1", labels: { crash: "yes" }, updateCommand: hang });
    await fleet.startAgent({ hostname: "quick-1", labels: { crash: "yes" } });

    let jobId = "";
    const stream = fleet.ndjson("POST", "/node/crash:yes/certificate/ca?timeout=300", { name: "crash", object: "ca.pem" });
    for await (const { line } of stream) {
      if (line.hosts) jobId = line.job_id;
      if (line.hostname === "quick-1") break;
    }
    expect(jobId).not.toBe("");
    fleet.server.signal("SIGKILL");
    await fleet.server.exited;
    await fleet.startServer();

    const job = await fleet.rest("GET", `/job/${jobId}`);
    expect(job.status).toBe(200);
    expect(job.body).toMatchObject({
      state: "interrupted",
      hostnames: ["quick-1", "stuck-1"],
      results: [{ hostname: "quick-1", status: "ok", name: "crash", changed: true }],
      unanswered_hostnames: ["stuck-1"],
    });
    const interrupted = await fleet.rest("GET", "/job?status=interrupted");
    expect(interrupted.body.jobs.map((j: any) => j.id)).toContain(jobId);
    await fleet.agent("stuck-1").process.stop(1_000);
  });
});

describe("rate control", () => {
  let fleet: Fleet;
  let log: string;

  beforeAll(async () => {
    fleet = await Fleet.start({ agents: [] });
    const scripts = join(fleet.dir, "scripts");
    log = join(fleet.dir, "rebuilds.log");
    // Records when each rebuild starts and ends (nanoseconds), around the real tool.
    const timed = writeScript(
      scripts,
      "timed.sh",
      `echo "start $(date +%s%N) $TRUSTPLANE_ROOT" >> "${log}"\nsleep 0.2\nupdate-ca-certificates "$@"\nstatus=$?\necho "end $(date +%s%N) $TRUSTPLANE_ROOT" >> "${log}"\nexit $status`,
    );
    const failing = writeScript(scripts, "fail.sh", 'echo "rebuild refused" >&2\nexit 1');
    await Promise.all([
      fleet.startAgent({ hostname: "rate-1", labels: { rate: "yes" }, updateCommand: timed }),
      fleet.startAgent({ hostname: "rate-2", labels: { rate: "yes" }, updateCommand: timed }),
      fleet.startAgent({ hostname: "rate-3", labels: { rate: "yes" }, updateCommand: timed }),
      fleet.startAgent({ hostname: "a-broken-1", labels: { errs: "yes" }, updateCommand: failing }),
      fleet.startAgent({ hostname: "b-fine-1", labels: { errs: "yes" } }),
      fleet.startAgent({ hostname: "c-fine-1", labels: { errs: "yes" } }),
    ]);
    expect((await fleet.upload("ca.pem", makeCa({ commonName: "rate CA" }).certPem)).status).toBe(200);
  });
  afterAll(async () => {
    await fleet?.close();
  });

  it("max_concurrency=1 runs the hosts one after another", async () => {
    writeFileSync(log, "");
    const answer = await fleet.install("rate:yes", "serial", "ca.pem", "?max_concurrency=1");
    expect(answer.status).toBe(200);
    expect(answer.body.results.map((r: any) => [r.status, r.changed])).toEqual([
      ["ok", true],
      ["ok", true],
      ["ok", true],
    ]);
    const events = readFileSync(log, "utf8").trim().split("\n").map((line) => line.split(" "));
    const spans = new Map<string, { start: bigint; end: bigint }>();
    for (const [kind, time, root] of events) {
      const span = spans.get(root!) ?? { start: 0n, end: 0n };
      span[kind as "start" | "end"] = BigInt(time!);
      spans.set(root!, span);
    }
    const ordered = [...spans.values()].sort((a, b) => (a.start < b.start ? -1 : 1));
    expect(ordered).toHaveLength(3);
    for (let i = 1; i < ordered.length; i++) expect(ordered[i]!.start).toBeGreaterThan(ordered[i - 1]!.end);
  });

  it("max_errors=0 with a failing first host skips the rest", async () => {
    const answer = await fleet.install("errs:yes", "careful", "ca.pem", "?max_concurrency=1&max_errors=0");
    expect(answer.status).toBe(200);
    expect(byHostname(answer.body.results)).toEqual([
      { hostname: "a-broken-1", status: "failed", name: "careful", changed: false, error: expect.stringContaining("rebuild refused") },
      { hostname: "b-fine-1", status: "skipped", name: "careful", changed: false, error: "max errors reached" },
      { hostname: "c-fine-1", status: "skipped", name: "careful", changed: false, error: "max errors reached" },
    ]);
    const job = await fleet.rest("GET", `/job/${answer.body.job_id}`);
    expect(job.body.state).toBe("partial_failure");
  });

  it("rejects malformed limits with 400", async () => {
    for (const query of ["?max_concurrency=0", "?max_concurrency=abc", "?max_errors=150%", "?max_errors=-1"]) {
      const answer = await fleet.install("rate:yes", "bad", "ca.pem", query);
      expect(answer.status, query).toBe(400);
      expect(answer.body.code).toBe(400);
    }
  });
});
