// Store outages: an object store or job store that stops answering makes calls fail
// with UNAVAILABLE and a clear message (the gateway's 503), and the control plane
// recovers by itself once the store is back — no restart.
import { create } from "@bufbuild/protobuf";
import { status } from "@grpc/grpc-js";
import { Kysely, PostgresDialect } from "kysely";
import { mkdtemp, rm } from "node:fs/promises";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import pg from "pg";
import S3rver from "s3rver";
import { afterEach, describe, expect, it } from "vitest";
import { createLogger } from "../common/logger.js";
import { InstallCARequestSchema } from "../gen/trustplane/v1/certificate_pb.js";
import { ListRequestSchema, UploadRequestSchema } from "../gen/trustplane/v1/file_pb.js";
import { GetJobRequestSchema, ListJobsRequestSchema } from "../gen/trustplane/v1/job_pb.js";
import { makeCa } from "../test/fixtures/pki.js";
import { SqlJobStore } from "./job-store/sql-job-store.js";
import type { JobStoreTables } from "./job-store/tables.js";
import { certificateClient, fileClient, jobClient, streamJob, unary } from "./testing/client-calls.js";
import { startTestControlPlane, TEST_JOIN_TOKEN } from "./testing/control-plane-fixture.js";
import { FakeAgent } from "./testing/fake-agent.js";
import { createTestSchema, postgresUnavailable, TEST_POSTGRES_URL } from "./testing/postgres-test-schema.js";
import { TcpProxy } from "./testing/tcp-proxy.js";

const cleanups: (() => unknown)[] = [];

afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

async function closedPort(): Promise<number> {
  return new Promise((resolve) => {
    const probe = createServer().listen(0, "127.0.0.1", () => {
      const { port } = probe.address() as { port: number };
      probe.close(() => resolve(port));
    });
  });
}

describe("object store outage (S3)", () => {
  it("answers UNAVAILABLE while s3rver is down and works again once it is back on the same port", async () => {
    const dir = await mkdtemp(join(tmpdir(), "trustplane-s3-outage-"));
    cleanups.push(() => rm(dir, { recursive: true, force: true }));
    let s3 = new S3rver({ port: 0, address: "127.0.0.1", silent: true, directory: dir });
    const { port } = await s3.run();
    let s3Running = true;
    cleanups.push(() => (s3Running ? s3.close() : undefined));
    const cp = await startTestControlPlane({
      objectStore: "s3://outage-bucket",
      s3: { endpoint: `http://127.0.0.1:${port}`, accessKey: "S3RVER", secretKey: "S3RVER" },
    });
    cleanups.push(() => cp.close());
    const files = fileClient(cp.address);
    const certificates = certificateClient(cp.address);
    cleanups.push(() => files.close(), () => certificates.close());
    const agent = await FakeAgent.connect(cp.address, { hostname: "web-1", joinToken: TEST_JOIN_TOKEN });
    cleanups.push(() => agent.close());
    const ca = makeCa();
    expect((await unary(files, "upload", create(UploadRequestSchema, { name: "ca.pem", content: Buffer.from(ca.certPem) }), cp.keys.write)).error).toBeUndefined();

    await s3.close();
    s3Running = false;
    const listed = await unary(files, "list", create(ListRequestSchema), cp.keys.read);
    expect(listed.error).toMatchObject({ code: status.UNAVAILABLE, message: expect.stringMatching(/^object store unavailable: .*ECONNREFUSED/) });
    const install = await streamJob(certificates, "installCA", create(InstallCARequestSchema, { target: "web-1", name: "corp", object: "ca.pem" }), cp.keys.write);
    expect(install.error).toMatchObject({ code: status.UNAVAILABLE, message: expect.stringMatching(/^object store unavailable: /) });
    expect(install.events).toEqual([]);
    expect(agent.commands).toEqual([]);

    s3 = new S3rver({ port, address: "127.0.0.1", silent: true, directory: dir });
    await s3.run();
    s3Running = true;
    const back = await unary<{ files: { name: string }[] }>(files, "list", create(ListRequestSchema), cp.keys.read);
    expect(back.error).toBeUndefined();
    expect(back.response!.files.map((file) => file.name)).toEqual(["ca.pem"]);
  });
});

describe("job store pointing at a closed port", () => {
  it("answers UNAVAILABLE `job store unavailable: …`, not INTERNAL", async () => {
    const pool = new pg.Pool({ connectionString: `postgres://postgres@127.0.0.1:${await closedPort()}/none`, connectionTimeoutMillis: 2_000 });
    pool.on("error", () => undefined);
    const store = new SqlJobStore({
      db: new Kysely<JobStoreTables>({ dialect: new PostgresDialect({ pool }) }),
      logger: createLogger({ component: "store-outage-test", level: "silent" }),
    });
    cleanups.push(() => store.close());
    for (const read of [() => store.getJob("job-1"), () => store.listJobs({ limit: 10, offset: 0 }), () => store.loadAgents()]) {
      await expect(read()).rejects.toMatchObject({ code: status.UNAVAILABLE, message: expect.stringMatching(/^job store unavailable: .*ECONNREFUSED/) });
    }
  });
});

const postgresMissing = await postgresUnavailable();

describe.skipIf(postgresMissing !== undefined)(`job store outage (PostgreSQL)${postgresMissing ? ` (SKIPPED: ${postgresMissing})` : ""}`, () => {
  it("answers UNAVAILABLE while PostgreSQL is unreachable and works again once it is back", async () => {
    const schema = await createTestSchema();
    cleanups.push(() => schema.drop());
    const target = new URL(TEST_POSTGRES_URL);
    const proxy = new TcpProxy(target.hostname, Number(target.port || 5432));
    const proxyPort = await proxy.start();
    cleanups.push(() => proxy.stop());
    const url = new URL(schema.url);
    url.host = `127.0.0.1:${proxyPort}`;
    const cp = await startTestControlPlane({ jobStore: url.toString() });
    cleanups.push(() => cp.close());
    const jobs = jobClient(cp.address);
    cleanups.push(() => jobs.close());
    const listJobs = () => unary<{ total: number }>(jobs, "listJobs", create(ListJobsRequestSchema), cp.keys.read);
    expect(await listJobs()).toMatchObject({ response: { total: 0 } });

    await proxy.stop();
    expect((await listJobs()).error).toMatchObject({ code: status.UNAVAILABLE, message: expect.stringMatching(/^job store unavailable: /) });
    const missing = await unary(jobs, "getJob", create(GetJobRequestSchema, { id: "00000000-0000-4000-8000-000000000000" }), cp.keys.read);
    expect(missing.error).toMatchObject({ code: status.UNAVAILABLE, message: expect.stringMatching(/^job store unavailable: /) });

    await proxy.start();
    expect(proxy.port).toBe(proxyPort);
    expect(await listJobs()).toMatchObject({ response: { total: 0 } });
  });
});
