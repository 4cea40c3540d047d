// The job store in SQL, written once with Kysely for SQLite and PostgreSQL.
//
// Writes go to a queue; one transaction per event-loop turn writes everything queued
// (results of a job and agent upserts as multi-row inserts compiled once per row
// count: batched-insert.ts), so 10,000 results are a handful of round trips, not
// 10,000. Only one transaction runs at a time, so writes land in the order they were
// queued. A failed batch is logged, counted and dropped: a job never
// fails because its record could not be written.
import { create, fromJson, toJson, type JsonValue } from "@bufbuild/protobuf";
import type { Kysely, Selectable } from "kysely";
import type { Logger } from "../../common/logger.js";
import { unavailable } from "../../common/status-error.js";
import { OsFactsSchema } from "../../gen/trustplane/v1/agent_pb.js";
import {
  CertificateInfoSchema,
  HostResultSchema,
  JobOptionsSchema,
  ResultStatus,
  type HostResult,
} from "../../gen/trustplane/v1/common_pb.js";
import { JOB_STATES, type JobPage, type JobQuery, type JobRecord, type JobState, type JobStore, type KnownAgent, type NewJob } from "./job-store.js";
import { BatchedInsert } from "./batched-insert.js";
import type { AgentsTable, Count, JobResultsTable, JobsTable, JobStoreTables } from "./tables.js";

export interface SqlJobStoreOptions {
  db: Kysely<JobStoreTables>;
  logger: Logger;
  /** Told of every store fault (for metrics); `operation` is "write" or the read's name. */
  onError?: (operation: string, error: unknown) => void;
}

type Write =
  | { readonly kind: "job"; readonly job: NewJob }
  | { readonly kind: "result"; readonly jobId: string; readonly position: number; readonly result: HostResult }
  | { readonly kind: "finish"; readonly jobId: string; readonly state: JobState; readonly finishedAt: number }
  | { readonly kind: "agent"; readonly agent: KnownAgent }
  | { readonly kind: "forget"; readonly hostname: string; found: boolean };

/** Writes of one kind handled as one group (a result group runs as 1000-, 100-, 10- and 1-row inserts). */
const ROWS_PER_INSERT = 1000;

interface Deferred {
  promise: Promise<void>;
  resolve(): void;
  reject(error: unknown): void;
}

function deferred(): Deferred {
  let resolve!: () => void;
  let reject!: (error: unknown) => void;
  const promise = new Promise<void>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  promise.catch(() => undefined); // a batch nobody waits for must not be an unhandled rejection
  return { promise, resolve, reject };
}

const STATUS_TEXT: Readonly<Record<number, string>> = {
  [ResultStatus.OK]: "ok",
  [ResultStatus.FAILED]: "failed",
  [ResultStatus.SKIPPED]: "skipped",
};
const STATUS_FROM_TEXT: Readonly<Record<string, ResultStatus>> = {
  ok: ResultStatus.OK,
  failed: ResultStatus.FAILED,
  skipped: ResultStatus.SKIPPED,
};

function millis(value: Count): number {
  return typeof value === "number" ? value : Number(value);
}

