// The job-store contract against every backend: memory, SQLite (a temp file) and
// PostgreSQL (a fresh schema per test on the test cluster).
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe } from "vitest";
import { createLogger } from "../../common/logger.js";
import { jobStoreContract } from "../testing/job-store-contract.js";
import { createTestSchema, postgresUnavailable, type TestSchema } from "../testing/postgres-test-schema.js";
import type { JobStore } from "./job-store.js";
import { MemoryJobStore } from "./memory-job-store.js";
import { openJobStore } from "./open-job-store.js";

const logger = createLogger({ component: "job-store-test", level: "silent" });

describe("MemoryJobStore", () => {
  let store: JobStore;
  beforeEach(() => {
    store = new MemoryJobStore();
  });
  jobStoreContract(() => store);
});

describe("SqlJobStore on SQLite", () => {
  let store: JobStore;
  let dir: string;
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), "trustplane-jobs-"));
    store = await openJobStore(`sqlite:${join(dir, "jobs.db")}`, { logger });
  });
  afterEach(async () => {
    await store.close();
    await rm(dir, { recursive: true, force: true });
  });
  jobStoreContract(() => store);
});

const postgresMissing = await postgresUnavailable();

describe.skipIf(postgresMissing !== undefined)(`SqlJobStore on PostgreSQL${postgresMissing ? ` (SKIPPED: ${postgresMissing})` : ""}`, () => {
  let store: JobStore;
  let schema: TestSchema;
  beforeEach(async () => {
    schema = await createTestSchema();
    store = await openJobStore(schema.url, { logger });
  });
  afterEach(async () => {
    await store.close();
    await schema.drop();
  });
  jobStoreContract(() => store);
});
