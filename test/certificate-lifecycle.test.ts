// Issue #3, behaviours 1–4: list, update, delete and dry runs through the whole
// stack, with the real update-ca-certificates in each agent's sandbox root.
import { X509Certificate } from "node:crypto";
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { makeCa, makeLeaf, opensslVerifies } from "./fixtures/pki.js";
import { byHostname, Fleet } from "./harness/fleet.js";
import { debianAnchor, debianBundle, treeSnapshot } from "./harness/sandbox-root.js";

const HOSTS = ["life-1", "life-2", "life-3"];

describe("the CA lifecycle", () => {
  let fleet: Fleet;
  const v1 = makeCa({ commonName: "lifecycle v1" });
  const v2 = makeCa({ commonName: "lifecycle v2" });
  const fingerprint = (pem: string) => new X509Certificate(pem).fingerprint256;

  const list = async (target: string, query = "") => {
    const answer = await fleet.rest("GET", `/node/${target}/certificate/ca${query}`);
    expect(answer.status).toBe(200);
    return answer.body;
  };
  const snapshots = () => HOSTS.map((host) => treeSnapshot(fleet.agent(host).root));

  beforeAll(async () => {
    fleet = await Fleet.start({ agents: HOSTS.map((hostname) => ({ hostname, labels: { role: "life" } })) });
    expect((await fleet.upload("v1.pem", v1.certPem)).status).toBe(200);
    expect((await fleet.upload("v2.pem", v2.certPem)).status).toBe(200);
  });
  afterAll(async () => {
    await fleet?.close();
  });

  it("installs, lists as custom with object and fingerprint, deletes, and the CA is no longer trusted", async () => {
    const installed = await fleet.install("role:life", "corp-root", "v1.pem");
    expect(installed.body.results.map((r: any) => [r.status, r.changed])).toEqual(HOSTS.map(() => ["ok", true]));

    const listed = await list("role:life", "?source=custom");
    expect(listed.job_id).toMatch(/^[0-9a-f-]{36}$/);
    for (const result of byHostname<any>(listed.results)) {
      expect(result).toMatchObject({ status: "ok", changed: false });
      expect(result.certificates).toEqual([
        {
          name: "corp-root",
          source: "custom",
          object: "v1.pem",
          sha256: expect.stringMatching(/^[0-9a-f]{64}$/),
          subject: expect.stringContaining("lifecycle v1"),
          fingerprint_sha256: fingerprint(v1.certPem),
          not_after: new Date(new X509Certificate(v1.certPem).validTo).toISOString(),
        },
      ]);
    }

    const deleted = await fleet.rest("DELETE", "/node/role:life/certificate/ca/corp-root");
    expect(deleted.status).toBe(200);
    expect(byHostname(deleted.body.results)).toEqual(
      HOSTS.map((hostname) => ({ hostname, status: "ok", name: "corp-root", changed: true })),
    );
    const after = await list("role:life", "?source=custom");
    for (const result of after.results) expect(result.certificates ?? []).toEqual([]);
    const leaf = makeLeaf(v1);
    for (const host of HOSTS) expect(opensslVerifies(debianBundle(fleet.agent(host).root), leaf.certPem)).toBe(false);

    const again = await fleet.rest("DELETE", "/node/role:life/certificate/ca/corp-root");
    expect(again.body.results.map((r: any) => [r.status, r.changed])).toEqual(HOSTS.map(() => ["ok", false]));
  });

  it("updates every host that has the CA and fails the one that does not", async () => {
    expect((await fleet.install("life-1", "rotate", "v1.pem")).body.results[0].changed).toBe(true);
    expect((await fleet.install("life-2", "rotate", "v1.pem")).body.results[0].changed).toBe(true);

    const updated = await fleet.rest("PUT", "/node/_all/certificate/ca/rotate", { json: { object: "v2.pem" } });
    expect(updated.status).toBe(200);
    expect(byHostname(updated.body.results)).toEqual([
      { hostname: "life-1", status: "ok", name: "rotate", changed: true },
      { hostname: "life-2", status: "ok", name: "rotate", changed: true },
      { hostname: "life-3", status: "failed", name: "rotate", changed: false, error: 'certificate "rotate" is not installed' },
    ]);
    for (const host of ["life-1", "life-2"]) {
      const bundle = debianBundle(fleet.agent(host).root);
      expect(readFileSync(bundle, "utf8")).toContain(v2.certPem.trim());
      expect(readFileSync(bundle, "utf8")).not.toContain(v1.certPem.trim());
      expect(opensslVerifies(bundle, makeLeaf(v2).certPem)).toBe(true);
    }
    expect(existsSync(debianAnchor(fleet.agent("life-3").root, "rotate"))).toBe(false);
  });

  it("dry runs report what would change and leave every tree byte-identical", async () => {
    const before = snapshots();

    const install = await fleet.install("_all", "dry", "v1.pem", "?dry_run=true");
    expect(install.status).toBe(200);
    expect(install.body.dry_run).toBe(true);
    expect(install.body.results.map((r: any) => [r.status, r.changed])).toEqual(HOSTS.map(() => ["ok", true]));

    const sameInstall = await fleet.install("life-1", "rotate", "v2.pem", "?dry_run=true");
    expect(sameInstall.body.results).toEqual([{ hostname: "life-1", status: "ok", name: "rotate", changed: false }]);

    const update = await fleet.rest("PUT", "/node/_all/certificate/ca/rotate?dry_run=true", { json: { object: "v1.pem" } });
    expect(byHostname(update.body.results).map((r: any) => [r.hostname, r.status, r.changed])).toEqual([
      ["life-1", "ok", true],
      ["life-2", "ok", true],
      ["life-3", "failed", false],
    ]);

    const remove = await fleet.rest("DELETE", "/node/_all/certificate/ca/rotate?dry_run=true");
    expect(byHostname(remove.body.results).map((r: any) => [r.hostname, r.changed])).toEqual([
      ["life-1", true],
      ["life-2", true],
      ["life-3", false],
    ]);

    expect(snapshots()).toEqual(before);
  });

  it("lists a hand-dropped anchor as unmanaged and never deletes it", async () => {
    const root = fleet.agent("life-3").root;
    const dropped = makeCa({ commonName: "dropped by hand" });
    const path = join(root, "usr", "local", "share", "ca-certificates", "handmade.crt");
    mkdirSync(dirname(path), { recursive: true });
    writeFileSync(path, dropped.certPem);

    const listed = await list("life-3", "?source=unmanaged");
    expect(listed.results[0].certificates).toEqual([
      {
        name: "handmade.crt",
        source: "unmanaged",
        subject: expect.stringContaining("dropped by hand"),
        fingerprint_sha256: fingerprint(dropped.certPem),
        not_after: expect.any(String),
      },
    ]);

    const byName = await fleet.rest("DELETE", "/node/life-3/certificate/ca/handmade");
    expect(byName.body.results).toEqual([{ hostname: "life-3", status: "ok", name: "handmade", changed: false }]);
    const byFileName = await fleet.rest("DELETE", "/node/life-3/certificate/ca/handmade.crt");
    expect(byFileName.status).toBe(400);
    expect(readFileSync(path, "utf8")).toBe(dropped.certPem);
  });

  it("lists system CAs with their path below the system directory", async () => {
    const root = fleet.agent("life-2").root;
    const system = makeCa({ commonName: "distro root" });
    const path = join(root, "usr", "share", "ca-certificates", "mozilla", "Distro_Root.crt");
    mkdirSync(dirname(path), { recursive: true });
    writeFileSync(path, system.certPem);

    const listed = await list("life-2");
    const certificates = listed.results[0].certificates;
    expect(certificates.map((c: any) => [c.source, c.name])).toEqual([
      ["custom", "rotate"],
      ["system", "mozilla/Distro_Root.crt"],
    ]);
    expect(certificates[1].fingerprint_sha256).toBe(fingerprint(system.certPem));
    const systemOnly = await list("life-2", "?source=system");
    expect(systemOnly.results[0].certificates.map((c: any) => c.name)).toEqual(["mozilla/Distro_Root.crt"]);
  });
});