function describe(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

export class SqlJobStore implements JobStore {
  private readonly db: Kysely<JobStoreTables>;
  private queue: Write[] = [];
  /** Settles when the queued writes are stored; created by the first flush() that waits for them. */
  private next: Deferred | undefined;
  /** The batch being written. */
  private running: Promise<void> | undefined;
  private scheduled = false;
  private closed = false;
  private readonly resultInserts: BatchedInsert<ResultRow>;
  private readonly agentUpserts: BatchedInsert<AgentRow>;

  constructor(private readonly options: SqlJobStoreOptions) {
    this.db = options.db;
    this.resultInserts = new BatchedInsert(RESULT_COLUMNS, (rows) => this.db.insertInto("job_results").values(rows));
    this.agentUpserts = new BatchedInsert(AGENT_COLUMNS, (rows) =>
      this.db
        .insertInto("agents")
        .values(rows)
        .onConflict((conflict) =>
          conflict.column("hostname").doUpdateSet((eb) => ({
            labels: eb.ref("excluded.labels"),
            os: eb.ref("excluded.os"),
            agent_version: eb.ref("excluded.agent_version"),
            connected_at: eb.ref("excluded.connected_at"),
            last_seen_at: eb.ref("excluded.last_seen_at"),
          })),
        ),
    );
    this.runBatch = this.runBatch.bind(this);
  }

  recordJobStarted(job: NewJob): void {
    this.enqueue({ kind: "job", job });
  }

  recordResult(jobId: string, position: number, result: HostResult): void {
    this.enqueue({ kind: "result", jobId, position, result });
  }

  recordJobFinished(jobId: string, state: JobState, finishedAt: Date): void {
    this.enqueue({ kind: "finish", jobId, state, finishedAt: finishedAt.getTime() });
  }

  recordAgent(agent: KnownAgent): void {
    this.enqueue({ kind: "agent", agent });
  }

  flush(): Promise<void> {
    if (this.queue.length > 0) return (this.next ??= deferred()).promise;
    return this.running ?? Promise.resolve();
  }

  async getJob(id: string): Promise<JobRecord | undefined> {
    return this.read("getJob", async () => {
      const row = await this.db.selectFrom("jobs").selectAll().where("id", "=", id).executeTakeFirst();
      if (!row) return undefined;
      const results = await this.resultsOf([row]);
      return jobRecord(row, results.get(row.id) ?? []);
    });
  }

  async listJobs(query: JobQuery): Promise<JobPage> {
    return this.read("listJobs", async () => {
      let jobs = this.db.selectFrom("jobs");
      if (query.state) jobs = jobs.where("state", "=", query.state);
      if (query.target !== undefined) jobs = jobs.where("target", "=", query.target);
      const counted = await jobs.select((eb) => eb.fn.countAll<Count>().as("total")).executeTakeFirstOrThrow();
      const rows = await jobs.selectAll().orderBy("created_at", "desc").orderBy("id", "desc").limit(query.limit).offset(query.offset).execute();
      const results = await this.resultsOf(rows);
      return { jobs: rows.map((row) => jobRecord(row, results.get(row.id) ?? [])), total: millis(counted.total) };
    });
  }

  async interruptRunningJobs(at: Date, owner?: string): Promise<number> {
    return this.read("interruptRunningJobs", () => this.interrupt(at, owner));
  }

  async interruptJobsOfOwner(owner: string, at: Date): Promise<number> {
    return this.read("interruptJobsOfOwner", () => this.interrupt(at, owner));
  }

  async pruneJobs(before: Date): Promise<number> {
    return this.read("pruneJobs", () =>
      this.db.transaction().execute(async (trx) => {
        const cutoff = before.getTime();
        await trx
          .deleteFrom("job_results")
          .where("job_id", "in", trx.selectFrom("jobs").select("id").where("created_at", "<", cutoff))
          .execute();
        const deleted = await trx.deleteFrom("jobs").where("created_at", "<", cutoff).executeTakeFirst();
        return Number(deleted.numDeletedRows);
      }),
    );
  }

  async loadAgents(): Promise<KnownAgent[]> {
    return this.read("loadAgents", async () => {
      const rows = await this.db.selectFrom("agents").selectAll().orderBy("hostname").execute();
      return rows.map(knownAgent);
    });
  }

  async forgetAgent(hostname: string): Promise<boolean> {
    const write: Write = { kind: "forget", hostname, found: false };
    this.enqueue(write);
    try {
      await this.flush();
    } catch (error) {
      throw unavailable(`job store unavailable: ${describe(error)}`);
    }
    return write.found;
  }

  async close(): Promise<void> {
    if (this.closed) return;
    while (this.queue.length > 0 || this.running) await this.flush().catch(() => undefined);
    this.closed = true;
    await this.db.destroy();
  }

  private enqueue(write: Write): void {
    if (this.closed) {
      this.options.logger.warn({ write: write.kind }, "job store closed; write dropped");
      return;
    }
    this.queue.push(write);
    if (!this.scheduled && !this.running) {
      this.scheduled = true;
      setImmediate(this.runBatch);
    }
  }

  private runBatch(): void {
    this.scheduled = false;
    if (this.running || this.queue.length === 0) return;
    const writes = this.queue;
    this.queue = [];
    const batch = this.next ?? deferred();
    this.next = undefined;
    this.running = batch.promise;
    this.write(writes).then(batch.resolve, (error: unknown) => {
      this.fault("write", error, { writes: writes.length });
      batch.reject(error);
    });
    void batch.promise
      .catch(() => undefined)
      .then(() => {
        this.running = undefined;
        if (this.queue.length > 0 && !this.scheduled) {
          this.scheduled = true;
          setImmediate(this.runBatch);
        }
      });
  }

  /** Writes a batch in one transaction; consecutive writes of one kind go together. */
  private async write(writes: Write[]): Promise<void> {
    await this.db.transaction().execute(async (trx) => {
      let start = 0;
      while (start < writes.length) {
        const kind = writes[start]!.kind;
        let end = start + 1;
        while (end < writes.length && end - start < ROWS_PER_INSERT && writes[end]!.kind === kind) end++;
        const group = writes.slice(start, end);
        start = end;
        switch (kind) {
          case "job":
            await trx
              .insertInto("jobs")
              .values(group.map((write) => jobRow((write as Extract<Write, { kind: "job" }>).job)))
              .execute();
            break;
          case "result":
            await this.resultInserts.run(
              trx,
              group.map((write) => resultRow(write as Extract<Write, { kind: "result" }>)),
            );
            break;
          case "finish":
            for (const write of group as Extract<Write, { kind: "finish" }>[]) {
              await trx.updateTable("jobs").set({ state: write.state, finished_at: write.finishedAt }).where("id", "=", write.jobId).execute();
            }
            break;
          case "agent": {
            // One row per hostname per statement (an upsert may not touch a row twice); the last write wins.
            const latest = new Map<string, KnownAgent>();
            for (const write of group as Extract<Write, { kind: "agent" }>[]) latest.set(write.agent.hostname, write.agent);
            await this.agentUpserts.run(trx, [...latest.values()].map(agentRow));
            break;
          }
          case "forget":
            for (const write of group as Extract<Write, { kind: "forget" }>[]) {
              const deleted = await trx.deleteFrom("agents").where("hostname", "=", write.hostname).executeTakeFirst();
              write.found = Number(deleted.numDeletedRows) > 0;
            }
            break;
        }
      }
    });
  }

  /** Running jobs (of `owner`, when given) become interrupted: one UPDATE, so running it twice is harmless. */
  private async interrupt(at: Date, owner: string | undefined): Promise<number> {
    let update = this.db.updateTable("jobs").set({ state: "interrupted", finished_at: at.getTime() }).where("state", "=", "running");
    if (owner !== undefined) update = update.where("owner", "=", owner);
    const updated = await update.executeTakeFirst();
    return Number(updated.numUpdatedRows);
  }

  /** Results of `jobs`, by job id, in arrival order. */
  private async resultsOf(jobs: readonly Selectable<JobsTable>[]): Promise<Map<string, HostResult[]>> {
    const byJob = new Map<string, HostResult[]>();
    if (jobs.length === 0) return byJob;
    const names = new Map(jobs.map((job) => [job.id, job.name]));
    const rows = await this.db
      .selectFrom("job_results")
      .selectAll()
      .where("job_id", "in", [...names.keys()])
      .orderBy("job_id")
      .orderBy("position")
      .execute();
    for (const row of rows) {
      let results = byJob.get(row.job_id);
      if (!results) byJob.set(row.job_id, (results = []));
      results.push(hostResult(row, names.get(row.job_id) ?? ""));
    }
    return byJob;
  }

  /** Runs a read (reads see every write queued before them); faults become UNAVAILABLE. */
  private async read<T>(operation: string, run: () => Promise<T>): Promise<T> {
    await this.flush().catch(() => undefined);
    try {
      return await run();
    } catch (error) {
      this.fault(operation, error);
      throw unavailable(`job store unavailable: ${describe(error)}`);
    }
  }

  private fault(operation: string, error: unknown, fields: Record<string, unknown> = {}): void {
    this.options.logger.error({ operation, err: describe(error), ...fields }, "job store fault");
    this.options.onError?.(operation, error);
  }
}

function jobRow(job: NewJob) {
  return {
    id: job.id,
    operation: job.operation,
    target: job.target,
    name: job.name,
    object: job.object,
    options: JSON.stringify(toJson(JobOptionsSchema, job.options)),
    requested_by: job.requestedBy,
    created_at: job.createdAt.getTime(),
    finished_at: null,
    state: "running",
    hostnames: JSON.stringify(job.hostnames),
    owner: job.owner,
  };
}

const RESULT_COLUMNS = ["job_id", "position", "hostname", "status", "changed", "error", "certificates"] as const;
type ResultRow = ReturnType<typeof resultRow>;

function resultRow(write: { jobId: string; position: number; result: HostResult }) {
  const { result } = write;
  return {
    job_id: write.jobId,
    position: write.position,
    hostname: result.hostname,
    status: STATUS_TEXT[result.status] ?? "failed",
    changed: result.changed ? 1 : 0,
    error: result.error,
    certificates:
      result.certificates.length > 0 ? JSON.stringify(result.certificates.map((certificate) => toJson(CertificateInfoSchema, certificate))) : null,
  };
}

const AGENT_COLUMNS = ["hostname", "labels", "os", "agent_version", "connected_at", "last_seen_at"] as const;
type AgentRow = ReturnType<typeof agentRow>;

function agentRow(agent: KnownAgent) {
  return {
    hostname: agent.hostname,
    labels: JSON.stringify(agent.labels),
    os: agent.os ? JSON.stringify(toJson(OsFactsSchema, agent.os)) : null,
    agent_version: agent.agentVersion,
    connected_at: agent.connectedAt.getTime(),
    last_seen_at: agent.lastSeenAt.getTime(),
  };
}

function jobState(text: string): JobState {
  return (JOB_STATES as readonly string[]).includes(text) ? (text as JobState) : "interrupted";
}

function jobRecord(row: Selectable<JobsTable>, results: HostResult[]): JobRecord {
  return {
    id: row.id,
    operation: row.operation,
    target: row.target,
    name: row.name,
    object: row.object,
    options: fromJson(JobOptionsSchema, JSON.parse(row.options) as JsonValue, { ignoreUnknownFields: true }),
    requestedBy: row.requested_by,
    createdAt: new Date(millis(row.created_at)),
    finishedAt: row.finished_at === null ? undefined : new Date(millis(row.finished_at)),
    state: jobState(row.state),
    hostnames: JSON.parse(row.hostnames) as string[],
    owner: row.owner,
    results,
  };
}

function hostResult(row: Selectable<JobResultsTable>, name: string): HostResult {
  const certificates = row.certificates === null ? [] : (JSON.parse(row.certificates) as JsonValue[]);
  return create(HostResultSchema, {
    hostname: row.hostname,
    status: STATUS_FROM_TEXT[row.status] ?? ResultStatus.FAILED,
    name,
    changed: Number(row.changed) === 1,
    error: row.error,
    certificates: certificates.map((certificate) => fromJson(CertificateInfoSchema, certificate, { ignoreUnknownFields: true })),
  });
}

function knownAgent(row: Selectable<AgentsTable>): KnownAgent {
  return {
    hostname: row.hostname,
    labels: JSON.parse(row.labels) as Record<string, string>,
    os: row.os === null ? undefined : fromJson(OsFactsSchema, JSON.parse(row.os) as JsonValue, { ignoreUnknownFields: true }),
    agentVersion: row.agent_version,
    connectedAt: new Date(millis(row.connected_at)),
    lastSeenAt: new Date(millis(row.last_seen_at)),
  };
}
