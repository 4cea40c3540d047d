// The control plane's Prometheus metrics, on a registry of its own (never the
// process-wide default: many control planes live in one test process). Agents
// online/offline are read from the agent registry at scrape time; everything else
// is counted as it happens, through label children looked up once per operation.
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
  private readonly recorders = new Map<Operation, JobMetricsRecorder>();
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
    this.commands = new Counter({
      name: "trustplane_commands_total",
      help: "Per-host results of jobs, by operation (kind) and status (ok, failed, skipped).",
      labelNames: ["kind", "status"],
      registers,
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
    let recorder = this.recorders.get(operation);
    if (!recorder) {
      recorder = this.recorderFor(operation);
      this.recorders.set(operation, recorder);
    }
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

  private recorderFor(operation: Operation): JobMetricsRecorder {
    const byStatus = new Map<ResultStatus, ReturnType<typeof this.commands.labels>>();
    for (const [status, label] of Object.entries(STATUS_LABEL)) byStatus.set(Number(status), this.commands.labels(operation, label));
    const latency = this.hostLatency.labels(operation);
    const duration = this.jobDuration.labels(operation);
    const jobs = this.jobs;
    return {
      result(status: ResultStatus, latencyMs: number | undefined): void {
        byStatus.get(status)?.inc();
        if (latencyMs !== undefined) latency.observe(latencyMs / 1000);
      },
      finished(state: JobState, durationMs: number): void {
        duration.observe(durationMs / 1000);
        jobs.inc({ kind: operation, state });
      },
    };
  }
}
