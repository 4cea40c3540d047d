// Follows a job's event stream (a CertificateService call or JobService.WatchJob)
// to its end, keeping every host result and drawing the progress line, then
// reports it.
import { LIST_OPERATION, type JobEventResponse } from "../../gateway/job-response.js";
import { ResultStatus, type HostResult, type JobSummary } from "../../gen/trustplane/v1/common_pb.js";
import type { CommandIo } from "../command-io.js";
import { withApiErrors } from "./api-error.js";
import { unansweredHosts, writeJobReport } from "./job-report.js";
import { ProgressLine } from "./progress-line.js";

export interface FollowedJob {
  jobId: string;
  /** "certificate.install", ... (from JobStarted). */
  operation: string;
  /** The hosts the target matched (from JobStarted). */
  hostnames: string[];
  /** In arrival order. */
  results: HostResult[];
  dryRun: boolean;
  /** Absent when the stream ended without one. */
  summary?: JobSummary;
}

export async function followJob(responses: AsyncIterable<JobEventResponse>, progress: ProgressLine): Promise<FollowedJob> {
  const job: FollowedJob = { jobId: "", operation: "", hostnames: [], results: [], dryRun: false };
  let failed = 0;
  for await (const response of responses) {
    const event = response.event?.event;
    switch (event?.case) {
      case "started":
        job.jobId = event.value.jobId;
        job.operation = event.value.operation;
        job.hostnames = event.value.hostnames;
        job.dryRun ||= event.value.dryRun;
        progress.draw(job.results.length, job.hostnames.length, failed);
        break;
      case "result":
        job.results.push(event.value);
        if (event.value.status !== ResultStatus.OK && event.value.status !== ResultStatus.SKIPPED) failed++;
        progress.draw(job.results.length, Math.max(job.hostnames.length, job.results.length), failed);
        break;
      case "summary":
        job.summary = event.value;
        job.jobId ||= event.value.jobId;
        job.dryRun ||= event.value.dryRun;
        break;
    }
  }
  progress.end();
  return job;
}

/**
 * Follows the stream with a progress line (on a terminal, not for --json), then
 * prints the report; resolves to the exit code (3 when the call failed).
 * Without `certificates`, a listing job (`certificate.list`) shows them.
 */
export function reportJobStream(
  io: CommandIo,
  responses: AsyncIterable<JobEventResponse>,
  format: { json: boolean; certificates?: boolean },
): Promise<number> {
  const progress = new ProgressLine(io.stdout, !format.json);
  return withApiErrors(
    io,
    async () => {
      const job = await followJob(responses, progress);
      const report = {
        jobId: job.jobId,
        results: job.results,
        unanswered: unansweredHosts(job.hostnames, job.results),
        dryRun: job.dryRun,
        running: false,
      };
      const certificates = format.certificates ?? job.operation === LIST_OPERATION;
      return writeJobReport(io, report, { json: format.json, certificates });
    },
    () => progress.end(),
  );
}
