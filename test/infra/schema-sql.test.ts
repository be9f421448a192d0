import { describe, expect, it } from "vitest";
import { ConfigError } from "../../functions/core/errors.js";
import {
  createTableSql,
  MAX_SEED_ROWS_PER_SHARD,
  seedRowCount,
  seedRowsSql,
} from "../../infra/schema-sql.js";

describe("the schema statements", () => {
  it("create the table only when it does not exist yet, so an update can run them again", () => {
    expect(createTableSql("data_1")).toBe(
      'CREATE TABLE IF NOT EXISTS "data_1" (id INT PRIMARY KEY, name VARCHAR(255))',
    );
  });

  it("quote the table name, which cannot be a bound parameter", () => {
    expect(createTableSql('odd"name')).toContain('"odd""name"');
  });

  it("seed every id of a shard's ranges as Test N in one statement that skips existing rows", () => {
    expect(
      seedRowsSql("data_1", [
        [1, 10],
        [31, 40],
      ]),
    ).toBe(
      [
        'INSERT INTO "data_1" (id, name)',
        "SELECT g, 'Test ' || g FROM (VALUES (1, 10), (31, 40)) AS r (lo, hi)",
        "CROSS JOIN LATERAL generate_series(r.lo, r.hi) AS g",
        "ON CONFLICT (id) DO NOTHING",
      ].join(" "),
    );
  });

  it("count one sample row per id", () => {
    expect(
      seedRowCount([
        [1, 10],
        [31, 40],
      ]),
    ).toBe(20);
  });

  it("refuse to seed more rows than a deploy should wait for", () => {
    expect(() => seedRowsSql("data_1", [[1, MAX_SEED_ROWS_PER_SHARD + 1]])).toThrow(ConfigError);
    expect(() => seedRowsSql("data_1", [[1, MAX_SEED_ROWS_PER_SHARD]])).not.toThrow();
    expect(() => seedRowsSql("data_1", [])).toThrow(/no rows to seed/);
  });
});
