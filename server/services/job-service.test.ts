// JobService against a real control plane: the record of a job equals what its
// caller streamed; WatchJob replays and follows; jobs survive (and are interrupted
// by) a restart on SQLite; retention; store faults answer UNAVAILABLE.
import { create } from "@bufbuild/protobuf";
import { timestampDate } from "@bufbuild/protobuf/wkt";
import { status } from "@grpc/grpc-js";
import Database from "better-sqlite3";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { createLogger } from "../../common/logger.js";
import { makeCa } from "../../test/fixtures/pki.js";
import { InstallCARequestSchema, ListCARequestSchema } from "../../gen/trustplane/v1/certificate_pb.js";
import { HostLimitSchema, JobOptionsSchema, ResultStatus, type HostResult, type JobEvent } from "../../gen/trustplane/v1/common_pb.js";
import { UploadRequestSchema } from "../../gen/trustplane/v1/file_pb.js";
import {
  GetJobRequestSchema,
  JobState,
  ListJobsRequestSchema,
  WatchJobRequestSchema,
  type GetJobResponse,
  type Job,
  type ListJobsResponse,
} from "../../gen/trustplane/v1/job_pb.js";
import { createApiKey } from "../auth/api-keys-file.js";
import type { JobStore } from "../job-store/job-store.js";
import { openJobStore } from "../job-store/open-job-store.js";
import { certificateClient, fileClient, jobClient, liveStream, streamJob, unary } from "../testing/client-calls.js";
import { startTestControlPlane, TEST_JOIN_TOKEN, type TestControlPlane } from "../testing/control-plane-fixture.js";
import { FakeAgent, type FakeAgentOptions } from "../testing/fake-agent.js";
import { hostResult, newJob } from "../testing/job-store-contract.js";

let dir: string;
let cp: TestControlPlane | undefined;
let certificates: ReturnType<typeof certificateClient>;
let jobs: ReturnType<typeof jobClient>;
let caPem: string;
const agents: FakeAgent[] = [];
const logger = createLogger({ component: "job-service-test", level: "silent" });

async function start(options: Parameters<typeof startTestControlPlane>[0] = {}): Promise<TestControlPlane> {
  certificates?.close();
  jobs?.close();
  cp = await startTestControlPlane(options);
  certificates = certificateClient(cp.address);
  jobs = jobClient(cp.address);
  const files = fileClient(cp.address);
  const uploaded = await unary(files, "upload", create(UploadRequestSchema, { name: "ca.pem", content: Buffer.from(caPem) }), cp.keys.write);
  files.close();
  expect(uploaded.error).toBeUndefined();
  return cp;
}

async function connectAgent(options: Omit<FakeAgentOptions, "joinToken">): Promise<FakeAgent> {
  const agent = await FakeAgent.connect(cp!.address, { joinToken: TEST_JOIN_TOKEN, ...options });
  agents.push(agent);
  return agent;
}

const answerOk: FakeAgentOptions["autoAnswer"] = () => ({ status: ResultStatus.OK, changed: true });

function install(target: string, options: Parameters<typeof create<typeof JobOptionsSchema>>[1] = {}, key = cp!.keys.write) {
  return streamJob(certificates, "installCA", create(InstallCARequestSchema, { target, name: "corp-root", object: "ca.pem", options }), key);
}

function getJob(id: string, key = cp!.keys.read) {
  return unary<GetJobResponse>(jobs, "getJob", create(GetJobRequestSchema, { id }), key);
}

function listJobs(request: Parameters<typeof create<typeof ListJobsRequestSchema>>[1], key = cp!.keys.read) {
  return unary<ListJobsResponse>(jobs, "listJobs", create(ListJobsRequestSchema, request), key);
}

function watch(id: string, key = cp!.keys.read) {
  return liveStream<JobEvent>(jobs, "watchJob", create(WatchJobRequestSchema, { id }), key);
}

function jobId(events: JobEvent[]): string {
  const first = events[0]?.event;
  if (first?.case !== "started") throw new Error("no JobStarted");
  return first.value.jobId;
}

function results(events: JobEvent[]): HostResult[] {
  return events.flatMap((event) => (event.event.case === "result" ? [event.event.value] : []));
}

