// Issue #5, behaviours 1–3: mutual TLS binds an agent to its certificate's name and
// HTTPS works with curl --cacert; a silently dead agent is found out by keepalive;
// SIGTERM lets a running job finish before the control plane exits 0.
import { execFile } from "node:child_process";
import { existsSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { makeCa } from "./fixtures/pki.js";
import { Fleet, writeScript } from "./harness/fleet.js";
import { makeSandboxRoot } from "./harness/sandbox-root.js";
import { killAllProcesses, runTrustplane, TrustplaneProcess } from "./harness/trustplane-process.js";
import { until } from "./harness/until.js";

function curl(args: string[]): Promise<{ code: number; status: number; body: string }> {
  return new Promise((resolve) => {
    execFile("curl", ["-s", "-w", "\n%{http_code}", ...args], (error, stdout) => {
      const cut = stdout.lastIndexOf("\n");
      resolve({ code: error ? ((error as { code?: number }).code ?? 1) : 0, status: Number(stdout.slice(cut + 1)), body: stdout.slice(0, cut) });
    });
  });
}

describe("mutual TLS and HTTPS", () => {
  let fleet: Fleet;
  let pki: string;
  let server: TrustplaneProcess;
  let gateway: TrustplaneProcess;
  let grpc: string;
  let url: string;

  const agent = (hostname: string, certName: string | null) => {
    const root = makeSandboxRoot(join(fleet.dir, "tls-roots", hostname));
    const args = ["agent", "--server", grpc, "--hostname", hostname, "--root", root, "--ca", join(pki, "ca.crt"), "--server-name", "localhost"];
    if (certName) args.push("--tls-cert", join(pki, "agents", `${certName}.crt`), "--tls-key", join(pki, "agents", `${certName}.key`));
    else args.push("--join-token-file", fleet.joinTokenFile);
    return new TrustplaneProcess(args);
  };

  beforeAll(async () => {
    fleet = await Fleet.start({ agents: [] });
    pki = join(fleet.dir, "pki");
    for (const args of [
      ["pki", "init", "--dir", pki],
      ["pki", "issue-server", "--dir", pki, "--host", "localhost", "--ip", "127.0.0.1"],
      ["pki", "issue-agent", "--dir", pki, "--hostname", "web-1"],
    ]) {
      const result = await runTrustplane(args);
      expect(result.code, result.stderr).toBe(0);
    }
    server = new TrustplaneProcess([
      "server", "--grpc", "127.0.0.1:0", "--data-dir", join(fleet.dir, "tls-server"), "--api-keys", fleet.keysFile,
      "--join-token-file", fleet.joinTokenFile, "--tls-cert", join(pki, "server.crt"), "--tls-key", join(pki, "server.key"),
      "--client-ca", join(pki, "ca.crt"),
    ]);
    grpc = String((await server.waitForMessage("control plane listening")).address);
    gateway = new TrustplaneProcess([
      "gateway", "--http", "127.0.0.1:0", "--server", grpc, "--tls-cert", join(pki, "server.crt"), "--tls-key", join(pki, "server.key"),
      "--server-ca", join(pki, "ca.crt"), "--server-name", "localhost",
    ]);
    url = String((await gateway.waitForMessage("gateway listening")).url);
  });
  afterAll(async () => {
    await killAllProcesses();
    await fleet?.close();
  });

  it("lets an agent register only under its certificate's name, and refuses one without a certificate", async () => {
    const good = agent("web-1", "web-1");
    await good.waitForMessage("connected to the control plane");

    const impostor = agent("web-2", "web-1");
    const refusal = await impostor.waitForLog((line) => /refused/.test(String(line.msg)));
    expect(JSON.stringify(refusal)).toContain('not \\"web-2\\"');
    expect(impostor.lines.some((line) => line.msg === "connected to the control plane")).toBe(false);

    const anonymous = agent("web-3", null);
    await anonymous.waitForLog((line) => /refused|TLS handshake/.test(String(line.msg)));
    expect(anonymous.lines.some((line) => line.msg === "connected to the control plane")).toBe(false);
    await impostor.stop();
    await anonymous.stop();
  });

  it("serves the REST API over HTTPS to curl --cacert, through to the agent", async () => {
    expect(url).toMatch(/^https:\/\/127\.0\.0\.1:\d+$/);
    const ca = join(pki, "ca.crt");
    const health = await curl(["--cacert", ca, `${url}/health`]);
    expect(health.status).toBe(200);
    const insecure = await curl([`${url}/health`]);
    expect(insecure.code).not.toBe(0);

    const pem = join(fleet.dir, "tls-ca.pem");
    writeFileSync(pem, makeCa({ commonName: "over TLS" }).certPem);
    const auth = ["-H", `Authorization: Bearer ${fleet.adminKey}`];
    expect((await curl(["--cacert", ca, ...auth, "-F", "name=tls.pem", "-F", `file=@${pem}`, `${url}/file`])).status).toBe(200);
    const install = await curl([
      "--cacert", ca, ...auth, "-H", "Content-Type: application/json", "-d", '{"name":"tls-root","object":"tls.pem"}', `${url}/node/web-1/certificate/ca`,
    ]);
    expect(install.status).toBe(200);
    expect(JSON.parse(install.body).results).toEqual([{ hostname: "web-1", status: "ok", name: "tls-root", changed: true }]);
  });
});

describe("faults", () => {
  let fleet: Fleet;
  let gate: string;

  beforeAll(async () => {
    fleet = await Fleet.start({ agents: [{ hostname: "steady-1" }] });
    gate = join(fleet.dir, "gate");
    const gated = writeScript(join(fleet.dir, "scripts"), "gated.sh", `while [ ! -e "${gate}" ]; do sleep 0.02; done\nexec update-ca-certificates "$@"`);
    await fleet.startAgent({ hostname: "gated-1", updateCommand: gated });
    await fleet.startAgent({ hostname: "frozen-1" });
    expect((await fleet.upload("ca.pem", makeCa({ commonName: "faults CA" }).certPem)).status).toBe(200);
  });
  afterAll(async () => {
    fleet?.agent("frozen-1").process.signal("SIGCONT");
    writeFileSync(gate, "");
    await fleet?.close();
  });

  it("finds a SIGSTOPped agent offline within 30 s and fails its job without waiting for the timeout", async () => {
    const frozen = fleet.agent("frozen-1").process;
    frozen.signal("SIGSTOP");
    const stoppedAt = Date.now();
    const answer = await fleet.install("frozen-1", "frozen", "ca.pem", "?timeout=300");
    const answeredAfter = Date.now() - stoppedAt;
    expect(answer.body.results).toEqual([
      { hostname: "frozen-1", status: "failed", name: "frozen", changed: false, error: expect.stringMatching(/^agent (disconnected|offline)/) },
    ]);
    expect(answeredAfter).toBeLessThan(60_000);
    await until(async () => (await fleet.rest("GET", "/agent/frozen-1")).body.state === "offline", "frozen-1 offline", 35_000);
    frozen.signal("SIGCONT");
  }, 90_000);

  it("on SIGTERM refuses new jobs with 503, finishes the running one, then exits 0", async () => {
    const lines: any[] = [];
    const stream = (async () => {
      for await (const { line } of fleet.ndjson("POST", "/node/gated-1/certificate/ca", { name: "graceful", object: "ca.pem" })) lines.push(line);
    })();
    await until(() => lines.length >= 1, "the job to start");
    fleet.server.signal("SIGTERM");
    await fleet.server.waitForMessage("shutting down");
    await until(async () => (await fleet.install("steady-1", "late", "ca.pem")).status === 503, "new jobs to be refused");
    const refused = await fleet.install("steady-1", "late", "ca.pem");
    expect(refused.body).toEqual({ error: expect.stringMatching(/shutting down|unavailable/), details: expect.any(String), code: 503 });

    writeFileSync(gate, "");
    await stream;
    expect(lines.slice(1)).toEqual([
      { hostname: "gated-1", status: "ok", name: "graceful", changed: true },
      expect.objectContaining({ summary: { ok: 1, failed: 0, skipped: 0 } }),
    ]);
    expect(await fleet.server.exited).toEqual({ code: 0, signal: null });
    expect(existsSync(gate)).toBe(true);
  });
});
