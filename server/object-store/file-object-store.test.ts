import { mkdtemp, readdir, rm, stat } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { objectStoreContract } from "../testing/object-store-contract.js";
import { FileObjectStore } from "./file-object-store.js";
import { openObjectStore } from "./open-object-store.js";
import { S3ObjectStore } from "./s3-object-store.js";

let dir: string;
let store: FileObjectStore;

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), "trustplane-objects-"));
  store = new FileObjectStore(join(dir, "objects"));
});

afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe("FileObjectStore", () => {
  objectStoreContract(() => store);

  it("writes one file per object, mode 0644, and leaves no temp files", async () => {
    await store.put("corp-ca.pem", Buffer.from("x"));
    await store.put("corp-ca.pem", Buffer.from("y"));
    expect(await readdir(join(dir, "objects"))).toEqual(["corp-ca.pem"]);
    expect((await stat(join(dir, "objects", "corp-ca.pem"))).mode & 0o777).toBe(0o644);
  });
});

describe("openObjectStore", () => {
  it.each([
    ["file:/var/lib/tp/objects", FileObjectStore],
    ["file:///var/lib/tp/objects", FileObjectStore],
    ["file:relative/objects", FileObjectStore],
    ["s3://trustplane-objects", S3ObjectStore],
    ["s3://trustplane-objects/some/prefix", S3ObjectStore],
  ])("opens %s", async (url, kind) => {
    expect(await openObjectStore(url, { endpoint: "http://127.0.0.1:9" })).toBeInstanceOf(kind);
  });

  it.each([
    ["file:", 'object store "file:": file: needs a directory'],
    ["s3://", 'object store "s3://": "" is not a valid S3 bucket name'],
    ["s3://Bad_Bucket", 'object store "s3://Bad_Bucket": "Bad_Bucket" is not a valid S3 bucket name'],
    ["ftp://x", 'object store "ftp://x" must be file:DIR or s3://BUCKET'],
  ])("refuses %s", async (url, message) => {
    await expect(openObjectStore(url)).rejects.toThrow(message);
  });
});
