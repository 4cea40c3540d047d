// The gateway reaching a control plane that serves TLS (a grpc-js server with
// ServerCredentials.createSsl): verified against the CA given, with the server
// name given, presenting a client certificate when the control plane requires one.
import { afterEach, describe, expect, it } from "vitest";
import { makeCa } from "../test/fixtures/pki.js";
import type { ControlPlaneTls } from "./gateway.js";
import { startGatewayFixture, type GatewayFixture, type GatewayFixtureOptions } from "./testing/gateway-fixture.js";
import { clientCertificate, issueLeaf, loopbackServerCertificate } from "./testing/tls-certificates.js";

const AUTHORIZATION = "Bearer tp_cp_tls_key";
const serverCa = makeCa({ commonName: "control plane CA" });
const clientCa = makeCa({ commonName: "gateway client CA" });
const otherCa = makeCa({ commonName: "unrelated CA" });
const serverCaPem = Buffer.from(serverCa.certPem);
const loopbackServer = loopbackServerCertificate(serverCa);
const gatewayClient = clientCertificate(clientCa);

const fixtures: GatewayFixture[] = [];

afterEach(async () => {
  for (const fixture of fixtures.splice(0)) await fixture.close();
});

async function start(options: GatewayFixtureOptions): Promise<GatewayFixture> {
  const fixture = await startGatewayFixture(options);
  fixtures.push(fixture);
  fixture.fake.unaries.set("list", () => ({ files: [] }));
  return fixture;
}

async function get(fixture: GatewayFixture, path: string): Promise<{ status: number; body: unknown }> {
  const response = await fetch(`${fixture.gateway.url}${path}`, { headers: { authorization: AUTHORIZATION } });
  return { status: response.status, body: await response.json() };
}

describe("control plane over TLS", () => {
  it("forwards calls when the gateway trusts the control plane's CA", async () => {
    const fixture = await start({ fake: { tls: loopbackServer }, controlPlaneTls: { caPem: serverCaPem } });
    expect(await get(fixture, "/health/ready")).toEqual({ status: 200, body: { status: "ready" } });
    expect(await get(fixture, "/file")).toEqual({ status: 200, body: { files: [] } });
    expect(fixture.fake.calls.map((call) => [call.method, call.authorization])).toEqual([["list", AUTHORIZATION]]);
  });

  const refusals: [string, GatewayFixtureOptions, RegExp][] = [
    ["plaintext to a TLS control plane", { fake: { tls: loopbackServer } }, /.+/],
    [
      "a control plane certificate from another CA",
      { fake: { tls: loopbackServer }, controlPlaneTls: { caPem: Buffer.from(otherCa.certPem) } },
      /UNABLE_TO_VERIFY_LEAF_SIGNATURE/,
    ],
    [
      "a certificate for another name",
      {
        fake: { tls: issueLeaf(serverCa, { commonName: "cp", altNames: ["DNS:cp.trustplane.test"], usage: "serverAuth" }) },
        controlPlaneTls: { caPem: serverCaPem },
      },
      /ERR_TLS_CERT_ALTNAME_INVALID/,
    ],
    [
      "no client certificate for a control plane that requires one",
      { fake: { tls: { ...loopbackServer, clientCaPem: Buffer.from(clientCa.certPem) } }, controlPlaneTls: { caPem: serverCaPem } },
      /.+/,
    ],
  ];

  it.each(refusals)("is unavailable with %s", async (_case, options, reason) => {
    const fixture = await start(options);
    const ready = await get(fixture, "/health/ready");
    expect(ready).toEqual({
      status: 503,
      body: { error: "control plane unavailable", details: expect.stringMatching(reason), code: 503 },
    });
    expect(await get(fixture, "/file")).toEqual({
      status: 503,
      body: { error: "control plane unavailable", details: expect.stringMatching(/^the gateway cannot reach the control plane/), code: 503 },
    });
    expect(fixture.fake.calls).toEqual([]);
  });

  it("checks the certificate against serverName instead of the dialled address", async () => {
    const named = issueLeaf(serverCa, { commonName: "cp", altNames: ["DNS:cp.trustplane.test"], usage: "serverAuth" });
    const fixture = await start({
      fake: { tls: named },
      controlPlaneTls: { caPem: serverCaPem, serverName: "cp.trustplane.test" },
    });
    expect(await get(fixture, "/file")).toEqual({ status: 200, body: { files: [] } });
  });

  it("checks an IP address given as serverName against the certificate's IP names", async () => {
    const byIp = issueLeaf(serverCa, { commonName: "cp", altNames: ["IP:10.1.2.3"], usage: "serverAuth" });
    const fixture = await start({ fake: { tls: byIp }, controlPlaneTls: { caPem: serverCaPem, serverName: "10.1.2.3" } });
    expect(await get(fixture, "/file")).toEqual({ status: 200, body: { files: [] } });
    const wrongIp = await start({ fake: { tls: byIp }, controlPlaneTls: { caPem: serverCaPem, serverName: "10.9.9.9" } });
    expect(await get(wrongIp, "/health/ready")).toEqual({
      status: 503,
      body: { error: "control plane unavailable", details: expect.stringMatching(/ERR_TLS_CERT_ALTNAME_INVALID/), code: 503 },
    });
  });

  it("presents its client certificate to a control plane that requires mutual TLS", async () => {
    const tls: ControlPlaneTls = { caPem: serverCaPem, certPem: gatewayClient.certPem, keyPem: gatewayClient.keyPem };
    const fixture = await start({ fake: { tls: { ...loopbackServer, clientCaPem: Buffer.from(clientCa.certPem) } }, controlPlaneTls: tls });
    expect(await get(fixture, "/health/ready")).toEqual({ status: 200, body: { status: "ready" } });
    expect(await get(fixture, "/file")).toEqual({ status: 200, body: { files: [] } });
    expect(fixture.fake.calls.map((call) => call.method)).toEqual(["list"]);
  });

  it("refuses a client certificate without its key", async () => {
    await expect(
      startGatewayFixture({ controlPlaneTls: { caPem: serverCaPem, certPem: gatewayClient.certPem } }),
    ).rejects.toThrow("control-plane TLS: give both the client certificate and its key, or neither");
  });
});
