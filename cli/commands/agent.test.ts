// `trustplane agent` flags → the agent's options (nothing is started).
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createTestPki, type TestPki } from "../testing/test-pki.js";
import { UsageError } from "../usage-error.js";
import { VERSION } from "../version.js";
import { agentSettings } from "./agent.js";

let pki: TestPki;
let dir: string;
let tokenFile: string;

beforeAll(async () => {
  pki = await createTestPki();
  dir = await mkdtemp(join(tmpdir(), "trustplane-cli-agent-"));
  tokenFile = join(dir, "join-token");
  await writeFile(tokenFile, "the-token\n", { mode: 0o600 });
});
afterAll(async () => {
  await pki.cleanup();
  await rm(dir, { recursive: true, force: true });
});

describe("trustplane agent flags", () => {
  it("with a join token only: plaintext", async () => {
    expect(await agentSettings(["--hostname", "web-1", "--join-token-file", tokenFile, "--label", "env:prod", "--root", dir])).toEqual({
      servers: ["127.0.0.1:7443"],
      serverOrder: "random",
      hostname: "web-1",
      labels: { env: "prod" },
      root: dir,
      joinToken: "the-token",
      tls: undefined,
      updateCommand: undefined,
      version: VERSION,
    });
  });

  it("--server-order listed keeps the list's order; anything else is a usage error", async () => {
    const base = ["--hostname", "web-1", "--join-token-file", tokenFile, "--root", dir, "--server", "127.0.0.1:7001,127.0.0.1:7002"];
    const settings = await agentSettings([...base, "--server-order", "listed"]);
    expect([settings!.servers, settings!.serverOrder]).toEqual([["127.0.0.1:7001", "127.0.0.1:7002"], "listed"]);
    await expect(agentSettings([...base, "--server-order", "sticky"])).rejects.toThrow(
      new UsageError('trustplane agent: --server-order must be random or listed, got "sticky"'),
    );
  });

  it("mutual TLS: --tls-cert/--tls-key/--ca/--server-name, no join token needed", async () => {
    const settings = await agentSettings([
      ...["--hostname", "web-1", "--server", "10.0.0.5:7443", "--tls-cert", pki.agentCert, "--tls-key", pki.agentKey],
      ...["--ca", pki.caCert, "--server-name", "localhost"],
    ]);
    expect(settings!.joinToken).toBeUndefined();
    expect(settings!.tls).toEqual({
      certPem: await readFile(pki.agentCert),
      keyPem: await readFile(pki.agentKey),
      caPem: await readFile(pki.caCert),
      serverNameOverride: "localhost",
    });
  });

  it("TLS without a client certificate still needs the join token, and sends it", async () => {
    await expect(agentSettings(["--hostname", "web-1", "--ca", pki.caCert])).rejects.toThrow(
      new UsageError("trustplane agent: --join-token-file is required (see --help)"),
    );
    const settings = await agentSettings(["--hostname", "web-1", "--ca", pki.caCert, "--join-token-file", tokenFile]);
    expect([settings!.joinToken, settings!.tls]).toEqual(["the-token", { caPem: await readFile(pki.caCert) }]);
  });

  it.each([
    [["--tls-cert", "AGENT_CERT"], "trustplane agent: --tls-cert needs --tls-key"],
    [["--tls-cert", "AGENT_CERT", "--tls-key", "/nonexistent.key"], "trustplane agent: cannot read --tls-key /nonexistent.key: ENOENT"],
    [["--tls-cert", "AGENT_CERT", "--tls-key", "SERVER_KEY"], "trustplane agent: --tls-key SERVER_KEY is not the key of --tls-cert AGENT_CERT"],
    [["--tls-cert", "AGENT_CERT", "--tls-key", "AGENT_KEY", "--ca", "AGENT_KEY"], "trustplane agent: --ca AGENT_KEY is not a PEM certificate"],
  ])("%j is a usage error", async (argv, message) => {
    const paths: Record<string, string> = { AGENT_CERT: pki.agentCert, AGENT_KEY: pki.agentKey, SERVER_KEY: pki.serverKey };
    const expand = (text: string) => text.replace(/\b(AGENT_CERT|AGENT_KEY|SERVER_KEY)\b/g, (name) => paths[name]!);
    await expect(agentSettings(["--hostname", "web-1", ...argv.map(expand)])).rejects.toThrow(new UsageError(expand(message)));
  });
});
