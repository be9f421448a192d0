/**
 * A page costs the same at any depth: the statement `GET /data` sends a shard (the real `selectRange` output, bound
 * the way the local Data API binds it) scans the index from the cursor, so the rows PostgreSQL reads and throws away do
 * not grow with depth. Checked with `EXPLAIN (ANALYZE, FORMAT JSON)` on a table of 300,000 rows, not with a clock.
 */
import pg from "pg";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { createShardMap, type IdRange, MAX_ID, type ShardMap } from "../../functions/core/shard-map.js";
import { RANGES_SCANNED_ALONE, selectRange } from "../../functions/core/sql.js";
import { fenceInitSql, fenceSchemaSql } from "../../infra/fence-sql.js";
import { bindParameters, toPositional } from "../../local/data-api/index.js";

const ROWS = 300_000;
const LIMIT = 101;
const DATABASE = "sql_plan";

/** `ROWS` ids in blocks of `size`, dealt round-robin to 3 shards. */
function roundRobin(size: number): ShardMap {
  const shards = [1, 2, 3].map((id) => ({ id, ranges: [] as [number, number][] }));
  for (let k = 0; k * size < ROWS; k++) shards[k % 3]?.ranges.push([k * size + 1, (k + 1) * size]);
  return createShardMap(shards);
}

interface PlanNode {
  "Node Type": string;
  "Index Cond"?: string;
  "Rows Removed by Filter"?: number;
  "Actual Rows": number;
  Plans?: PlanNode[];
}

const nodes = (n: PlanNode): PlanNode[] => [n, ...(n.Plans ?? []).flatMap(nodes)];

let admin: pg.Client;
let client: pg.Client;

beforeAll(async () => {
  const server = inject("postgres");
  admin = new pg.Client({ ...server, database: "postgres" });
  await admin.connect();
  await admin.query(`DROP DATABASE IF EXISTS ${DATABASE} WITH (FORCE)`);
  await admin.query(`CREATE DATABASE ${DATABASE}`);
  client = new pg.Client({ ...server, database: DATABASE });
  await client.connect();
  // Every id, not only one shard's: the gaps between a shard's ranges hold other shards' ids, the worst case for a
  // scan that filters (a shard that shares a database, or rows left behind by a move).
  await client.query("CREATE TABLE data_1 (id INT PRIMARY KEY, name VARCHAR(255))");
  await client.query(`INSERT INTO data_1 SELECT i, 'Test ' || i FROM generate_series(1, ${ROWS}) AS i`);
  await client.query("ANALYZE data_1");
  // The shard fence every read checks (one InitPlan): here shard 1 owns every id, so any of its pages is admitted.
  await client.query(fenceSchemaSql());
  await client.query(fenceInitSql(1, createShardMap([{ id: 1, ranges: [[1, ROWS]] }])));
});

afterAll(async () => {
  await client?.end();
  await admin?.query(`DROP DATABASE IF EXISTS ${DATABASE} WITH (FORCE)`);
  await admin?.end();
});

/** The plan of shard 1's statement for a page after `after`, executed. */
async function explain(
  map: ShardMap,
  after: number,
): Promise<{ root: PlanNode; ranges: readonly IdRange[] }> {
  const ranges = map.clip(1, after + 1, MAX_ID);
  const statement = selectRange("data_1", ranges, LIMIT);
  const { text, values } = toPositional(statement.sql, bindParameters(statement.parameters));
  const { rows } = await client.query(`EXPLAIN (ANALYZE, FORMAT JSON) ${text}`, values);
  return { root: rows[0]["QUERY PLAN"][0].Plan, ranges };
}

describe("the SQL of one shard's page", () => {
  it.each([
    ["10 ranges, the first page", 10_000, 0],
    ["10 ranges, a deep page", 10_000, 250_000],
    ["10 ranges, a cursor just before a gap full of other shards' ids", 10_000, 9_990],
    ["100 ranges, the first page", 1_000, 0],
    ["100 ranges, a deep page", 1_000, 250_000],
    ["100 ranges, a cursor just before a gap, past the ranges scanned alone", 1_000, 9_990],
  ])("scans the index from its bounds, removing no more rows than a page: %s", async (_, size, after) => {
    const { root, ranges } = await explain(roundRobin(size), after);
    const all = nodes(root);
    const scans = all.filter((n) => n.Plans === undefined || n.Plans.length === 0);
    expect(all.map((n) => n["Node Type"])).not.toContain("Seq Scan");
    expect(all.map((n) => n["Node Type"])).not.toContain("Sort");
    for (const scan of scans) {
      // The InitPlans that read the multirange parameter and check the fence, once each.
      if (scan["Node Type"] === "Result") continue;
      expect(scan["Node Type"]).toBe("Index Scan");
      expect(scan["Index Cond"]).toMatch(/id >= .* AND .*id <= /);
    }
    const removed = all.reduce((sum, n) => sum + (n["Rows Removed by Filter"] ?? 0), 0);
    expect(removed).toBeLessThanOrEqual(LIMIT);
    expect(root["Actual Rows"]).toBe(LIMIT);
    // Each scan reads at most a page of index entries, however deep the cursor.
    const read = scans.reduce((sum, n) => sum + n["Actual Rows"], 0);
    expect(read).toBeLessThanOrEqual(Math.min(ranges.length, RANGES_SCANNED_ALONE) * LIMIT + 1);
  });

  it("returns the same rows as a plain filter over the shard's ranges", async () => {
    const map = roundRobin(1_000);
    const ranges = map.clip(1, 9_991, MAX_ID);
    const statement = selectRange("data_1", ranges, 250);
    const { text, values } = toPositional(statement.sql, bindParameters(statement.parameters));
    const { rows } = await client.query(text, values);
    const expected: number[] = [];
    for (let id = 9_991; expected.length < 250; id++) if (map.ownerOf(id) === 1) expected.push(id);
    expect(rows.map((r: { id: number }) => r.id)).toEqual(expected);
  });
});
