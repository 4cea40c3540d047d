// Client commands against an https:// gateway signed by a private CA: trusted with
// --ca or TRUSTPLANE_CA, refused without; a bad --ca is a usage error.
import { readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { fleetCommand } from "../commands/fleet.js";
import { CapturedIo } from "../testing/captured-io.js";
import { FakeGateway } from "../testing/fake-gateway.js";
import { createTestPki, type TestPki } from "../testing/test-pki.js";
import { UsageError } from "../usage-error.js";

let pki: TestPki;
let gateway: FakeGateway;

beforeAll(async () => {
  pki = await createTestPki();
  await writeFile(join(pki.dir, "empty.pem"), "");
  gateway = await FakeGateway.start({ tls: { certPem: await readFile(pki.serverCert), keyPem: await readFile(pki.serverKey) } });
  gateway.on("listAgents", () => ({ agents: [{ hostname: "web-1" }] }));
});
afterAll(async () => {
  await gateway.close();
  await pki.cleanup();
});

describe("an https:// gateway", () => {
  it("is trusted with --ca, or with TRUSTPLANE_CA", async () => {
    expect(gateway.url).toMatch(/^https:\/\/127\.0\.0\.1:\d+$/);
    const withFlag = new CapturedIo({ TRUSTPLANE_URL: gateway.url, TRUSTPLANE_API_KEY: "tp_key" });
    expect(await fleetCommand(["list", "--json", "--ca", pki.caCert], withFlag)).toBe(0);
    expect(JSON.parse(withFlag.stdout.text).agents.map((agent: { hostname: string }) => agent.hostname)).toEqual(["web-1"]);

    const withEnv = new CapturedIo({ TRUSTPLANE_URL: gateway.url, TRUSTPLANE_API_KEY: "tp_key", TRUSTPLANE_CA: pki.caCert });
    expect(await fleetCommand(["list", "--json"], withEnv)).toBe(0);
    expect(gateway.calls.map((call) => call.authorization)).toEqual(["Bearer tp_key", "Bearer tp_key"]);
  });

  it("without the CA: exit 3, the certificate is not trusted", async () => {
    const io = new CapturedIo({ TRUSTPLANE_URL: gateway.url, TRUSTPLANE_API_KEY: "tp_key" });
    expect(await fleetCommand(["list"], io)).toBe(3);
    expect(io.stderr.text).toBe(
      "trustplane: unable to verify the first certificate (INTERNAL); a gateway with a private CA needs --ca FILE or TRUSTPLANE_CA\n",
    );
  });

  it.each([
    [["--ca", "/nonexistent/ca.crt"], {}, "trustplane agent list: cannot read --ca /nonexistent/ca.crt: ENOENT"],
    [["--ca", "EMPTY"], {}, "trustplane agent list: --ca EMPTY is not a PEM certificate"],
    [[], { TRUSTPLANE_CA: "/nonexistent/ca.crt" }, "trustplane agent list: cannot read TRUSTPLANE_CA /nonexistent/ca.crt: ENOENT"],
    [["--ca", "CA", "--url", "http://127.0.0.1:8080"], {}, 'trustplane agent list: --ca is for an https:// gateway URL, got "http://127.0.0.1:8080"'],
  ])("%j %j is a usage error", async (argv, env, message) => {
    const expand = (text: string) => text.replace(/\bEMPTY\b/g, join(pki.dir, "empty.pem")).replace(/^CA$/, pki.caCert);
    const io = new CapturedIo({ TRUSTPLANE_URL: gateway.url, TRUSTPLANE_API_KEY: "tp_key", ...env });
    await expect(fleetCommand(["list", ...argv.map(expand)], io)).rejects.toThrow(new UsageError(expand(message)));
  });

  it("TRUSTPLANE_CA is ignored for an http:// gateway", async () => {
    const plain = await FakeGateway.start();
    plain.on("listAgents", () => ({ agents: [] }));
    try {
      const io = new CapturedIo({ TRUSTPLANE_URL: plain.url, TRUSTPLANE_API_KEY: "tp_key", TRUSTPLANE_CA: "/nonexistent/ca.crt" });
      expect(await fleetCommand(["list", "--json"], io)).toBe(0);
      expect(io.stdout.text).toBe('{"agents":[]}\n');
    } finally {
      await plain.close();
    }
  });
});
