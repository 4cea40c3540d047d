// A plain HTTP listener serving one registry as Prometheus text: `GET /metrics` is
// 200, anything else 404. No auth: bind it to a private address.
import { createServer, type Server } from "node:http";
import type { Registry } from "prom-client";
import type { Logger } from "../common/logger.js";

export interface MetricsListener {
  /** "http://HOST:PORT/metrics" with the bound port. */
  readonly url: string;
  close(): Promise<void>;
}

function splitHostPort(address: string): { host: string; port: number } {
  const colon = address.lastIndexOf(":");
  const port = Number(address.slice(colon + 1));
  if (colon <= 0 || !Number.isInteger(port) || port < 0 || port > 65535) throw new Error(`metrics address "${address}" must be HOST:PORT`);
  return { host: address.slice(0, colon).replace(/^\[(.*)\]$/, "$1"), port };
}

export async function startMetricsListener(address: string, registry: Registry, logger: Logger): Promise<MetricsListener> {
  const { host, port } = splitHostPort(address);
  const server: Server = createServer((request, response) => {
    const path = (request.url ?? "").split("?")[0];
    if (request.method !== "GET" || path !== "/metrics") {
      response.writeHead(404, { "content-type": "text/plain; charset=utf-8" }).end("not found\n");
      return;
    }
    registry.metrics().then(
      (text) => response.writeHead(200, { "content-type": registry.contentType }).end(text),
      (error: unknown) => {
        logger.error({ err: error instanceof Error ? error.message : String(error) }, "metrics collection failed");
        response.writeHead(500, { "content-type": "text/plain; charset=utf-8" }).end("metrics collection failed\n");
      },
    );
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(port, host, () => {
      server.off("error", reject);
      resolve();
    });
  });
  const bound = server.address();
  const boundPort = typeof bound === "object" && bound ? bound.port : port;
  const urlHost = host.includes(":") ? `[${host}]` : host;
  return {
    url: `http://${urlHost}:${boundPort}/metrics`,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}