/** Events without the job duration (a replay recomputes it from the recorded times). */
function comparable(events: JobEvent[]) {
  return events.map((event) => (event.event.case === "summary" ? { ...event.event.value, durationMs: 0n } : event.event.value));
}

beforeAll(() => {
  caPem = makeCa({ commonName: "job service CA" }).certPem;
});

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), "trustplane-jobsvc-"));
});

afterEach(async () => {
  for (const agent of agents.splice(0)) agent.close();
  certificates?.close();
  jobs?.close();
  await cp?.close();
  cp = undefined;
  await rm(dir, { recursive: true, force: true });
});

describe("GetJob", () => {
  it("answers the job as recorded: request, key, times, state and the same results the caller streamed", async () => {
    await start();
    await connectAgent({ hostname: "web-1", labels: { env: "prod" }, autoAnswer: answerOk });
    await connectAgent({ hostname: "web-2", labels: { env: "prod" }, autoAnswer: () => ({ status: ResultStatus.FAILED, error: "exit 1" }) });
    const before = Date.now();
    const { events, error } = await install("env:prod", { timeoutSeconds: 7, maxConcurrency: { limit: { case: "percent", value: 50 } } });
    expect(error).toBeUndefined();
    const id = jobId(events);

    const { response, error: getError } = await getJob(id);
    expect(getError).toBeUndefined();
    const job = response!.job!;
    expect({
      id: job.id,
      operation: job.operation,
      target: job.target,
      name: job.name,
      object: job.object,
      options: [job.options?.timeoutSeconds, job.options?.dryRun, job.options?.maxConcurrency?.limit, job.options?.maxErrors],
      requestedBy: job.requestedBy,
      state: job.state,
      hostnames: job.hostnames,
      unanswered: job.unansweredHostnames,
      counts: [job.ok, job.failed, job.skipped],
    }).toEqual({
      id,
      operation: "certificate.install",
      target: "env:prod",
      name: "corp-root",
      object: "ca.pem",
      options: [7, false, { case: "percent", value: 50 }, undefined],
      requestedBy: cp!.keyIds.write,
      state: JobState.PARTIAL_FAILURE,
      hostnames: ["web-1", "web-2"],
      unanswered: [],
      counts: [1, 1, 0],
    });
    expect(job.results).toEqual(results(events));
    const created = timestampDate(job.createdAt!).getTime();
    const finished = timestampDate(job.finishedAt!).getTime();
    expect(created).toBeGreaterThanOrEqual(before - 1);
    expect(finished).toBeGreaterThanOrEqual(created);
    expect(finished).toBeLessThanOrEqual(Date.now());
  });

  it("answers a running job with the results so far and the hosts still out", async () => {
    await start();
    const fast = await connectAgent({ hostname: "fast-1" });
    const slow = await connectAgent({ hostname: "slow-1" });
    const job = install("_all");
    fast.answer((await fast.nextCommand()).id);
    await slow.nextCommand();
    const id = slow.commands[0]!.jobId;
    let running: Job | undefined;
    const deadline = Date.now() + 5_000;
    while (Date.now() < deadline) {
      running = (await getJob(id)).response?.job;
      if (running?.results.length === 1) break;
    }
    expect(running).toMatchObject({ state: JobState.RUNNING, hostnames: ["fast-1", "slow-1"], unansweredHostnames: ["slow-1"], ok: 1 });
    expect(running?.finishedAt).toBeUndefined();
    slow.answer(slow.commands[0]!.id);
    await job;
    expect((await getJob(id)).response?.job).toMatchObject({ state: JobState.COMPLETED, unansweredHostnames: [], ok: 2 });
  });

  it.each<[string, string, number, string]>([
    ["an unknown id", "7d1c7a51-0000-4000-8000-000000000000", status.NOT_FOUND, 'job "7d1c7a51-0000-4000-8000-000000000000" not found'],
    ["an empty id", "", status.INVALID_ARGUMENT, "job id is required"],
    ["a silly id", "x".repeat(500), status.NOT_FOUND, `job "${"x".repeat(500)}" not found`],
  ])("refuses %s", async (_case, id, code, message) => {
    await start();
    expect((await getJob(id)).error).toMatchObject({ code, message });
  });

  it("needs job:read", async () => {
    await start();
    const fileOnly = await createApiKey(cp!.keysFile, { permissions: ["file:read"], name: "files only" });
    expect((await getJob("x", fileOnly.key)).error).toMatchObject({ code: status.PERMISSION_DENIED, message: `key "${fileOnly.id}" lacks permission job:read` });
    expect((await listJobs({}, fileOnly.key)).error?.code).toBe(status.PERMISSION_DENIED);
    expect((await watch("x", fileOnly.key).done).error?.code).toBe(status.PERMISSION_DENIED);
    expect((await getJob("x", "tp_unknown")).error?.code).toBe(status.UNAUTHENTICATED);
  });
});

