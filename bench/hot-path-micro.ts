// Per-host cost of the control plane's fan-out hot path, piece by piece, the way it
// was before issue 6's fixes (protobuf-es reflection, a Kysely-built multi-row
// INSERT per batch, a prom-client call per host) against the way it is now. One
// process, no network: CPU microseconds per host, median of --runs runs.
//
//   npx tsx bench/hot-path-micro.ts [--hosts N] [--batch B] [--runs R]
import { create, fromBinary, toBinary } from "@bufbuild/protobuf";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import Database from "better-sqlite3";
import { Kysely, SqliteDialect } from "kysely";
import { Counter, Histogram, Registry } from "prom-client";
import { createLogger } from "../common/logger.js";
import { ConnectRequestSchema, ConnectResponseSchema } from "../gen/trustplane/v1/agent_pb.js";
import { InstallCAResponseSchema } from "../gen/trustplane/v1/certificate_pb.js";
import { HostResultSchema, JobEventSchema, ResultStatus, type HostResult, type JobEvent } from "../gen/trustplane/v1/common_pb.js";
import { decodeAgentMessage } from "../server/agent-messages.js";
import { heartbeatFrame } from "../server/hot-agent-messages.js";
import { jobEventFrame } from "../server/job-event-frames.js";
import { migrateJobStore } from "../server/job-store/migrations.js";
import { SqlJobStore } from "../server/job-store/sql-job-store.js";
import { withStatementCache } from "../server/job-store/sqlite-statement-cache.js";
import type { JobStoreTables } from "../server/job-store/tables.js";
import { ControlPlaneMetrics } from "../server/metrics.js";

const { values } = parseArgs({
  options: { hosts: { type: "string", default: "10000" }, batch: { type: "string", default: "100" }, runs: { type: "string", default: "5" } },
});
const HOSTS = Number(values.hosts);
const BATCH = Number(values.batch);
const RUNS = Number(values.runs);
const JOB_ID = "0b9c4b0e-6c38-4f55-9e47-2f0b0d8d8a51";
const hostnames = Array.from({ length: HOSTS }, (_, index) => `bench-agent-${index}.fleet.example`);

/** CPU µs per host of `run` (which handles all hosts), median of RUNS after one warm-up. */
async function perHost(run: () => unknown): Promise<number> {
  await run();
  const samples: number[] = [];
  for (let index = 0; index < RUNS; index++) {
    const before = process.cpuUsage();
    await run();
    const used = process.cpuUsage(before);
    samples.push((used.user + used.system) / HOSTS);
  }
  return samples.sort((a, b) => a - b)[Math.floor(samples.length / 2)]!;
}

function reflectiveResult(hostname: string): JobEvent {
  const result = create(HostResultSchema, { hostname, status: ResultStatus.OK, name: "bench", changed: true, error: "", certificates: [] });
  return create(JobEventSchema, { event: { case: "result", value: result } });
}

function plainResult(hostname: string): JobEvent {
  const result: HostResult = { $typeName: "trustplane.v1.HostResult", hostname, status: ResultStatus.OK, name: "bench", changed: true, error: "", certificates: [] };
  return { $typeName: "trustplane.v1.JobEvent", event: { case: "result", value: result } };
}

const resultMessages = hostnames.map((hostname) =>
  Buffer.from(
    toBinary(ConnectRequestSchema, create(ConnectRequestSchema, { kind: { case: "result", value: { commandId: `${JOB_ID}/${hostname}`, status: ResultStatus.OK, changed: true } } })),
  ),
);

async function sqliteStore(dir: string, name: string, cached: boolean): Promise<{ db: Kysely<JobStoreTables>; store: SqlJobStore }> {
  const database = new Database(join(dir, name));
  database.pragma("journal_mode = WAL");
  database.pragma("synchronous = NORMAL");
  const db = new Kysely<JobStoreTables>({ dialect: new SqliteDialect({ database: cached ? withStatementCache(database) : database }) });
  await migrateJobStore(db as unknown as Kysely<unknown>, undefined);
  return { db, store: new SqlJobStore({ db, logger: createLogger({ component: "bench", level: "silent" }) }) };
}

function resultRow(jobId: string, position: number) {
  return { job_id: jobId, position, hostname: hostnames[position]!, status: "ok", changed: 1, error: "", certificates: null };
}

let jobCounter = 0;

async function main(): Promise<void> {
  const rows: [string, number, number][] = [];
  const compare = async (what: string, before: () => unknown, after: () => unknown) => {
    rows.push([what, await perHost(before), await perHost(after)]);
  };

  await compare(
    "result event: build + encode the InstallCA response",
    () => hostnames.forEach((hostname) => toBinary(InstallCAResponseSchema, create(InstallCAResponseSchema, { event: reflectiveResult(hostname) }))),
    () => hostnames.forEach((hostname) => jobEventFrame(plainResult(hostname))),
  );
  await compare(
    "decode an agent's result",
    () => resultMessages.forEach((bytes) => fromBinary(ConnectRequestSchema, bytes)),
    () => resultMessages.forEach((bytes) => decodeAgentMessage(bytes)),
  );
  await compare(
    "encode a heartbeat reply",
    () => hostnames.forEach(() => toBinary(ConnectResponseSchema, create(ConnectResponseSchema, { kind: { case: "heartbeat", value: { sentUnixMs: BigInt(Date.now()) } } }))),
    () => hostnames.forEach(() => heartbeatFrame(Date.now())),
  );

  const registry = new Registry();
  const commands = new Counter({ name: "c", help: "c", labelNames: ["kind", "status"], registers: [registry] }).labels("certificate.install", "ok");
  const latency = new Histogram({ name: "h", help: "h", labelNames: ["kind"], buckets: [0.001, 0.01, 0.1, 1], registers: [registry] }).labels("certificate.install");
  const metrics = new ControlPlaneMetrics();
  await compare(
    "metrics per result",
    () => hostnames.forEach(() => (commands.inc(), latency.observe(0.004))),
    () => {
      const job = metrics.job("certificate.install");
      hostnames.forEach(() => job.result(ResultStatus.OK, 4));
      job.finished("completed", 10);
    },
  );

  const dir = await mkdtemp(join(tmpdir(), "trustplane-hot-path-"));
  try {
    const old = await sqliteStore(dir, "before.sqlite", false);
    const now = await sqliteStore(dir, "after.sqlite", true);
    await compare(
      `job store: ${HOSTS} results in batches of ${BATCH}`,
      async () => {
        const jobId = `job-${jobCounter++}`;
        for (let start = 0; start < HOSTS; start += BATCH) {
          const batch = hostnames.slice(start, start + BATCH).map((_, offset) => resultRow(jobId, start + offset));
          await old.db.transaction().execute((trx) => trx.insertInto("job_results").values(batch).execute());
        }
      },
      async () => {
        const jobId = `job-${jobCounter++}`;
        for (let start = 0; start < HOSTS; start += BATCH) {
          for (let position = start; position < Math.min(HOSTS, start + BATCH); position++) {
            now.store.recordResult(jobId, position, plainResult(hostnames[position]!).event.value as HostResult);
          }
          await now.store.flush();
        }
      },
    );
    await old.db.destroy();
    await now.store.close();
  } finally {
    await rm(dir, { recursive: true, force: true });
  }

  console.log(`CPU µs per host (${HOSTS} hosts, median of ${RUNS} runs; job store batches of ${BATCH})`);
  console.log("| step | before | after |\n|---|---|---|");
  for (const [what, before, after] of rows) console.log(`| ${what} | ${before.toFixed(1)} | ${after.toFixed(1)} |`);
}

await main();
