// RHEL, SUSE, Arch (and Debian's arguments) with a stand-in rebuild tool that
// records its argv and TRUSTPLANE_ROOT and writes the bundle from the anchors dir.
import { execFileSync } from "node:child_process";
import { X509Certificate } from "node:crypto";
import { lstat, mkdir, readFile, stat, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { afterEach, beforeAll, describe, expect, it } from "vitest";
import { CertificateSource, ResultStatus } from "../gen/trustplane/v1/common_pb.js";
import { makeCa, opensslVerifies, makeLeaf, type TestCa, type TestLeaf } from "../test/fixtures/pki.js";
import {
  deleteCommand,
  installCommand,
  listCommand,
  makeSandboxRoot,
  makeStandIn,
  processorFor,
  removeDir,
} from "./testing/sandbox-root.js";

interface FamilyCase {
  family: string;
  osRelease: string;
  anchorsDir: string;
  bundlePath: string;
  systemDir: string;
  installArgs: (root: string) => string[];
  deleteArgs: (root: string) => string[];
}

const debianSandboxArgs = (root: string) => [
  "--certsconf", `${root}/etc/ca-certificates.conf`,
  "--certsdir", `${root}/usr/share/ca-certificates`,
  "--localcertsdir", `${root}/usr/local/share/ca-certificates`,
  "--etccertsdir", `${root}/etc/ssl/certs`,
  "--hooksdir", `${root}/etc/ca-certificates/update.d`,
];

const FAMILIES: FamilyCase[] = [
  {
    family: "rhel",
    osRelease: 'ID="rocky"\nID_LIKE="rhel centos fedora"\nVERSION_ID="9.4"\n',
    anchorsDir: "/etc/pki/ca-trust/source/anchors",
    bundlePath: "/etc/pki/ca-trust/extracted/pem/tls-ca-bundle.pem",
    systemDir: "/usr/share/pki/ca-trust-source",
    installArgs: () => ["extract"],
    deleteArgs: () => ["extract"],
  },
  {
    family: "suse",
    osRelease: 'ID="opensuse-leap"\nID_LIKE="suse opensuse"\n',
    anchorsDir: "/etc/pki/trust/anchors",
    bundlePath: "/var/lib/ca-certificates/ca-bundle.pem",
    systemDir: "/usr/share/pki/trust/anchors",
    installArgs: () => [],
    deleteArgs: () => [],
  },
  {
    family: "arch",
    osRelease: "ID=arch\n",
    anchorsDir: "/etc/ca-certificates/trust-source/anchors",
    bundlePath: "/etc/ca-certificates/extracted/tls-ca-bundle.pem",
    systemDir: "/usr/share/ca-certificates/trust-source",
    installArgs: () => [],
    deleteArgs: () => [],
  },
  {
    family: "debian (ID_LIKE ubuntu)",
    osRelease: "ID=linuxmint\nID_LIKE=\"ubuntu debian\"\n",
    anchorsDir: "/usr/local/share/ca-certificates",
    bundlePath: "/etc/ssl/certs/ca-certificates.crt",
    systemDir: "/usr/share/ca-certificates",
    installArgs: (root) => debianSandboxArgs(root),
    deleteArgs: (root) => ["--fresh", ...debianSandboxArgs(root)],
  },
];

describe.each(FAMILIES)("$family trust store with a stand-in rebuild", (family) => {
  let ca: TestCa;
  let leaf: TestLeaf;
  let otherCa: TestCa;
  const cleanup: string[] = [];

  beforeAll(() => {
    ca = makeCa({ commonName: "family root" });
    leaf = makeLeaf(ca);
    otherCa = makeCa({ commonName: "family root 2" });
  });

  afterEach(async () => {
    await Promise.all(cleanup.splice(0).map(removeDir));
  });

  async function setup() {
    const root = await makeSandboxRoot(family.osRelease);
    const standIn = await makeStandIn(family.anchorsDir, family.bundlePath);
    cleanup.push(root, standIn.dir);
    return { root, standIn, processor: await processorFor(root, standIn.command) };
  }

  it("places the anchor, runs the family's rebuild with its exact arguments, and deletes", async () => {
    const { root, standIn, processor } = await setup();
    const anchor = join(root, family.anchorsDir, "trustplane-corp.crt");
    const bundle = join(root, family.bundlePath);

    expect(await processor.handle(installCommand("corp", ca.certPem))).toMatchObject({ status: ResultStatus.OK, changed: true, error: "" });
    expect(await readFile(anchor, "utf8")).toBe(ca.certPem);
    expect((await stat(anchor)).mode & 0o777).toBe(0o644);
    expect(opensslVerifies(bundle, leaf.certPem)).toBe(true);
    expect(await standIn.calls()).toEqual([{ root, args: family.installArgs(root) }]);

    expect(await processor.handle(installCommand("corp", ca.certPem))).toMatchObject({ status: ResultStatus.OK, changed: false });
    expect(await standIn.calls()).toHaveLength(1);

    expect(await processor.handle(deleteCommand("corp"))).toMatchObject({ status: ResultStatus.OK, changed: true, error: "" });
    await expect(lstat(anchor)).rejects.toThrow(/ENOENT/);
    expect(opensslVerifies(bundle, leaf.certPem)).toBe(false);
    expect((await standIn.calls())[1]).toEqual({ root, args: family.deleteArgs(root) });
  });

  it("restores the previous anchor and answers the tool's stderr when the rebuild fails", async () => {
    const { root, standIn, processor } = await setup();
    const anchor = join(root, family.anchorsDir, "trustplane-corp.crt");
    const bundle = join(root, family.bundlePath);
    expect((await processor.handle(installCommand("corp", ca.certPem))).status).toBe(ResultStatus.OK);

    await standIn.fail("once");
    const replaced = await processor.handle(installCommand("corp", otherCa.certPem));
    expect(replaced).toMatchObject({
      status: ResultStatus.FAILED,
      changed: false,
      error: `${standIn.command} exited with code 1: stand-in: rebuild broke`,
    });
    expect(await readFile(anchor, "utf8")).toBe(ca.certPem);
    expect(opensslVerifies(bundle, leaf.certPem)).toBe(true);
    expect(await standIn.calls()).toHaveLength(3);

    await standIn.fail("always");
    const deleted = await processor.handle(deleteCommand("corp"));
    expect(deleted.status).toBe(ResultStatus.FAILED);
    expect(deleted.error).toBe(
      `${standIn.command} exited with code 1: stand-in: rebuild broke; rollback failed: ${standIn.command} exited with code 1: stand-in: rebuild broke`,
    );
    expect(await readFile(anchor, "utf8")).toBe(ca.certPem);

    await standIn.fail("once");
    const fresh = await processor.handle(installCommand("fresh", otherCa.certPem));
    expect(fresh.status).toBe(ResultStatus.FAILED);
    await expect(lstat(join(root, family.anchorsDir, "trustplane-fresh.crt"))).rejects.toThrow(/ENOENT/);
  });

  it("fails when the rebuild succeeds but the bundle lacks the certificate", async () => {
    const { root, processor } = await setup();
    // A stand-in that exits 0 without writing anything.
    const noop = join(root, "noop.sh");
    await writeFile(noop, "#!/bin/sh\nexit 0\n", { mode: 0o755 });
    const lazy = await processorFor(root, noop);
    const result = await lazy.handle(installCommand("corp", ca.certPem));
    expect(result).toMatchObject({
      status: ResultStatus.FAILED,
      error: `certificate "corp" is not in the bundle ${join(root, family.bundlePath)} after the rebuild`,
    });
    await expect(lstat(join(root, family.anchorsDir, "trustplane-corp.crt"))).rejects.toThrow(/ENOENT/);
    expect((await processor.handle(listCommand(CertificateSource.CUSTOM))).certificates).toEqual([]);
  });

  it("lists custom, then system, then unmanaged certificates", async () => {
    const { root, processor } = await setup();
    expect((await processor.handle(installCommand("corp", ca.certPem, { object: "corp.pem" }))).status).toBe(ResultStatus.OK);
    await mkdir(join(root, family.systemDir, "vendor"), { recursive: true });
    await writeFile(join(root, family.systemDir, "vendor", "vendor.crt"), otherCa.certPem);
    await writeFile(join(root, family.systemDir, "README"), "not a certificate\n");
    await writeFile(join(root, family.anchorsDir, "hand-made.pem"), otherCa.certPem);

    const all = await processor.handle(listCommand());
    expect(all.status).toBe(ResultStatus.OK);
    expect(all.certificates.map((c) => [c.source, c.name, c.object])).toEqual([
      [CertificateSource.CUSTOM, "corp", "corp.pem"],
      [CertificateSource.SYSTEM, "vendor/vendor.crt", ""],
      [CertificateSource.UNMANAGED, "hand-made.pem", ""],
    ]);
    const custom = all.certificates[0]!;
    expect(custom.subject).toBe("CN=family root, O=trustplane tests");
    expect(custom.fingerprintSha256).toMatch(/^([0-9A-F]{2}:){31}[0-9A-F]{2}$/);
    const opensslEnd = execFileSync("openssl", ["x509", "-noout", "-enddate"], { input: ca.certPem }).toString().trim().replace("notAfter=", "");
    expect(custom.notAfter).toBe(new Date(opensslEnd).toISOString());
    expect(custom.notAfter).toMatch(/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.000Z$/);
    expect(custom.fingerprintSha256).toBe(new X509Certificate(ca.certPem).fingerprint256);

    const system = await processor.handle(listCommand(CertificateSource.SYSTEM));
    expect(system.certificates.map((c) => c.name)).toEqual(["vendor/vendor.crt"]);
  });
});

describe("unsupported OS", () => {
  it("answers SKIPPED for every command and writes nothing", async () => {
    const root = await makeSandboxRoot("ID=plan9\n");
    try {
      const processor = await processorFor(root);
      const ca = makeCa();
      for (const command of [installCommand("corp", ca.certPem), deleteCommand("corp"), listCommand()]) {
        expect(await processor.handle(command)).toMatchObject({
          commandId: command.id,
          status: ResultStatus.SKIPPED,
          changed: false,
          error: 'unsupported OS "plan9": no known trust store',
        });
      }
      await expect(lstat(join(root, "var"))).rejects.toThrow(/ENOENT/);
    } finally {
      await removeDir(root);
    }
  });
});
