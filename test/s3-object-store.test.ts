// Issue #2, behaviour 8: the install flow with the object store on S3 (the minio
// client against a real S3-protocol server on loopback).
import { readFileSync } from "node:fs";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { makeCa, makeLeaf, opensslVerifies } from "./fixtures/pki.js";
import { startS3Server, type S3Server } from "./fixtures/s3-server.js";
import { Fleet } from "./harness/fleet.js";
import { debianBundle } from "./harness/sandbox-root.js";

describe("object store on S3", () => {
  let s3: S3Server;
  let fleet: Fleet;

  beforeAll(async () => {
    s3 = await startS3Server();
    fleet = await Fleet.start({
      agents: [{ hostname: "s3-node-1" }, { hostname: "s3-node-2" }],
      serverArgs: ["--object-store", "s3://trustplane-objects", "--s3-endpoint", s3.endpoint],
      serverEnv: { TRUSTPLANE_S3_ACCESS_KEY: s3.accessKey, TRUSTPLANE_S3_SECRET_KEY: s3.secretKey },
    });
  });
  afterAll(async () => {
    await fleet?.close();
    await s3?.close();
  });

  it("uploads to S3, lists and reads back, and installs from it", async () => {
    const ca = makeCa({ commonName: "s3 CA" });
    const upload = await fleet.upload("s3-ca.pem", ca.certPem);
    expect(upload.status).toBe(200);
    expect(upload.body).toMatchObject({ name: "s3-ca.pem", size: Buffer.byteLength(ca.certPem), changed: true });
    expect(upload.body.sha256).toMatch(/^[0-9a-f]{64}$/);

    const list = await fleet.rest("GET", "/file");
    expect(list.body.files.map((f: any) => [f.name, f.sha256])).toEqual([["s3-ca.pem", upload.body.sha256]]);
    const got = await fleet.rest("GET", "/file/s3-ca.pem");
    expect(got.body.content).toBe(ca.certPem);

    const answer = await fleet.install("_all", "s3-root", "s3-ca.pem");
    expect(answer.status).toBe(200);
    expect(answer.body.results.map((r: any) => [r.status, r.changed]).sort()).toEqual([
      ["ok", true],
      ["ok", true],
    ]);
    const leaf = makeLeaf(ca);
    for (const agent of fleet.agents.values()) {
      expect(readFileSync(debianBundle(agent.root), "utf8")).toContain(ca.certPem.trim());
      expect(opensslVerifies(debianBundle(agent.root), leaf.certPem)).toBe(true);
    }

    const missing = await fleet.install("_all", "s3-root", "absent.pem");
    expect(missing.status).toBe(400);
    expect(missing.body.error).toContain("not found");

    const deleted = await fleet.rest("DELETE", "/file/s3-ca.pem");
    expect(deleted.status).toBe(200);
    expect((await fleet.rest("GET", "/file/s3-ca.pem")).status).toBe(404);
  });

  it("answers 503 when the S3 endpoint is unreachable", async () => {
    await s3.close();
    const answer = await fleet.install("_all", "s3-root", "s3-ca.pem");
    expect(answer.status).toBe(503);
    expect(answer.body).toEqual({ error: expect.stringContaining("object store"), details: expect.any(String), code: 503 });
    s3 = { ...s3, close: async () => {} };
  });
});
