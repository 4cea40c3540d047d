// Runs one job: one command per matched agent, results as they arrive, one summary,
// each written to the job store as it happens.
//
// The event stream is JobStarted, then one HostResult per host, then JobSummary.
// Offline hosts fail first, at once, without taking a concurrency slot. At most
// `max_concurrency` hosts have a command outstanding; the next starts as soon as one
// finishes. Once more than `max_errors` hosts failed, no further host starts: they
// answer SKIPPED `max errors reached`. Hosts start in order, so their deadlines come
// in order too: one timer per job, for the earliest outstanding deadline, not one
// per host. A result arriving after its host timed out is ignored. The summary is
// emitted only once the job's record is written.
import { randomUUID } from "node:crypto";
import { create } from "@bufbuild/protobuf";
import type { Logger } from "../common/logger.js";
import type { Command, CommandResult } from "../gen/trustplane/v1/agent_pb.js";
import {
  JobEventSchema,
  JobSummarySchema,
  ResultStatus,
  type HostResult,
  type JobEvent,
  type JobOptions,
} from "../gen/trustplane/v1/common_pb.js";
import type { AgentLink, CommandWaiter } from "./agent-link.js";
import { CommandFrames } from "./command-frames.js";
import { resolveHostLimit } from "./host-limits.js";
import { finishedJobState, type JobRecord, type JobState, type JobStore } from "./job-store/job-store.js";
import type { AgentRecord } from "./registry.js";

export type Operation = "certificate.install" | "certificate.update" | "certificate.delete" | "certificate.list";

export interface JobRequest {
  operation: Operation;
  /** The target as the caller wrote it. */
  target: string;
  /** The agents it resolved to (router), in start order. */
  agents: readonly AgentRecord[];
  /** What each agent runs; id, job id and dry run are filled in here. */
  command: Command["kind"];
  /** Certificate name the command is about; empty for a list. */
  name: string;
  /** Object-store name for install and update (recorded); empty otherwise. */
  object: string;
  /** The request's options as given: recorded with the job; the host limits are read from them. */
  options: JobOptions;
  /** Per-host answer deadline, counted from the moment the host's command is sent. */
  timeoutMs: number;
  dryRun: boolean;
  /** The API key that asked for it. */
  keyId: string;
}

/** What a job tells the metrics. */
export interface JobMetrics {
  /** The recorder for one job of `operation`. */
  job(operation: Operation): JobMetricsRecorder;
}

export interface JobMetricsRecorder {
  /** A host's result; `latencyMs` from command sent to answer, for hosts that answered. */
  result(status: ResultStatus, latencyMs: number | undefined): void;
  finished(state: JobState, durationMs: number): void;
}

export interface JobRunnerOptions {
  store: JobStore;
  logger: Logger;
  metrics?: JobMetrics;
}

export const DEFAULT_TIMEOUT_SECONDS = 30;
export const MAX_TIMEOUT_SECONDS = 600;

export const MAX_ERRORS_REACHED = "max errors reached";

const NO_METRICS: JobMetricsRecorder = { result: () => undefined, finished: () => undefined };

export class JobRunner {
  private readonly running = new Map<string, Job>();
  private lastCreatedAt = 0;

  /** The replica id recorded as the owner of every job started from now on; "" with one control plane. */
  owner = "";

  constructor(private readonly options: JobRunnerOptions) {}

  /** Dispatches the job's commands now and returns its event stream. */
  start(request: JobRequest): Job {
    // Strictly increasing creation times keep "newest first" exact for jobs started in the same millisecond.
    const createdAt = Math.max(Date.now(), this.lastCreatedAt + 1);
    this.lastCreatedAt = createdAt;
    const metrics = this.options.metrics?.job(request.operation) ?? NO_METRICS;
    const job = new Job(request, createdAt, this.owner, this.options.store, metrics, this.options.logger);
    this.running.set(job.id, job);
    void job.done.then(() => this.running.delete(job.id));
    job.dispatch();
    return job;
  }

  /** The job with this id while it runs (until its summary is emitted). */
  get(id: string): Job | undefined {
    return this.running.get(id);
  }

  get runningCount(): number {
    return this.running.size;
  }

  /** Waits until every running job is over, or `graceMs` passed. True if all finished. */
  async drain(graceMs: number): Promise<boolean> {
    if (this.running.size === 0) return true;
    let timer: NodeJS.Timeout | undefined;
    const expired = new Promise<false>((resolve) => {
      timer = setTimeout(() => resolve(false), graceMs);
    });
    const finished = Promise.all([...this.running.values()].map((job) => job.done)).then(() => true as const);
    try {
      return await Promise.race([finished, expired]);
    } finally {
      clearTimeout(timer);
    }
  }
}

function offlineError(agent: AgentRecord): string {
  return `agent offline (last seen ${new Date(agent.lastSeen).toISOString()})`;
}

