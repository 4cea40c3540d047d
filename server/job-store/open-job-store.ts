// Opens the job store named by `memory:`, `sqlite:PATH` or `postgres://…`, and
// brings its schema up to date. The SQL drivers are loaded only when asked for.
import { mkdir } from "node:fs/promises";
import { dirname, resolve } from "node:path";
import { Kysely, PostgresDialect, sql, SqliteDialect } from "kysely";
import type { Logger } from "../../common/logger.js";
import type { JobStore } from "./job-store.js";
import { MemoryJobStore } from "./memory-job-store.js";
import { migrateJobStore } from "./migrations.js";
import { SqlJobStore } from "./sql-job-store.js";
import { withStatementCache } from "./sqlite-statement-cache.js";
import type { JobStoreTables } from "./tables.js";

export interface OpenJobStoreOptions {
  logger: Logger;
  /** Told of every store fault (for metrics). */
  onError?: (operation: string, error: unknown) => void;
}

/** How long SQLite waits for a lock held by another connection. */
const SQLITE_BUSY_TIMEOUT_MS = 5_000;
const POSTGRES_POOL_SIZE = 10;
const POSTGRES_CONNECT_TIMEOUT_MS = 5_000;
/** A query that takes longer is a fault, not a wait: job summaries wait for writes. */
const POSTGRES_QUERY_TIMEOUT_MS = 15_000;

export const JOB_STORE_URL_HELP = 'a job store is "memory:", "sqlite:PATH" or "postgres://USER@HOST:PORT/DATABASE"';

export async function openJobStore(url: string, options: OpenJobStoreOptions): Promise<JobStore> {
  if (url === "memory:") return new MemoryJobStore();
  if (url.startsWith("sqlite:")) {
    const path = url.slice("sqlite:".length).replace(/^\/\/(?=\/)/, "");
    if (path === "") throw new Error(`job store "${url}": sqlite: needs a file path`);
    return openSqlite(resolve(path), options);
  }
  if (url.startsWith("postgres://") || url.startsWith("postgresql://")) return openPostgres(url, options);
  throw new Error(`job store "${url}": ${JOB_STORE_URL_HELP}`);
}

async function openSqlite(path: string, options: OpenJobStoreOptions): Promise<JobStore> {
  await mkdir(dirname(path), { recursive: true });
  const { default: Database } = await import("better-sqlite3");
  const database = new Database(path);
  try {
    // WAL: readers never block the writer; NORMAL is durable against a process crash.
    database.pragma("journal_mode = WAL");
    database.pragma("synchronous = NORMAL");
    database.pragma(`busy_timeout = ${SQLITE_BUSY_TIMEOUT_MS}`);
  } catch (error) {
    database.close();
    throw error;
  }
  const db = new Kysely<JobStoreTables>({ dialect: new SqliteDialect({ database: withStatementCache(database) }) });
  return migrated(db, undefined, options);
}

async function openPostgres(url: string, options: OpenJobStoreOptions): Promise<JobStore> {
  const { default: pg } = await import("pg");
  const pool = new pg.Pool({
    connectionString: url,
    max: POSTGRES_POOL_SIZE,
    connectionTimeoutMillis: POSTGRES_CONNECT_TIMEOUT_MS,
    query_timeout: POSTGRES_QUERY_TIMEOUT_MS,
  });
  // An idle connection that breaks is reported here; unhandled, it would end the process.
  pool.on("error", (error) => {
    options.logger.warn({ err: error.message }, "job store: idle PostgreSQL connection failed");
    options.onError?.("connection", error);
  });
  const db = new Kysely<JobStoreTables>({ dialect: new PostgresDialect({ pool }) });
  let schema: string | null | undefined;
  try {
    const { rows } = await sql<{ schema: string | null }>`select current_schema() as schema`.execute(db);
    schema = rows[0]?.schema;
  } catch (error) {
    await db.destroy();
    throw new Error(`job store: cannot reach PostgreSQL: ${error instanceof Error ? error.message : String(error)}`);
  }
  if (!schema) {
    await db.destroy();
    throw new Error("job store: no schema of the search path exists in the PostgreSQL database");
  }
  return migrated(db, schema, options);
}

async function migrated(db: Kysely<JobStoreTables>, schema: string | undefined, options: OpenJobStoreOptions): Promise<JobStore> {
  try {
    await migrateJobStore(db as unknown as Kysely<unknown>, schema);
  } catch (error) {
    await db.destroy();
    throw error;
  }
  return new SqlJobStore({ db, logger: options.logger, onError: options.onError });
}
