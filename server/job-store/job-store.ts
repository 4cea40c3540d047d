// The record of jobs, their per-host results and the known agents (DESIGN.md
// section 6), behind one interface: in memory for unit tests, SQLite for the
// embedded default, PostgreSQL when clustered (one Kysely code path for both).
//
// Writes are queued and never throw: a job never fails because its record could not
// be written (the store logs and counts its own faults). `flush()` waits for what
// was queued before it. Reads throw UNAVAILABLE `job store unavailable: …` when the
// store is at fault.
import type { OsFacts } from "../../gen/trustplane/v1/agent_pb.js";
import type { HostResult, JobOptions } from "../../gen/trustplane/v1/common_pb.js";

export const JOB_STATES = ["running", "completed", "partial_failure", "failed", "interrupted"] as const;

export type JobState = (typeof JOB_STATES)[number];

/** What is known of a job when it starts. */
export interface NewJob {
  id: string;
  /** "certificate.install", "certificate.update", "certificate.delete", "certificate.list". */
  operation: string;
  /** The target as the caller wrote it. */
  target: string;
  /** CA name; empty for a list. */
  name: string;
  /** Object-store name for install and update, else empty. Never the PEM. */
  object: string;
  /** The request's options as given. */
  options: JobOptions;
  /** Id of the API key that asked. */
  requestedBy: string;
  createdAt: Date;
  /** Every host the target matched, in the job's order. */
  hostnames: string[];
  /** Id of the control-plane replica running the job; "" with a single control plane. */
  owner: string;
}

export interface JobRecord extends NewJob {
  state: JobState;
  /** Unset while running. */
  finishedAt?: Date;
  /** One per host that answered, in arrival order. */
  results: HostResult[];
}

export interface JobQuery {
  state?: JobState;
  /** Exact target string. */
  target?: string;
  limit: number;
  offset: number;
}

export interface JobPage {
  /** Newest first. */
  jobs: JobRecord[];
  /** Jobs matching the filter, ignoring limit and offset. */
  total: number;
}

/** An agent as the store keeps it: enough to list it and route to it after a restart. */
export interface KnownAgent {
  hostname: string;
  labels: Record<string, string>;
  os: OsFacts | undefined;
  agentVersion: string;
  connectedAt: Date;
  lastSeenAt: Date;
}

/** The part of the store the agent registry writes to. */
export interface KnownAgentRecorder {
  /** Inserts or replaces the agent's row (queued). */
  recordAgent(agent: KnownAgent): void;
}

export interface JobStore extends KnownAgentRecorder {
  /** Queued: a new running job. */
  recordJobStarted(job: NewJob): void;
  /** Queued: one host's answer; `position` is its arrival index in the job (0, 1, …). */
  recordResult(jobId: string, position: number, result: HostResult): void;
  /** Queued: the job ended in `state`. */
  recordJobFinished(jobId: string, state: JobState, finishedAt: Date): void;
  /** Resolves once every write queued before the call is stored; rejects if it could not be. */
  flush(): Promise<void>;

  getJob(id: string): Promise<JobRecord | undefined>;
  listJobs(query: JobQuery): Promise<JobPage>;
  /**
   * On start: every job still `running` becomes `interrupted` (finished at `at`);
   * with `owner`, only the jobs that replica ran (a cluster's other replicas keep
   * theirs). Returns how many.
   */
  interruptRunningJobs(at: Date, owner?: string): Promise<number>;
  /**
   * A replica died: its jobs still `running` become `interrupted` (finished at `at`).
   * Idempotent, so any survivor may do it. Returns how many.
   */
  interruptJobsOfOwner(owner: string, at: Date): Promise<number>;
  /** Deletes jobs created before `before`, with their results. Returns how many jobs. */
  pruneJobs(before: Date): Promise<number>;

  loadAgents(): Promise<KnownAgent[]>;
  /** Deletes the agent's row (after every queued write). False if there was none. */
  forgetAgent(hostname: string): Promise<boolean>;

  /** Flushes and releases the store. */
  close(): Promise<void>;
}

/** A job's end state from its counts. */
export function finishedJobState(counts: { ok: number; failed: number; skipped: number }): JobState {
  if (counts.failed === 0) return "completed";
  if (counts.ok === 0 && counts.skipped === 0) return "failed";
  return "partial_failure";
}
