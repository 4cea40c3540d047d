// Bad input never touches disk; symlinks planted at our paths are never written through.
import { create } from "@bufbuild/protobuf";
import { lstat, mkdir, readFile, readlink, symlink, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { afterEach, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { CommandSchema } from "../gen/trustplane/v1/agent_pb.js";
import { ResultStatus } from "../gen/trustplane/v1/common_pb.js";
import { makeCa, type TestCa } from "../test/fixtures/pki.js";
import { sha256Hex } from "./certificate-pem.js";
import type { CertificateProcessor } from "./certificate-processor.js";
import {
  deleteCommand,
  hashTree,
  installCommand,
  makeSandboxRoot,
  makeStandIn,
  processorFor,
  removeDir,
} from "./testing/sandbox-root.js";

const ANCHORS = "/etc/pki/ca-trust/source/anchors";
const BUNDLE = "/etc/pki/ca-trust/extracted/pem/tls-ca-bundle.pem";

describe("certificate command validation", () => {
  let ca: TestCa;
  let otherCa: TestCa;
  const cleanup: string[] = [];
  let root: string;
  let processor: CertificateProcessor;
  let calls: () => Promise<unknown[]>;

  beforeAll(() => {
    ca = makeCa({ commonName: "valid root" });
    otherCa = makeCa({ commonName: "second root" });
  });

  beforeEach(async () => {
    root = await makeSandboxRoot("ID=fedora\n");
    const standIn = await makeStandIn(ANCHORS, BUNDLE);
    cleanup.push(root, standIn.dir);
    calls = () => standIn.calls();
    processor = await processorFor(root, standIn.command);
  });

  afterEach(async () => {
    await Promise.all(cleanup.splice(0).map(removeDir));
  });

  const cases: { title: string; command: () => ReturnType<typeof installCommand>; error: string | RegExp }[] = [
    {
      title: "digest mismatch",
      command: () => installCommand("corp", ca.certPem, { sha256: sha256Hex(Buffer.from("something else")) }),
      error: /^PEM SHA-256 mismatch: command says [0-9a-f]{64}, bytes hash to [0-9a-f]{64}$/,
    },
    {
      title: "empty digest",
      command: () => installCommand("corp", ca.certPem, { sha256: "" }),
      error: /^PEM SHA-256 mismatch: command says \(empty\)/,
    },
    { title: "path traversal name", command: () => installCommand("../x", ca.certPem), error: 'invalid CA name "../x": must match ^[A-Za-z0-9_-]{1,64}$' },
    { title: "name with a slash", command: () => installCommand("a/b", ca.certPem), error: 'invalid CA name "a/b": must match ^[A-Za-z0-9_-]{1,64}$' },
    { title: "empty name", command: () => installCommand("", ca.certPem), error: 'invalid CA name "": must match ^[A-Za-z0-9_-]{1,64}$' },
    { title: "name too long", command: () => installCommand("a".repeat(65), ca.certPem), error: /^invalid CA name "a{65}"/ },
    {
      title: "two certificates",
      command: () => installCommand("corp", ca.certPem + otherCa.certPem),
      error: "PEM must hold exactly one block, a CERTIFICATE; found 2 blocks",
    },
    {
      title: "private key appended",
      command: () => installCommand("corp", ca.certPem + ca.keyPem),
      error: "PEM must hold exactly one block, a CERTIFICATE; found 2 blocks",
    },
    { title: "private key alone", command: () => installCommand("corp", ca.keyPem), error: 'PEM block is "PRIVATE KEY", not CERTIFICATE' },
    { title: "not PEM", command: () => installCommand("corp", "hello"), error: "PEM must hold exactly one block, a CERTIFICATE; found 0 blocks" },
    { title: "empty PEM", command: () => installCommand("corp", ""), error: "PEM is empty" },
    {
      title: "garbage inside the block",
      command: () => installCommand("corp", "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n"),
      error: /^certificate does not parse: /,
    },
    {
      title: "over 64 KiB",
      command: () => installCommand("corp", ca.certPem + "#".repeat(64 * 1024)),
      error: /^PEM is 6[6-9]\d{3} bytes, more than the limit of 65536$/,
    },
    {
      title: "update of a CA that is not installed",
      command: () => installCommand("corp", ca.certPem, { requireExisting: true }),
      error: 'certificate "corp" is not installed',
    },
  ];

  it.each(cases)("$title → FAILED, nothing written", async ({ command, error }) => {
    const before = await hashTree(root);
    for (const dryRun of [true, false]) {
      const cmd = command();
      cmd.dryRun = dryRun;
      const result = await processor.handle(cmd);
      expect(result.status).toBe(ResultStatus.FAILED);
      expect(result.commandId).toBe(cmd.id);
      expect(result.changed).toBe(false);
      if (typeof error === "string") expect(result.error).toBe(error);
      else expect(result.error).toMatch(error);
    }
    expect(await hashTree(root)).toEqual(before);
    expect(await calls()).toEqual([]);
  });

  it("refuses a bad name on delete", async () => {
    expect(await processor.handle(deleteCommand("../../etc/passwd"))).toMatchObject({
      status: ResultStatus.FAILED,
      error: 'invalid CA name "../../etc/passwd": must match ^[A-Za-z0-9_-]{1,64}$',
    });
  });

  it("answers FAILED unsupported command for a command without a kind", async () => {
    const command = create(CommandSchema, { id: "empty-1" });
    expect(await processor.handle(command)).toMatchObject({ commandId: "empty-1", status: ResultStatus.FAILED, error: "unsupported command" });
  });

  it("replaces a symlink planted at the anchor path instead of writing through it", async () => {
    const outside = join(root, "outside.txt");
    await writeFile(outside, "precious\n");
    await mkdir(join(root, ANCHORS), { recursive: true });
    const anchor = join(root, ANCHORS, "trustplane-corp.crt");
    await symlink(outside, anchor);

    const result = await processor.handle(installCommand("corp", ca.certPem));
    expect(result).toMatchObject({ status: ResultStatus.OK, changed: true, error: "" });
    expect(await readFile(outside, "utf8")).toBe("precious\n");
    expect((await lstat(anchor)).isSymbolicLink()).toBe(false);
    expect(await readFile(anchor, "utf8")).toBe(ca.certPem);
  });

  it("treats a planted symlink as not installed for updates, and delete removes only the link", async () => {
    const outside = join(root, "outside.crt");
    await writeFile(outside, ca.certPem);
    await mkdir(join(root, ANCHORS), { recursive: true });
    const anchor = join(root, ANCHORS, "trustplane-corp.crt");
    await symlink(outside, anchor);

    expect(await processor.handle(installCommand("corp", otherCa.certPem, { requireExisting: true }))).toMatchObject({
      status: ResultStatus.FAILED,
      error: 'certificate "corp" is not installed',
    });
    expect(await readlink(anchor)).toBe(outside);

    expect(await processor.handle(deleteCommand("corp"))).toMatchObject({ status: ResultStatus.OK, changed: true });
    await expect(lstat(anchor)).rejects.toThrow(/ENOENT/);
    expect(await readFile(outside, "utf8")).toBe(ca.certPem);
  });
});
