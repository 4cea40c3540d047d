// `trustplane file upload|list|delete` against a fake gateway.
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { timestampFromDate } from "@bufbuild/protobuf/wkt";
import { Code, ConnectError } from "@connectrpc/connect";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { CapturedIo } from "../testing/captured-io.js";
import { FakeGateway } from "../testing/fake-gateway.js";
import { fileCommand } from "./file.js";

const PEM = "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n";
const SHA = "c0ffee".padEnd(64, "0");

let gateway: FakeGateway;
let env: Record<string, string>;
let dir: string;

beforeAll(async () => {
  gateway = await FakeGateway.start();
  env = { TRUSTPLANE_URL: gateway.url, TRUSTPLANE_API_KEY: "tp_key" };
  dir = await mkdtemp(join(tmpdir(), "trustplane-cli-file-"));
  await writeFile(join(dir, "corp-ca.pem"), PEM);
});
afterAll(async () => {
  await gateway.close();
  await rm(dir, { recursive: true, force: true });
});
beforeEach(() => {
  gateway.calls.length = 0;
  gateway.scripts.clear();
});

describe("trustplane file upload", () => {
  it("sends the file's bytes under its base name by default", async () => {
    gateway.on("upload", (request: any) => ({ file: { name: request.name, sha256: SHA, size: BigInt(request.content.length) }, changed: true }));
    const io = new CapturedIo(env);
    expect(await fileCommand(["upload", "--file", join(dir, "corp-ca.pem")], io)).toBe(0);
    const request = gateway.calls[0]!.request as any;
    expect([request.name, Buffer.from(request.content).toString(), request.force]).toEqual(["corp-ca.pem", PEM, false]);
    expect(io.stdout.text).toBe(`Uploaded corp-ca.pem, ${PEM.length} bytes, sha256 ${SHA}\n`);
  });

  it("--name, --force and --json", async () => {
    gateway.on("upload", (request: any) => ({ file: { name: request.name, sha256: SHA, size: 61n }, changed: false }));
    const io = new CapturedIo(env);
    expect(await fileCommand(["upload", "--file", join(dir, "corp-ca.pem"), "--name", "root.pem", "--force", "--json"], io)).toBe(0);
    const request = gateway.calls[0]!.request as any;
    expect([request.name, request.force]).toEqual(["root.pem", true]);
    expect(JSON.parse(io.stdout.text)).toEqual({ name: "root.pem", sha256: SHA, size: 61, changed: false });
  });

  it("exits 3 on a conflict", async () => {
    gateway.on("upload", () => {
      throw new ConnectError('object "corp-ca.pem" exists with different content', Code.AlreadyExists, {
        "trustplane-error-details": "upload with force to replace it",
      });
    });
    const io = new CapturedIo(env);
    expect(await fileCommand(["upload", "--file", join(dir, "corp-ca.pem")], io)).toBe(3);
    expect(io.stderr.text).toBe(
      'trustplane: object "corp-ca.pem" exists with different content: upload with force to replace it (ALREADY_EXISTS)\n',
    );
  });

  it("an unreadable file is a usage error, nothing is sent", async () => {
    await expect(fileCommand(["upload", "--file", join(dir, "missing.pem")], new CapturedIo(env))).rejects.toThrow(
      `trustplane file upload: cannot read --file ${join(dir, "missing.pem")}: ENOENT`,
    );
    await expect(fileCommand(["upload"], new CapturedIo(env))).rejects.toThrow("trustplane file upload: --file is required (see --help)");
    expect(gateway.calls).toHaveLength(0);
  });
});

describe("trustplane file list and delete", () => {
  const FILES = [
    { name: "corp-ca.pem", sha256: SHA, size: 1184n, updatedAt: timestampFromDate(new Date("2024-05-01T10:00:00Z")) },
    { name: "old.pem", sha256: "ab".repeat(32), size: 900n },
  ];

  it("list prints a table, --json the REST answer", async () => {
    gateway.on("list", () => ({ files: FILES }));
    const io = new CapturedIo(env);
    expect(await fileCommand(["list"], io)).toBe(0);
    expect(io.stdout.text).toBe(
      [
        "NAME         SIZE  SHA256            UPDATED",
        "corp-ca.pem  1184  c0ffee0000000000  2024-05-01T10:00:00.000Z",
        "old.pem      900   abababababababab  -",
        "",
      ].join("\n"),
    );
    const json = new CapturedIo(env);
    await fileCommand(["list", "--json"], json);
    expect(JSON.parse(json.stdout.text)).toEqual({
      files: [
        { name: "corp-ca.pem", sha256: SHA, size: 1184, updated_at: "2024-05-01T10:00:00.000Z" },
        { name: "old.pem", sha256: "ab".repeat(32), size: 900 },
      ],
    });
  });

  it("delete removes by name; unknown is exit 3", async () => {
    gateway.on("delete", () => ({ file: FILES[1] }));
    const io = new CapturedIo(env);
    expect(await fileCommand(["delete", "old.pem"], io)).toBe(0);
    expect((gateway.calls[0]!.request as any).name).toBe("old.pem");
    expect(io.stdout.text).toBe("Deleted old.pem.\n");
    gateway.on("delete", () => {
      throw new ConnectError('object "x.pem" not found', Code.NotFound);
    });
    const missing = new CapturedIo(env);
    expect(await fileCommand(["delete", "x.pem"], missing)).toBe(3);
    expect(missing.stderr.text).toBe('trustplane: object "x.pem" not found (NOT_FOUND)\n');
  });
});
