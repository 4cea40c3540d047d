// The job store's schema, as in-code Kysely migrations run on every start (one code
// path for SQLite and PostgreSQL). Add a migration; never edit one that shipped.
import { Migrator, type Kysely, type Migration, type MigrationProvider } from "kysely";

const MIGRATIONS: Record<string, Migration> = {
  "0001_jobs_results_agents": {
    async up(db: Kysely<unknown>): Promise<void> {
      await db.schema
        .createTable("jobs")
        .addColumn("id", "text", (column) => column.primaryKey())
        .addColumn("operation", "text", (column) => column.notNull())
        .addColumn("target", "text", (column) => column.notNull())
        .addColumn("name", "text", (column) => column.notNull())
        .addColumn("object", "text", (column) => column.notNull())
        .addColumn("options", "text", (column) => column.notNull())
        .addColumn("requested_by", "text", (column) => column.notNull())
        .addColumn("created_at", "bigint", (column) => column.notNull())
        .addColumn("finished_at", "bigint")
        .addColumn("state", "text", (column) => column.notNull())
        .addColumn("hostnames", "text", (column) => column.notNull())
        .execute();
      await db.schema.createIndex("jobs_created_at").on("jobs").column("created_at").execute();
      await db.schema.createIndex("jobs_state_created_at").on("jobs").columns(["state", "created_at"]).execute();
      await db.schema.createIndex("jobs_target_created_at").on("jobs").columns(["target", "created_at"]).execute();

      await db.schema
        .createTable("job_results")
        .addColumn("job_id", "text", (column) => column.notNull())
        .addColumn("position", "integer", (column) => column.notNull())
        .addColumn("hostname", "text", (column) => column.notNull())
        .addColumn("status", "text", (column) => column.notNull())
        .addColumn("changed", "integer", (column) => column.notNull())
        .addColumn("error", "text", (column) => column.notNull())
        .addColumn("certificates", "text")
        .addPrimaryKeyConstraint("job_results_pk", ["job_id", "position"])
        .execute();

      await db.schema
        .createTable("agents")
        .addColumn("hostname", "text", (column) => column.primaryKey())
        .addColumn("labels", "text", (column) => column.notNull())
        .addColumn("os", "text")
        .addColumn("agent_version", "text", (column) => column.notNull())
        .addColumn("connected_at", "bigint", (column) => column.notNull())
        .addColumn("last_seen_at", "bigint", (column) => column.notNull())
        .execute();
    },
  },
  "0002_jobs_owner": {
    async up(db: Kysely<unknown>): Promise<void> {
      // Jobs recorded before are a single control plane's: owner "".
      await db.schema
        .alterTable("jobs")
        .addColumn("owner", "text", (column) => column.notNull().defaultTo(""))
        .execute();
    },
  },
};

const provider: MigrationProvider = { getMigrations: async () => MIGRATIONS };

/**
 * Brings the schema up to date. `schema` names the PostgreSQL schema the tables live
 * in (the first of the search path), so the migrator's own tables are looked for
 * there and not in another schema of the same database; undefined for SQLite.
 */
export async function migrateJobStore(db: Kysely<unknown>, schema: string | undefined): Promise<void> {
  const migrator = new Migrator({
    db,
    provider,
    migrationTableName: "trustplane_migration",
    migrationLockTableName: "trustplane_migration_lock",
    migrationTableSchema: schema,
  });
  const { error, results } = await migrator.migrateToLatest();
  if (error) {
    const failed = results?.find((result) => result.status === "Error");
    const reason = error instanceof Error ? error.message : String(error);
    throw new Error(failed ? `job store migration ${failed.migrationName} failed: ${reason}` : `job store migration failed: ${reason}`);
  }
}
