// FileService over a real control plane with a file object store.
import { create } from "@bufbuild/protobuf";
import { timestampDate } from "@bufbuild/protobuf/wkt";
import { status } from "@grpc/grpc-js";
import { createHash } from "node:crypto";
import { readFile, readdir } from "node:fs/promises";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import {
  DeleteRequestSchema,
  GetRequestSchema,
  ListRequestSchema,
  UploadRequestSchema,
  type DeleteResponse,
  type GetResponse,
  type ListResponse,
  type UploadResponse,
} from "../../gen/trustplane/v1/file_pb.js";
import { fileClient, unary } from "../testing/client-calls.js";
import { startTestControlPlane, type TestControlPlane } from "../testing/control-plane-fixture.js";

let cp: TestControlPlane;
let files: ReturnType<typeof fileClient>;

const sha256 = (text: string) => createHash("sha256").update(text).digest("hex");

function upload(name: string, content: string | Buffer, force = false, key: string | null = cp.keys.write) {
  return unary<UploadResponse>(files, "upload", create(UploadRequestSchema, { name, content: Buffer.from(content), force }), key ?? undefined);
}

beforeEach(async () => {
  cp = await startTestControlPlane();
  files = fileClient(cp.address);
});

afterEach(async () => {
  files.close();
  await cp.close();
});

describe("FileService", () => {
  it("uploads, answers changed false for the same content, conflicts on different content unless forced", async () => {
    const first = await upload("corp-ca.pem", "one\n");
    expect(first.error).toBeUndefined();
    expect(first.response!.changed).toBe(true);
    expect(first.response!.file).toMatchObject({ name: "corp-ca.pem", sha256: sha256("one\n"), size: 4n });
    expect(Math.abs(timestampDate(first.response!.file!.updatedAt!).getTime() - Date.now())).toBeLessThan(60_000);
    expect(await readFile(join(cp.objectsDir, "corp-ca.pem"), "utf8")).toBe("one\n");

    const same = await upload("corp-ca.pem", "one\n");
    expect(same.response!.changed).toBe(false);
    expect(same.response!.file!.sha256).toBe(sha256("one\n"));

    const conflict = await upload("corp-ca.pem", "two\n");
    expect(conflict.error).toMatchObject({ code: status.ALREADY_EXISTS, message: 'object "corp-ca.pem" already exists with different content' });
    expect(await readFile(join(cp.objectsDir, "corp-ca.pem"), "utf8")).toBe("one\n");

    const forced = await upload("corp-ca.pem", "two\n", true);
    expect(forced.response!.changed).toBe(true);
    expect(forced.response!.file!.sha256).toBe(sha256("two\n"));
    expect(await readFile(join(cp.objectsDir, "corp-ca.pem"), "utf8")).toBe("two\n");
    expect((await readdir(cp.objectsDir)).sort()).toEqual(["corp-ca.pem"]);
  });

  it.each([
    ["a name with a slash", "../x", "x", /^invalid object name "\.\.\/x"/],
    ["a name starting with a dot", ".hidden", "x", /^invalid object name "\.hidden"/],
    ["an empty name", "", "x", /^object name is required$/],
    ["empty content", "a.pem", "", /^content is empty$/],
    ["content over 64 KiB", "big.pem", "x".repeat(64 * 1024 + 1), /^content is 65537 bytes, more than 64 KiB$/],
  ])("refuses %s with INVALID_ARGUMENT", async (_case, name, content, message) => {
    const { error } = await upload(name, content);
    expect(error?.code).toBe(status.INVALID_ARGUMENT);
    expect(error?.message).toMatch(message);
    expect(await readdir(cp.objectsDir).catch(() => [])).toEqual([]);
  });

  it("accepts exactly 64 KiB", async () => {
    const { response } = await upload("max.pem", "x".repeat(64 * 1024));
    expect(response!.file!.size).toBe(65536n);
  });

  it("lists, gets and deletes; unknown names are NOT_FOUND", async () => {
    await upload("b.pem", "bee\n");
    await upload("a.pem", "ay\n");
    const list = await unary<ListResponse>(files, "list", create(ListRequestSchema), cp.keys.read);
    expect(list.response!.files.map((f) => [f.name, f.sha256, f.size])).toEqual([
      ["a.pem", sha256("ay\n"), 3n],
      ["b.pem", sha256("bee\n"), 4n],
    ]);

    const got = await unary<GetResponse>(files, "get", create(GetRequestSchema, { name: "b.pem" }), cp.keys.read);
    expect(Buffer.from(got.response!.content).toString()).toBe("bee\n");
    expect(got.response!.file!.name).toBe("b.pem");

    const missing = await unary<GetResponse>(files, "get", create(GetRequestSchema, { name: "c.pem" }), cp.keys.read);
    expect(missing.error).toMatchObject({ code: status.NOT_FOUND, message: 'object "c.pem" not found' });

    const deleted = await unary<DeleteResponse>(files, "delete", create(DeleteRequestSchema, { name: "a.pem" }), cp.keys.write);
    expect(deleted.response!.file!.name).toBe("a.pem");
    expect(await readdir(cp.objectsDir)).toEqual(["b.pem"]);
    const again = await unary<DeleteResponse>(files, "delete", create(DeleteRequestSchema, { name: "a.pem" }), cp.keys.write);
    expect(again.error?.code).toBe(status.NOT_FOUND);
  });

  it.each([
    ["upload", "read", status.PERMISSION_DENIED, "file:write"],
    ["delete", "read", status.PERMISSION_DENIED, "file:write"],
    ["list", null, status.UNAUTHENTICATED, ""],
    ["get", null, status.UNAUTHENTICATED, ""],
  ] as const)("%s with key %s is refused", async (method, role, code, permission) => {
    const request =
      method === "upload" ? create(UploadRequestSchema, { name: "a.pem", content: Buffer.from("x") })
      : method === "list" ? create(ListRequestSchema)
      : method === "get" ? create(GetRequestSchema, { name: "a.pem" })
      : create(DeleteRequestSchema, { name: "a.pem" });
    const { error } = await unary(files, method, request, role ? cp.keys[role] : undefined);
    expect(error?.code).toBe(code);
    if (permission) expect(error?.message).toBe(`key "${cp.keyIds.read}" lacks permission ${permission}`);
    else expect(error?.message).toBe("API key required");
  });
});
