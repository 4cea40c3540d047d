// Issue #4: the CLI's client commands against a real control plane and gateway,
// as a script would use them (--json and exit codes).
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { makeCa } from "./fixtures/pki.js";
import { byHostname, Fleet } from "./harness/fleet.js";
import { runTrustplane } from "./harness/trustplane-process.js";

describe("trustplane client commands", () => {
  let fleet: Fleet;
  let env: NodeJS.ProcessEnv;
  let pemPath: string;

  beforeAll(async () => {
    fleet = await Fleet.start({ agents: [{ hostname: "cli-1", labels: { tier: "a" } }, { hostname: "cli-2", labels: { tier: "a" } }] });
    env = { TRUSTPLANE_URL: fleet.url, TRUSTPLANE_API_KEY: fleet.adminKey };
    pemPath = join(fleet.dir, "cli-ca.pem");
    writeFileSync(pemPath, makeCa({ commonName: "cli CA" }).certPem);
  });
  afterAll(async () => {
    await fleet?.close();
  });

  const json = async (args: string[], expectedCode = 0) => {
    const result = await runTrustplane(args, env);
    expect(result.code, result.stderr).toBe(expectedCode);
    return JSON.parse(result.stdout);
  };

  it("uploads, installs, lists and reads the job back", async () => {
    const upload = await json(["file", "upload", "--name", "cli-ca.pem", "--file", pemPath, "--json"]);
    expect(upload).toMatchObject({ name: "cli-ca.pem", changed: true });

    const install = await json(["ca", "install", "--target", "tier:a", "--name", "cli-root", "--object", "cli-ca.pem", "--json"]);
    expect(byHostname(install.results)).toEqual([
      { hostname: "cli-1", status: "ok", name: "cli-root", changed: true },
      { hostname: "cli-2", status: "ok", name: "cli-root", changed: true },
    ]);

    const job = await json(["job", "get", install.job_id, "--json"]);
    expect(job).toMatchObject({ id: install.job_id, state: "completed", summary: { ok: 2, failed: 0, skipped: 0 } });

    const list = await json(["ca", "list", "--target", "cli-1", "--source", "custom", "--json"]);
    expect(list.results[0].certificates.map((c: any) => [c.name, c.object])).toEqual([["cli-root", "cli-ca.pem"]]);

    const agents = await json(["agent", "list", "--json"]);
    expect(agents.agents.map((a: any) => [a.hostname, a.state])).toEqual([
      ["cli-1", "online"],
      ["cli-2", "online"],
    ]);
  });

  it("exits 1 when a host failed and 3 when the API refuses", async () => {
    await fleet.agent("cli-2").process.stop();
    const partial = await json(["ca", "install", "--target", "tier:a", "--name", "cli-root", "--object", "cli-ca.pem", "--json"], 1);
    expect(byHostname(partial.results).map((r: any) => [r.hostname, r.status])).toEqual([
      ["cli-1", "ok"],
      ["cli-2", "failed"],
    ]);

    const reader = await fleet.createKey("read");
    const refused = await runTrustplane(["ca", "delete", "--target", "_all", "--name", "cli-root"], { ...env, TRUSTPLANE_API_KEY: reader });
    expect(refused.code).toBe(3);
    expect(refused.stderr).toMatch(/PERMISSION_DENIED/);
  });
});
