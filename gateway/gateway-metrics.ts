// The gateway's Prometheus metrics, on a registry of its own (never prom-client's
// global one, so several gateways can live in one process): HTTP requests by
// method, route template and status, their duration by route, control-plane call
// failures by gRPC code, NDJSON answers open, and the process metrics.
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from "prom-client";
import type { Code } from "@connectrpc/connect";
import { grpcCodeName } from "./error-body.js";
import type { NodeServerRequest } from "./node-handler-types.js";
import type { RestObserver } from "./rest-handler.js";

export interface GatewayMetricsOptions {
  /** Request paths of the forwarded RPCs (`/trustplane.v1.JobService/GetJob`): their own route label. */
  rpcPaths: Iterable<string>;
  /** Add prom-client's default process and Node.js metrics; default true. */
  processMetrics?: boolean;
}

/** Route label of a request that matched no route, so unknown paths cannot grow the label set. */
export const UNMATCHED_ROUTE = "unmatched";

const METHODS: ReadonlySet<string> = new Set(["GET", "HEAD", "POST", "PUT", "DELETE", "PATCH", "OPTIONS"]);

/** Seconds; certificate jobs wait for the slowest host (30 s by default, up to 600). */
const DURATION_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 600];

export class GatewayMetrics implements RestObserver {
  readonly registry = new Registry();
  private readonly rpcPaths: ReadonlySet<string>;
  private readonly routes = new WeakMap<object, string>();
  private readonly requests: Counter<"method" | "route" | "status">;
  private readonly durations: Histogram<"method" | "route">;
  private readonly controlPlaneErrors: Counter<"code">;
  private readonly ndjsonStreams: Gauge;

  constructor(options: GatewayMetricsOptions) {
    this.rpcPaths = new Set(options.rpcPaths);
    const registers = [this.registry];
    this.requests = new Counter({
      name: "trustplane_gateway_http_requests_total",
      help: "HTTP requests answered, by method, route template (or RPC path) and status.",
      labelNames: ["method", "route", "status"],
      registers,
    });
    this.durations = new Histogram({
      name: "trustplane_gateway_http_request_duration_seconds",
      help: "Time from request to the end of the answer, by method and route template (or RPC path).",
      labelNames: ["method", "route"],
      buckets: DURATION_BUCKETS,
      registers,
    });
    this.controlPlaneErrors = new Counter({
      name: "trustplane_gateway_control_plane_errors_total",
      help: "Control-plane calls that ended with an error, by gRPC code (UNAVAILABLE when it cannot be reached).",
      labelNames: ["code"],
      registers,
    });
    this.ndjsonStreams = new Gauge({
      name: "trustplane_gateway_ndjson_streams_open",
      help: "NDJSON answers being streamed now.",
      registers,
    });
    if (options.processMetrics ?? true) collectDefaultMetrics({ register: this.registry });
  }

  routeMatched(request: NodeServerRequest, template: string): void {
    this.routes.set(request, template);
  }

  /** Counts a finished request (its answer sent or its connection gone). */
  requestFinished(request: NodeServerRequest, status: number, seconds: number): void {
    const method = request.method && METHODS.has(request.method) ? request.method : "OTHER";
    const route = this.routes.get(request) ?? this.rpcRoute(request.url);
    this.requests.inc({ method, route, status: String(status) });
    this.durations.observe({ method, route }, seconds);
  }

  controlPlaneError(code: Code): void {
    this.controlPlaneErrors.inc({ code: grpcCodeName(code) });
  }

  ndjsonStreamOpened(): void {
    this.ndjsonStreams.inc();
  }

  ndjsonStreamClosed(): void {
    this.ndjsonStreams.dec();
  }

  private rpcRoute(url: string | undefined): string {
    const path = url?.split("?", 1)[0];
    return path !== undefined && this.rpcPaths.has(path) ? path : UNMATCHED_ROUTE;
  }
}