/** One running job; also the waiter its agents' sessions report to. */
export class Job implements CommandWaiter, AsyncIterable<JobEvent> {
  readonly id = randomUUID();
  readonly done: Promise<void>;
  private readonly startedAt = Date.now();
  private readonly hostnames: string[];
  private readonly count: number;
  /** 1 once the slot's host has a result. */
  private readonly answered: Uint8Array;
  /** Results in arrival order. */
  private readonly arrived: HostResult[] = [];
  private readonly links: (AgentLink | undefined)[];
  private readonly commandIds: string[];
  private readonly sentAt: Float64Array;
  private readonly maxConcurrency: number;
  private readonly maxErrors: number;
  private frames: CommandFrames | undefined;
  /** Next slot to consider starting. */
  private nextSlot = 0;
  private inFlight = 0;
  /** Started slots in start order (= deadline order); entries before `deadlineHead` are settled. */
  private readonly startOrder: number[] = [];
  private deadlineHead = 0;
  private deadline: NodeJS.Timeout | undefined;
  private ok = 0;
  private failed = 0;
  private skipped = 0;
  private state: JobState = "running";
  private finishedAt: Date | undefined;
  /** Every event so far; each consumer reads it with its own cursor. */
  private readonly log: JobEvent[] = [];
  private waiters: (() => void)[] = [];
  private resolveDone!: () => void;

  constructor(
    private readonly request: JobRequest,
    private readonly createdAt: number,
    private readonly owner: string,
    private readonly store: JobStore,
    private readonly metrics: JobMetricsRecorder,
    private readonly logger: Logger,
  ) {
    const count = request.agents.length;
    this.count = count;
    this.hostnames = request.agents.map((agent) => agent.hostname);
    this.answered = new Uint8Array(count);
    this.links = new Array(count);
    this.commandIds = new Array(count);
    this.sentAt = new Float64Array(count);
    this.maxConcurrency = resolveHostLimit(request.options.maxConcurrency, count, 1);
    this.maxErrors = resolveHostLimit(request.options.maxErrors, count, 0);
    this.expire = this.expire.bind(this);
    this.done = new Promise((resolve) => {
      this.resolveDone = resolve;
    });
  }

  /** Counts so far: ok, failed, skipped. */
  get counts(): { ok: number; failed: number; skipped: number } {
    return { ok: this.ok, failed: this.failed, skipped: this.skipped };
  }

  dispatch(): void {
    const { request } = this;
    this.store.recordJobStarted(this.snapshot());
    this.push(
      create(JobEventSchema, {
        event: {
          case: "started",
          value: { jobId: this.id, hostnames: this.hostnames, operation: request.operation, target: request.target, dryRun: request.dryRun },
        },
      }),
    );
    this.frames = new CommandFrames({ jobId: this.id, dryRun: request.dryRun, kind: request.command });
    request.agents.forEach((agent, slot) => {
      if (agent.state !== "online" || !agent.link) this.record(slot, ResultStatus.FAILED, offlineError(agent));
    });
    this.advance();
  }

  settle(slot: number, result: CommandResult): void {
    if (this.answered[slot] || this.state !== "running") return;
    this.links[slot] = undefined;
    this.inFlight--;
    let status = result.status;
    let error = result.error;
    if (status === ResultStatus.UNSPECIFIED) {
      status = ResultStatus.FAILED;
      error ||= "agent answered without a status";
    }
    this.record(slot, status, error, result.changed, result, Date.now() - this.sentAt[slot]!);
    this.advance();
  }

  fail(slot: number, error: string): void {
    if (this.answered[slot] || this.state !== "running") return;
    this.links[slot] = undefined;
    this.inFlight--;
    this.record(slot, ResultStatus.FAILED, error);
    this.advance();
  }

  /** The job's events from its start: JobStarted, every result so far, then live ones until JobSummary. */
  async *events(signal?: AbortSignal): AsyncGenerator<JobEvent> {
    let wake: (() => void) | undefined;
    const onAbort = () => wake?.();
    signal?.addEventListener("abort", onAbort, { once: true });
    try {
      let index = 0;
      for (;;) {
        while (index < this.log.length) {
          const event = this.log[index++]!;
          yield event;
          if (event.event.case === "summary") return;
        }
        if (signal?.aborted) return;
        await new Promise<void>((resolve) => {
          wake = resolve;
          this.waiters.push(resolve);
        });
      }
    } finally {
      signal?.removeEventListener("abort", onAbort);
    }
  }

  [Symbol.asyncIterator](): AsyncIterator<JobEvent> {
    return this.events();
  }

  /** The job as the store records it, as of now. */
  snapshot(): JobRecord {
    const { request } = this;
    return {
      id: this.id,
      operation: request.operation,
      target: request.target,
      name: request.name,
      object: request.object,
      options: request.options,
      requestedBy: request.keyId,
      createdAt: new Date(this.createdAt),
      finishedAt: this.finishedAt,
      state: this.state,
      hostnames: this.hostnames,
      owner: this.owner,
      results: [...this.arrived],
    };
  }

