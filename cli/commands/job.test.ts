// `trustplane job get|list|watch` against a fake gateway.
import { timestampFromDate } from "@bufbuild/protobuf/wkt";
import { Code, ConnectError } from "@connectrpc/connect";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { ResultStatus } from "../../gen/trustplane/v1/common_pb.js";
import { JobState } from "../../gen/trustplane/v1/job_pb.js";
import { CapturedIo } from "../testing/captured-io.js";
import { FakeGateway } from "../testing/fake-gateway.js";
import { jobCommand } from "./job.js";

const JOB_ID = "3c5d8f0e-1111-4a4a-9b9b-222233334444";
const OTHER_ID = "9a9a9a9a-2222-4b4b-8c8c-555566667777";

let gateway: FakeGateway;
let env: Record<string, string>;

beforeAll(async () => {
  gateway = await FakeGateway.start();
  env = { TRUSTPLANE_URL: gateway.url, TRUSTPLANE_API_KEY: "tp_key" };
});
afterAll(() => gateway.close());
beforeEach(() => {
  gateway.calls.length = 0;
  gateway.scripts.clear();
});

const INTERRUPTED_JOB = {
  id: JOB_ID,
  operation: "certificate.install",
  target: "env:prod",
  name: "corp-root",
  object: "corp.pem",
  options: { timeoutSeconds: 20, maxConcurrency: { limit: { case: "count", value: 2 } }, maxErrors: { limit: { case: "percent", value: 10 } } },
  requestedBy: "k_admin",
  createdAt: timestampFromDate(new Date("2024-05-01T10:00:00Z")),
  finishedAt: timestampFromDate(new Date("2024-05-01T10:00:05.250Z")),
  state: JobState.INTERRUPTED,
  hostnames: ["web-1", "web-2", "web-3"],
  results: [{ hostname: "web-2", status: ResultStatus.OK, name: "corp-root", changed: true }],
  unansweredHostnames: ["web-1", "web-3"],
  ok: 1,
  failed: 0,
  skipped: 0,
};