describe("ListJobs", () => {
  it("lists newest first with filters on state and exact target, pages, and counts the total", async () => {
    await start();
    await connectAgent({ hostname: "ok-1", labels: { env: "prod" }, autoAnswer: answerOk });
    await connectAgent({ hostname: "bad-1", labels: { env: "dev" }, autoAnswer: () => ({ status: ResultStatus.FAILED, error: "no" }) });
    const ids: string[] = [];
    for (const target of ["ok-1", "bad-1", "_all", "ok-1"]) ids.push(jobId((await install(target)).events));
    const listed = await streamJob(certificates, "listCA", create(ListCARequestSchema, { target: "ok-1" }), cp!.keys.read);
    ids.push(jobId(listed.events));

    const all = (await listJobs({})).response!;
    expect(all.jobs.map((job) => job.id)).toEqual([...ids].reverse());
    expect(all.total).toBe(5);
    expect(all.jobs.map((job) => [job.operation, job.state])).toEqual([
      ["certificate.list", JobState.COMPLETED],
      ["certificate.install", JobState.COMPLETED],
      ["certificate.install", JobState.PARTIAL_FAILURE],
      ["certificate.install", JobState.FAILED],
      ["certificate.install", JobState.COMPLETED],
    ]);
    expect(all.jobs[0]!.requestedBy).toBe(cp!.keyIds.read);

    const pick = async (request: Parameters<typeof listJobs>[0]) => {
      const page = (await listJobs(request)).response!;
      return [page.jobs.map((job) => ids.indexOf(job.id)), page.total];
    };
    expect(await pick({ state: JobState.COMPLETED })).toEqual([[4, 3, 0], 3]);
    expect(await pick({ state: JobState.FAILED })).toEqual([[1], 1]);
    expect(await pick({ target: "ok-1" })).toEqual([[4, 3, 0], 3]);
    expect(await pick({ target: "ok-1", state: JobState.COMPLETED, limit: 1, offset: 1 })).toEqual([[3], 3]);
    expect(await pick({ target: "ok" })).toEqual([[], 0]);
    expect(await pick({ limit: 2, offset: 4 })).toEqual([[0], 5]);
  });

  it("limit 0 means 20 and a limit above 100 is capped at 100", async () => {
    await start();
    await connectAgent({ hostname: "many-1", autoAnswer: answerOk });
    for (let i = 0; i < 101; i++) expect((await install("many-1")).error).toBeUndefined();
    expect((await listJobs({})).response).toMatchObject({ total: 101 });
    expect((await listJobs({})).response?.jobs).toHaveLength(20);
    expect((await listJobs({ limit: 1000 })).response?.jobs).toHaveLength(100);
    expect((await listJobs({ limit: 100, offset: 100 })).response?.jobs).toHaveLength(1);
  });
});

