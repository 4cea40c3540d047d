// The Debian family against the REAL update-ca-certificates, in a sandbox root that
// starts with only etc/os-release. Never touches this machine's trust store.
import { lstat, readFile, stat } from "node:fs/promises";
import { join } from "node:path";
import { afterEach, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { CertificateSource, ResultStatus } from "../gen/trustplane/v1/common_pb.js";
import { makeCa, makeLeaf, opensslVerifies, type TestCa, type TestLeaf } from "../test/fixtures/pki.js";
import type { CertificateProcessor } from "./certificate-processor.js";
import {
  deleteCommand,
  hashTree,
  installCommand,
  listCommand,
  makeSandboxRoot,
  processorFor,
  removeDir,
} from "./testing/sandbox-root.js";

const ANCHOR = "usr/local/share/ca-certificates/trustplane-corp.crt";
const BUNDLE = "etc/ssl/certs/ca-certificates.crt";

describe("debian trust store with the real update-ca-certificates", () => {
  let ca: TestCa;
  let leaf: TestLeaf;
  let otherCa: TestCa;
  let otherLeaf: TestLeaf;
  let root: string;
  let processor: CertificateProcessor;

  beforeAll(() => {
    ca = makeCa({ commonName: "corp root" });
    leaf = makeLeaf(ca);
    otherCa = makeCa({ commonName: "corp root 2" });
    otherLeaf = makeLeaf(otherCa);
  });

  beforeEach(async () => {
    root = await makeSandboxRoot('PRETTY_NAME="Debian GNU/Linux 12 (bookworm)"\nID=debian\nVERSION_ID="12"\n');
    processor = await processorFor(root);
  });

  afterEach(async () => {
    await removeDir(root);
  });

  it("installs, keeps, replaces and deletes a CA so that the bundle trusts exactly what is installed", async () => {
    const bundle = join(root, BUNDLE);

    const first = await processor.handle(installCommand("corp", ca.certPem, { object: "corp-v1.pem" }));
    expect(first).toMatchObject({ status: ResultStatus.OK, changed: true, error: "" });
    expect(await readFile(join(root, ANCHOR), "utf8")).toBe(ca.certPem);
    expect((await stat(join(root, ANCHOR))).mode & 0o777).toBe(0o644);
    expect(await readFile(bundle, "utf8")).toContain(ca.certPem.trim());
    expect(opensslVerifies(bundle, leaf.certPem)).toBe(true);
    expect(JSON.parse(await readFile(join(root, "var/lib/trustplane/agent-state.json"), "utf8")).certificates.corp.object).toBe(
      "corp-v1.pem",
    );

    const again = await processor.handle(installCommand("corp", ca.certPem, { object: "corp-v1.pem" }));
    expect(again).toMatchObject({ status: ResultStatus.OK, changed: false, error: "" });

    const replaced = await processor.handle(installCommand("corp", otherCa.certPem, { object: "corp-v2.pem", requireExisting: true }));
    expect(replaced).toMatchObject({ status: ResultStatus.OK, changed: true, error: "" });
    expect(await readFile(join(root, ANCHOR), "utf8")).toBe(otherCa.certPem);
    expect(opensslVerifies(bundle, otherLeaf.certPem)).toBe(true);
    expect(opensslVerifies(bundle, leaf.certPem)).toBe(false);

    const listed = await processor.handle(listCommand());
    expect(listed.status).toBe(ResultStatus.OK);
    expect(listed.certificates.map((c) => [c.name, c.source, c.object, c.subject])).toEqual([
      ["corp", CertificateSource.CUSTOM, "corp-v2.pem", "CN=corp root 2, O=trustplane tests"],
    ]);

    const deleted = await processor.handle(deleteCommand("corp"));
    expect(deleted).toMatchObject({ status: ResultStatus.OK, changed: true, error: "" });
    await expect(lstat(join(root, ANCHOR))).rejects.toThrow(/ENOENT/);
    expect(opensslVerifies(bundle, otherLeaf.certPem)).toBe(false);
    expect(await readFile(bundle, "utf8")).not.toContain("BEGIN CERTIFICATE");
    expect(JSON.parse(await readFile(join(root, "var/lib/trustplane/agent-state.json"), "utf8")).certificates).toEqual({});

    const absent = await processor.handle(deleteCommand("corp"));
    expect(absent).toMatchObject({ status: ResultStatus.OK, changed: false, error: "" });
  });

  it("deleting one of two CAs keeps the other trusted", async () => {
    const bundle = join(root, BUNDLE);
    expect((await processor.handle(installCommand("one", ca.certPem))).status).toBe(ResultStatus.OK);
    expect((await processor.handle(installCommand("two", otherCa.certPem))).status).toBe(ResultStatus.OK);
    expect(opensslVerifies(bundle, leaf.certPem)).toBe(true);
    expect(opensslVerifies(bundle, otherLeaf.certPem)).toBe(true);

    expect(await processor.handle(deleteCommand("one"))).toMatchObject({ status: ResultStatus.OK, changed: true });
    expect(opensslVerifies(bundle, leaf.certPem)).toBe(false);
    expect(opensslVerifies(bundle, otherLeaf.certPem)).toBe(true);
  });

  it("dry runs report what would change and leave the tree byte-identical", async () => {
    const pristine = await hashTree(root);
    expect(await processor.handle(installCommand("corp", ca.certPem, { dryRun: true }))).toMatchObject({
      status: ResultStatus.OK,
      changed: true,
    });
    expect(await processor.handle(deleteCommand("corp", true))).toMatchObject({ status: ResultStatus.OK, changed: false });
    expect(await hashTree(root)).toEqual(pristine);

    expect((await processor.handle(installCommand("corp", ca.certPem))).changed).toBe(true);
    const installed = await hashTree(root);
    expect(installed).not.toEqual(pristine);

    expect(await processor.handle(installCommand("corp", ca.certPem, { dryRun: true }))).toMatchObject({
      status: ResultStatus.OK,
      changed: false,
    });
    expect(await processor.handle(installCommand("corp", otherCa.certPem, { dryRun: true }))).toMatchObject({
      status: ResultStatus.OK,
      changed: true,
    });
    expect(await processor.handle(deleteCommand("corp", true))).toMatchObject({ status: ResultStatus.OK, changed: true });
    expect(await hashTree(root)).toEqual(installed);
    expect(opensslVerifies(join(root, BUNDLE), leaf.certPem)).toBe(true);
  });
});
