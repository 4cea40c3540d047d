// Symlinks planted in or above the anchors and state directories, and trust stores
// that cannot be written (a file where a directory belongs, a directory where the
// anchor belongs): never a write outside the root, never a half-updated trust store.
// The agent runs as root in CI, where permission bits stop nothing, so "read-only"
// is simulated by paths that cannot be written rather than by chmod.
import { mkdir, mkdtemp, readFile, symlink, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeAll, describe, expect, it } from "vitest";
import { CertificateSource, ResultStatus } from "../gen/trustplane/v1/common_pb.js";
import { makeCa, type TestCa } from "../test/fixtures/pki.js";
import {
  deleteCommand,
  hashTree,
  installCommand,
  listCommand,
  makeSandboxRoot,
  makeStandIn,
  processorFor,
  removeDir,
  type StandIn,
} from "./testing/sandbox-root.js";

const ANCHORS = "etc/pki/ca-trust/source/anchors";
const BUNDLE = "etc/pki/ca-trust/extracted/pem/tls-ca-bundle.pem";

describe("confinement of trust-store writes", () => {
  let ca: TestCa;
  let otherCa: TestCa;
  const cleanup: string[] = [];

  beforeAll(() => {
    ca = makeCa({ commonName: "confined root" });
    otherCa = makeCa({ commonName: "confined root 2" });
  });

  afterEach(async () => {
    await Promise.all(cleanup.splice(0).map(removeDir));
  });

  /** A RHEL sandbox root, a stand-in rebuild, and an outside directory holding a file a write could hit. */
  async function setup() {
    const root = await makeSandboxRoot("ID=rhel\n");
    const standIn: StandIn = await makeStandIn(`/${ANCHORS}`, `/${BUNDLE}`);
    const outside = await mkdtemp(join(tmpdir(), "trustplane-outside-"));
    cleanup.push(root, standIn.dir, outside);
    await writeFile(join(outside, "trustplane-corp.crt"), otherCa.certPem);
    return { root, standIn, outside, processor: await processorFor(root, `${standIn.command}`) };
  }

  it("refuses every command when the anchors directory is a symlink, and writes nothing anywhere", async () => {
    const { root, standIn, outside, processor } = await setup();
    await mkdir(join(root, "etc/pki/ca-trust/source"), { recursive: true });
    await symlink(outside, join(root, ANCHORS));
    const [rootBefore, outsideBefore] = [await hashTree(root), await hashTree(outside)];

    const reason = `anchors directory is a symlink: ${join(root, ANCHORS)}`;
    for (const command of [installCommand("corp", ca.certPem), installCommand("corp", ca.certPem, { dryRun: true }), deleteCommand("corp"), listCommand()]) {
      expect(await processor.handle(command)).toMatchObject({ commandId: command.id, status: ResultStatus.FAILED, changed: false, error: reason });
    }
    expect(await hashTree(root)).toEqual(rootBefore);
    expect(await hashTree(outside)).toEqual(outsideBefore);
    expect(await standIn.calls()).toEqual([]);
  });

  it("refuses when a parent of the anchors directory is a symlink leading outside the root", async () => {
    const { root, standIn, outside, processor } = await setup();
    await mkdir(join(root, "etc"), { recursive: true });
    await symlink(outside, join(root, "etc/pki"));
    const [rootBefore, outsideBefore] = [await hashTree(root), await hashTree(outside)];

    const result = await processor.handle(installCommand("corp", ca.certPem));
    expect(result).toMatchObject({
      status: ResultStatus.FAILED,
      error: `anchors directory ${join(root, ANCHORS)} resolves outside the root ${root} (through ${join(root, "etc/pki")})`,
    });
    expect(await hashTree(root)).toEqual(rootBefore);
    expect(await hashTree(outside)).toEqual(outsideBefore);
    expect(await standIn.calls()).toEqual([]);
  });

  it("follows a symlinked parent that stays inside the root", async () => {
    const { root, processor } = await setup();
    await mkdir(join(root, "srv/pki"), { recursive: true });
    await symlink(join(root, "srv/pki"), join(root, "etc/pki"));

    expect(await processor.handle(installCommand("corp", ca.certPem))).toMatchObject({ status: ResultStatus.OK, changed: true, error: "" });
    expect(await readFile(join(root, "srv/pki/ca-trust/source/anchors/trustplane-corp.crt"), "utf8")).toBe(ca.certPem);
  });

  it("refuses install and delete when the state directory is a symlink, and writes nothing anywhere", async () => {
    const { root, standIn, outside, processor } = await setup();
    await mkdir(join(root, "var/lib"), { recursive: true });
    await symlink(outside, join(root, "var/lib/trustplane"));
    const [rootBefore, outsideBefore] = [await hashTree(root), await hashTree(outside)];

    const reason = `state directory is a symlink: ${join(root, "var/lib/trustplane")}`;
    for (const command of [installCommand("corp", ca.certPem), deleteCommand("corp")]) {
      expect(await processor.handle(command)).toMatchObject({ status: ResultStatus.FAILED, error: reason });
    }
    expect(await hashTree(root)).toEqual(rootBefore);
    expect(await hashTree(outside)).toEqual(outsideBefore);
    expect(await standIn.calls()).toEqual([]);
    // Listing writes nothing, so it still answers.
    expect((await processor.handle(listCommand(CertificateSource.CUSTOM))).status).toBe(ResultStatus.OK);
  });

  it("answers FAILED and changes nothing when the anchors path is a file", async () => {
    const { root, standIn, processor } = await setup();
    await mkdir(join(root, "etc/pki/ca-trust/source"), { recursive: true });
    await writeFile(join(root, ANCHORS), "not a directory\n");
    const before = await hashTree(root);

    expect(await processor.handle(installCommand("corp", ca.certPem))).toMatchObject({
      status: ResultStatus.FAILED,
      changed: false,
      error: `anchors directory is not a directory: ${join(root, ANCHORS)}`,
    });
    expect(await hashTree(root)).toEqual(before);
    expect(await standIn.calls()).toEqual([]);
  });

  it("answers FAILED and changes nothing when a parent of the anchors directory is a file", async () => {
    const { root, standIn, processor } = await setup();
    await writeFile(join(root, "etc/pki"), "not a directory\n");
    const before = await hashTree(root);

    expect(await processor.handle(installCommand("corp", ca.certPem))).toMatchObject({
      status: ResultStatus.FAILED,
      error: `anchors directory ${join(root, ANCHORS)} cannot be created: ${join(root, "etc/pki")} is not a directory`,
    });
    expect(await hashTree(root)).toEqual(before);
    expect(await standIn.calls()).toEqual([]);
  });

  it("answers FAILED and leaves the trust store as it was when the anchor cannot be written", async () => {
    const { root, standIn, processor } = await setup();
    expect((await processor.handle(installCommand("other", otherCa.certPem))).status).toBe(ResultStatus.OK);
    // A directory where the anchor file belongs: the rename onto it fails after the temp file was written.
    await mkdir(join(root, ANCHORS, "trustplane-corp.crt"));
    const before = await hashTree(root);
    const bundle = await readFile(join(root, BUNDLE), "utf8");

    const result = await processor.handle(installCommand("corp", ca.certPem));
    expect(result.status).toBe(ResultStatus.FAILED);
    expect(result.error).toMatch(/^EISDIR: illegal operation on a directory, rename /);
    expect(await hashTree(root)).toEqual(before);
    expect(await readFile(join(root, BUNDLE), "utf8")).toBe(bundle);
    expect(await standIn.calls()).toHaveLength(1);
  });
});
