// The job store's tables as Kysely sees them. Times are Unix milliseconds in
// `bigint` columns (PostgreSQL's driver answers them as strings, SQLite's as
// numbers); JSON is kept as text and booleans as 0/1 so both dialects hold the same
// values.
import type { ColumnType } from "kysely";

/** Unix ms: written as a number, read as whatever the driver gives. */
export type Millis = ColumnType<number | string | bigint, number, number>;
/** An integer the driver may answer as a string (PostgreSQL bigint, count(*)). */
export type Count = number | string | bigint;

export interface JobsTable {
  id: string;
  operation: string;
  target: string;
  name: string;
  object: string;
  /** JobOptions in protobuf JSON. */
  options: string;
  requested_by: string;
  created_at: Millis;
  finished_at: ColumnType<number | string | bigint | null, number | null, number | null>;
  state: string;
  /** JSON array of hostnames. */
  hostnames: string;
  /** Id of the replica running the job; "" with a single control plane (migration 0002). */
  owner: string;
}

export interface JobResultsTable {
  job_id: string;
  /** Arrival order within the job: 0, 1, … */
  position: number;
  hostname: string;
  /** "ok" | "failed" | "skipped". */
  status: string;
  /** 0 or 1. */
  changed: number;
  error: string;
  /** JSON array of CertificateInfo (protobuf JSON), or null for none. */
  certificates: string | null;
}

export interface AgentsTable {
  hostname: string;
  /** JSON object. */
  labels: string;
  /** OsFacts in protobuf JSON, or null. */
  os: string | null;
  agent_version: string;
  connected_at: Millis;
  last_seen_at: Millis;
}

export interface JobStoreTables {
  jobs: JobsTable;
  job_results: JobResultsTable;
  agents: AgentsTable;
}
