// Liveness, readiness (a gRPC answer from the control plane, not just an open
// connection), and what callers see when the control plane is gone.
import * as net from "node:net";
import { Code, ConnectError, createClient } from "@connectrpc/connect";
import { createConnectTransport } from "@connectrpc/connect-node";
import { afterEach, describe, expect, it } from "vitest";
import { FileService } from "../gen/trustplane/v1/file_pb.js";
import { startGatewayFixture, type GatewayFixture } from "./testing/gateway-fixture.js";

const fixtures: GatewayFixture[] = [];

afterEach(async () => {
  for (const fixture of fixtures.splice(0)) await fixture.close();
});

async function start(options: Parameters<typeof startGatewayFixture>[0] = {}): Promise<GatewayFixture> {
  const fixture = await startGatewayFixture(options);
  fixtures.push(fixture);
  return fixture;
}

async function get(url: string): Promise<{ status: number; body: unknown }> {
  const response = await fetch(url);
  return { status: response.status, body: await response.json() };
}

/** A loopback port that nothing listens on. */
async function closedPort(): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as net.AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

describe("health", () => {
  it("GET /health is ok whatever the control plane does", async () => {
    const fixture = await start();
    fixture.fake.stop();
    expect(await get(`${fixture.gateway.url}/health`)).toEqual({ status: 200, body: { status: "ok" } });
  });

  it("GET /health/ready is 200 with the control plane up and 503 once it is gone", async () => {
    const fixture = await start();
    expect(await get(`${fixture.gateway.url}/health/ready`)).toEqual({ status: 200, body: { status: "ready" } });
    fixture.fake.stop();
    await expect.poll(async () => (await get(`${fixture.gateway.url}/health/ready`)).status).toBe(503);
    expect(await get(`${fixture.gateway.url}/health/ready`)).toEqual({
      status: 503,
      body: {
        error: "control plane unavailable",
        details: `cannot connect to ${fixture.fake.address}: ECONNREFUSED`,
        code: 503,
      },
    });
  });

  it("GET /health/ready is 503 when what answers at the address is not a gRPC server", async () => {
    const other = await start();
    const notGrpc = new URL(other.gateway.url).host;
    const fixture = await start({ controlPlaneAddress: notGrpc });
    expect(await get(`${fixture.gateway.url}/health/ready`)).toEqual({
      status: 503,
      body: {
        error: "control plane unavailable",
        details: `cannot connect to ${notGrpc}: it does not answer gRPC (HTTP 404)`,
        code: 503,
      },
    });
  });
});

describe("control plane unreachable", () => {
  it("a REST call is 503 control plane unavailable", async () => {
    const port = await closedPort();
    const fixture = await start({ controlPlaneAddress: `127.0.0.1:${port}` });
    const response = await fetch(`${fixture.gateway.url}/node/_all/certificate/ca/corp`, { method: "DELETE" });
    expect(response.status).toBe(503);
    expect(await response.json()).toEqual({
      error: "control plane unavailable",
      details: expect.stringMatching(/^the gateway cannot reach the control plane: .*ECONNREFUSED/),
      code: 503,
    });
    expect(await get(`${fixture.gateway.url}/file`)).toMatchObject({ status: 503, body: { error: "control plane unavailable" } });
  });

  it("a Connect call is UNAVAILABLE", async () => {
    const port = await closedPort();
    const fixture = await start({ controlPlaneAddress: `127.0.0.1:${port}` });
    const files = createClient(FileService, createConnectTransport({ baseUrl: fixture.gateway.url, httpVersion: "1.1" }));
    const error = await files.list({}).then(
      () => undefined,
      (reason: unknown) => reason,
    );
    expect(error).toBeInstanceOf(ConnectError);
    expect((error as ConnectError).code).toBe(Code.Unavailable);
  });
});