  /** Starts what may start, then either finishes or keeps the deadline timer armed. */
  private advance(): void {
    this.startHosts();
    if (this.arrived.length === this.count) this.finish();
    else this.armDeadline();
  }

  private startHosts(): void {
    const { agents } = this.request;
    let now = 0;
    while (this.nextSlot < this.count && this.inFlight < this.maxConcurrency) {
      if (this.failed > this.maxErrors) break;
      const slot = this.nextSlot++;
      if (this.answered[slot]) continue;
      const agent = agents[slot]!;
      const link = agent.state === "online" ? agent.link : undefined;
      const commandId = `${this.id}/${agent.hostname}`;
      if (link && link.dispatch(commandId, this.frames!.frame(commandId), this, slot)) {
        if (now === 0) now = Date.now();
        this.links[slot] = link;
        this.commandIds[slot] = commandId;
        this.sentAt[slot] = now;
        this.inFlight++;
        this.startOrder.push(slot);
      } else {
        this.record(slot, ResultStatus.FAILED, offlineError(agent));
      }
    }
    if (this.failed > this.maxErrors) {
      for (; this.nextSlot < this.count; this.nextSlot++) {
        if (!this.answered[this.nextSlot]) this.record(this.nextSlot, ResultStatus.SKIPPED, MAX_ERRORS_REACHED);
      }
    }
  }

  private armDeadline(): void {
    if (this.deadline) return;
    while (this.deadlineHead < this.startOrder.length && this.answered[this.startOrder[this.deadlineHead]!]) this.deadlineHead++;
    if (this.deadlineHead === this.startOrder.length) return;
    const due = this.sentAt[this.startOrder[this.deadlineHead]!]! + this.request.timeoutMs;
    this.deadline = setTimeout(this.expire, Math.max(0, due - Date.now()));
  }

  private expire(): void {
    this.deadline = undefined;
    const now = Date.now();
    while (this.deadlineHead < this.startOrder.length) {
      const slot = this.startOrder[this.deadlineHead]!;
      if (!this.answered[slot]) {
        if (this.sentAt[slot]! + this.request.timeoutMs > now) break;
        this.links[slot]?.forget(this.commandIds[slot]!);
        this.links[slot] = undefined;
        this.inFlight--;
        this.record(slot, ResultStatus.FAILED, "timeout");
      }
      this.deadlineHead++;
    }
    this.advance();
  }

  private record(slot: number, status: ResultStatus, error: string, changed = false, answer?: CommandResult, latencyMs?: number): void {
    // Plain objects typed as the messages (protobuf-es v2 messages are plain objects with
    // $typeName): create() fills them reflectively, which costs more per host than the rest of this.
    const result: HostResult = {
      $typeName: "trustplane.v1.HostResult",
      hostname: this.hostnames[slot]!,
      status,
      name: this.request.name,
      changed: status === ResultStatus.FAILED ? false : changed,
      error: status === ResultStatus.OK ? "" : error,
      certificates: answer?.certificates ?? [],
    };
    this.answered[slot] = 1;
    const position = this.arrived.length;
    this.arrived.push(result);
    if (status === ResultStatus.OK) this.ok++;
    else if (status === ResultStatus.SKIPPED) this.skipped++;
    else this.failed++;
    this.store.recordResult(this.id, position, result);
    this.metrics.result(status, latencyMs);
    this.push({ $typeName: "trustplane.v1.JobEvent", event: { case: "result", value: result } });
  }

  private finish(): void {
    if (this.state !== "running") return;
    clearTimeout(this.deadline);
    this.deadline = undefined;
    this.finishedAt = new Date();
    this.state = finishedJobState(this.counts);
    const durationMs = Date.now() - this.startedAt;
    this.store.recordJobFinished(this.id, this.state, this.finishedAt);
    this.metrics.finished(this.state, durationMs);
    const summary = create(JobSummarySchema, {
      jobId: this.id,
      ok: this.ok,
      failed: this.failed,
      skipped: this.skipped,
      durationMs: BigInt(durationMs),
      dryRun: this.request.dryRun,
    });
    this.logger.debug({ jobId: this.id, state: this.state, ...this.counts }, "job finished");
    // The summary promises that the record is complete: wait for the store (its faults are logged there).
    void this.store
      .flush()
      .catch(() => undefined)
      .then(() => {
        this.push(create(JobEventSchema, { event: { case: "summary", value: summary } }));
        this.resolveDone();
      });
  }

  private push(event: JobEvent): void {
    this.log.push(event);
    if (this.waiters.length === 0) return;
    const waiters = this.waiters;
    this.waiters = [];
    for (const wake of waiters) wake();
  }
}
