// The behaviour every JobStore implementation shares, as a vitest suite that each
// backend's test runs against its own store (memory, SQLite, PostgreSQL).
import { create } from "@bufbuild/protobuf";
import { expect, it } from "vitest";
import { OsFactsSchema } from "../../gen/trustplane/v1/agent_pb.js";
import {
  CertificateSource,
  HostResultSchema,
  JobOptionsSchema,
  ResultStatus,
  type HostResult,
} from "../../gen/trustplane/v1/common_pb.js";
import type { JobRecord, JobStore, KnownAgent, NewJob } from "../job-store/job-store.js";

const T0 = Date.parse("2030-01-01T00:00:00.000Z");

export function newJob(id: string, overrides: Partial<NewJob> = {}): NewJob {
  return {
    id,
    operation: "certificate.install",
    target: "env:prod",
    name: "corp-root",
    object: "corp-ca.pem",
    options: create(JobOptionsSchema, { timeoutSeconds: 5, dryRun: true, maxConcurrency: { limit: { case: "percent", value: 50 } }, maxErrors: { limit: { case: "count", value: 0 } } }),
    requestedBy: "key-1",
    createdAt: new Date(T0),
    hostnames: ["a-1", "b-1", "c-1"],
    owner: "",
    ...overrides,
  };
}

export function hostResult(hostname: string, status: ResultStatus, fields: Partial<Omit<HostResult, "$typeName">> = {}): HostResult {
  return create(HostResultSchema, { hostname, status, name: "corp-root", changed: status === ResultStatus.OK, error: status === ResultStatus.OK ? "" : "boom", ...fields });
}

/** The parts of a result that must survive the store. */
function plain(result: HostResult) {
  return {
    hostname: result.hostname,
    status: result.status,
    name: result.name,
    changed: result.changed,
    error: result.error,
    certificates: result.certificates.map((c) => [c.name, c.source, c.object, c.sha256, c.subject, c.fingerprintSha256, c.notAfter]),
  };
}

function summary(job: JobRecord | undefined) {
  if (!job) return undefined;
  return {
    id: job.id,
    operation: job.operation,
    target: job.target,
    name: job.name,
    object: job.object,
    options: {
      timeoutSeconds: job.options.timeoutSeconds,
      dryRun: job.options.dryRun,
      maxConcurrency: job.options.maxConcurrency?.limit,
      maxErrors: job.options.maxErrors?.limit,
    },
    requestedBy: job.requestedBy,
    createdAt: job.createdAt.toISOString(),
    finishedAt: job.finishedAt?.toISOString(),
    state: job.state,
    hostnames: job.hostnames,
    owner: job.owner,
    results: job.results.map(plain),
  };
}

function agent(hostname: string, overrides: Partial<KnownAgent> = {}): KnownAgent {
  return {
    hostname,
    labels: { env: "prod", group: "web.dev" },
    os: create(OsFactsSchema, { id: "debian", idLike: ["debian"], versionId: "12", trustStore: "debian" }),
    agentVersion: "1.2.3",
    connectedAt: new Date(T0),
    lastSeenAt: new Date(T0 + 1000),
    ...overrides,
  };
}

