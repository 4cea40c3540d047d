// The gateway process (DESIGN.md sections 1 and 3): one HTTP (or HTTPS) port
// serving the client API over Connect, gRPC and gRPC-Web by forwarding to the
// control plane, and the REST routes in front of it. It holds no business logic
// of its own.
import { performance } from "node:perf_hooks";
import { connectNodeAdapter } from "@connectrpc/connect-node";
import { createClient } from "@connectrpc/connect";
import type { Logger } from "../common/logger.js";
import { CertificateService } from "../gen/trustplane/v1/certificate_pb.js";
import { FileService } from "../gen/trustplane/v1/file_pb.js";
import { FleetService } from "../gen/trustplane/v1/fleet_pb.js";
import { JobService } from "../gen/trustplane/v1/job_pb.js";
import { callErrorInterceptor } from "./call-error-interceptor.js";
import { callerContextValues } from "./caller-address.js";
import { answerClientError, answerConnectMethod } from "./client-error.js";
import { connectControlPlane, type ControlPlaneTls } from "./control-plane-connection.js";
import { listenDualProtocol, type RequestListener, type ServerTls } from "./dual-protocol-server.js";
import { earlyRefusal } from "./early-refusal.js";
import { errorBodyFrom, type ErrorBody } from "./error-body.js";
import { forwardServices } from "./forwarding-routes.js";
import { GatewayMetrics } from "./gateway-metrics.js";
import { openApiDocument, type OpenApiDocument } from "./openapi-document.js";
import { writeErrorBody } from "./json-response.js";
import { createRestHandler } from "./rest-handler.js";
import type { RestApi } from "./rest-route.js";
import { REST_ROUTES } from "./rest-routes.js";

export type { ControlPlaneTls, ServerTls };

export interface GatewayOptions {
  /** `host:port` to listen on, such as "127.0.0.1:8080"; port 0 picks a free port. */
  httpAddress: string;
  /** `host:port` of the control plane's gRPC listener. */
  controlPlaneAddress: string;
  logger: Logger;
  /** Serve HTTPS (HTTP/1.1 and HTTP/2 by ALPN) with this certificate and key; plaintext HTTP when absent. */
  tls?: ServerTls;
  /** Reach the control plane over TLS (optionally presenting a client certificate); plaintext h2c when absent. */
  controlPlaneTls?: ControlPlaneTls;
  /** Request bodies above this are refused with 413; default 1 MiB. */
  maxBodyBytes?: number;
  /** How long close() lets in-flight requests (NDJSON streams included) finish; default 10 s. */
  shutdownGraceMs?: number;
  /** Put prom-client's process and Node.js metrics on GET /metrics; default true. */
  processMetrics?: boolean;
}

export interface Gateway {
  /** "http://127.0.0.1:<port>", or "https://..." with `tls`. */
  readonly url: string;
  /**
   * Stops accepting connections, lets in-flight requests finish (up to the grace
   * period), closes the control-plane connection. Requests that still arrive on
   * open connections meanwhile are 503 `gateway is shutting down`.
   */
  close(): Promise<void>;
}

/** The client API the gateway serves; agents talk to the control plane directly. */
const FORWARDED_SERVICES = [CertificateService, FileService, JobService, FleetService] as const;

const DEFAULT_MAX_BODY_BYTES = 1024 * 1024;
const INTERNAL_ERROR: ErrorBody = { error: "internal error", details: "the gateway failed to handle the request", code: 500 };
const DEFAULT_SHUTDOWN_GRACE_MS = 10_000;

export async function startGateway(options: GatewayOptions): Promise<Gateway> {
  const { host, port } = splitHostPort(options.httpAddress);
  const maxBodyBytes = options.maxBodyBytes ?? DEFAULT_MAX_BODY_BYTES;
  const logger = options.logger;
  const metrics = new GatewayMetrics({
    rpcPaths: FORWARDED_SERVICES.flatMap((service) => service.methods.map((method) => `/${service.typeName}/${method.name}`)),
    processMetrics: options.processMetrics ?? true,
  });
  const controlPlane = connectControlPlane({
    address: options.controlPlaneAddress,
    ...(options.controlPlaneTls ? { tls: options.controlPlaneTls } : {}),
    interceptors: [callErrorInterceptor((code) => metrics.controlPlaneError(code))],
  });

  let document: OpenApiDocument | undefined;
  const api: RestApi = {
    certificates: createClient(CertificateService, controlPlane.transport),
    files: createClient(FileService, controlPlane.transport),
    jobs: createClient(JobService, controlPlane.transport),
    fleet: createClient(FleetService, controlPlane.transport),
    checkReady: () => controlPlane.checkReady(),
    metrics: metrics.registry,
    openApiDocument: () => (document ??= openApiDocument(REST_ROUTES)),
  };
  const handler = connectNodeAdapter({
    routes: (router) => forwardServices(router, FORWARDED_SERVICES, controlPlane.transport),
    fallback: createRestHandler({ routes: REST_ROUTES, api, maxBodyBytes, logger, observer: metrics }),
    readMaxBytes: maxBodyBytes,
    contextValues: callerContextValues,
  });
  let closing = false;
  const listener: RequestListener = (request, response) => {
    const started = performance.now();
    response.once("close", () => {
      const durationMs = performance.now() - started;
      metrics.requestFinished(request, response.statusCode, durationMs / 1000);
      logger.info(
        {
          method: request.method,
          path: pathOf(request.url),
          status: response.statusCode,
          durationMs: Math.round(durationMs * 10) / 10,
          httpVersion: request.httpVersion,
        },
        "request",
      );
    });
    const refusal = earlyRefusal(request, closing);
    if (refusal) {
      logger.debug({ method: request.method, path: pathOf(request.url), status: refusal.status }, "request refused");
      request.resume();
      writeErrorBody(response, errorBodyFrom(refusal), refusal.headers);
      return;
    }
    try {
      handler(request, response);
    } catch (error) {
      // The adapter throws synchronously only on requests it cannot represent; never let that end the process.
      logger.error({ err: error, method: request.method, path: pathOf(request.url) }, "request handler failed");
      if (response.headersSent) response.destroy();
      else writeErrorBody(response, INTERNAL_ERROR);
    }
  };

  let server;
  try {
    server = await listenDualProtocol(host, port, {
      listener,
      clientError: answerClientError,
      connectMethod: answerConnectMethod,
      shutdownGraceMs: options.shutdownGraceMs ?? DEFAULT_SHUTDOWN_GRACE_MS,
      ...(options.tls ? { tls: options.tls } : {}),
    });
  } catch (error) {
    controlPlane.close();
    throw error;
  }
  const url = `${options.tls ? "https" : "http"}://${host.includes(":") ? `[${host}]` : host}:${server.port}`;

  const listening = server;
  return {
    url,
    async close() {
      closing = true;
      await listening.close();
      controlPlane.close();
    },
  };
}

function splitHostPort(address: string): { host: string; port: number } {
  const colon = address.lastIndexOf(":");
  const port = Number(address.slice(colon + 1));
  if (colon <= 0 || !Number.isInteger(port) || port < 0 || port > 65535) {
    throw new Error(`gateway address "${address}" must be host:port`);
  }
  return { host: address.slice(0, colon).replace(/^\[(.*)\]$/, "$1"), port };
}

function pathOf(url: string | undefined): string {
  if (!url) return "/";
  const question = url.indexOf("?");
  return question < 0 ? url : url.slice(0, question);
}
