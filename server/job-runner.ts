// Runs one job: one command per matched agent, results as they arrive, one summary.
// The event stream is JobStarted, then one HostResult per host (offline hosts first,
// at once), then JobSummary. One deadline timer per job, not one per host; a result
// arriving after its host timed out is ignored.
import { randomUUID } from "node:crypto";
import { create } from "@bufbuild/protobuf";
import type { Logger } from "../common/logger.js";
import type { Command, CommandResult } from "../gen/trustplane/v1/agent_pb.js";
import {
  HostResultSchema,
  JobEventSchema,
  JobSummarySchema,
  ResultStatus,
  type HostResult,
  type JobEvent,
} from "../gen/trustplane/v1/common_pb.js";
import type { AgentLink, CommandWaiter } from "./agent-link.js";
import { CommandFrames } from "./command-frames.js";
import type { JobStore } from "./job-store.js";
import type { AgentRecord } from "./registry.js";

export type Operation = "certificate.install" | "certificate.update" | "certificate.delete" | "certificate.list";

export interface JobRequest {
  operation: Operation;
  /** The target as the caller wrote it. */
  target: string;
  /** The agents it resolved to (router), in result order. */
  agents: readonly AgentRecord[];
  /** What each agent runs; id, job id and dry run are filled in here. */
  command: Command["kind"];
  /** Certificate name the command is about; empty for a list. */
  name: string;
  timeoutMs: number;
  dryRun: boolean;
  /** The API key that asked for it. */
  keyId: string;
}

export interface JobRunnerOptions {
  store: JobStore;
  logger: Logger;
}

export const DEFAULT_TIMEOUT_SECONDS = 30;
export const MAX_TIMEOUT_SECONDS = 600;

export class JobRunner {
  private readonly running = new Set<Job>();

  constructor(private readonly options: JobRunnerOptions) {}

  /** Dispatches the job's commands now and returns its event stream. */
  start(request: JobRequest): Job {
    const job = new Job(request, this.options.store, this.options.logger);
    this.running.add(job);
    void job.done.then(() => this.running.delete(job));
    job.dispatch();
    return job;
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
    const finished = Promise.all([...this.running].map((job) => job.done)).then(() => true as const);
    try {
      return await Promise.race([finished, expired]);
    } finally {
      clearTimeout(timer);
    }
  }
}

/** One running job; also the waiter its agents' sessions report to. */
export class Job implements CommandWaiter, AsyncIterable<JobEvent> {
  readonly id = randomUUID();
  readonly done: Promise<void>;
  private readonly startedAt = Date.now();
  private readonly results: (HostResult | undefined)[];
  private readonly links: (AgentLink | undefined)[];
  private readonly commandIds: string[];
  private remaining: number;
  private ok = 0;
  private failed = 0;
  private skipped = 0;
  private deadline: NodeJS.Timeout | undefined;
  private readonly queue: JobEvent[] = [];
  private wake: (() => void) | undefined;
  private finished = false;
  private resolveDone!: () => void;

  constructor(
    private readonly request: JobRequest,
    private readonly store: JobStore,
    private readonly logger: Logger,
  ) {
    const count = request.agents.length;
    this.results = new Array(count);
    this.links = new Array(count);
    this.commandIds = new Array(count);
    this.remaining = count;
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
    const hostnames = request.agents.map((agent) => agent.hostname);
    this.store.jobStarted({
      id: this.id,
      operation: request.operation,
      target: request.target,
      dryRun: request.dryRun,
      hostnames,
      keyId: request.keyId,
      createdAt: new Date(this.startedAt),
    });
    this.push(
      create(JobEventSchema, {
        event: {
          case: "started",
          value: { jobId: this.id, hostnames, operation: request.operation, target: request.target, dryRun: request.dryRun },
        },
      }),
    );
    const frames = new CommandFrames({ jobId: this.id, dryRun: request.dryRun, kind: request.command });
    request.agents.forEach((agent, slot) => {
      const commandId = `${this.id}/${agent.hostname}`;
      this.commandIds[slot] = commandId;
      const link = agent.state === "online" ? agent.link : undefined;
      if (link && link.dispatch(commandId, frames.frame(commandId), this, slot)) {
        this.links[slot] = link;
      } else {
        this.record(slot, ResultStatus.FAILED, `agent offline (last seen ${new Date(agent.lastSeen).toISOString()})`);
      }
    });
    if (this.results.length === 0) this.finish();
    else if (this.remaining > 0) this.deadline = setTimeout(() => this.expire(), request.timeoutMs);
  }

  settle(slot: number, result: CommandResult): void {
    if (this.results[slot] || this.finished) return;
    this.links[slot] = undefined;
    let status = result.status;
    let error = result.error;
    if (status === ResultStatus.UNSPECIFIED) {
      status = ResultStatus.FAILED;
      error ||= "agent answered without a status";
    }
    this.record(slot, status, error, result.changed, result);
  }

  fail(slot: number, error: string): void {
    if (this.results[slot] || this.finished) return;
    this.links[slot] = undefined;
    this.record(slot, ResultStatus.FAILED, error);
  }

  async *[Symbol.asyncIterator](): AsyncIterator<JobEvent> {
    for (;;) {
      const event = this.queue.shift();
      if (event) {
        yield event;
        if (event.event.case === "summary") return;
        continue;
      }
      await new Promise<void>((resolve) => {
        this.wake = resolve;
      });
    }
  }

  private expire(): void {
    this.deadline = undefined;
    for (let slot = 0; slot < this.results.length; slot++) {
      if (this.results[slot]) continue;
      this.links[slot]?.forget(this.commandIds[slot]!);
      this.links[slot] = undefined;
      this.record(slot, ResultStatus.FAILED, "timeout");
    }
  }

  private record(slot: number, status: ResultStatus, error: string, changed = false, answer?: CommandResult): void {
    const result = create(HostResultSchema, {
      hostname: this.request.agents[slot]!.hostname,
      status,
      name: this.request.name,
      changed: status === ResultStatus.FAILED ? false : changed,
      error: status === ResultStatus.OK ? "" : error,
      certificates: answer?.certificates ?? [],
    });
    this.results[slot] = result;
    if (status === ResultStatus.OK) this.ok++;
    else if (status === ResultStatus.SKIPPED) this.skipped++;
    else this.failed++;
    this.remaining--;
    this.store.hostResult(this.id, result);
    this.push(create(JobEventSchema, { event: { case: "result", value: result } }));
    if (this.remaining === 0) this.finish();
  }

  private finish(): void {
    if (this.finished) return;
    this.finished = true;
    clearTimeout(this.deadline);
    const summary = create(JobSummarySchema, {
      jobId: this.id,
      ok: this.ok,
      failed: this.failed,
      skipped: this.skipped,
      durationMs: BigInt(Date.now() - this.startedAt),
      dryRun: this.request.dryRun,
    });
    this.store.jobFinished(this.id, summary);
    this.push(create(JobEventSchema, { event: { case: "summary", value: summary } }));
    this.logger.debug({ jobId: this.id, ...this.counts }, "job finished");
    this.resolveDone();
  }

  private push(event: JobEvent): void {
    this.queue.push(event);
    const wake = this.wake;
    this.wake = undefined;
    wake?.();
  }
}
