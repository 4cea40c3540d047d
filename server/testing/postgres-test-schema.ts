// A throwaway PostgreSQL schema for tests: `CREATE SCHEMA tp_test_<random>` on the
// test cluster, a connection URL whose search path points at it, and a drop.
//
// When the cluster is not reachable the PostgreSQL tests are skipped, loudly,
// unless TRUSTPLANE_REQUIRE_CLUSTER=1 makes that a failure.
import { randomBytes } from "node:crypto";
import pg from "pg";

export const TEST_POSTGRES_URL = process.env.TRUSTPLANE_TEST_POSTGRES_URL ?? "postgres://postgres@127.0.0.1:5432/test";

const PROBE_TIMEOUT_MS = 3_000;

export interface TestSchema {
  name: string;
  /** TEST_POSTGRES_URL with `options=-c search_path=<name>`. */
  url: string;
  drop(): Promise<void>;
}

async function withClient<T>(run: (client: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString: TEST_POSTGRES_URL, connectionTimeoutMillis: PROBE_TIMEOUT_MS });
  client.on("error", () => undefined);
  await client.connect();
  try {
    return await run(client);
  } finally {
    await client.end();
  }
}

/**
 * Whether the test cluster answers. When it does not, says so on stderr (or throws
 * with TRUSTPLANE_REQUIRE_CLUSTER=1) and answers the reason.
 */
export async function postgresUnavailable(): Promise<string | undefined> {
  try {
    await withClient((client) => client.query("select 1"));
    return undefined;
  } catch (error) {
    const reason = `PostgreSQL not reachable at ${TEST_POSTGRES_URL}: ${error instanceof Error ? error.message : String(error)}`;
    if (process.env.TRUSTPLANE_REQUIRE_CLUSTER === "1") throw new Error(`${reason} (TRUSTPLANE_REQUIRE_CLUSTER=1)`);
    process.stderr.write(`\n*** SKIPPING PostgreSQL job-store tests: ${reason} ***\n\n`);
    return reason;
  }
}

export async function createTestSchema(): Promise<TestSchema> {
  const name = `tp_test_${randomBytes(6).toString("hex")}`;
  await withClient((client) => client.query(`create schema ${name}`));
  const url = new URL(TEST_POSTGRES_URL);
  url.searchParams.set("options", `-c search_path=${name}`);
  return {
    name,
    url: url.toString(),
    drop: () => withClient(async (client) => void (await client.query(`drop schema if exists ${name} cascade`))),
  };
}
