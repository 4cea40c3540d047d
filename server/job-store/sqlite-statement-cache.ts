// Keeps better-sqlite3's prepared write statements for reuse. Kysely's SQLite driver
// prepares every query it runs; the job store's writes repeat a handful of statements
// (server/job-store/batched-insert.ts) thousands of times a second during a big job,
// and preparing them again each time cost more than running them. Only writes are
// kept: a read statement may still be iterating when the same SQL runs again.
import type { SqliteDatabase, SqliteStatement } from "kysely";

/** At most this many statements are kept; the oldest goes first. */
export const STATEMENT_CACHE_SIZE = 64;

export function withStatementCache(database: SqliteDatabase, size = STATEMENT_CACHE_SIZE): SqliteDatabase {
  const statements = new Map<string, SqliteStatement>();
  return {
    close: () => {
      statements.clear();
      database.close();
    },
    prepare(sql: string): SqliteStatement {
      const kept = statements.get(sql);
      if (kept) return kept;
      const statement = database.prepare(sql);
      if (statement.reader) return statement;
      if (statements.size >= size) statements.delete(statements.keys().next().value!);
      statements.set(sql, statement);
      return statement;
    },
  };
}
