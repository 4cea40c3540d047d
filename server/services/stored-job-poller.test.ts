// StoredJobPoller on fake timers: one read per followed job per interval whatever
// the number of watchers, the cross-job cap, the end at a final record, a watcher
// leaving, store faults, and the grace for a job not written yet.
import { status } from "@grpc/grpc-js";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { unavailable } from "../../common/status-error.js";
import type { JobRecord, JobState } from "../job-store/job-store.js";
import { hostResult, newJob } from "../testing/job-store-contract.js";
import { ResultStatus } from "../../gen/trustplane/v1/common_pb.js";
import { StoredJobPoller } from "./stored-job-poller.js";

/** A store another replica writes to; counts the reads. */
class FakeStore {
  readonly records = new Map<string, JobRecord>();
  readonly reads: string[] = [];
  fault: Error | undefined;

  async getJob(id: string): Promise<JobRecord | undefined> {
    this.reads.push(id);
    if (this.fault) throw this.fault;
    const record = this.records.get(id);
    return record && { ...record, results: [...record.results] };
  }

  put(id: string, state: JobState, answered: string[]): void {
    this.records.set(id, { ...newJob(id, { owner: "replica-b" }), state, results: answered.map((hostname) => hostResult(hostname, ResultStatus.OK)) });
  }

  readsOf(id: string): number {
    return this.reads.filter((read) => read === id).length;
  }
}

/** Collects what a follow yields, and how it ended. */
function collect(iterable: AsyncIterable<JobRecord>) {
  const seen: string[][] = [];
  const states: JobState[] = [];
  const ended = (async () => {
    for await (const record of iterable) {
      seen.push(record.results.map((result) => result.hostname));
      states.push(record.state);
    }
  })().then(
    () => ({ error: undefined }),
    (error: unknown) => ({ error }),
  );
  return { seen, states, ended };
}

let store: FakeStore;

beforeEach(() => {
  vi.useFakeTimers();
  store = new FakeStore();
});

afterEach(() => {
  vi.useRealTimers();
});

describe("StoredJobPoller.follow", () => {
  it("reads a job once per interval however many watch it, and both see every read", async () => {
    const poller = new StoredJobPoller({ store, intervalMs: 200, maxReadsPerSecond: 1000 });
    store.put("job-1", "running", []);
    const stop = new AbortController();
    const one = collect(poller.follow("job-1", stop.signal));
    const two = collect(poller.follow("job-1", stop.signal));
    await vi.advanceTimersByTimeAsync(200);
    store.put("job-1", "running", ["a-1"]);
    await vi.advanceTimersByTimeAsync(800);
    expect(store.readsOf("job-1")).toBe(5);
    expect(one.seen).toEqual([[], ["a-1"], ["a-1"], ["a-1"], ["a-1"]]);
    expect(two.seen).toEqual(one.seen);
    stop.abort();
    expect(await one.ended).toEqual({ error: undefined });
    expect(await two.ended).toEqual({ error: undefined });
  });

  it("ends with the first final record and stops reading", async () => {
    const poller = new StoredJobPoller({ store, intervalMs: 200 });
    store.put("job-1", "running", ["a-1"]);
    const followed = collect(poller.follow("job-1", new AbortController().signal));
    await vi.advanceTimersByTimeAsync(200);
    store.put("job-1", "interrupted", ["a-1", "b-1"]);
    await vi.advanceTimersByTimeAsync(200);
    expect(await followed.ended).toEqual({ error: undefined });
    expect(followed.states).toEqual(["running", "interrupted"]);
    expect(followed.seen).toEqual([["a-1"], ["a-1", "b-1"]]);
    expect(poller.followedCount).toBe(0);
    await vi.advanceTimersByTimeAsync(2_000);
    expect(store.readsOf("job-1")).toBe(2);
  });

  it("stops reading once the last watcher left", async () => {
    const poller = new StoredJobPoller({ store, intervalMs: 200 });
    store.put("job-1", "running", []);
    const first = new AbortController();
    const second = new AbortController();
    const one = collect(poller.follow("job-1", first.signal));
    const two = collect(poller.follow("job-1", second.signal));
    await vi.advanceTimersByTimeAsync(400);
    first.abort();
    expect(await one.ended).toEqual({ error: undefined });
    await vi.advanceTimersByTimeAsync(400);
    expect([store.readsOf("job-1"), poller.followedCount]).toEqual([4, 1]);
    second.abort();
    expect(await two.ended).toEqual({ error: undefined });
    await vi.advanceTimersByTimeAsync(2_000);
    expect([store.readsOf("job-1"), poller.followedCount]).toEqual([4, 0]);
    expect(two.seen).toHaveLength(4);
  });

  it("caps reads per second across jobs: each job's interval stretches, none starves", async () => {
    const poller = new StoredJobPoller({ store, intervalMs: 200, maxReadsPerSecond: 10 });
    const stop = new AbortController();
    const ids = ["j-1", "j-2", "j-3", "j-4", "j-5"];
    for (const id of ids) store.put(id, "running", []);
    const followed = ids.map((id) => collect(poller.follow(id, stop.signal)));
    await vi.advanceTimersByTimeAsync(3_000);
    // 10 per second from the first read at 200 ms: at most 29 in 3 s, not the 75 of five uncapped jobs.
    expect(store.reads.length).toBeLessThanOrEqual(29);
    expect(store.reads.length).toBeGreaterThanOrEqual(25);
    for (const id of ids) expect(store.readsOf(id)).toBeGreaterThanOrEqual(5);
    stop.abort();
    await Promise.all(followed.map((one) => one.ended));
  });

  it("ends with the store's fault, or NOT_FOUND for a job gone from the store", async () => {
    const poller = new StoredJobPoller({ store, intervalMs: 200 });
    store.put("job-1", "running", ["a-1"]);
    const faulty = collect(poller.follow("job-1", new AbortController().signal));
    await vi.advanceTimersByTimeAsync(200);
    store.fault = unavailable("job store unavailable: connection refused");
    await vi.advanceTimersByTimeAsync(200);
    expect(await faulty.ended).toMatchObject({ error: { code: status.UNAVAILABLE, message: "job store unavailable: connection refused" } });
    expect(faulty.seen).toEqual([["a-1"]]);

    store.fault = undefined;
    const gone = collect(poller.follow("job-gone", new AbortController().signal));
    await vi.advanceTimersByTimeAsync(200);
    expect(await gone.ended).toMatchObject({ error: { code: status.NOT_FOUND, message: 'job "job-gone" not found' } });
    expect(poller.followedCount).toBe(0);
  });
});

describe("StoredJobPoller.find", () => {
  it("reads again until the job is written, within the grace period", async () => {
    const poller = new StoredJobPoller({ store, intervalMs: 200 });
    const found = poller.find("job-late", 1_000, new AbortController().signal);
    await vi.advanceTimersByTimeAsync(300);
    store.put("job-late", "running", []);
    await vi.advanceTimersByTimeAsync(200);
    expect((await found)?.id).toBe("job-late");
    expect(store.readsOf("job-late")).toBe(3);
  });

  it("answers undefined once the grace period passed, or at once without one", async () => {
    const poller = new StoredJobPoller({ store, intervalMs: 200 });
    const never = poller.find("job-never", 1_000, new AbortController().signal);
    await vi.advanceTimersByTimeAsync(1_200);
    expect(await never).toBeUndefined();
    expect(store.readsOf("job-never")).toBe(6);
    expect(await poller.find("job-none", 0, new AbortController().signal)).toBeUndefined();
    expect(store.readsOf("job-none")).toBe(1);
  });
});
