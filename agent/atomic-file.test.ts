// Symlinks planted at the destination or at the temp name are never written through.
// The temp name is random; here node:crypto's randomBytes is fixed so the test can
// plant a link exactly where the agent will create its temp file.
import { lstat, mkdir, mkdtemp, readdir, readFile, readlink, symlink, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeAll, describe, expect, it, vi } from "vitest";
import { ResultStatus } from "../gen/trustplane/v1/common_pb.js";
import { makeCa, type TestCa } from "../test/fixtures/pki.js";
import { readRegularFile, tempPathFor, writeFileAtomic } from "./atomic-file.js";
import { hashTree, installCommand, makeSandboxRoot, makeStandIn, processorFor, removeDir } from "./testing/sandbox-root.js";

vi.mock("node:crypto", async (importOriginal) => {
  const actual = await importOriginal<typeof import("node:crypto")>();
  return { ...actual, randomBytes: (size: number) => Buffer.alloc(size, 0xab) };
});

const FIXED_SUFFIX = "ab".repeat(6);

describe("writeFileAtomic", () => {
  const cleanup: string[] = [];
  let ca: TestCa;

  beforeAll(() => {
    ca = makeCa({ commonName: "atomic root" });
  });

  afterEach(async () => {
    await Promise.all(cleanup.splice(0).map(removeDir));
  });

  async function dirs() {
    const dir = await mkdtemp(join(tmpdir(), "trustplane-atomic-"));
    const outside = await mkdtemp(join(tmpdir(), "trustplane-outside-"));
    cleanup.push(dir, outside);
    const precious = join(outside, "precious.txt");
    await writeFile(precious, "precious\n");
    return { dir, outside, precious };
  }

  it("names the temp file hidden beside the destination, never *.crt", () => {
    expect(tempPathFor("/a/b/trustplane-corp.crt")).toBe(`/a/b/.trustplane-corp.crt.tmp-${FIXED_SUFFIX}`);
  });

  it("replaces a symlink at the destination with a regular file, leaving its target alone", async () => {
    const { dir, precious } = await dirs();
    const destination = join(dir, "trustplane-corp.crt");
    await symlink(precious, destination);
    await writeFileAtomic(destination, "new bytes\n", 0o644);
    expect((await lstat(destination)).isFile()).toBe(true);
    expect((await lstat(destination)).mode & 0o777).toBe(0o644);
    expect(await readFile(destination, "utf8")).toBe("new bytes\n");
    expect(await readFile(precious, "utf8")).toBe("precious\n");
  });

  it("refuses to write through a symlink planted at the temp name", async () => {
    const { dir, outside, precious } = await dirs();
    const destination = join(dir, "trustplane-corp.crt");
    await writeFile(destination, "old bytes\n");
    const temp = tempPathFor(destination);
    for (const target of [precious, join(outside, "absent.txt")]) {
      await symlink(target, temp);
      await expect(writeFileAtomic(destination, "new bytes\n")).rejects.toThrow(/^EEXIST/);
      expect(await readlink(temp)).toBe(target);
      expect(await readFile(destination, "utf8")).toBe("old bytes\n");
      await removeDir(temp);
    }
    expect(await readFile(precious, "utf8")).toBe("precious\n");
    expect((await readdir(outside)).sort()).toEqual(["precious.txt"]);
  });

  it("reads a symlink or a directory as absent", async () => {
    const { dir, precious } = await dirs();
    await symlink(precious, join(dir, "link"));
    await mkdir(join(dir, "sub"));
    expect(await readRegularFile(join(dir, "link"))).toBeUndefined();
    expect(await readRegularFile(join(dir, "sub"))).toBeUndefined();
    expect(await readRegularFile(join(dir, "missing"))).toBeUndefined();
    expect(await readRegularFile(precious)).toEqual(Buffer.from("precious\n"));
  });

  it("an install whose temp name holds a planted symlink answers FAILED and writes nothing", async () => {
    const { outside, precious } = await dirs();
    const anchors = "/etc/pki/ca-trust/source/anchors";
    const root = await makeSandboxRoot("ID=fedora\n");
    const standIn = await makeStandIn(anchors, "/etc/pki/ca-trust/extracted/pem/tls-ca-bundle.pem");
    cleanup.push(root, standIn.dir);
    // The directories a system has (a sandbox gets them from the first install).
    await mkdir(join(root, anchors), { recursive: true });
    await mkdir(join(root, "etc/pki/ca-trust/extracted/pem"), { recursive: true });
    const anchor = join(root, anchors, "trustplane-corp.crt");
    await symlink(precious, tempPathFor(anchor));
    const before = await hashTree(root);
    const outsideBefore = await hashTree(outside);

    const processor = await processorFor(root, standIn.command);
    const result = await processor.handle(installCommand("corp", ca.certPem));
    expect(result.status).toBe(ResultStatus.FAILED);
    expect(result.error).toBe(`EEXIST: file already exists, open '${tempPathFor(anchor)}'`);
    expect(await hashTree(root)).toEqual(before);
    expect(await hashTree(outside)).toEqual(outsideBefore);
    expect(await standIn.calls()).toEqual([]);
  });
});