describe("WatchJob", () => {
  it("replays a finished job at once: the same events its caller got", async () => {
    await start();
    await connectAgent({ hostname: "w-1", autoAnswer: answerOk });
    await connectAgent({ hostname: "w-2", autoAnswer: () => ({ status: ResultStatus.SKIPPED, error: "no supported trust store" }) });
    const { events } = await install("_all", { dryRun: true });
    const watched = await watch(jobId(events)).done;
    expect(watched.error).toBeUndefined();
    expect(comparable(watched.events)).toEqual(comparable(events));
  });

  it("follows a running job started by another key: results so far, each new one, then the summary", async () => {
    await start();
    const a = await connectAgent({ hostname: "a-1" });
    const b = await connectAgent({ hostname: "b-1" });
    const c = await connectAgent({ hostname: "c-1" });
    const job = install("_all", {}, cp!.keys.admin);
    a.answer((await a.nextCommand()).id, { status: ResultStatus.OK, changed: true });
    await b.nextCommand();
    await c.nextCommand();
    const id = b.commands[0]!.jobId;

    const watcher = watch(id, cp!.keys.read);
    await watcher.until(2);
    expect(watcher.events.map((event) => event.event.case)).toEqual(["started", "result"]);
    c.answer(c.commands[0]!.id, { status: ResultStatus.FAILED, error: "exit 1" });
    await watcher.until(3);
    expect(results(watcher.events).map((result) => result.hostname)).toEqual(["a-1", "c-1"]);
    b.answer(b.commands[0]!.id, { status: ResultStatus.OK });
    const watched = await watcher.done;
    const original = await job;
    expect(watched.error).toBeUndefined();
    expect(watched.events).toEqual(original.events);
    expect(watched.events.at(-1)?.event.case).toBe("summary");
  });

  it("a watcher that cancels does not disturb the job", async () => {
    await start();
    const a = await connectAgent({ hostname: "a-1" });
    const job = install("a-1");
    const command = await a.nextCommand();
    const watcher = watch(command.jobId);
    await watcher.until(1);
    watcher.cancel();
    expect((await watcher.done).error?.code).toBe(status.CANCELLED);
    a.answer(command.id);
    expect(results((await job).events).map((result) => result.status)).toEqual([ResultStatus.OK]);
  });

  it("answers NOT_FOUND for an unknown job", async () => {
    await start();
    const watched = await watch("no-such-job").done;
    expect(watched.error).toMatchObject({ code: status.NOT_FOUND, message: 'job "no-such-job" not found' });
    expect(watched.events).toEqual([]);
  });
});

