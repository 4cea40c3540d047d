// `trustplane gateway` flags → the gateway's options (nothing is started).
import { readFile } from "node:fs/promises";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createTestPki, type TestPki } from "../testing/test-pki.js";
import { UsageError } from "../usage-error.js";
import { gatewaySettings } from "./gateway.js";

let pki: TestPki;

beforeAll(async () => {
  pki = await createTestPki();
});
afterAll(() => pki.cleanup());

describe("trustplane gateway flags", () => {
  it("defaults: plaintext both ways", async () => {
    expect(await gatewaySettings([])).toEqual({
      httpAddress: "127.0.0.1:8080",
      controlPlaneAddress: "127.0.0.1:7443",
      tls: undefined,
      controlPlaneTls: undefined,
    });
  });

  it("HTTPS with --tls-cert/--tls-key; TLS to the control plane with --server-ca, --server-name and a client certificate", async () => {
    const settings = await gatewaySettings([
      ...["--http", "0.0.0.0:8443", "--server", "cp.internal:7443", "--tls-cert", pki.serverCert, "--tls-key", pki.serverKey],
      ...["--server-ca", pki.caCert, "--server-name", "localhost", "--client-cert", pki.agentCert, "--client-key", pki.agentKey],
    ]);
    expect(settings).toEqual({
      httpAddress: "0.0.0.0:8443",
      controlPlaneAddress: "cp.internal:7443",
      tls: { certPem: await readFile(pki.serverCert), keyPem: await readFile(pki.serverKey) },
      controlPlaneTls: {
        caPem: await readFile(pki.caCert),
        serverName: "localhost",
        certPem: await readFile(pki.agentCert),
        keyPem: await readFile(pki.agentKey),
      },
    });
  });

  it("--server-ca alone: TLS to the control plane, no client certificate", async () => {
    expect((await gatewaySettings(["--server-ca", pki.caCert]))!.controlPlaneTls).toEqual({ caPem: await readFile(pki.caCert) });
  });

  it.each([
    [["--tls-key", "SERVER_KEY"], "trustplane gateway: --tls-key needs --tls-cert"],
    [["--client-cert", "AGENT_CERT"], "trustplane gateway: --client-cert needs --client-key"],
    [["--server-ca", "CA_KEY"], "trustplane gateway: --server-ca CA_KEY is not a PEM certificate"],
    [["--server-ca", "/nonexistent/ca.crt"], "trustplane gateway: cannot read --server-ca /nonexistent/ca.crt: ENOENT"],
    [["--client-cert", "AGENT_CERT", "--client-key", "SERVER_KEY"], "trustplane gateway: --client-key SERVER_KEY is not the key of --client-cert AGENT_CERT"],
    [["--server-name", "bad_name"], 'trustplane gateway: --server-name must be a host name or IP address, got "bad_name"'],
  ])("%j is a usage error", async (argv, message) => {
    const paths: Record<string, string> = { SERVER_KEY: pki.serverKey, AGENT_CERT: pki.agentCert, CA_KEY: pki.caKey };
    const expand = (text: string) => text.replace(/\b(SERVER_KEY|AGENT_CERT|CA_KEY)\b/g, (name) => paths[name]!);
    await expect(gatewaySettings(argv.map(expand))).rejects.toThrow(new UsageError(expand(message)));
  });
});
