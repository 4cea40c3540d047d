// The quick start: `trustplane up` then the README's curl commands, with the real
// curl binary, installing a CA into the embedded agent's sandbox; plus the CLI's
// help, usage errors and exit codes.
import { execFile } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { makeCa, makeLeaf, opensslVerifies } from "./fixtures/pki.js";
import { debianBundle } from "./harness/sandbox-root.js";
import { killAllProcesses, runTrustplane, TrustplaneProcess } from "./harness/trustplane-process.js";

function curl(args: string[]): Promise<{ status: number; body: any }> {
  return new Promise((resolve, reject) => {
    execFile("curl", ["-s", "-w", "\n%{http_code}", ...args], (error, stdout) => {
      if (error) return reject(error);
      const cut = stdout.lastIndexOf("\n");
      resolve({ status: Number(stdout.slice(cut + 1)), body: JSON.parse(stdout.slice(0, cut)) });
    });
  });
}

describe("trustplane up", () => {
  let dir: string;
  let up: TrustplaneProcess;
  let url: string;

  const start = async () => {
    up = new TrustplaneProcess([
      "up", "--data-dir", join(dir, "data"), "--http", "127.0.0.1:0", "--grpc", "127.0.0.1:0", "--hostname", "local-1", "--label", "env:dev",
    ]);
    url = String((await up.waitForMessage("trustplane up")).url);
  };

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), "trustplane-up-"));
    await start();
  });
  afterAll(async () => {
    await killAllProcesses();
    rmSync(dir, { recursive: true, force: true });
  });

  it("prints the URL and the admin key once, and keeps secrets 0600", async () => {
    const key = readFileSync(join(dir, "data", "admin-key"), "utf8").trim();
    expect(up.stdout).toContain(url);
    expect(up.stdout).toContain(key);
    expect(statSync(join(dir, "data", "admin-key")).mode & 0o777).toBe(0o600);
    expect(statSync(join(dir, "data", "join-token")).mode & 0o777).toBe(0o600);
    expect(readFileSync(join(dir, "data", "api-keys.json"), "utf8")).not.toContain(key);
  });

  it("installs a CA on the local sandboxed agent with the README's curl commands", async () => {
    const key = readFileSync(join(dir, "data", "admin-key"), "utf8").trim();
    const ca = makeCa({ commonName: "quick start CA" });
    writeFileSync(join(dir, "ca.pem"), ca.certPem);
    const auth = ["-H", `Authorization: Bearer ${key}`];

    const upload = await curl([...auth, "-F", "name=corp-ca.pem", "-F", `file=@${join(dir, "ca.pem")}`, `${url}/file`]);
    expect(upload.status).toBe(200);
    expect(upload.body).toMatchObject({ name: "corp-ca.pem", size: Buffer.byteLength(ca.certPem), changed: true });

    const install = await curl([
      ...auth, "-H", "Content-Type: application/json", "-d", '{"name":"corp-root","object":"corp-ca.pem"}', `${url}/node/_all/certificate/ca`,
    ]);
    expect(install.status).toBe(200);
    expect(install.body.results).toEqual([{ hostname: "local-1", status: "ok", name: "corp-root", changed: true }]);
    const bundle = debianBundle(join(dir, "data", "agent-root"));
    expect(opensslVerifies(bundle, makeLeaf(ca).certPem)).toBe(true);

    const bySelector = await curl([
      ...auth, "-H", "Content-Type: application/json", "-d", '{"name":"corp-root","object":"corp-ca.pem"}', `${url}/node/env:dev/certificate/ca`,
    ]);
    expect(bySelector.body.results).toEqual([{ hostname: "local-1", status: "ok", name: "corp-root", changed: false }]);
  });

  it("restarts on the same data dir with the same key and exits 0 on SIGTERM", async () => {
    const key = readFileSync(join(dir, "data", "admin-key"), "utf8").trim();
    await up.stop();
    expect(await up.exited).toEqual({ code: 0, signal: null });
    await start();
    expect(up.stdout).not.toContain(key);
    const health = await fetch(`${url}/health`);
    expect(health.status).toBe(200);
    const files = await fetch(`${url}/file`, { headers: { authorization: `Bearer ${key}` } });
    expect(files.status).toBe(200);
    expect(((await files.json()) as any).files.map((f: any) => f.name)).toEqual(["corp-ca.pem"]);
  });
});

describe("trustplane CLI", () => {
  it.each([
    [["--help"], 0, /Usage: trustplane <command>/],
    [["up", "--help"], 0, /Usage: trustplane up \[flags\]/],
    [["agent", "--help"], 0, /--join-token-file FILE/],
    [["keys", "create", "--help"], 0, /--role ROLE/],
  ])("trustplane %j prints help and exits %i", async (args, code, text) => {
    const result = await runTrustplane(args as string[]);
    expect(result.code).toBe(code);
    expect(result.stdout).toMatch(text as RegExp);
  });

  it.each([
    [["frobnicate"], /unknown command "frobnicate"/],
    [["server", "--grpc", "nope"], /--grpc must be HOST:PORT/],
    [["agent", "--bogus"], /Unknown option '--bogus'/],
    [["agent", "--server", "127.0.0.1:1"], /--join-token-file is required/],
    [["keys", "create", "--role", "root"], /--role must be one of read, write, admin/],
  ])("trustplane %j is a usage error: one line, exit 2", async (args, text) => {
    const result = await runTrustplane(args as string[]);
    expect(result.code).toBe(2);
    expect(result.stderr.trim().split("\n")).toHaveLength(1);
    expect(result.stderr).toMatch(text as RegExp);
  });
});