describe("on SQLite across restarts", () => {
  it("jobs left running by a dead control plane are interrupted: answered hosts keep their results, the rest are unanswered", async () => {
    const file = join(dir, "jobs.db");
    // What a control plane killed mid-job leaves behind: a running job with one of three results.
    const crashed = await openJobStore(`sqlite:${file}`, { logger });
    crashed.recordJobStarted(newJob("job-killed", { hostnames: ["a-1", "b-1", "c-1"], createdAt: new Date(Date.now() - 60_000) }));
    crashed.recordResult("job-killed", 0, hostResult("b-1", ResultStatus.OK));
    await crashed.close();

    await start({ jobStore: `sqlite:${file}` });
    const job = (await getJob("job-killed")).response!.job!;
    expect({ state: job.state, results: job.results.map((r) => [r.hostname, r.status]), unanswered: job.unansweredHostnames, ok: job.ok }).toEqual({
      state: JobState.INTERRUPTED,
      results: [["b-1", ResultStatus.OK]],
      unanswered: ["a-1", "c-1"],
      ok: 1,
    });
    expect(job.finishedAt).toBeDefined();
    const watched = await watch("job-killed").done;
    expect(watched.events.map((event) => event.event.case)).toEqual(["started", "result", "summary"]);
    expect((await listJobs({ state: JobState.INTERRUPTED })).response?.jobs.map((j) => j.id)).toEqual(["job-killed"]);
  });

  it("has written every result and the end state by the time the summary arrives", async () => {
    const file = join(dir, "jobs.db");
    await start({ jobStore: `sqlite:${file}` });
    await connectAgent({ hostname: "w-1", autoAnswer: answerOk });
    await connectAgent({ hostname: "w-2", autoAnswer: () => ({ status: ResultStatus.FAILED, error: "exit 1" }) });
    const { events } = await install("_all");
    const side = new Database(file, { readonly: true });
    try {
      const id = jobId(events);
      expect(side.prepare("select state, finished_at is not null as finished from jobs where id = ?").get(id)).toEqual({ state: "partial_failure", finished: 1 });
      const rows = side.prepare("select position, hostname, status, changed, error from job_results where job_id = ? order by position").all(id);
      expect(rows).toEqual(
        results(events).map((result, position) => ({
          position,
          hostname: result.hostname,
          status: result.status === ResultStatus.OK ? "ok" : "failed",
          changed: result.changed ? 1 : 0,
          error: result.error,
        })),
      );
    } finally {
      side.close();
    }
  });

  it("keeps finished jobs across a restart", async () => {
    const file = join(dir, "jobs.db");
    await start({ jobStore: `sqlite:${file}` });
    await connectAgent({ hostname: "keep-1", autoAnswer: answerOk });
    const { events } = await install("keep-1", { maxErrors: create(HostLimitSchema, { limit: { case: "count", value: 3 } }) });
    const before = (await getJob(jobId(events))).response!.job!;
    for (const agent of agents.splice(0)) agent.close();
    await cp!.close();

    await start({ jobStore: `sqlite:${file}` });
    const after = (await getJob(jobId(events))).response!.job!;
    expect(after).toEqual(before);
    expect(after.state).toBe(JobState.COMPLETED);
    expect(after.options?.maxErrors?.limit).toEqual({ case: "count", value: 3 });
  });

  it("prunes jobs older than the retention at start", async () => {
    const file = join(dir, "jobs.db");
    const seeded = await openJobStore(`sqlite:${file}`, { logger });
    const day = 24 * 3600 * 1000;
    seeded.recordJobStarted(newJob("job-old", { createdAt: new Date(Date.now() - 31 * day) }));
    seeded.recordResult("job-old", 0, hostResult("a-1", ResultStatus.OK));
    seeded.recordJobFinished("job-old", "completed", new Date(Date.now() - 31 * day));
    seeded.recordJobStarted(newJob("job-week", { createdAt: new Date(Date.now() - 7 * day) }));
    seeded.recordJobFinished("job-week", "completed", new Date(Date.now() - 7 * day));
    seeded.recordJobStarted(newJob("job-new", { createdAt: new Date(Date.now() - 1000) }));
    seeded.recordJobFinished("job-new", "completed", new Date());
    await seeded.close();

    await start({ jobStore: `sqlite:${file}` });
    expect((await getJob("job-old")).error?.code).toBe(status.NOT_FOUND);
    expect((await listJobs({})).response?.jobs.map((job) => job.id)).toEqual(["job-new", "job-week"]);
    await cp!.close();

    await start({ jobStore: `sqlite:${file}`, jobRetentionMs: day });
    expect((await listJobs({})).response?.jobs.map((job) => job.id)).toEqual(["job-new"]);
  });

  it("a broken store answers UNAVAILABLE `job store unavailable: …`, counted in the metrics", async () => {
    const file = join(dir, "jobs.db");
    await start({ jobStore: `sqlite:${file}`, metricsAddress: "127.0.0.1:0" });
    const side = new Database(file);
    side.exec("drop table jobs");
    side.close();
    const got = await getJob("any-id");
    expect(got.error).toMatchObject({ code: status.UNAVAILABLE, message: "job store unavailable: no such table: jobs" });
    expect((await listJobs({})).error).toMatchObject({ code: status.UNAVAILABLE, message: "job store unavailable: no such table: jobs" });
    const text = await (await fetch(cp!.controlPlane.metricsUrl!)).text();
    expect(text).toContain("\ntrustplane_job_store_errors_total 2\n");
  });
});

