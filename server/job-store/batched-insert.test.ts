import Database from "better-sqlite3";
import { Kysely, SqliteDialect } from "kysely";
import { afterEach, describe, expect, it } from "vitest";
import { BatchedInsert } from "./batched-insert.js";
import { withStatementCache } from "./sqlite-statement-cache.js";

interface Tables {
  items: { id: number; label: string | null };
}

const open: Kysely<Tables>[] = [];

afterEach(async () => {
  await Promise.all(open.splice(0).map((db) => db.destroy()));
});

async function itemsDb(log: (sql: string, parameters: readonly unknown[]) => void): Promise<Kysely<Tables>> {
  const db = new Kysely<Tables>({
    dialect: new SqliteDialect({ database: new Database(":memory:") }),
    log: (event) => log(event.query.sql, event.query.parameters),
  });
  open.push(db);
  await db.schema.createTable("items").addColumn("id", "integer", (column) => column.primaryKey()).addColumn("label", "text").execute();
  return db;
}

describe("BatchedInsert", () => {
  it("inserts every row in order, in chunks of 1000, 100, 10 and 1 rows", async () => {
    const chunks: number[] = [];
    const db = await itemsDb((sql, parameters) => {
      if (sql.startsWith("insert")) chunks.push(parameters.length / 2);
    });
    const insert = new BatchedInsert<Tables["items"]>(["id", "label"], (rows) => db.insertInto("items").values(rows));
    const rows = Array.from({ length: 1234 }, (_, id) => ({ id, label: id % 3 === 0 ? null : `item ${id}` }));
    await db.transaction().execute((trx) => insert.run(trx, rows));
    expect(chunks).toEqual([1000, 100, 100, 10, 10, 10, 1, 1, 1, 1]);
    expect(await db.selectFrom("items").selectAll().orderBy("id").execute()).toEqual(rows);
  });

  it("inserts nothing for no rows", async () => {
    const statements: string[] = [];
    const db = await itemsDb((sql) => statements.push(sql));
    const insert = new BatchedInsert<Tables["items"]>(["id", "label"], (rows) => db.insertInto("items").values(rows));
    statements.length = 0;
    await db.transaction().execute((trx) => insert.run(trx, []));
    expect(statements).toEqual(["begin", "commit"]);
  });
});

/** A database with a table `t` that notes every statement it prepares in `prepared`. */
function countingDatabase(prepared: string[]) {
  const database = new Database(":memory:");
  database.exec("create table t (x integer)");
  return { close: () => database.close(), prepare: (sql: string) => (prepared.push(sql), database.prepare(sql)) };
}

describe("withStatementCache", () => {
  it("prepares a write statement once and a read statement every time", () => {
    const prepared: string[] = [];
    const cached = withStatementCache(countingDatabase(prepared), 2);
    for (let i = 0; i < 3; i++) cached.prepare("insert into t values (?)").run([i]);
    for (let i = 0; i < 2; i++) expect(cached.prepare("select count(*) as n from t").all([])).toEqual([{ n: 3 }]);
    expect(prepared).toEqual(["insert into t values (?)", "select count(*) as n from t", "select count(*) as n from t"]);
    cached.close();
  });

  it("keeps at most `size` statements, dropping the oldest", () => {
    const prepared: string[] = [];
    const cached = withStatementCache(countingDatabase(prepared), 2);
    for (const sql of ["insert into t values (1)", "insert into t values (2)", "insert into t values (3)", "insert into t values (1)", "insert into t values (3)"]) {
      cached.prepare(sql).run([]);
    }
    expect(prepared).toEqual(["insert into t values (1)", "insert into t values (2)", "insert into t values (3)", "insert into t values (1)"]);
    cached.close();
  });
});
