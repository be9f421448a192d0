import { ConfigError } from "../functions/core/errors.js";
import type { IdRange } from "../functions/core/shard-map.js";
import { quoteIdent } from "../functions/core/sql.js";

/**
 * Seeding writes every id of a shard's ranges; a map with huge ranges is meant for real data, not sample rows, and
 * would make one statement run for minutes inside a deploy.
 */
export const MAX_SEED_ROWS_PER_SHARD = 100_000;

/** The table of docs/architecture.md. `IF NOT EXISTS` makes the statement safe to run again on every stack update. */
export function createTableSql(table: string): string {
  return `CREATE TABLE IF NOT EXISTS ${quoteIdent(table)} (id INT PRIMARY KEY, name VARCHAR(255))`;
}

/** How many sample rows a shard with these ranges gets: one per id. */
export function seedRowCount(ranges: readonly IdRange[]): number {
  return ranges.reduce((sum, [start, end]) => sum + (end - start + 1), 0);
}

/**
 * The sample rows of one shard (id N named `Test N`, as the local runtime seeds them), as one statement that is
 * idempotent: rows that exist are left alone, so a re-run never fails and never overwrites edits.
 *
 * The Data API runs one statement per call, so the ranges are expanded by `generate_series` inside PostgreSQL
 * instead of listing every row in the SQL text.
 *
 * @throws ConfigError when the shard has no ranges or more than {@link MAX_SEED_ROWS_PER_SHARD} ids.
 */
export function seedRowsSql(table: string, ranges: readonly IdRange[]): string {
  const count = seedRowCount(ranges);
  if (count === 0)
    throw new ConfigError("context seedSampleRows: a shard without ranges has no rows to seed");
  if (count > MAX_SEED_ROWS_PER_SHARD) {
    throw new ConfigError(
      `context seedSampleRows: a shard would get ${count} sample rows (at most ${MAX_SEED_ROWS_PER_SHARD})`,
    );
  }
  // The bounds are validated 32-bit integers (createShardMap), so inlining them cannot inject SQL.
  const values = ranges.map(([start, end]) => `(${start}, ${end})`).join(", ");
  return [
    `INSERT INTO ${quoteIdent(table)} (id, name)`,
    `SELECT g, 'Test ' || g FROM (VALUES ${values}) AS r (lo, hi)`,
    "CROSS JOIN LATERAL generate_series(r.lo, r.hi) AS g",
    "ON CONFLICT (id) DO NOTHING",
  ].join(" ");
}