describe("a job running on another replica (the same store, another runner)", () => {
  /** Starts this control plane on a SQLite file, then opens the same file as the other replica's store. */
  async function startWithOtherReplica(): Promise<JobStore> {
    const file = join(dir, "jobs.db");
    // This replica first: at start it interrupts the jobs left running, and the other's must not be.
    await start({ jobStore: `sqlite:${file}` });
    const other = await openJobStore(`sqlite:${file}`, { logger });
    others.push(other);
    return other;
  }
  const others: JobStore[] = [];
  afterEach(async () => {
    for (const other of others.splice(0)) await other.close();
  });

  it("WatchJob streams started, each result as it is stored, then the summary: the same events as a replay", async () => {
    const other = await startWithOtherReplica();
    other.recordJobStarted(newJob("remote-1", { owner: "replica-b", hostnames: ["a-1", "b-1", "c-1"], createdAt: new Date(Date.now() - 1000) }));
    await other.flush();

    const early = watch("remote-1");
    await early.until(1);
    expect(early.events[0]!.event).toEqual({
      case: "started",
      value: expect.objectContaining({ jobId: "remote-1", hostnames: ["a-1", "b-1", "c-1"], operation: "certificate.install", target: "env:prod", dryRun: true }),
    });
    other.recordResult("remote-1", 0, hostResult("c-1", ResultStatus.OK));
    await other.flush();
    await early.until(2);
    expect(results(early.events).map((r) => [r.hostname, r.status])).toEqual([["c-1", ResultStatus.OK]]);
    expect((await getJob("remote-1")).response?.job).toMatchObject({ state: JobState.RUNNING, unansweredHostnames: ["a-1", "b-1"] });

    // A second watcher joins mid-job: it gets what was stored so far, then the rest.
    const late = watch("remote-1");
    await late.until(2);
    other.recordResult("remote-1", 1, hostResult("a-1", ResultStatus.FAILED));
    other.recordResult("remote-1", 2, hostResult("b-1", ResultStatus.OK));
    other.recordJobFinished("remote-1", "partial_failure", new Date());
    await other.flush();

    const [first, second] = await Promise.all([early.done, late.done]);
    expect(first.error).toBeUndefined();
    expect(second.error).toBeUndefined();
    expect(first.events.map((event) => event.event.case)).toEqual(["started", "result", "result", "result", "summary"]);
    expect(results(first.events).map((r) => [r.hostname, r.status])).toEqual([
      ["c-1", ResultStatus.OK],
      ["a-1", ResultStatus.FAILED],
      ["b-1", ResultStatus.OK],
    ]);
    expect(first.events.at(-1)!.event).toEqual({ case: "summary", value: expect.objectContaining({ jobId: "remote-1", ok: 2, failed: 1, skipped: 0, dryRun: true }) });
    expect(second.events).toEqual(first.events);
    const replayed = await watch("remote-1").done;
    expect(comparable(first.events)).toEqual(comparable(replayed.events));
  });

  it("a job the surviving replicas mark interrupted ends the watch with its final state", async () => {
    const other = await startWithOtherReplica();
    other.recordJobStarted(newJob("remote-dead", { owner: "replica-dead", hostnames: ["a-1", "b-1"] }));
    other.recordResult("remote-dead", 0, hostResult("b-1", ResultStatus.OK));
    await other.flush();
    const watcher = watch("remote-dead");
    await watcher.until(2);

    expect(await other.interruptJobsOfOwner("replica-dead", new Date())).toBe(1);
    const watched = await watcher.done;
    expect(watched.error).toBeUndefined();
    expect(watched.events.map((event) => event.event.case)).toEqual(["started", "result", "summary"]);
    expect(watched.events[2]!.event).toEqual({ case: "summary", value: expect.objectContaining({ jobId: "remote-dead", ok: 1, failed: 0, skipped: 0 }) });
    expect((await getJob("remote-dead")).response?.job).toMatchObject({ state: JobState.INTERRUPTED, unansweredHostnames: ["a-1"] });
  });

  it("a watcher may leave mid-job; a store fault ends a watch UNAVAILABLE", async () => {
    const other = await startWithOtherReplica();
    other.recordJobStarted(newJob("remote-2", { owner: "replica-b" }));
    await other.flush();
    const leaving = watch("remote-2");
    await leaving.until(1);
    leaving.cancel();
    expect((await leaving.done).error?.code).toBe(status.CANCELLED);

    const failing = watch("remote-2");
    await failing.until(1);
    const side = new Database(join(dir, "jobs.db"));
    side.exec("drop table job_results");
    side.close();
    const failed = await failing.done;
    expect(failed.error).toMatchObject({ code: status.UNAVAILABLE, message: "job store unavailable: no such table: job_results" });
    expect(failed.events.map((event) => event.event.case)).toEqual(["started"]);
  });
});
