// Issue #3, behaviour 5: every supported OS family, through the whole stack. The
// families other than Debian cannot run their tools here, so each agent runs a
// stand-in rebuild command (--update-command) that records its arguments and
// writes the family's bundle from its anchors directory.
import { existsSync, readFileSync, statSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { makeCa } from "./fixtures/pki.js";
import { Fleet, writeScript } from "./harness/fleet.js";

interface Family {
  hostname: string;
  osRelease: string;
  anchors: string;
  bundle: string;
  /** Arguments the family's rebuild command gets for an add and for a remove. */
  addArgs: string;
  removeArgs: string;
}

const FAMILIES: Family[] = [
  {
    hostname: "rocky-1",
    osRelease: 'NAME="Rocky Linux"\nID="rocky"\nID_LIKE="rhel centos fedora"\nVERSION_ID="9.4"\n',
    anchors: "etc/pki/ca-trust/source/anchors",
    bundle: "etc/pki/ca-trust/extracted/pem/tls-ca-bundle.pem",
    addArgs: "extract",
    removeArgs: "extract",
  },
  {
    hostname: "amzn-1",
    osRelease: 'NAME="Amazon Linux"\nID="amzn"\nID_LIKE="fedora"\nVERSION_ID="2023"\n',
    anchors: "etc/pki/ca-trust/source/anchors",
    bundle: "etc/pki/ca-trust/extracted/pem/tls-ca-bundle.pem",
    addArgs: "extract",
    removeArgs: "extract",
  },
  {
    hostname: "suse-1",
    osRelease: 'NAME="openSUSE Leap"\nID="opensuse-leap"\nID_LIKE="suse opensuse"\nVERSION_ID="15.6"\n',
    anchors: "etc/pki/trust/anchors",
    bundle: "var/lib/ca-certificates/ca-bundle.pem",
    addArgs: "",
    removeArgs: "",
  },
  {
    hostname: "arch-1",
    osRelease: 'NAME="Arch Linux"\nID=arch\n',
    anchors: "etc/ca-certificates/trust-source/anchors",
    bundle: "etc/ca-certificates/extracted/tls-ca-bundle.pem",
    addArgs: "",
    removeArgs: "",
  },
];

describe("trust-store families", () => {
  let fleet: Fleet;
  const v1 = makeCa({ commonName: "family v1" });
  const v2 = makeCa({ commonName: "family v2" });

  beforeAll(async () => {
    fleet = await Fleet.start({ agents: [] });
    const scripts = join(fleet.dir, "scripts");
    for (const family of FAMILIES) {
      const standIn = writeScript(
        scripts,
        `rebuild-${family.hostname}.sh`,
        [
          'echo "$*" >> "$TRUSTPLANE_ROOT/rebuild.log"',
          `mkdir -p "$(dirname "$TRUSTPLANE_ROOT/${family.bundle}")"`,
          `cat "$TRUSTPLANE_ROOT/${family.anchors}"/*.crt > "$TRUSTPLANE_ROOT/${family.bundle}" 2>/dev/null || : > "$TRUSTPLANE_ROOT/${family.bundle}"`,
        ].join("\n"),
      );
      await fleet.startAgent({ hostname: family.hostname, osRelease: family.osRelease, updateCommand: standIn, labels: { fam: "yes" } });
    }
    await fleet.startAgent({ hostname: "plan9-1", osRelease: 'NAME="Plan 9"\nID=plan9\n', labels: { fam: "yes" } });
    expect((await fleet.upload("v1.pem", v1.certPem)).status).toBe(200);
    expect((await fleet.upload("v2.pem", v2.certPem)).status).toBe(200);
  });
  afterAll(async () => {
    await fleet?.close();
  });

  const rebuildLog = (family: Family) => readFileSync(join(fleet.agent(family.hostname).root, "rebuild.log"), "utf8").split("\n").slice(0, -1);

  it("installs, updates and deletes where each distribution expects it", async () => {
    const install = await fleet.install("fam:yes", "corp-root", "v1.pem");
    expect(install.status).toBe(200);
    const byHost = Object.fromEntries(install.body.results.map((r: any) => [r.hostname, r]));
    expect(byHost["plan9-1"]).toEqual({
      hostname: "plan9-1", status: "skipped", name: "corp-root", changed: false, error: 'unsupported OS "plan9": no known trust store',
    });
    for (const family of FAMILIES) {
      expect(byHost[family.hostname]).toEqual({ hostname: family.hostname, status: "ok", name: "corp-root", changed: true });
      const anchor = join(fleet.agent(family.hostname).root, family.anchors, "trustplane-corp-root.crt");
      expect(readFileSync(anchor, "utf8")).toBe(v1.certPem);
      expect(statSync(anchor).mode & 0o777).toBe(0o644);
      expect(readFileSync(join(fleet.agent(family.hostname).root, family.bundle), "utf8")).toContain(v1.certPem.trim());
      expect(rebuildLog(family)).toEqual([family.addArgs]);
    }

    const update = await fleet.rest("PUT", "/node/fam:yes/certificate/ca/corp-root", { json: { object: "v2.pem" } });
    for (const family of FAMILIES) {
      expect(update.body.results.find((r: any) => r.hostname === family.hostname)).toMatchObject({ status: "ok", changed: true });
      const root = fleet.agent(family.hostname).root;
      expect(readFileSync(join(root, family.anchors, "trustplane-corp-root.crt"), "utf8")).toBe(v2.certPem);
      expect(readFileSync(join(root, family.bundle), "utf8")).not.toContain(v1.certPem.trim());
      expect(rebuildLog(family)).toHaveLength(2);
    }

    const remove = await fleet.rest("DELETE", "/node/fam:yes/certificate/ca/corp-root");
    for (const family of FAMILIES) {
      expect(remove.body.results.find((r: any) => r.hostname === family.hostname)).toMatchObject({ status: "ok", changed: true });
      const root = fleet.agent(family.hostname).root;
      expect(existsSync(join(root, family.anchors, "trustplane-corp-root.crt"))).toBe(false);
      expect(readFileSync(join(root, family.bundle), "utf8")).not.toContain(v2.certPem.trim());
      expect(rebuildLog(family).at(-1)).toBe(family.removeArgs);
    }
    expect(remove.body.results.find((r: any) => r.hostname === "plan9-1")).toMatchObject({ status: "skipped" });
  });
});
