// JobService messages as the REST API shows them: GET /job/{id} and GET /job.
import { timestampDate } from "@bufbuild/protobuf/wkt";
import type { HostLimit, JobOptions } from "../gen/trustplane/v1/common_pb.js";
import { JobState, type Job } from "../gen/trustplane/v1/job_pb.js";
import { LIST_OPERATION, hostResultJson, type HostResultJson } from "./job-response.js";

export type HostLimitJson = { count: number } | { percent: number };

export interface JobOptionsJson {
  timeout_seconds: number;
  max_concurrency?: HostLimitJson;
  max_errors?: HostLimitJson;
}

export interface JobJson {
  id: string;
  operation: string;
  target: string;
  name: string;
  object?: string;
  dry_run: boolean;
  options: JobOptionsJson;
  requested_by: string;
  created_at: string;
  finished_at?: string;
  state: string;
  hostnames: string[];
  results: HostResultJson[];
  unanswered_hostnames: string[];
  summary: { ok: number; failed: number; skipped: number };
}

/** JobState as a word; the same words are the `status` filter of GET /job. */
export const JOB_STATE_WORDS = {
  running: JobState.RUNNING,
  completed: JobState.COMPLETED,
  partial_failure: JobState.PARTIAL_FAILURE,
  failed: JobState.FAILED,
  interrupted: JobState.INTERRUPTED,
} as const satisfies Readonly<Record<string, JobState>>;

const STATE_BY_VALUE: ReadonlyMap<JobState, string> = new Map(
  Object.entries(JOB_STATE_WORDS).map(([word, state]) => [state, word]),
);

export function jobJson(job: Job): JobJson {
  const certificates = job.operation === LIST_OPERATION;
  return {
    id: job.id,
    operation: job.operation,
    target: job.target,
    name: job.name,
    ...(job.object ? { object: job.object } : {}),
    dry_run: job.options?.dryRun ?? false,
    options: jobOptionsJson(job.options),
    requested_by: job.requestedBy,
    created_at: job.createdAt ? timestampDate(job.createdAt).toISOString() : "",
    ...(job.finishedAt ? { finished_at: timestampDate(job.finishedAt).toISOString() } : {}),
    state: STATE_BY_VALUE.get(job.state) ?? "unknown",
    hostnames: job.hostnames,
    results: job.results.map((result) => hostResultJson(result, { certificates })),
    unanswered_hostnames: job.unansweredHostnames,
    summary: { ok: job.ok, failed: job.failed, skipped: job.skipped },
  };
}

function jobOptionsJson(options: JobOptions | undefined): JobOptionsJson {
  const json: JobOptionsJson = { timeout_seconds: options?.timeoutSeconds ?? 0 };
  const maxConcurrency = hostLimitJson(options?.maxConcurrency);
  const maxErrors = hostLimitJson(options?.maxErrors);
  if (maxConcurrency) json.max_concurrency = maxConcurrency;
  if (maxErrors) json.max_errors = maxErrors;
  return json;
}

function hostLimitJson(limit: HostLimit | undefined): HostLimitJson | undefined {
  switch (limit?.limit.case) {
    case "count":
      return { count: limit.limit.value };
    case "percent":
      return { percent: limit.limit.value };
    default:
      return undefined;
  }
}
