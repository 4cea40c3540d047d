// The control plane as a whole: reflection, API keys re-read without restart,
// graceful close.
import { create, fromBinary } from "@bufbuild/protobuf";
import { FileDescriptorProtoSchema } from "@bufbuild/protobuf/wkt";
import { credentials, loadPackageDefinition, status, type GrpcObject, type ServiceClientConstructor } from "@grpc/grpc-js";
import { loadSync } from "@grpc/proto-loader";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { InstallCARequestSchema } from "../gen/trustplane/v1/certificate_pb.js";
import { ResultStatus } from "../gen/trustplane/v1/common_pb.js";
import { ListRequestSchema, UploadRequestSchema } from "../gen/trustplane/v1/file_pb.js";
import { makeCa } from "../test/fixtures/pki.js";
import { createApiKey, removeApiKey } from "./auth/api-keys-file.js";
import { certificateClient, fileClient, streamJob, unary } from "./testing/client-calls.js";
import { startTestControlPlane, TEST_JOIN_TOKEN, type TestControlPlane } from "./testing/control-plane-fixture.js";
import { FakeAgent } from "./testing/fake-agent.js";

let cp: TestControlPlane;
const cleanups: (() => void)[] = [];

beforeEach(async () => {
  cp = await startTestControlPlane();
});

afterEach(async () => {
  for (const cleanup of cleanups.splice(0)) cleanup();
  await cp.close();
});

function reflectionClient(address: string) {
  const reflectionRoot = join(dirname(createRequire(import.meta.url).resolve("@grpc/reflection")), "..", "proto");
  const definition = loadSync("grpc/reflection/v1/reflection.proto", { includeDirs: [reflectionRoot] });
  const grpcPackage = loadPackageDefinition(definition) as unknown as { grpc: { reflection: { v1: GrpcObject } } };
  const Client = grpcPackage.grpc.reflection.v1.ServerReflection as ServiceClientConstructor;
  return new Client(address, credentials.createInsecure());
}

/** One request on a ServerReflectionInfo stream; its one answer. */
function reflect(client: InstanceType<ServiceClientConstructor>, request: Record<string, string>): Promise<Record<string, unknown>> {
  return new Promise((resolve, reject) => {
    const call = (client as unknown as { ServerReflectionInfo(): NodeJS.ReadWriteStream }).ServerReflectionInfo();
    call.on("data", (response: Record<string, unknown>) => {
      resolve(response);
      call.end();
    });
    call.on("error", reject);
    call.write(request as never);
  });
}

