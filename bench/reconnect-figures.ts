// What one control-plane restart did to the fleet, from the agents' own connection
// timelines (agent-swarm.ts, watchReconnects) and the times at which the new control
// plane logged accepting or refusing agent streams. Keys are snake_case: this is the
// shape of the bench's JSON.
import { DEFAULT_BACKOFF, fullJitterDelay } from "../agent/backoff.js";
import { summarize, type LatencySummary } from "./latency-summary.js";
import type { AgentTimeline } from "./swarm-messages.js";

/** The figure the issue sets: every agent back within the back-off cap. */
export const RECONNECT_TARGET_MS = 30_000;

export interface RestartWindow {
  signal: NodeJS.Signals;
  /** When the bench signalled the old control plane (epoch ms). */
  killAtMs: number;
  /** The `time` of the new control plane's "control plane listening" line (epoch ms): the restart. */
  listeningAtMs: number;
  /** `time`s of the new control plane's "agent online" lines (epoch ms). */
  serverAccepts: readonly number[];
  /** `time`s of its "agent refused" and "agent stream refused" lines. */
  serverRefusals: readonly number[];
}

export interface RestartFigures {
  signal: string;
  agents: number;
  /** From the signal until the new control plane listened. */
  down_ms: number;
  /** Agents whose stream ended after the signal. */
  lost: number;
  /** Agents connected again after the restart. */
  back: number;
  /** Per agent, from the restart (new control plane listening) to its first "connected" after it. */
  reconnect_ms: LatencySummary;
  /** How many of those were before the listening line (the port is bound just before it is logged); counted as 0. */
  before_listening: number;
  all_back_within_30s: boolean;
  /** Agents per 1-s bucket of reconnect time: [0] is 0 ≤ t < 1 s. */
  histogram_1s: number[];
  /** The first retry delay the agents drew when their stream ended (expected uniform in [0, base)). */
  first_retry_ms: LatencySummary;
  /** Connection attempts that failed while the control plane was away (agent side). */
  failed_attempts_while_down: number;
  /** The most failed attempts one agent made while it was away. */
  max_failed_attempts_per_agent: number;
  /** Attempts started after the restart that failed (agent side: e.g. reset before HTTP/2 when the accept queue overflows). */
  failed_attempts_after_restart: number;
  /** Those failures by grpc-js's reason (timestamps removed). */
  failures_after_restart_by_reason: Record<string, number>;
  /**
   * How long an attempt that failed while the control plane was away took, from its
   * scheduled start (the previous end plus the drawn delay) to the agent's
   * "disconnected": a refused connection alone is a few ms, the rest is the worker's
   * event loop running late (hundreds of agents per process).
   */
  failed_attempt_ms: LatencySummary;
  /** How long the attempt that got in took, from its start to the welcome (the new control plane's queue shows here). */
  welcome_attempt_ms: LatencySummary;
  /**
   * What the back-off alone predicts, for each agent's own loss time: the agent's
   * delays (fullJitterDelay) replayed MODEL_DRAWS times, each failed attempt taking
   * the measured median `failed_attempt_ms`, and a control plane that welcomes at
   * once. Measured minus model is what the new control plane's queue added.
   */
  model_reconnect_ms: LatencySummary;
  /** The model's agents per 1-s bucket (averaged over the draws, rounded). */
  model_histogram_1s: number[];
  /** Streams the new control plane accepted, per 1-s bucket after the restart (its own log times). */
  server_accepts_per_s: number[];
  server_max_accepts_per_s: number;
  /** The busiest 100 ms, scaled to a rate per second (a synchronized storm shows here first). */
  server_max_accepts_per_s_100ms_window: number;
  server_refusals: number;
  /** Agents that lost their new stream again before the bench took the figures. */
  lost_again: number;
}

/** Counts of `offsetsMs` (each ≥ 0 after clamping) per bucket of `bucketMs`. */
export function bucketCounts(offsetsMs: readonly number[], bucketMs: number): number[] {
  const counts: number[] = [];
  for (const offset of offsetsMs) {
    const bucket = Math.floor(Math.max(0, offset) / bucketMs);
    while (counts.length <= bucket) counts.push(0);
    counts[bucket]!++;
  }
  return counts;
}

function withoutTrailingZeros(counts: number[]): number[] {
  let end = counts.length;
  while (end > 0 && counts[end - 1] === 0) end--;
  return counts.slice(0, end);
}

