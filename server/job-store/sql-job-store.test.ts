// What only the SQL store does: survive a close mid-job (interrupted on reopen),
// batch writes, and turn faults into UNAVAILABLE and counted, logged errors.
import { create } from "@bufbuild/protobuf";
import { status } from "@grpc/grpc-js";
import Database from "better-sqlite3";
import { Kysely, SqliteDialect } from "kysely";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { createLogger } from "../../common/logger.js";
import { ResultStatus } from "../../gen/trustplane/v1/common_pb.js";
import { JobSchema } from "../../gen/trustplane/v1/job_pb.js";
import { jobMessage } from "../services/job-service.js";
import { hostResult, newJob } from "../testing/job-store-contract.js";
import { createTestSchema, postgresUnavailable } from "../testing/postgres-test-schema.js";
import type { JobStore } from "./job-store.js";
import { migrateJobStore } from "./migrations.js";
import { openJobStore } from "./open-job-store.js";
import { SqlJobStore } from "./sql-job-store.js";
import type { JobStoreTables } from "./tables.js";

const logger = createLogger({ component: "sql-job-store-test", level: "silent" });
let dir: string;
let file: string;
const open: JobStore[] = [];

async function openStore(onError?: (operation: string, error: unknown) => void): Promise<JobStore> {
  const store = await openJobStore(`sqlite:${file}`, { logger, onError });
  open.push(store);
  return store;
}

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), "trustplane-sqljobs-"));
  file = join(dir, "nested", "jobs.db");
});

afterEach(async () => {
  for (const store of open.splice(0)) await store.close();
  await rm(dir, { recursive: true, force: true });
});