describe("trustplane job get", () => {
  it("prints the job, its results and the hosts that never answered; exit 1", async () => {
    gateway.on("getJob", () => ({ job: INTERRUPTED_JOB }));
    const io = new CapturedIo(env);
    expect(await jobCommand(["get", JOB_ID], io)).toBe(1);
    expect((gateway.calls[0]!.request as any).id).toBe(JOB_ID);
    expect(io.stdout.text).toBe(
      [
        `job ${JOB_ID}`,
        "  operation        certificate.install",
        "  target           env:prod",
        "  name             corp-root",
        "  object           corp.pem",
        "  state            interrupted",
        "  requested by     k_admin",
        "  created          2024-05-01T10:00:00.000Z",
        "  finished         2024-05-01T10:00:05.250Z",
        "  max concurrency  2",
        "  max errors       10%",
        "",
        "HOSTNAME  STATUS      CHANGED  ERROR",
        "web-2     ok          yes",
        "web-1     unanswered  -",
        "web-3     unanswered  -",
        "",
        `job ${JOB_ID}: 1 ok, 0 failed, 0 skipped, 2 unanswered`,
        "",
      ].join("\n"),
    );
  });

  it("--json prints the whole job record, as GET /job/{id} does", async () => {
    gateway.on("getJob", () => ({ job: INTERRUPTED_JOB }));
    const io = new CapturedIo(env);
    expect(await jobCommand(["get", JOB_ID, "--json"], io)).toBe(1);
    expect(JSON.parse(io.stdout.text)).toEqual({
      id: JOB_ID,
      operation: "certificate.install",
      target: "env:prod",
      name: "corp-root",
      object: "corp.pem",
      dry_run: false,
      options: { timeout_seconds: 20, max_concurrency: { count: 2 }, max_errors: { percent: 10 } },
      state: "interrupted",
      requested_by: "k_admin",
      created_at: "2024-05-01T10:00:00.000Z",
      finished_at: "2024-05-01T10:00:05.250Z",
      hostnames: ["web-1", "web-2", "web-3"],
      results: [{ hostname: "web-2", status: "ok", name: "corp-root", changed: true }],
      unanswered_hostnames: ["web-1", "web-3"],
      summary: { ok: 1, failed: 0, skipped: 0 },
    });
  });

  it("a running job's hosts without a result are pending, not failures: exit 0", async () => {
    gateway.on("getJob", () => ({
      job: { ...INTERRUPTED_JOB, state: JobState.RUNNING, finishedAt: undefined },
    }));
    const io = new CapturedIo(env);
    expect(await jobCommand(["get", JOB_ID], io)).toBe(0);
    expect(io.stdout.text).toContain("web-1     pending  -\n");
    expect(io.stdout.text).toContain(`job ${JOB_ID}: 1 ok, 0 failed, 0 skipped, 2 pending\n`);
    expect(io.stdout.text).not.toContain("finished");
  });

  it("exits 0 for a completed job and 1 when a host failed", async () => {
    const completed = { ...INTERRUPTED_JOB, state: JobState.COMPLETED, unansweredHostnames: [], hostnames: ["web-2"] };
    gateway.on("getJob", () => ({ job: completed }));
    expect(await jobCommand(["get", JOB_ID], new CapturedIo(env))).toBe(0);
    expect(await jobCommand(["get", JOB_ID, "--json"], new CapturedIo(env))).toBe(0);
    const failed = { ...completed, state: JobState.FAILED, results: [{ hostname: "web-2", status: ResultStatus.FAILED, error: "timeout" }] };
    gateway.on("getJob", () => ({ job: failed }));
    expect(await jobCommand(["get", JOB_ID], new CapturedIo(env))).toBe(1);
    expect(await jobCommand(["get", JOB_ID, "--json"], new CapturedIo(env))).toBe(1);
  });

  it("exits 3 for an unknown job", async () => {
    gateway.on("getJob", () => {
      throw new ConnectError(`job "${OTHER_ID}" not found`, Code.NotFound);
    });
    const io = new CapturedIo(env);
    expect(await jobCommand(["get", OTHER_ID], io)).toBe(3);
    expect(io.stderr.text).toBe(`trustplane: job "${OTHER_ID}" not found (NOT_FOUND)\n`);
  });

  it("needs exactly one ID", async () => {
    await expect(jobCommand(["get"], new CapturedIo(env))).rejects.toThrow("trustplane job get: ID is required (see --help)");
    await expect(jobCommand(["get", "a", "b"], new CapturedIo(env))).rejects.toThrow('trustplane job get: unexpected argument "b" (see --help)');
    await expect(jobCommand(["get", "a", "--bogus"], new CapturedIo(env))).rejects.toThrow("trustplane job get: Unknown option '--bogus' (see --help)");
  });
});

describe("trustplane job list", () => {
  const LISTED = [
    INTERRUPTED_JOB,
    {
      id: OTHER_ID,
      operation: "certificate.list",
      target: "_all",
      state: JobState.COMPLETED,
      createdAt: timestampFromDate(new Date("2024-04-30T09:00:00Z")),
      ok: 3,
    },
  ];

  it("passes the filters and prints a table", async () => {
    gateway.on("listJobs", () => ({ jobs: LISTED, total: 12 }));
    const io = new CapturedIo(env);
    const code = await jobCommand(["list", "--status", "partial_failure", "--target", "env:prod", "--limit", "2", "--offset", "4"], io);
    expect(code).toBe(0);
    const request = gateway.calls[0]!.request as any;
    expect([request.state, request.target, request.limit, request.offset]).toEqual([JobState.PARTIAL_FAILURE, "env:prod", 2, 4]);
    expect(io.stdout.text).toBe(
      [
        "JOB_ID                                STATE        OPERATION            TARGET    NAME       OK  FAILED  SKIPPED  CREATED",
        `${JOB_ID}  interrupted  certificate.install  env:prod  corp-root  1   0       0        2024-05-01T10:00:00.000Z`,
        `${OTHER_ID}  completed    certificate.list     _all      -          3   0       0        2024-04-30T09:00:00.000Z`,
        "",
        "2 of 12 jobs from offset 4",
        "",
      ].join("\n"),
    );
  });

  it("sends no filter by default and --json prints {jobs, total}", async () => {
    gateway.on("listJobs", () => ({ jobs: [LISTED[1]], total: 1 }));
    const io = new CapturedIo(env);
    expect(await jobCommand(["list", "--json"], io)).toBe(0);
    const request = gateway.calls[0]!.request as any;
    expect([request.state, request.target, request.limit, request.offset]).toEqual([JobState.UNSPECIFIED, "", 0, 0]);
    expect(JSON.parse(io.stdout.text)).toEqual({
      jobs: [
        {
          id: OTHER_ID,
          operation: "certificate.list",
          target: "_all",
          name: "",
          dry_run: false,
          options: { timeout_seconds: 0 },
          state: "completed",
          requested_by: "",
          created_at: "2024-04-30T09:00:00.000Z",
          hostnames: [],
          results: [],
          unanswered_hostnames: [],
          summary: { ok: 3, failed: 0, skipped: 0 },
        },
      ],
      total: 1,
    });
  });

  it.each([
    [["--status", "done"], '--status must be one of running, completed, partial_failure, failed, interrupted, got "done"'],
    [["--limit", "101"], '--limit must be a whole number from 0 to 100, got "101"'],
    [["--limit=-1"], '--limit must be a whole number from 0 to 100, got "-1"'],
    [["--limit", "-1"], "Option '--limit' argument is ambiguous. (see --help)"],
    [["--offset", "x"], '--offset must be a whole number from 0 to 4294967295, got "x"'],
  ])("%j is a usage error", async (argv, message) => {
    await expect(jobCommand(["list", ...argv], new CapturedIo(env))).rejects.toThrow(`trustplane job list: ${message}`);
    expect(gateway.calls).toHaveLength(0);
  });
});