/** `store()` answers the store under test (fresh and empty for each test). */
export function jobStoreContract(store: () => JobStore): void {
  it("records a job, its results in arrival order and its end", async () => {
    store().recordJobStarted(newJob("job-1", { owner: "replica-a" }));
    const running = await store().getJob("job-1");
    expect(summary(running)).toEqual({
      id: "job-1",
      operation: "certificate.install",
      target: "env:prod",
      name: "corp-root",
      object: "corp-ca.pem",
      options: { timeoutSeconds: 5, dryRun: true, maxConcurrency: { case: "percent", value: 50 }, maxErrors: { case: "count", value: 0 } },
      requestedBy: "key-1",
      createdAt: "2030-01-01T00:00:00.000Z",
      finishedAt: undefined,
      state: "running",
      hostnames: ["a-1", "b-1", "c-1"],
      owner: "replica-a",
      results: [],
    });

    store().recordResult("job-1", 0, hostResult("c-1", ResultStatus.OK));
    store().recordResult(
      "job-1",
      1,
      hostResult("a-1", ResultStatus.OK, {
        changed: false,
        certificates: [
          { $typeName: "trustplane.v1.CertificateInfo", name: "corp-root", source: CertificateSource.CUSTOM, object: "corp-ca.pem", sha256: "ab", subject: "CN=x", fingerprintSha256: "AA:BB", notAfter: "2035-01-01T00:00:00Z" },
          { $typeName: "trustplane.v1.CertificateInfo", name: "mozilla/X.crt", source: CertificateSource.SYSTEM, object: "", sha256: "", subject: "CN=y", fingerprintSha256: "CC:DD", notAfter: "2036-01-01T00:00:00Z" },
        ],
      }),
    );
    store().recordResult("job-1", 2, hostResult("b-1", ResultStatus.SKIPPED, { error: "max errors reached" }));
    store().recordJobFinished("job-1", "partial_failure", new Date(T0 + 2500));
    await store().flush();

    expect(summary(await store().getJob("job-1"))).toMatchObject({
      owner: "replica-a",
      state: "partial_failure",
      finishedAt: "2030-01-01T00:00:02.500Z",
      results: [
        { hostname: "c-1", status: ResultStatus.OK, name: "corp-root", changed: true, error: "", certificates: [] },
        {
          hostname: "a-1",
          status: ResultStatus.OK,
          name: "corp-root",
          changed: false,
          error: "",
          certificates: [
            ["corp-root", CertificateSource.CUSTOM, "corp-ca.pem", "ab", "CN=x", "AA:BB", "2035-01-01T00:00:00Z"],
            ["mozilla/X.crt", CertificateSource.SYSTEM, "", "", "CN=y", "CC:DD", "2036-01-01T00:00:00Z"],
          ],
        },
        { hostname: "b-1", status: ResultStatus.SKIPPED, name: "corp-root", changed: false, error: "max errors reached", certificates: [] },
      ],
    });
  });

  it("answers undefined for an unknown job", async () => {
    expect(await store().getJob("no-such-job")).toBeUndefined();
  });

  it("records a list job without name or object, and a failed result", async () => {
    store().recordJobStarted(newJob("list-1", { operation: "certificate.list", name: "", object: "", options: create(JobOptionsSchema), hostnames: ["x-1"] }));
    store().recordResult("list-1", 0, hostResult("x-1", ResultStatus.FAILED, { name: "", error: "agent offline (last seen 2030-01-01T00:00:00.000Z)" }));
    store().recordJobFinished("list-1", "failed", new Date(T0 + 1));
    const job = await store().getJob("list-1");
    expect(summary(job)).toMatchObject({
      name: "",
      object: "",
      options: { timeoutSeconds: 0, dryRun: false, maxConcurrency: undefined, maxErrors: undefined },
      state: "failed",
      results: [{ hostname: "x-1", status: ResultStatus.FAILED, name: "", changed: false, error: "agent offline (last seen 2030-01-01T00:00:00.000Z)", certificates: [] }],
    });
  });

  it("lists newest first, filters by state and exact target, pages with limit and offset, counts the total", async () => {
    for (let i = 0; i < 5; i++) {
      store().recordJobStarted(newJob(`job-${i}`, { createdAt: new Date(T0 + i * 1000), target: i % 2 === 0 ? "_all" : "env:prod" }));
    }
    store().recordJobFinished("job-0", "completed", new Date(T0 + 100));
    store().recordJobFinished("job-3", "failed", new Date(T0 + 3100));
    store().recordResult("job-4", 0, hostResult("a-1", ResultStatus.OK));

    const ids = (page: { jobs: JobRecord[] }) => page.jobs.map((job) => job.id);
    const all = await store().listJobs({ limit: 20, offset: 0 });
    expect(ids(all)).toEqual(["job-4", "job-3", "job-2", "job-1", "job-0"]);
    expect(all.total).toBe(5);
    expect(all.jobs[0]!.results.map((result) => result.hostname)).toEqual(["a-1"]);

    expect(await store().listJobs({ limit: 2, offset: 1 }).then((page) => [ids(page), page.total])).toEqual([["job-3", "job-2"], 5]);
    expect(await store().listJobs({ limit: 2, offset: 10 }).then((page) => [ids(page), page.total])).toEqual([[], 5]);
    expect(await store().listJobs({ state: "running", limit: 20, offset: 0 }).then((page) => [ids(page), page.total])).toEqual([["job-4", "job-2", "job-1"], 3]);
    expect(await store().listJobs({ state: "failed", limit: 20, offset: 0 }).then((page) => [ids(page), page.total])).toEqual([["job-3"], 1]);
    expect(await store().listJobs({ target: "_all", limit: 20, offset: 0 }).then((page) => [ids(page), page.total])).toEqual([["job-4", "job-2", "job-0"], 3]);
    expect(await store().listJobs({ target: "_all", state: "completed", limit: 20, offset: 0 }).then((page) => [ids(page), page.total])).toEqual([["job-0"], 1]);
    expect(await store().listJobs({ target: "env", limit: 20, offset: 0 }).then((page) => [ids(page), page.total])).toEqual([[], 0]);
  });

  it("marks running jobs interrupted and leaves finished ones alone", async () => {
    store().recordJobStarted(newJob("done-1"));
    store().recordJobFinished("done-1", "completed", new Date(T0 + 10));
    store().recordJobStarted(newJob("run-1"));
    store().recordResult("run-1", 0, hostResult("b-1", ResultStatus.OK));
    store().recordJobStarted(newJob("run-2"));
    expect(await store().interruptRunningJobs(new Date(T0 + 60_000))).toBe(2);
    expect(await store().getJob("done-1")).toMatchObject({ state: "completed", finishedAt: new Date(T0 + 10) });
    const interrupted = await store().getJob("run-1");
    expect(interrupted).toMatchObject({ state: "interrupted", finishedAt: new Date(T0 + 60_000), hostnames: ["a-1", "b-1", "c-1"] });
    expect(interrupted!.results.map((result) => result.hostname)).toEqual(["b-1"]);
    expect(await store().interruptRunningJobs(new Date(T0 + 70_000))).toBe(0);
  });

  it("with an owner, interrupts only that replica's running jobs; without, every replica's", async () => {
    store().recordJobStarted(newJob("a-run", { owner: "replica-a" }));
    store().recordJobStarted(newJob("a-done", { owner: "replica-a" }));
    store().recordJobFinished("a-done", "completed", new Date(T0 + 10));
    store().recordJobStarted(newJob("b-run", { owner: "replica-b" }));
    store().recordJobStarted(newJob("single-run", { owner: "" }));
    const states = async () =>
      Object.fromEntries(
        await Promise.all(["a-run", "a-done", "b-run", "single-run"].map(async (id) => [id, (await store().getJob(id))?.state] as const)),
      );

    expect(await store().interruptRunningJobs(new Date(T0 + 60_000), "replica-a")).toBe(1);
    expect(await states()).toEqual({ "a-run": "interrupted", "a-done": "completed", "b-run": "running", "single-run": "running" });
    expect(await store().getJob("a-run")).toMatchObject({ owner: "replica-a", finishedAt: new Date(T0 + 60_000) });
    expect(await store().getJob("a-done")).toMatchObject({ finishedAt: new Date(T0 + 10) });

    expect(await store().interruptRunningJobs(new Date(T0 + 70_000))).toBe(2);
    expect(await states()).toEqual({ "a-run": "interrupted", "a-done": "completed", "b-run": "interrupted", "single-run": "interrupted" });
    expect(await store().getJob("a-run")).toMatchObject({ finishedAt: new Date(T0 + 60_000) });
  });

  it("interrupts the running jobs of a dead replica, once, whoever asks", async () => {
    store().recordJobStarted(newJob("dead-1", { owner: "replica-dead" }));
    store().recordResult("dead-1", 0, hostResult("a-1", ResultStatus.OK));
    store().recordJobStarted(newJob("dead-2", { owner: "replica-dead" }));
    store().recordJobStarted(newJob("dead-done", { owner: "replica-dead" }));
    store().recordJobFinished("dead-done", "failed", new Date(T0 + 5));
    store().recordJobStarted(newJob("alive-1", { owner: "replica-alive" }));

    // Two survivors notice the death at once: the jobs are interrupted once in all.
    const counts = await Promise.all([
      store().interruptJobsOfOwner("replica-dead", new Date(T0 + 9_000)),
      store().interruptJobsOfOwner("replica-dead", new Date(T0 + 9_000)),
    ]);
    expect(counts.reduce((sum, count) => sum + count, 0)).toBe(2);
    expect(await store().interruptJobsOfOwner("replica-dead", new Date(T0 + 10_000))).toBe(0);
    expect(await store().interruptJobsOfOwner("replica-nobody", new Date(T0 + 10_000))).toBe(0);

    const dead1 = await store().getJob("dead-1");
    expect(dead1).toMatchObject({ state: "interrupted", finishedAt: new Date(T0 + 9_000), owner: "replica-dead" });
    expect(dead1!.results.map((result) => result.hostname)).toEqual(["a-1"]);
    expect(await store().getJob("dead-2")).toMatchObject({ state: "interrupted", finishedAt: new Date(T0 + 9_000) });
    expect(await store().getJob("dead-done")).toMatchObject({ state: "failed", finishedAt: new Date(T0 + 5) });
    expect((await store().getJob("alive-1"))?.state).toBe("running");
    expect((await store().listJobs({ state: "running", limit: 20, offset: 0 })).jobs.map((job) => job.id)).toEqual(["alive-1"]);
  });

  it("prunes jobs created before the cutoff, with their results", async () => {
    store().recordJobStarted(newJob("old-1", { createdAt: new Date(T0) }));
    store().recordResult("old-1", 0, hostResult("a-1", ResultStatus.OK));
    store().recordJobFinished("old-1", "completed", new Date(T0 + 1));
    store().recordJobStarted(newJob("old-2", { createdAt: new Date(T0 + 999) }));
    store().recordJobStarted(newJob("new-1", { createdAt: new Date(T0 + 1000) }));
    store().recordResult("new-1", 0, hostResult("a-1", ResultStatus.OK));
    expect(await store().pruneJobs(new Date(T0 + 1000))).toBe(2);
    expect(await store().getJob("old-1")).toBeUndefined();
    expect(await store().getJob("old-2")).toBeUndefined();
    expect((await store().getJob("new-1"))?.results.map((result) => result.hostname)).toEqual(["a-1"]);
    expect((await store().listJobs({ limit: 20, offset: 0 })).total).toBe(1);
    expect(await store().pruneJobs(new Date(T0 + 1000))).toBe(0);
  });

  it("keeps 10,000 results of one job in arrival order", async () => {
    const hostnames = Array.from({ length: 10_000 }, (_, i) => `host-${String(i).padStart(5, "0")}`);
    store().recordJobStarted(newJob("big-1", { hostnames }));
    // Arrival order differs from the hostname order.
    const arrival = [...hostnames].reverse();
    arrival.forEach((hostname, position) => store().recordResult("big-1", position, hostResult(hostname, position % 7 === 0 ? ResultStatus.FAILED : ResultStatus.OK)));
    store().recordJobFinished("big-1", "partial_failure", new Date(T0 + 5));
    await store().flush();
    const job = await store().getJob("big-1");
    expect(job?.hostnames).toEqual(hostnames);
    expect(job?.results.map((result) => result.hostname)).toEqual(arrival);
    expect(job?.results.filter((result) => result.status === ResultStatus.FAILED)).toHaveLength(Math.ceil(10_000 / 7));
  });

  it("remembers known agents: the last write per hostname wins; forget removes one", async () => {
    expect(await store().loadAgents()).toEqual([]);
    store().recordAgent(agent("web-2"));
    store().recordAgent(agent("web-1", { labels: { env: "dev" } }));
    store().recordAgent(agent("web-1", { labels: { env: "prod" }, agentVersion: "2.0.0", lastSeenAt: new Date(T0 + 5000) }));
    store().recordAgent(agent("bare-1", { labels: {}, os: undefined, agentVersion: "" }));
    const loaded = await store().loadAgents();
    expect(
      loaded.map((known) => ({
        hostname: known.hostname,
        labels: known.labels,
        os: known.os && { id: known.os.id, idLike: known.os.idLike, versionId: known.os.versionId, trustStore: known.os.trustStore },
        agentVersion: known.agentVersion,
        connectedAt: known.connectedAt.toISOString(),
        lastSeenAt: known.lastSeenAt.toISOString(),
      })),
    ).toEqual([
      { hostname: "bare-1", labels: {}, os: undefined, agentVersion: "", connectedAt: "2030-01-01T00:00:00.000Z", lastSeenAt: "2030-01-01T00:00:01.000Z" },
      {
        hostname: "web-1",
        labels: { env: "prod" },
        os: { id: "debian", idLike: ["debian"], versionId: "12", trustStore: "debian" },
        agentVersion: "2.0.0",
        connectedAt: "2030-01-01T00:00:00.000Z",
        lastSeenAt: "2030-01-01T00:00:05.000Z",
      },
      {
        hostname: "web-2",
        labels: { env: "prod", group: "web.dev" },
        os: { id: "debian", idLike: ["debian"], versionId: "12", trustStore: "debian" },
        agentVersion: "1.2.3",
        connectedAt: "2030-01-01T00:00:00.000Z",
        lastSeenAt: "2030-01-01T00:00:01.000Z",
      },
    ]);
    expect(await store().forgetAgent("web-1")).toBe(true);
    expect(await store().forgetAgent("web-1")).toBe(false);
    expect((await store().loadAgents()).map((known) => known.hostname)).toEqual(["bare-1", "web-2"]);
  });

  it("flush() resolves once queued writes are stored; reads see earlier writes without it", async () => {
    await store().flush();
    store().recordJobStarted(newJob("f-1"));
    store().recordResult("f-1", 0, hostResult("a-1", ResultStatus.OK));
    expect((await store().getJob("f-1"))?.results).toHaveLength(1);
    store().recordResult("f-1", 1, hostResult("b-1", ResultStatus.OK));
    await store().flush();
    expect((await store().listJobs({ limit: 1, offset: 0 })).jobs[0]?.results).toHaveLength(2);
  });
}
