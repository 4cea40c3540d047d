// The job store in memory (`memory:`): for unit tests and throwaway runs. Nothing
// survives the process. Keeps at most `maxJobs` jobs, dropping the oldest.
import type { HostResult } from "../../gen/trustplane/v1/common_pb.js";
import type { JobPage, JobQuery, JobRecord, JobState, JobStore, KnownAgent, NewJob } from "./job-store.js";

const DEFAULT_MAX_JOBS = 10_000;

interface StoredJob extends JobRecord {
  /** Results by arrival position. */
  byPosition: HostResult[];
}

export class MemoryJobStore implements JobStore {
  /** In creation order (oldest first). */
  private readonly jobs = new Map<string, StoredJob>();
  private readonly agents = new Map<string, KnownAgent>();

  constructor(private readonly maxJobs = DEFAULT_MAX_JOBS) {}

  recordJobStarted(job: NewJob): void {
    this.jobs.set(job.id, { ...job, hostnames: [...job.hostnames], state: "running", results: [], byPosition: [] });
    for (const id of this.jobs.keys()) {
      if (this.jobs.size <= this.maxJobs) break;
      this.jobs.delete(id);
    }
  }

  recordResult(jobId: string, position: number, result: HostResult): void {
    const job = this.jobs.get(jobId);
    if (job) job.byPosition[position] = result;
  }

  recordJobFinished(jobId: string, state: JobState, finishedAt: Date): void {
    const job = this.jobs.get(jobId);
    if (!job) return;
    job.state = state;
    job.finishedAt = finishedAt;
  }

  recordAgent(agent: KnownAgent): void {
    this.agents.set(agent.hostname, { ...agent, labels: { ...agent.labels } });
  }

  async flush(): Promise<void> {}

  async getJob(id: string): Promise<JobRecord | undefined> {
    const job = this.jobs.get(id);
    return job ? snapshot(job) : undefined;
  }

  async listJobs(query: JobQuery): Promise<JobPage> {
    const matching: StoredJob[] = [];
    for (const job of this.jobs.values()) {
      if (query.state && job.state !== query.state) continue;
      if (query.target !== undefined && job.target !== query.target) continue;
      matching.push(job);
    }
    matching.sort(newestFirst);
    return { jobs: matching.slice(query.offset, query.offset + query.limit).map(snapshot), total: matching.length };
  }

  async interruptRunningJobs(at: Date, owner?: string): Promise<number> {
    let count = 0;
    for (const job of this.jobs.values()) {
      if (job.state !== "running" || (owner !== undefined && job.owner !== owner)) continue;
      job.state = "interrupted";
      job.finishedAt = at;
      count++;
    }
    return count;
  }

  async interruptJobsOfOwner(owner: string, at: Date): Promise<number> {
    return this.interruptRunningJobs(at, owner);
  }

  async pruneJobs(before: Date): Promise<number> {
    let count = 0;
    for (const [id, job] of this.jobs) {
      if (job.createdAt.getTime() >= before.getTime()) continue;
      this.jobs.delete(id);
      count++;
    }
    return count;
  }

  async loadAgents(): Promise<KnownAgent[]> {
    return [...this.agents.values()]
      .sort((a, b) => (a.hostname < b.hostname ? -1 : a.hostname > b.hostname ? 1 : 0))
      .map((agent) => ({ ...agent, labels: { ...agent.labels } }));
  }

  async forgetAgent(hostname: string): Promise<boolean> {
    return this.agents.delete(hostname);
  }

  async close(): Promise<void> {}
}

function newestFirst(a: JobRecord, b: JobRecord): number {
  const byTime = b.createdAt.getTime() - a.createdAt.getTime();
  return byTime !== 0 ? byTime : a.id < b.id ? 1 : a.id > b.id ? -1 : 0;
}

function snapshot(job: StoredJob): JobRecord {
  const { byPosition, ...record } = job;
  return { ...record, hostnames: [...job.hostnames], results: byPosition.filter((result) => result !== undefined) };
}
