// Issue #2, behaviours 1–3: install through REST → gateway → control plane →
// agents' streams → real update-ca-certificates in sandbox roots, and back.
import { readFileSync } from "node:fs";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { makeCa, makeLeaf, opensslVerifies, type TestCa } from "./fixtures/pki.js";
import { byHostname, Fleet } from "./harness/fleet.js";
import { debianBundle } from "./harness/sandbox-root.js";

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

describe("POST /node/{target}/certificate/ca", () => {
  let fleet: Fleet;
  let ca: TestCa;

  beforeAll(async () => {
    ca = makeCa({ commonName: "corp root" });
    fleet = await Fleet.start({
      agents: [
        { hostname: "prod-1", labels: { env: "prod", group: "web.dev.us-east" } },
        { hostname: "prod-2", labels: { env: "prod", group: "db" } },
        { hostname: "dev-1", labels: { env: "dev", group: "web" } },
      ],
    });
    const upload = await fleet.upload("corp-ca.pem", ca.certPem);
    expect(upload.status).toBe(200);
  });
  afterAll(async () => {
    await fleet?.close();
  });

  it("installs on every agent of _all, verifiably, and is idempotent", async () => {
    const first = await fleet.install("_all", "corp-root", "corp-ca.pem");
    expect(first.status).toBe(200);
    expect(first.body.job_id).toMatch(UUID);
    expect(byHostname(first.body.results)).toEqual([
      { hostname: "dev-1", status: "ok", name: "corp-root", changed: true },
      { hostname: "prod-1", status: "ok", name: "corp-root", changed: true },
      { hostname: "prod-2", status: "ok", name: "corp-root", changed: true },
    ]);
    const leaf = makeLeaf(ca);
    for (const agent of fleet.agents.values()) {
      const bundle = debianBundle(agent.root);
      expect(readFileSync(bundle, "utf8")).toContain(ca.certPem.trim());
      expect(opensslVerifies(bundle, leaf.certPem)).toBe(true);
    }

    const again = await fleet.install("_all", "corp-root", "corp-ca.pem");
    expect(again.status).toBe(200);
    expect(again.body.job_id).toMatch(UUID);
    expect(again.body.job_id).not.toBe(first.body.job_id);
    expect(byHostname(again.body.results).map((r: any) => [r.hostname, r.status, r.changed])).toEqual([
      ["dev-1", "ok", false],
      ["prod-1", "ok", false],
      ["prod-2", "ok", false],
    ]);
  });

  it("routes by selector, hostname and _any", async () => {
    const other = makeCa({ commonName: "routing CA" });
    expect((await fleet.upload("routing.pem", other.certPem)).status).toBe(200);

    const prod = await fleet.install("env:prod", "routing", "routing.pem");
    expect(prod.status).toBe(200);
    expect(byHostname(prod.body.results).map((r: any) => r.hostname)).toEqual(["prod-1", "prod-2"]);

    const hierarchy = await fleet.install("group:web", "routing", "routing.pem");
    expect(byHostname(hierarchy.body.results).map((r: any) => [r.hostname, r.changed])).toEqual([
      ["dev-1", true],
      ["prod-1", false],
    ]);

    const both = await fleet.install("env:prod,group:db", "routing", "routing.pem");
    expect(both.body.results.map((r: any) => r.hostname)).toEqual(["prod-2"]);

    const one = await fleet.install("dev-1", "routing", "routing.pem");
    expect(one.body.results).toEqual([{ hostname: "dev-1", status: "ok", name: "routing", changed: false }]);

    const any = await fleet.install("_any", "routing", "routing.pem");
    expect(any.status).toBe(200);
    expect(any.body.results).toHaveLength(1);
    expect(["prod-1", "prod-2", "dev-1"]).toContain(any.body.results[0].hostname);

    const unknownHost = await fleet.install("nope-1", "routing", "routing.pem");
    expect(unknownHost.status).toBe(400);
    expect(unknownHost.body).toEqual({ error: 'target agent "nope-1" not found', details: expect.any(String), code: 400 });

    const noMatch = await fleet.install("env:staging", "routing", "routing.pem");
    expect(noMatch.status).toBe(400);
    expect(noMatch.body.code).toBe(400);
    expect(noMatch.body.error).toContain("env:staging");

    const badSelector = await fleet.install("env:pr*d", "routing", "routing.pem");
    expect(badSelector.status).toBe(400);
    expect(badSelector.body.code).toBe(400);
  });

  it("replaces the CA when the object changes under the same name", async () => {
    const first = makeCa({ commonName: "rotating v1" });
    const second = makeCa({ commonName: "rotating v2" });
    expect((await fleet.upload("rotating.pem", first.certPem)).status).toBe(200);
    expect((await fleet.install("prod-1", "rotating", "rotating.pem")).body.results[0].changed).toBe(true);

    const conflict = await fleet.upload("rotating.pem", second.certPem);
    expect(conflict.status).toBe(409);
    expect(conflict.body.code).toBe(409);
    const forced = await fleet.upload("rotating.pem", second.certPem, "?force=true");
    expect(forced.status).toBe(200);
    expect(forced.body.changed).toBe(true);

    const replaced = await fleet.install("prod-1", "rotating", "rotating.pem");
    expect(replaced.body.results).toEqual([{ hostname: "prod-1", status: "ok", name: "rotating", changed: true }]);
    const bundle = debianBundle(fleet.agent("prod-1").root);
    const text = readFileSync(bundle, "utf8");
    expect(text).toContain(second.certPem.trim());
    expect(text).not.toContain(first.certPem.trim());
    expect(opensslVerifies(bundle, makeLeaf(second).certPem)).toBe(true);
    expect(opensslVerifies(bundle, makeLeaf(first).certPem)).toBe(false);
  });
});