describe("SqlJobStore", () => {
  it("a job left running when the store closed is interrupted on reopen, keeping its one answer", async () => {
    const first = await openStore();
    first.recordJobStarted(newJob("job-1", { hostnames: ["a-1", "b-1", "c-1"] }));
    first.recordResult("job-1", 0, hostResult("c-1", ResultStatus.OK));
    await first.close();

    const second = await openStore();
    expect(await second.interruptRunningJobs(new Date(Date.UTC(2031, 0, 1)))).toBe(1);
    const job = await second.getJob("job-1");
    expect(job).toMatchObject({ state: "interrupted", finishedAt: new Date(Date.UTC(2031, 0, 1)) });
    expect(job!.results.map((result) => [result.hostname, result.status])).toEqual([["c-1", ResultStatus.OK]]);
    const message = jobMessage(job!);
    expect(message.unansweredHostnames).toEqual(["a-1", "b-1"]);
    expect(message.$typeName).toBe(JobSchema.typeName);
  });

  it("upgrades a store made before jobs had an owner: its jobs are a single control plane's (owner \"\")", async () => {
    const first = await openStore();
    first.recordJobStarted(newJob("old-1", { owner: "ignored" }));
    await first.close();
    // Back to the schema of migration 0001 alone, as a store written by an older release.
    const side = new Database(file);
    side.exec(`alter table jobs drop column owner; delete from trustplane_migration where name = '0002_jobs_owner'`);
    side.close();

    const second = await openStore();
    expect(await second.getJob("old-1")).toMatchObject({ id: "old-1", state: "running", owner: "" });
    second.recordJobStarted(newJob("new-1", { owner: "replica-a" }));
    expect(await second.interruptRunningJobs(new Date(9), "replica-a")).toBe(1);
    expect(await second.getJob("old-1")).toMatchObject({ state: "running", owner: "" });
    expect(await second.getJob("new-1")).toMatchObject({ state: "interrupted", owner: "replica-a" });
  });

  it("uses WAL journaling", async () => {
    await openStore();
    const side = new Database(file, { readonly: true });
    expect(side.pragma("journal_mode", { simple: true })).toBe("wal");
    side.close();
  });

  it("writes results queued in one turn as a few multi-row inserts (1000, 100, 10 or 1 rows) in one transaction", async () => {
    const statements: string[] = [];
    const db = new Kysely<JobStoreTables>({
      dialect: new SqliteDialect({ database: new Database(join(dir, "batch.db")) }),
      log: (event) => {
        const head = event.query.sql.split(" ").slice(0, 3).join(" ");
        statements.push(head === 'insert into "job_results"' ? `${head} × ${event.query.parameters.length / 7}` : head);
      },
    });
    await migrateJobStore(db as unknown as Kysely<unknown>, undefined);
    const store = new SqlJobStore({ db, logger });
    open.push(store);
    statements.length = 0;
    store.recordJobStarted(newJob("big-1", { hostnames: Array.from({ length: 2500 }, (_, i) => `h-${i}`) }));
    for (let i = 0; i < 2500; i++) store.recordResult("big-1", i, hostResult(`h-${i}`, ResultStatus.OK));
    store.recordJobFinished("big-1", "completed", new Date());
    await store.flush();
    expect(statements).toEqual([
      "begin",
      'insert into "jobs"',
      ...Array<string>(2).fill('insert into "job_results" × 1000'),
      ...Array<string>(5).fill('insert into "job_results" × 100'),
      'update "jobs" set',
      "commit",
    ]);
    expect((await store.getJob("big-1"))?.results).toHaveLength(2500);
  });

  it("a failed read answers UNAVAILABLE and is reported", async () => {
    const faults: string[] = [];
    const store = await openStore((operation) => faults.push(operation));
    const side = new Database(file);
    side.exec("drop table jobs");
    side.close();
    await expect(store.getJob("x")).rejects.toMatchObject({ code: status.UNAVAILABLE, message: "job store unavailable: no such table: jobs" });
    await expect(store.listJobs({ limit: 1, offset: 0 })).rejects.toMatchObject({ code: status.UNAVAILABLE });
    expect(faults).toEqual(["getJob", "listJobs"]);
  });

  it("a failed write batch is reported and dropped; later batches are written", async () => {
    const faults: [string, string][] = [];
    const store = await openStore((operation, error) => faults.push([operation, (error as Error).message]));
    store.recordJobStarted(newJob("job-1"));
    await store.flush();
    const side = new Database(file);
    side.exec("drop table job_results");
    side.close();
    store.recordResult("job-1", 0, hostResult("a-1", ResultStatus.OK));
    store.recordJobFinished("job-1", "completed", new Date(5));
    await expect(store.flush()).rejects.toThrow("no such table: job_results");
    expect(faults).toEqual([["write", "no such table: job_results"]]);

    store.recordAgent({ hostname: "a-1", labels: {}, os: undefined, agentVersion: "1", connectedAt: new Date(1), lastSeenAt: new Date(2) });
    await store.flush();
    expect((await store.loadAgents()).map((agent) => agent.hostname)).toEqual(["a-1"]);
    // The whole failed batch was rolled back, the job's end with it.
    const side2 = new Database(file, { readonly: true });
    expect(side2.prepare("select state from jobs where id = ?").get("job-1")).toEqual({ state: "running" });
    side2.close();
  });

  it("refuses an unknown store URL and an empty path", async () => {
    await expect(openJobStore("mysql://x", { logger })).rejects.toThrow('job store "mysql://x": a job store is "memory:", "sqlite:PATH" or "postgres://USER@HOST:PORT/DATABASE"');
    await expect(openJobStore("sqlite:", { logger })).rejects.toThrow('job store "sqlite:": sqlite: needs a file path');
  });

  it("memory: opens an empty in-memory store", async () => {
    const store = await openJobStore("memory:", { logger });
    expect(await store.listJobs({ limit: 5, offset: 0 })).toEqual({ jobs: [], total: 0 });
    expect(create(JobSchema).$typeName).toBe("trustplane.v1.Job");
  });
});

const postgresMissing = await postgresUnavailable();

describe.skipIf(postgresMissing !== undefined)(`SqlJobStore on PostgreSQL${postgresMissing ? ` (SKIPPED: ${postgresMissing})` : ""}`, () => {
  it("reopens a schema that is already migrated, next to another schema of the same database", async () => {
    const [one, two] = await Promise.all([createTestSchema(), createTestSchema()]);
    try {
      const first = await openJobStore(one.url, { logger });
      first.recordJobStarted(newJob("pg-1", { hostnames: ["a-1", "b-1"] }));
      first.recordResult("pg-1", 0, hostResult("a-1", ResultStatus.OK));
      await first.close();
      const other = await openJobStore(two.url, { logger });
      expect(await other.getJob("pg-1")).toBeUndefined();
      await other.close();

      const again = await openJobStore(one.url, { logger });
      try {
        expect(await again.interruptRunningJobs(new Date(7))).toBe(1);
        const job = await again.getJob("pg-1");
        expect(job).toMatchObject({ state: "interrupted", finishedAt: new Date(7) });
        expect(job!.results.map((result) => result.hostname)).toEqual(["a-1"]);
      } finally {
        await again.close();
      }
    } finally {
      await Promise.all([one.drop(), two.drop()]);
    }
  });
});
