// The S3 store against a real S3-protocol server on loopback (s3rver).
import { mkdtemp, rm } from "node:fs/promises";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { status } from "@grpc/grpc-js";
import S3rver from "s3rver";
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { objectStoreContract } from "../testing/object-store-contract.js";
import { parseS3Endpoint, S3ObjectStore } from "./s3-object-store.js";

let dir: string;
let server: S3rver;
let endpoint: string;
let bucketCounter = 0;
let store: S3ObjectStore;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "trustplane-s3rver-"));
  server = new S3rver({ port: 0, address: "127.0.0.1", silent: true, directory: dir, configureBuckets: [{ name: "preset" }] });
  const { port } = await server.run();
  endpoint = `http://127.0.0.1:${port}`;
});

afterAll(async () => {
  await server?.close();
  await rm(dir, { recursive: true, force: true });
});

function s3Store(bucket: string, prefix = ""): S3ObjectStore {
  return new S3ObjectStore({ bucket, prefix, endpoint, accessKey: "S3RVER", secretKey: "S3RVER" });
}

describe("S3ObjectStore", () => {
  describe("in a bucket it creates itself", () => {
    beforeEach(() => {
      store = s3Store(`trustplane-test-${process.pid}-${++bucketCounter}`);
    });
    afterEach(async () => {
      await store.close();
    });
    objectStoreContract(() => store);
  });

  describe("under a prefix of an existing bucket", () => {
    beforeEach(() => {
      store = s3Store("preset", `run-${process.pid}-${++bucketCounter}`);
    });
    objectStoreContract(() => store);
  });

  it("keeps prefixes apart", async () => {
    const a = s3Store("preset", `apart-a-${++bucketCounter}`);
    const b = s3Store("preset", `apart-b-${bucketCounter}`);
    await a.put("x.pem", Buffer.from("a"));
    expect(await b.get("x.pem")).toBeUndefined();
    expect((await a.list()).map((i) => i.name)).toEqual(["x.pem"]);
  });

  it("answers UNAVAILABLE when the endpoint cannot be reached", async () => {
    const closedPort = await new Promise<number>((resolve) => {
      const probe = createServer().listen(0, "127.0.0.1", () => {
        const { port } = probe.address() as { port: number };
        probe.close(() => resolve(port));
      });
    });
    const down = new S3ObjectStore({ bucket: "nowhere", endpoint: `http://127.0.0.1:${closedPort}`, accessKey: "S3RVER", secretKey: "S3RVER" });
    for (const operation of [() => down.get("a.pem"), () => down.put("a.pem", Buffer.from("x")), () => down.list()]) {
      const error = await operation().then(
        () => undefined,
        (e: { code: number; message: string }) => e,
      );
      expect(error?.code).toBe(status.UNAVAILABLE);
      expect(error?.message).toMatch(/^object store unavailable: .*ECONNREFUSED/);
    }
  });
});

describe("parseS3Endpoint", () => {
  it.each([
    ["http://127.0.0.1:4569", { endPoint: "127.0.0.1", port: 4569, useSSL: false }],
    ["https://s3.example.net", { endPoint: "s3.example.net", port: 443, useSSL: true }],
    ["http://minio.local", { endPoint: "minio.local", port: 80, useSSL: false }],
    ["minio.local:9000", { endPoint: "minio.local", port: 9000, useSSL: true }],
    ["http://[::1]:9000", { endPoint: "::1", port: 9000, useSSL: false }],
  ])("%s", (endpointUrl, expected) => {
    expect(parseS3Endpoint(endpointUrl)).toEqual(expected);
  });

  it.each(["ftp://x", "http://host:9000/path"])("refuses %s", (endpointUrl) => {
    expect(() => parseS3Endpoint(endpointUrl)).toThrow();
  });
});
