// JobService: the record of every job (job:read). A running job is answered from
// the job runner (its live state), any other from the job store. WatchJob streams
// JobStarted, the results so far and each new one, then JobSummary — at once for a
// finished or interrupted job; for a job running on another replica of a cluster,
// as its stored record grows (stored-job-poller.ts). Store faults answer UNAVAILABLE.
import { create } from "@bufbuild/protobuf";
import { timestampFromDate } from "@bufbuild/protobuf/wkt";
import type { ServerWritableStream, UntypedServiceImplementation } from "@grpc/grpc-js";
import { GrpcStatus, invalidArgument, notFound, toStatusError } from "../../common/status-error.js";
import type { JobEvent } from "../../gen/trustplane/v1/common_pb.js";
import {
  GetJobResponseSchema,
  JobSchema,
  JobState,
  ListJobsResponseSchema,
  type GetJobRequest,
  type Job,
  type ListJobsRequest,
  type WatchJobRequest,
} from "../../gen/trustplane/v1/job_pb.js";
import { jobEventFrame } from "../job-event-frames.js";
import type { JobRunner } from "../job-runner.js";
import type { JobRecord, JobState as StoredJobState, JobStore } from "../job-store/job-store.js";
import { shuttingDown } from "../shutting-down.js";
import { followStoredJob, replay, resultCounts } from "./stored-job-events.js";
import { StoredJobPoller, type StoredJobPollerOptions } from "./stored-job-poller.js";
import { unaryCall, type UnaryCallDeps } from "./unary-call.js";

export interface JobServiceDeps extends UnaryCallDeps {
  jobs: JobRunner;
  store: JobStore;
  /** How jobs running on another replica are followed: store reads and their cap. */
  storedJobs?: Omit<StoredJobPollerOptions, "store"> & {
    /**
     * How long WatchJob waits for a job id not in the store yet before NOT_FOUND: in a
     * cluster, a job just started on another replica is written a moment later. 0
     * (the default, a single control plane): at once.
     */
    unknownJobGraceMs?: number;
  };
}

export const DEFAULT_JOB_LIST_LIMIT = 20;
export const MAX_JOB_LIST_LIMIT = 100;
const MAX_JOB_ID_LENGTH = 128;

const STATE_TO_PROTO: Readonly<Record<StoredJobState, JobState>> = {
  running: JobState.RUNNING,
  completed: JobState.COMPLETED,
  partial_failure: JobState.PARTIAL_FAILURE,
  failed: JobState.FAILED,
  interrupted: JobState.INTERRUPTED,
};

const STATE_FROM_PROTO: ReadonlyMap<JobState, StoredJobState> = new Map(
  Object.entries(STATE_TO_PROTO).map(([text, state]) => [state, text as StoredJobState]),
);

/** The Job message of a record: results in arrival order, unanswered hosts, counts. */
export function jobMessage(record: JobRecord): Job {
  const answered = new Set(record.results.map((result) => result.hostname));
  return create(JobSchema, {
    id: record.id,
    operation: record.operation,
    target: record.target,
    name: record.name,
    object: record.object,
    options: record.options,
    requestedBy: record.requestedBy,
    createdAt: timestampFromDate(record.createdAt),
    finishedAt: record.finishedAt ? timestampFromDate(record.finishedAt) : undefined,
    state: STATE_TO_PROTO[record.state],
    hostnames: record.hostnames,
    results: record.results,
    unansweredHostnames: record.hostnames.filter((hostname) => !answered.has(hostname)),
    ...resultCounts(record),
  });
}

function checkJobId(id: string): void {
  if (id === "") throw invalidArgument("job id is required");
}

export class JobService {
  private readonly poller: StoredJobPoller;

  constructor(private readonly deps: JobServiceDeps) {
    this.poller = new StoredJobPoller({ ...deps.storedJobs, store: deps.store });
  }

  handlers(): UntypedServiceImplementation {
    return {
      getJob: unaryCall(this.deps, { permission: "job:read", handle: (request: GetJobRequest) => this.get(request) }),
      listJobs: unaryCall(this.deps, { permission: "job:read", handle: (request: ListJobsRequest) => this.list(request) }),
      watchJob: (call: ServerWritableStream<WatchJobRequest, unknown>) => void this.watch(call),
    };
  }

  /** The job as it is now: live while it runs, else from the store. */
  private async find(id: string): Promise<JobRecord> {
    checkJobId(id);
    return this.deps.jobs.get(id)?.snapshot() ?? (await this.stored(id));
  }

  /** The stored record; with a grace period and a signal, read again until it appears. */
  private async stored(id: string, graceMs = 0, signal?: AbortSignal): Promise<JobRecord> {
    let record: JobRecord | undefined;
    if (id.length <= MAX_JOB_ID_LENGTH) {
      record = graceMs > 0 && signal ? await this.poller.find(id, graceMs, signal) : await this.deps.store.getJob(id);
    }
    if (!record) throw notFound(`job "${id}" not found`);
    return record;
  }

  /** A job not running here: replayed if finished, else followed in the store (it runs on another replica). */
  private async storedEvents(id: string, signal: AbortSignal): Promise<AsyncIterable<JobEvent> | JobEvent[]> {
    const record = await this.stored(id, this.deps.storedJobs?.unknownJobGraceMs ?? 0, signal);
    if (record.state !== "running") return replay(record);
    return followStoredJob(record, this.poller.follow(id, signal));
  }

  private async get(request: GetJobRequest) {
    return create(GetJobResponseSchema, { job: jobMessage(await this.find(request.id)) });
  }

  private async list(request: ListJobsRequest) {
    const state = STATE_FROM_PROTO.get(request.state);
    if (request.state !== JobState.UNSPECIFIED && !state) throw invalidArgument(`unknown job state ${request.state}`);
    const limit = request.limit === 0 ? DEFAULT_JOB_LIST_LIMIT : Math.min(request.limit, MAX_JOB_LIST_LIMIT);
    const page = await this.deps.store.listJobs({
      state,
      target: request.target === "" ? undefined : request.target,
      limit,
      offset: request.offset,
    });
    // A running job's stored record may lag its live state by a batch: answer the live one.
    const jobs = page.jobs.map((record) => jobMessage(this.deps.jobs.get(record.id)?.snapshot() ?? record));
    return create(ListJobsResponseSchema, { jobs, total: page.total });
  }

  private async watch(call: ServerWritableStream<WatchJobRequest, unknown>): Promise<void> {
    const { deps } = this;
    const abort = new AbortController();
    call.on("cancelled", () => abort.abort());
    try {
      if (deps.isClosing()) throw shuttingDown();
      await deps.authorizer.authorize(call, "job:read");
      const { id } = call.request;
      checkJobId(id);
      const live = deps.jobs.get(id);
      const events = live ? live.events(abort.signal) : await this.storedEvents(id, abort.signal);
      for await (const event of events) {
        if (call.cancelled || call.destroyed) break;
        call.write(jobEventFrame(event)); // = WatchJobResponse{event}
      }
      if (!call.cancelled && !call.destroyed) call.end();
    } catch (error) {
      const status = toStatusError(error);
      if (status.code === GrpcStatus.INTERNAL) deps.logger.error({ method: "WatchJob", err: status.details }, "internal error");
      if (!call.cancelled && !call.destroyed) call.emit("error", status.toServiceError());
    }
  }
}