export function restartFigures(timelines: readonly AgentTimeline[], window: RestartWindow): RestartFigures {
  const { killAtMs, listeningAtMs } = window;
  const reconnectMs: number[] = [];
  const firstRetryMs: number[] = [];
  let lost = 0;
  let beforeListening = 0;
  let failedWhileDown = 0;
  let maxFailedPerAgent = 0;
  let failedAfter = 0;
  const failureReasons: Record<string, number> = {};
  /** Per agent that lost its stream: how long the control plane was still away after the loss. */
  const awayAfterLossMs: number[] = [];
  let lostAgain = 0;
  /** Attempts that failed while the control plane was away, and the ones that got in: how long each took. */
  const failedAttemptMs: number[] = [];
  const welcomeAttemptMs: number[] = [];
  for (const { events } of timelines) {
    const since = events.filter((event) => event.atMs >= killAtMs);
    const loss = since.find((event) => event.kind === "lost");
    if (loss?.kind === "lost") {
      lost++;
      firstRetryMs.push(loss.retryInMs);
      awayAfterLossMs.push(listeningAtMs - loss.atMs);
    }
    const back = since.find((event) => event.kind === "connected");
    if (back) {
      reconnectMs.push(Math.max(0, back.atMs - listeningAtMs));
      if (back.atMs < listeningAtMs) beforeListening++;
    }
    // Each attempt from its scheduled start (the previous end plus the drawn delay) to its end; one that
    // started before the new control plane listened failed because it was away, whenever it ended.
    let attemptStart: number | undefined;
    let failedHere = 0;
    for (const event of since) {
      const startedAt = attemptStart ?? event.atMs;
      attemptStart = event.kind === "connected" ? undefined : event.atMs + event.retryInMs;
      if (event.kind === "connected") {
        if (event === back) welcomeAttemptMs.push(event.atMs - startedAt);
        continue;
      }
      if (event.kind !== "failed") continue;
      if (startedAt < listeningAtMs) {
        failedHere++;
        failedAttemptMs.push(event.atMs - startedAt);
        continue;
      }
      failedAfter++;
      const reason = event.details.replace(/ \(\d{4}-\d\d-\d\dT[^)]*\)/g, "");
      failureReasons[reason] = (failureReasons[reason] ?? 0) + 1;
    }
    failedWhileDown += failedHere;
    maxFailedPerAgent = Math.max(maxFailedPerAgent, failedHere);
    if (back && since.some((event) => event.kind === "lost" && event.atMs > back.atMs)) lostAgain++;
  }
  const accepts = window.serverAccepts.map((at) => at - listeningAtMs);
  const acceptsPerSecond = bucketCounts(accepts, 1_000);
  const reconnect = summarize(reconnectMs);
  const failedAttempt = summarize(failedAttemptMs);
  const model = modelReconnectMs(awayAfterLossMs, Number.isNaN(failedAttempt.p50) ? 0 : failedAttempt.p50);
  return {
    signal: window.signal,
    agents: timelines.length,
    down_ms: listeningAtMs - killAtMs,
    lost,
    back: reconnectMs.length,
    reconnect_ms: reconnect,
    before_listening: beforeListening,
    all_back_within_30s: reconnectMs.length === timelines.length && reconnect.max <= RECONNECT_TARGET_MS,
    histogram_1s: bucketCounts(reconnectMs, 1_000),
    first_retry_ms: summarize(firstRetryMs),
    failed_attempts_while_down: failedWhileDown,
    max_failed_attempts_per_agent: maxFailedPerAgent,
    failed_attempts_after_restart: failedAfter,
    failures_after_restart_by_reason: failureReasons,
    failed_attempt_ms: failedAttempt,
    welcome_attempt_ms: summarize(welcomeAttemptMs),
    model_reconnect_ms: summarize(model),
    model_histogram_1s: withoutTrailingZeros(bucketCounts(model, 1_000).map((count) => Math.round(count / MODEL_DRAWS))),
    server_accepts_per_s: acceptsPerSecond,
    server_max_accepts_per_s: Math.max(0, ...acceptsPerSecond),
    server_max_accepts_per_s_100ms_window: Math.max(0, ...bucketCounts(accepts, 100)) * 10,
    server_refusals: window.serverRefusals.length,
    lost_again: lostAgain,
  };
}

/** Replays of the back-off per agent in the model. */
export const MODEL_DRAWS = 20;

/**
 * Reconnect times the back-off predicts: for each `awayMs` (the control plane still
 * away that long after an agent lost its stream), MODEL_DRAWS replays of the agent's
 * retry delays from attempt 0, each failed attempt lasting `failedAttemptMs`; the
 * first attempt that starts at or after `awayMs` gets in at once.
 */
export function modelReconnectMs(awayAfterLossMs: readonly number[], failedAttemptMs: number, random: () => number = Math.random): number[] {
  const times: number[] = [];
  for (const awayMs of awayAfterLossMs) {
    for (let draw = 0; draw < MODEL_DRAWS; draw++) {
      let at = 0;
      for (let attempt = 0; ; attempt++) {
        at += fullJitterDelay(attempt, DEFAULT_BACKOFF, random);
        if (at >= awayMs) break;
        at += failedAttemptMs;
      }
      times.push(at - awayMs);
    }
  }
  return times;
}

const BAR_WIDTH = 50;

/**
 * One text line per 1-s bucket, bars scaled to the largest bucket, with the model's
 * count beside the measured one: `  3-  4 s |  85 (model  60) #########`.
 */
export function histogramLines(counts: readonly number[], model: readonly number[]): string[] {
  const peak = Math.max(1, ...counts);
  const width = String(Math.max(peak, ...model)).length;
  const buckets = Math.max(counts.length, model.length);
  return Array.from({ length: buckets }, (_, bucket) => {
    const count = counts[bucket] ?? 0;
    const bar = "#".repeat(Math.round((count / peak) * BAR_WIDTH));
    const figures = `${String(count).padStart(width)} (model ${String(model[bucket] ?? 0).padStart(width)})`;
    return `${String(bucket).padStart(3)}-${String(bucket + 1).padStart(3)} s | ${figures} ${bar}`.trimEnd();
  });
}
