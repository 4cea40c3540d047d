// A multi-row INSERT compiled once per row count and run with fresh parameters.
// Building a Kysely query for every batch (and preparing a new statement for every
// row count) cost the control plane more per host than anything else in a big job.
// Rows go in chunks of 1000, 100, 10 and 1 rows, so a batch of any size runs at most
// a few dozen statements of four kinds, each compiled once (and, on SQLite, prepared
// once: server/job-store/sqlite-statement-cache.ts).
import type { Compilable, CompiledQuery, Transaction } from "kysely";

/** Rows per statement, largest first: far below SQLite's 32,766 and PostgreSQL's 65,535 parameters. */
export const CHUNK_ROWS = [1000, 100, 10, 1] as const;

export class BatchedInsert<Row extends Record<string, unknown>> {
  private readonly compiled = new Map<number, CompiledQuery>();

  /**
   * `columns`: every column of a row, in the order the statement lists them.
   * `build(rows)`: the statement for these rows (placeholders; only their count matters).
   */
  constructor(
    private readonly columns: readonly (keyof Row & string)[],
    private readonly build: (rows: Row[]) => Compilable,
  ) {}

  /** Inserts `rows` in `trx`, in order. */
  async run<DB>(trx: Transaction<DB>, rows: readonly Row[]): Promise<void> {
    let start = 0;
    for (const size of CHUNK_ROWS) {
      while (rows.length - start >= size) {
        const query = this.statement(size);
        const parameters: unknown[] = [];
        for (let index = start; index < start + size; index++) {
          const row = rows[index]!;
          for (const column of this.columns) parameters.push(row[column]);
        }
        await trx.executeQuery({ ...query, parameters });
        start += size;
      }
    }
  }

  private statement(size: number): CompiledQuery {
    let query = this.compiled.get(size);
    if (!query) {
      const placeholder = Object.fromEntries(this.columns.map((column) => [column, 0])) as Row;
      query = this.build(new Array<Row>(size).fill(placeholder)).compile();
      if (query.parameters.length !== size * this.columns.length) {
        throw new Error(`batched insert of ${size} rows has ${query.parameters.length} parameters, expected ${size * this.columns.length}`);
      }
      this.compiled.set(size, query);
    }
    return query;
  }
}
