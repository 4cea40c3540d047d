// A job's event stream made from its stored record, the same events a live job
// streams: JobStarted, one JobEvent per result in arrival order, JobSummary once
// the record is final. For a finished job at once (replay); for a job running on
// another replica, as its record grows (follow).
import { create } from "@bufbuild/protobuf";
import { JobEventSchema, ResultStatus, type HostResult, type JobEvent } from "../../gen/trustplane/v1/common_pb.js";
import type { JobRecord } from "../job-store/job-store.js";

export function resultCounts(record: JobRecord): { ok: number; failed: number; skipped: number } {
  let ok = 0;
  let failed = 0;
  let skipped = 0;
  for (const result of record.results) {
    if (result.status === ResultStatus.OK) ok++;
    else if (result.status === ResultStatus.SKIPPED) skipped++;
    else failed++;
  }
  return { ok, failed, skipped };
}

function startedEvent(record: JobRecord): JobEvent {
  const { id: jobId, hostnames, operation, target } = record;
  return create(JobEventSchema, { event: { case: "started", value: { jobId, hostnames, operation, target, dryRun: record.options.dryRun } } });
}

function resultEvent(result: HostResult): JobEvent {
  return create(JobEventSchema, { event: { case: "result", value: result } });
}

function summaryEvent(record: JobRecord): JobEvent {
  const durationMs = record.finishedAt ? Math.max(0, record.finishedAt.getTime() - record.createdAt.getTime()) : 0;
  return create(JobEventSchema, {
    event: { case: "summary", value: { jobId: record.id, ...resultCounts(record), durationMs: BigInt(durationMs), dryRun: record.options.dryRun } },
  });
}

/** A recorded job as a finished event stream: JobStarted, its results, JobSummary. */
export function replay(record: JobRecord): JobEvent[] {
  return [startedEvent(record), ...record.results.map(resultEvent), summaryEvent(record)];
}

/**
 * The events of a job from its record `first` and its later reads: each result
 * once, in arrival order (a read holds every result before its last), then the
 * summary of the first read that is final. Ends without a summary if `later` ends
 * first (the watcher left).
 */
export async function* followStoredJob(first: JobRecord, later: AsyncIterable<JobRecord>): AsyncGenerator<JobEvent> {
  yield startedEvent(first);
  let sent = 0;
  for await (const read of reads(first, later)) {
    while (sent < read.results.length) yield resultEvent(read.results[sent++]!);
    if (read.state !== "running") {
      yield summaryEvent(read);
      return;
    }
  }
}

async function* reads(first: JobRecord, later: AsyncIterable<JobRecord>): AsyncGenerator<JobRecord> {
  yield first;
  yield* later;
}