describe("control plane", () => {
  it("serves gRPC reflection without an API key", async () => {
    const client = reflectionClient(cp.address);
    cleanups.push(() => client.close());
    const listed = await reflect(client, { listServices: "*" });
    const names = (listed.listServicesResponse as { service: { name: string }[] }).service.map((service) => service.name);
    expect(names).toEqual(
      expect.arrayContaining([
        "trustplane.v1.CertificateService",
        "trustplane.v1.FileService",
        "trustplane.v1.AgentService",
        "trustplane.v1.JobService",
        "trustplane.v1.FleetService",
      ]),
    );

    // Real file names and imports, so a client can resolve every type (buf curl needs that).
    const files = async (symbol: string) => {
      const found = await reflect(client, { fileContainingSymbol: symbol });
      return (found.fileDescriptorResponse as { fileDescriptorProto: Buffer[] }).fileDescriptorProto
        .map((bytes) => fromBinary(FileDescriptorProtoSchema, bytes))
        .map((file) => ({ name: file.name, dependency: file.dependency }))
        .sort((a, b) => a.name.localeCompare(b.name));
    };
    expect(await files("trustplane.v1.CertificateService")).toEqual([
      { name: "trustplane/v1/certificate.proto", dependency: ["trustplane/v1/common.proto"] },
      { name: "trustplane/v1/common.proto", dependency: [] },
    ]);
    expect(await files("trustplane.v1.FileService")).toEqual([
      { name: "google/protobuf/timestamp.proto", dependency: [] },
      { name: "trustplane/v1/file.proto", dependency: ["google/protobuf/timestamp.proto"] },
    ]);
    expect(await files("trustplane.v1.FleetService")).toEqual([
      { name: "google/protobuf/timestamp.proto", dependency: [] },
      { name: "trustplane/v1/agent.proto", dependency: ["trustplane/v1/common.proto"] },
      { name: "trustplane/v1/common.proto", dependency: [] },
      { name: "trustplane/v1/fleet.proto", dependency: ["google/protobuf/timestamp.proto", "trustplane/v1/agent.proto"] },
    ]);
  });

  it.each([
    ["an unknown job store", { jobStore: "mysql://db" }, /^job store "mysql:\/\/db": a job store is/],
    ["an unreachable PostgreSQL", { jobStore: "postgres://postgres@127.0.0.1:1/none" }, /^job store: cannot reach PostgreSQL: /],
    ["a bad metrics address", { metricsAddress: "127.0.0.1:http" }, /^metrics address "127\.0\.0\.1:http" must be HOST:PORT$/],
    ["a zero heartbeat interval", { heartbeatIntervalMs: 0 }, /^heartbeat interval must be a positive number of milliseconds, got 0$/],
    ["an agent message rate without a burst", { agentMessageRate: { perSecond: 10, burst: 0 } }, /^agent message rate needs perSecond > 0 and a whole burst >= 1, got 10\/s, burst 0$/],
  ])("refuses to start with %s", async (_case, options, message) => {
    await expect(startTestControlPlane(options)).rejects.toThrow(message);
  });

  it("honours keys added to and removed from the keys file without a restart", async () => {
    const files = fileClient(cp.address);
    cleanups.push(() => files.close());
    const list = (key: string) => unary(files, "list", create(ListRequestSchema), key);

    const added = await createApiKey(cp.keysFile, { permissions: ["file:read"], name: "late" });
    expect((await list(added.key)).error).toBeUndefined();
    const denied = await unary(files, "upload", create(UploadRequestSchema, { name: "a.pem", content: Buffer.from("x") }), added.key);
    expect(denied.error).toMatchObject({ code: status.PERMISSION_DENIED, message: `key "${added.id}" lacks permission file:write` });

    expect(await removeApiKey(cp.keysFile, added.id)).toBe(true);
    expect((await list(added.key)).error).toMatchObject({ code: status.UNAUTHENTICATED, message: "unknown API key" });
    expect((await list(cp.keys.read)).error).toBeUndefined();
  });

  it("close() refuses new calls, jobs and agents with UNAVAILABLE, lets a running job finish within the grace, then stops", async () => {
    const ca = makeCa();
    const files = fileClient(cp.address);
    const certificates = certificateClient(cp.address);
    cleanups.push(() => files.close(), () => certificates.close());
    await unary(files, "upload", create(UploadRequestSchema, { name: "ca.pem", content: Buffer.from(ca.certPem) }), cp.keys.write);
    const agent = await FakeAgent.connect(cp.address, { hostname: "busy-1", joinToken: TEST_JOIN_TOKEN });
    cleanups.push(() => agent.close());

    const job = streamJob(certificates, "installCA", create(InstallCARequestSchema, { target: "busy-1", name: "ca", object: "ca.pem" }), cp.keys.write);
    const command = await agent.nextCommand();
    let closeResolved = false;
    const closed = cp.controlPlane.close(10_000).then(() => (closeResolved = true));

    // While the job runs, new calls, new jobs and new agent streams are refused.
    const shuttingDown = { code: status.UNAVAILABLE, message: "control plane is shutting down" };
    expect((await unary(files, "list", create(ListRequestSchema), cp.keys.read)).error).toMatchObject(shuttingDown);
    const refusedJob = await streamJob(certificates, "installCA", create(InstallCARequestSchema, { target: "busy-1", name: "ca", object: "ca.pem" }), cp.keys.write);
    expect(refusedJob.error).toMatchObject(shuttingDown);
    const late = new FakeAgent(cp.address, { hostname: "late-1", joinToken: TEST_JOIN_TOKEN });
    cleanups.push(() => late.close());
    const lateStatus = await late.status;
    expect({ code: lateStatus.code, details: lateStatus.details }).toEqual({ code: status.UNAVAILABLE, details: "control plane is shutting down" });
    expect(closeResolved).toBe(false);

    // The fake agent answers after close() began: the job still finishes with its result.
    agent.answer(command.id, { status: ResultStatus.OK, changed: true });
    const { events, error } = await job;
    expect(error).toBeUndefined();
    expect(events.map((event) => event.event.case)).toEqual(["started", "result", "summary"]);
    const result = events[1]!.event.case === "result" ? events[1]!.event.value : undefined;
    expect([result?.status, result?.changed]).toEqual([ResultStatus.OK, true]);
    await closed;
    const agentStatus = await agent.status;
    expect({ code: agentStatus.code, details: agentStatus.details }).toEqual({ code: status.UNAVAILABLE, details: "control plane is shutting down" });
  });

  it("close() ends agent streams after the grace; their commands fail `agent disconnected`", async () => {
    const ca = makeCa();
    const files = fileClient(cp.address);
    const certificates = certificateClient(cp.address);
    cleanups.push(() => files.close(), () => certificates.close());
    await unary(files, "upload", create(UploadRequestSchema, { name: "ca.pem", content: Buffer.from(ca.certPem) }), cp.keys.write);
    const agent = await FakeAgent.connect(cp.address, { hostname: "stuck-1", joinToken: TEST_JOIN_TOKEN });
    cleanups.push(() => agent.close());
    const job = streamJob(certificates, "installCA", create(InstallCARequestSchema, { target: "stuck-1", name: "ca", object: "ca.pem" }), cp.keys.write);
    await agent.nextCommand();
    const started = Date.now();
    await cp.controlPlane.close(200);
    expect(Date.now() - started).toBeLessThan(5_000);
    const { events } = await job;
    expect(events.flatMap((event) => (event.event.case === "result" ? [event.event.value.error] : []))).toEqual(["agent disconnected"]);
  });
});
