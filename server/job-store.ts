// The record of jobs and their per-host results (DESIGN.md section 6). Written as
// results arrive. Only an in-memory store exists so far; a SQLite/PostgreSQL store
// implements the same interface. Writes are fire-and-forget (a store logs its own
// faults; a job never fails because its record could not be written).
import type { HostResult, JobSummary } from "../gen/trustplane/v1/common_pb.js";

export type JobStatus = "running" | "done" | "interrupted";

export interface JobRecord {
  id: string;
  operation: string;
  target: string;
  dryRun: boolean;
  hostnames: string[];
  /** The API key that asked for it. */
  keyId: string;
  createdAt: Date;
  finishedAt?: Date;
  status: JobStatus;
  results: HostResult[];
  summary?: JobSummary;
}

export interface JobListQuery {
  limit?: number;
  offset?: number;
  status?: JobStatus;
}

export interface JobStore {
  jobStarted(job: Omit<JobRecord, "status" | "results" | "summary" | "finishedAt">): void;
  hostResult(jobId: string, result: HostResult): void;
  jobFinished(jobId: string, summary: JobSummary): void;
  get(jobId: string): Promise<JobRecord | undefined>;
  /** Newest first. */
  list(query?: JobListQuery): Promise<JobRecord[]>;
}

/** Keeps the newest `maxJobs` jobs in memory. */
export class MemoryJobStore implements JobStore {
  private readonly jobs = new Map<string, JobRecord>();

  constructor(private readonly maxJobs = 1000) {}

  jobStarted(job: Omit<JobRecord, "status" | "results" | "summary" | "finishedAt">): void {
    this.jobs.set(job.id, { ...job, status: "running", results: [] });
    for (const id of this.jobs.keys()) {
      if (this.jobs.size <= this.maxJobs) break;
      this.jobs.delete(id);
    }
  }

  hostResult(jobId: string, result: HostResult): void {
    this.jobs.get(jobId)?.results.push(result);
  }

  jobFinished(jobId: string, summary: JobSummary): void {
    const job = this.jobs.get(jobId);
    if (!job) return;
    job.status = "done";
    job.summary = summary;
    job.finishedAt = new Date();
  }

  async get(jobId: string): Promise<JobRecord | undefined> {
    return this.jobs.get(jobId);
  }

  async list(query: JobListQuery = {}): Promise<JobRecord[]> {
    const newestFirst = [...this.jobs.values()].reverse().filter((job) => !query.status || job.status === query.status);
    const offset = query.offset ?? 0;
    return newestFirst.slice(offset, offset + (query.limit ?? 50));
  }
}
