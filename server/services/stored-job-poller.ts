// Follows jobs that run on another control-plane replica by reading their record
// from the shared job store (DESIGN.md section 9). Reads are shared and capped: one
// read per watched job every `intervalMs` however many watch it, and reads start at
// most `maxReadsPerSecond` per second across all jobs (past that, each job's
// interval stretches; the store is spared).
//
// Why poll rather than hear the owner's events over NATS: the store is where the
// owner's results land anyway, in order and once, so a watcher merges nothing, misses
// nothing across a NATS outage or a replica's death (the survivors mark the job
// interrupted in the same store), and the owner publishes nothing extra per result.
// The price is up to one interval of delay per event.
import { notFound } from "../../common/status-error.js";
import type { JobRecord, JobStore } from "../job-store/job-store.js";

export const STORED_JOB_POLL_MS = 200;
export const MAX_STORED_JOB_READS_PER_SECOND = 50;

export interface StoredJobPollerOptions {
  store: Pick<JobStore, "getJob">;
  /** Between two reads of one job. */
  intervalMs?: number;
  /** Reads started per second, across every followed job. */
  maxReadsPerSecond?: number;
}

/** One followed job: its read loop and what the loop read last. */
interface Feed {
  watchers: number;
  /** Bumped by every read (a record or an error). */
  version: number;
  latest: JobRecord | undefined;
  error: unknown;
  wakers: Set<() => void>;
  /** Aborted when the last watcher leaves. */
  stop: AbortController;
}

/** Resolves when `wake` is called or `signal` aborts. */
function until(signal: AbortSignal, register: (wake: () => void) => () => void): Promise<void> {
  return new Promise((resolve) => {
    const done = () => {
      unregister();
      signal.removeEventListener("abort", done);
      resolve();
    };
    const unregister = register(done);
    signal.addEventListener("abort", done, { once: true });
    if (signal.aborted) done();
  });
}

export class StoredJobPoller {
  private readonly feeds = new Map<string, Feed>();
  private readonly store: Pick<JobStore, "getJob">;
  private readonly intervalMs: number;
  private readonly readGapMs: number;
  /** The earliest moment the next read may start (the cross-job cap). */
  private nextReadAt = 0;

  constructor(options: StoredJobPollerOptions) {
    this.store = options.store;
    this.intervalMs = options.intervalMs ?? STORED_JOB_POLL_MS;
    this.readGapMs = 1000 / (options.maxReadsPerSecond ?? MAX_STORED_JOB_READS_PER_SECOND);
  }

  /**
   * The job's record as stored, read until it is there or `graceMs` passed (a job
   * just started on another replica may not be written yet). Undefined if it never
   * appeared or `signal` aborted.
   */
  async find(id: string, graceMs: number, signal: AbortSignal): Promise<JobRecord | undefined> {
    const deadline = Date.now() + graceMs;
    for (;;) {
      const record = await this.store.getJob(id);
      if (record || Date.now() >= deadline || signal.aborted) return record;
      if (!(await this.turn(signal))) return undefined;
    }
  }

  /**
   * The job's record each time it is read anew, until one that is no longer
   * running (yielded too) or `signal` aborts. A read's fault (UNAVAILABLE) ends it
   * with that error; a job gone from the store with NOT_FOUND.
   */
  async *follow(id: string, signal: AbortSignal): AsyncGenerator<JobRecord> {
    const feed = this.join(id);
    let seen = 0;
    try {
      for (;;) {
        if (feed.version === seen) {
          if (signal.aborted) return;
          await until(signal, (wake) => {
            feed.wakers.add(wake);
            return () => feed.wakers.delete(wake);
          });
          continue;
        }
        seen = feed.version;
        if (feed.error !== undefined) throw feed.error;
        const record = feed.latest!;
        yield record;
        if (record.state !== "running") return;
      }
    } finally {
      this.leave(id, feed);
    }
  }

  /** Jobs being read now (for tests and metrics). */
  get followedCount(): number {
    return this.feeds.size;
  }

  private join(id: string): Feed {
    let feed = this.feeds.get(id);
    if (!feed) {
      feed = { watchers: 0, version: 0, latest: undefined, error: undefined, wakers: new Set(), stop: new AbortController() };
      this.feeds.set(id, feed);
      void this.run(id, feed);
    }
    feed.watchers++;
    return feed;
  }

  private leave(id: string, feed: Feed): void {
    if (--feed.watchers > 0) return;
    feed.stop.abort();
    this.end(id, feed);
  }

  /** Later watchers of `id` start a feed of their own. */
  private end(id: string, feed: Feed): void {
    if (this.feeds.get(id) === feed) this.feeds.delete(id);
  }

  private async run(id: string, feed: Feed): Promise<void> {
    while (await this.turn(feed.stop.signal)) {
      try {
        const record = await this.store.getJob(id);
        if (!record) throw notFound(`job "${id}" not found`);
        feed.latest = record;
      } catch (error) {
        feed.error = error;
      }
      feed.version++;
      for (const wake of [...feed.wakers]) wake();
      if (feed.error !== undefined || feed.latest?.state !== "running") {
        this.end(id, feed);
        return;
      }
    }
  }

  /** Waits for this job's next read: an interval, and a free slot under the cap. False if `signal` aborted. */
  private async turn(signal: AbortSignal): Promise<boolean> {
    const now = Date.now();
    const at = Math.max(now + this.intervalMs, this.nextReadAt);
    this.nextReadAt = at + this.readGapMs;
    let timer: NodeJS.Timeout | undefined;
    await until(signal, (wake) => {
      timer = setTimeout(wake, at - now);
      return () => clearTimeout(timer);
    });
    return !signal.aborted;
  }
}