describe("trustplane job watch", () => {
  it("follows the job's events with a progress line and exits 1 when a host failed", async () => {
    gateway.on("watchJob", async function* () {
      yield { event: { event: { case: "started", value: { jobId: JOB_ID, hostnames: ["a", "b"], operation: "certificate.delete" } } } };
      yield { event: { event: { case: "result", value: { hostname: "b", status: ResultStatus.FAILED, name: "n", error: "agent disconnected" } } } };
      yield { event: { event: { case: "result", value: { hostname: "a", status: ResultStatus.OK, name: "n", changed: true } } } };
      yield { event: { event: { case: "summary", value: { jobId: JOB_ID, ok: 1, failed: 1 } } } };
    });
    const io = new CapturedIo(env, { tty: true });
    expect(await jobCommand(["watch", JOB_ID], io)).toBe(1);
    expect((gateway.calls[0]!.request as any).id).toBe(JOB_ID);
    expect(io.stdout.text).toBe(
      [
        "\r0/2 hosts done, 0 failed\r1/2 hosts done, 1 failed\r2/2 hosts done, 1 failed",
        "HOSTNAME  STATUS  CHANGED  ERROR",
        "a         ok      yes",
        "b         failed  no       agent disconnected",
        "",
        `job ${JOB_ID}: 1 ok, 1 failed, 0 skipped`,
        "",
      ].join("\n"),
    );
  });

  it("shows certificates for a listing job, and hosts a finished stream never answered", async () => {
    gateway.on("watchJob", async function* () {
      yield { event: { event: { case: "started", value: { jobId: JOB_ID, hostnames: ["a", "b"], operation: "certificate.list" } } } };
      yield { event: { event: { case: "result", value: { hostname: "a", status: ResultStatus.OK, certificates: [] } } } };
      yield { event: { event: { case: "summary", value: { jobId: JOB_ID, ok: 1 } } } };
    });
    const io = new CapturedIo(env);
    expect(await jobCommand(["watch", JOB_ID], io)).toBe(1);
    expect(io.stdout.text).toBe(`a: ok, 0 CA certificates\n\nb: unanswered\n\njob ${JOB_ID}: 1 ok, 0 failed, 0 skipped, 1 unanswered\n`);
    const json = new CapturedIo(env);
    expect(await jobCommand(["watch", JOB_ID, "--json"], json)).toBe(1);
    expect(JSON.parse(json.stdout.text)).toEqual({
      job_id: JOB_ID,
      results: [{ hostname: "a", status: "ok", name: "", changed: false, certificates: [] }],
      unanswered_hostnames: ["b"],
    });
  });
});
