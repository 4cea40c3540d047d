// Issue #2, behaviour 4: API keys and permissions, through REST and through the
// control plane's gRPC API directly (same rules, enforced on the control plane).
import { Code, ConnectError, createClient } from "@connectrpc/connect";
import { createGrpcTransport } from "@connectrpc/connect-node";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { CertificateService } from "../gen/trustplane/v1/certificate_pb.js";
import { FileService } from "../gen/trustplane/v1/file_pb.js";
import { makeCa } from "./fixtures/pki.js";
import { Fleet } from "./harness/fleet.js";
import { runTrustplane } from "./harness/trustplane-process.js";

async function grpcError(call: () => Promise<unknown>): Promise<ConnectError> {
  try {
    await call();
  } catch (error) {
    return ConnectError.from(error);
  }
  throw new Error("expected the call to fail");
}

describe("API keys", () => {
  let fleet: Fleet;
  let readKey: string;
  let writeKey: string;

  beforeAll(async () => {
    fleet = await Fleet.start({ agents: [{ hostname: "node-1" }] });
    readKey = await fleet.createKey("read");
    writeKey = await fleet.createKey("write");
    expect((await fleet.upload("ca.pem", makeCa().certPem)).status).toBe(200);
  });
  afterAll(async () => {
    await fleet?.close();
  });

  const install = (key: string | null) =>
    fleet.rest("POST", "/node/_all/certificate/ca", { key, json: { name: "corp-root", object: "ca.pem" } });

  it.each([
    { who: "no Authorization header", key: () => null, status: 401 },
    { who: "an unknown key", key: () => "tp_not-a-real-key", status: 401 },
    { who: "a read key", key: () => readKey, status: 403 },
  ])("REST answers $status to $who, with the error body", async ({ key, status }) => {
    const answer = await install(key());
    expect(answer.status).toBe(status);
    expect(answer.body).toEqual({ error: expect.any(String), details: expect.any(String), code: status });
    expect(answer.body.error.length).toBeGreaterThan(0);
  });

  it("REST accepts a write key for a mutation and a read key for reads", async () => {
    const answer = await install(writeKey);
    expect(answer.status).toBe(200);
    expect(answer.body.results).toEqual([{ hostname: "node-1", status: "ok", name: "corp-root", changed: true }]);
    const files = await fleet.rest("GET", "/file", { key: readKey });
    expect(files.status).toBe(200);
    expect(files.body.files.map((f: any) => f.name)).toEqual(["ca.pem"]);
    const upload = await fleet.rest("POST", "/file", { key: readKey, json: { name: "x.pem", content: "x" } });
    expect(upload.status).toBe(403);
  });

  it("the control plane's gRPC API enforces the same rules", async () => {
    const transport = createGrpcTransport({ baseUrl: `http://${fleet.grpcAddress}` });
    const certificates = createClient(CertificateService, transport);
    const files = createClient(FileService, transport);
    const request = { target: "_all", name: "corp-root", object: "ca.pem" };
    const drain = async (headers?: Record<string, string>) => {
      const events = [];
      for await (const response of certificates.installCA(request, { headers })) events.push(response);
      return events;
    };

    expect((await grpcError(() => drain())).code).toBe(Code.Unauthenticated);
    expect((await grpcError(() => drain({ authorization: "Bearer tp_wrong" }))).code).toBe(Code.Unauthenticated);
    expect((await grpcError(() => drain({ authorization: `Bearer ${readKey}` }))).code).toBe(Code.PermissionDenied);
    expect((await grpcError(() => files.list({}))).code).toBe(Code.Unauthenticated);

    const events = await drain({ authorization: `Bearer ${writeKey}` });
    expect(events.map((e) => e.event?.event.case)).toEqual(["started", "result", "summary"]);
    expect(events[1]!.event?.event.value).toMatchObject({ hostname: "node-1", name: "corp-root", changed: false });
  });

  it("a key created while the control plane runs works at once, and a removed one stops working", async () => {
    const fresh = await fleet.createKeyRecord("read");
    expect((await fleet.rest("GET", "/file", { key: fresh.key })).status).toBe(200);
    const removed = await runTrustplane(["keys", "remove", "--id", fresh.id, "--keys-file", fleet.keysFile]);
    expect(removed.code).toBe(0);
    // The control plane notices the file change on its own; poll with a deadline.
    const deadline = Date.now() + 10_000;
    let status = 200;
    while (Date.now() < deadline && status !== 401) {
      status = (await fleet.rest("GET", "/file", { key: fresh.key })).status;
    }
    expect(status).toBe(401);
  });
});
