// The control plane's Prometheus metrics, on a registry of its own (never the
// process-wide default: many control planes live in one test process). Agents
// online/offline are read from the agent registry at scrape time; everything else
// is counted as it happens, through label children looked up once per operation.
// Per-host result counts are kept in the job's recorder and added to the counter in
// one step when the job finishes or a scrape comes, whichever is first: at fleet
// scale a prom-client call per host cost more than the result's routing.
import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from "prom-client";
import { ResultStatus } from "../gen/trustplane/v1/common_pb.js";
import type { JobMetrics, JobMetricsRecorder, Operation } from "./job-runner.js";
import type { JobState } from "./job-store/job-store.js";

/** What the agents gauges read at scrape time. */
export interface AgentCounts {
  stateCounts(): { online: number; offline: number };
}

const STATUS_LABEL: Readonly<Record<number, string>> = {
  [ResultStatus.OK]: "ok",
  [ResultStatus.FAILED]: "failed",
  [ResultStatus.SKIPPED]: "skipped",
};

const JOB_DURATION_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600];
const HOST_LATENCY_BUCKETS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60];

export class ControlPlaneMetrics implements JobMetrics {
  readonly registry = new Registry();
  private readonly commands: Counter<"kind" | "status">;
  private readonly jobs: Counter<"kind" | "state">;
  private readonly jobDuration: Histogram<"kind">;
  private readonly hostLatency: Histogram<"kind">;
  private readonly streamConnects: Counter;
  private readonly streamReconnects: Counter;
  private readonly objectStoreErrors: Counter;
  private readonly jobStoreErrors: Counter;
  private readonly children = new Map<Operation, OperationChildren>();
  /** Recorders of running jobs, flushed at scrape time. */
  private readonly running = new Set<JobRecorder>();
  private defaultMetrics = false;
  private agents: AgentCounts | undefined;

  constructor() {
    const registers = [this.registry];
    const counts = () => this.agents?.stateCounts() ?? { online: 0, offline: 0 };
    new Gauge({
      name: "trustplane_agents_online",
      help: "Agents with a live stream to this control plane.",
      registers,
      collect() {
        this.set(counts().online);
      },
    });
    new Gauge({
      name: "trustplane_agents_offline",
      help: "Known agents without a live stream (stale ones included).",
      registers,
      collect() {
        this.set(counts().offline);
      },
    });
    const running = this.running;
    this.commands = new Counter({
      name: "trustplane_commands_total",
      help: "Per-host results of jobs, by operation (kind) and status (ok, failed, skipped).",
      labelNames: ["kind", "status"],
      registers,
      collect() {
        for (const recorder of running) recorder.flush();
      },
    });
    this.jobs = new Counter({
      name: "trustplane_jobs_total",
      help: "Finished jobs, by operation (kind) and end state.",
      labelNames: ["kind", "state"],
      registers,
    });
    this.jobDuration = new Histogram({
      name: "trustplane_job_duration_seconds",
      help: "Time from a job's start to its last host's result, by operation (kind).",
      labelNames: ["kind"],
      buckets: JOB_DURATION_BUCKETS,
      registers,
    });
    this.hostLatency = new Histogram({
      name: "trustplane_host_latency_seconds",
      help: "Time from sending a host its command to its answer, by operation (kind).",
      labelNames: ["kind"],
      buckets: HOST_LATENCY_BUCKETS,
      registers,
    });
    this.streamConnects = new Counter({
      name: "trustplane_agent_stream_connects_total",
      help: "Agent streams accepted (hello answered with welcome).",
      registers,
    });
    this.streamReconnects = new Counter({
      name: "trustplane_agent_stream_reconnects_total",
      help: "Agent streams accepted for a hostname that was already known.",
      registers,
    });
    this.objectStoreErrors = new Counter({
      name: "trustplane_object_store_errors_total",
      help: "Object-store operations that failed for a reason other than the request itself.",
      registers,
    });
    this.jobStoreErrors = new Counter({
      name: "trustplane_job_store_errors_total",
      help: "Job-store faults (failed write batches, reads, connections).",
      registers,
    });
  }

  /** Where the agents gauges read their values at scrape time. */
  observeAgents(agents: AgentCounts): void {
    this.agents = agents;
  }

  /** Adds the process metrics (CPU, memory, event loop, GC) to this registry; once. */
  collectProcessMetrics(): void {
    if (this.defaultMetrics) return;
    this.defaultMetrics = true;
    collectDefaultMetrics({ register: this.registry });
  }

  job(operation: Operation): JobMetricsRecorder {
    let children = this.children.get(operation);
    if (!children) {
      children = this.childrenFor(operation);
      this.children.set(operation, children);
    }
    const recorder = new JobRecorder(children, this.running);
    this.running.add(recorder);
    return recorder;
  }

  agentAttached(reconnect: boolean): void {
    this.streamConnects.inc();
    if (reconnect) this.streamReconnects.inc();
  }

  objectStoreError(): void {
    this.objectStoreErrors.inc();
  }

  jobStoreError(): void {
    this.jobStoreErrors.inc();
  }

  private childrenFor(operation: Operation): OperationChildren {
    return {
      operation,
      byStatus: Object.fromEntries(Object.entries(STATUS_LABEL).map(([status, label]) => [status, this.commands.labels(operation, label)])),
      latency: this.hostLatency.labels(operation),
      duration: this.jobDuration.labels(operation),
      jobs: this.jobs,
    };
  }
}

/** The label children of one operation, looked up once. */
interface OperationChildren {
  operation: Operation;
  byStatus: Record<number, { inc(value?: number): void }>;
  latency: { observe(value: number): void };
  duration: { observe(value: number): void };
  jobs: Counter<"kind" | "state">;
}

/** One job's metrics: result counts are added to the counter in one step per status. */
class JobRecorder implements JobMetricsRecorder {
  /** Results not yet added to the counter, by status. */
  private readonly pending = new Map<number, number>();

  constructor(
    private readonly children: OperationChildren,
    private readonly running: Set<JobRecorder>,
  ) {}

  result(status: ResultStatus, latencyMs: number | undefined): void {
    this.pending.set(status, (this.pending.get(status) ?? 0) + 1);
    if (latencyMs !== undefined) this.children.latency.observe(latencyMs / 1000);
  }

  finished(state: JobState, durationMs: number): void {
    this.flush();
    this.running.delete(this);
    this.children.duration.observe(durationMs / 1000);
    this.children.jobs.inc({ kind: this.children.operation, state });
  }

  flush(): void {
    for (const [status, count] of this.pending) this.children.byStatus[status]?.inc(count);
    this.pending.clear();
  }
}
