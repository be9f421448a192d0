/**
 * Measures the SQL shapes a shard could run for one page of `GET /data`, on real PostgreSQL at scale, with
 * `EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON)`: execution and planning time (median of 7) and rows removed by filter, for
 * first and deep pages, shards with 1 to 1,000 ranges left after clipping, and tables that hold only the shard's own
 * ids or every id (so the gaps between a shard's ranges are full of other shards' ids).
 *
 *   npx tsx bench/sql-shapes.ts            # about 3 minutes, most of it seeding 6,000,000 rows
 *   SHAPES=hull,chosen LIMITS=101 npx tsx bench/sql-shapes.ts
 *
 * `chosen` is what the function sends (`selectRange`). The statements are bound the way the local Data API binds
 * them (`toPositional`), so the plans are those of the real statements.
 */
import type { SqlParameter } from "@aws-sdk/client-rds-data";
import pg from "pg";
import { createShardMap, type IdRange, MAX_ID, MIN_ID } from "../functions/core/shard-map.js";
import { long, selectRange } from "../functions/core/sql.js";
import { bindParameters, toPositional } from "../local/data-api/index.js";
import { startPostgres } from "../local/postgres.js";

type Shape = (
  table: string,
  ranges: readonly IdRange[],
  limit: number,
) => { sql: string; parameters: SqlParameter[] };

function bounds(ranges: readonly IdRange[], parameters: SqlParameter[]): string[] {
  return ranges.map(([start, end], i) => {
    parameters.push(long(`lo${i}`, start), long(`hi${i}`, end));
    return `id BETWEEN :lo${i} AND :hi${i}`;
  });
}

const SHAPES: Record<string, Shape> = {
  /** The old statement: one OR of ranges. */
  or: (t, ranges, limit) => {
    const parameters = [long("limit", limit)];
    const or = bounds(ranges, parameters).join(" OR ");
    return { sql: `SELECT id, name FROM ${t} WHERE (${or}) ORDER BY id LIMIT :limit`, parameters };
  },
  /** The clipped hull as the index condition, the OR kept as a filter. */
  hull: (t, ranges, limit) => {
    const parameters = [long("limit", limit)];
    const or = bounds(ranges, parameters).join(" OR ");
    const hull = `id BETWEEN :lo0 AND :hi${ranges.length - 1}`;
    return {
      sql: `SELECT id, name FROM ${t} WHERE ${hull} AND (${or}) ORDER BY id LIMIT :limit`,
      parameters,
    };
  },
  /** One `ORDER BY id LIMIT` subquery per range under UNION ALL, merged by Merge Append. */
  union: (t, ranges, limit) => {
    const parameters = [long("limit", limit)];
    const scans = bounds(ranges, parameters).map(
      (where) => `(SELECT id, name FROM ${t} WHERE ${where} ORDER BY id LIMIT :limit)`,
    );
    return {
      sql: `SELECT id, name FROM (${scans.join(" UNION ALL ")}) AS r ORDER BY id LIMIT :limit`,
      parameters,
    };
  },
  /** What the function sends: `union` for the first ranges, the rest in one hull subquery with a multirange filter. */
  chosen: (t, ranges, limit) => selectRange(t, ranges, limit),
};

/** `total` ids in blocks of `size`, dealt round-robin to `shards` shards. */
function roundRobin(total: number, size: number, shards: number) {
  const out = Array.from({ length: shards }, (_, i) => ({ id: i + 1, ranges: [] as [number, number][] }));
  for (let k = 0; k * size < total; k++) out[k % shards]?.ranges.push([k * size + 1, (k + 1) * size]);
  return createShardMap(out);
}

interface PlanNode {
  "Node Type": string;
  "Index Cond"?: string;
  "Rows Removed by Filter"?: number;
  Plans?: PlanNode[];
}

function summarize(node: PlanNode, acc = { removed: 0, nodes: new Set<string>() }) {
  acc.removed += node["Rows Removed by Filter"] ?? 0;
  acc.nodes.add(node["Node Type"] + (node["Index Cond"] ? " (Index Cond)" : ""));
  for (const child of node.Plans ?? []) summarize(child, acc);
  return acc;
}

const N = 3_000_000;
const server = await startPostgres();
const client = new pg.Client({ ...server, database: "postgres" });
await client.connect();
try {
  const maps = {
    b100k: roundRobin(N, 100_000, 3),
    b10k: roundRobin(N, 10_000, 3),
    b1k: roundRobin(N, 1_000, 3),
  };
  const seeded = performance.now();
  await client.query("CREATE TABLE t_all (id INT PRIMARY KEY, name VARCHAR(255))");
  await client.query(`INSERT INTO t_all SELECT i, 'Test ' || i FROM generate_series(1, ${N}) i`);
  for (const [key, size] of [
    ["b100k", 100_000],
    ["b10k", 10_000],
    ["b1k", 1_000],
  ] as const) {
    await client.query(`CREATE TABLE own_${key} (id INT PRIMARY KEY, name VARCHAR(255))`);
    await client.query(
      `INSERT INTO own_${key} SELECT i, 'Test ' || i FROM generate_series(1, ${N}) i WHERE ((i - 1) / ${size}) % 3 = 0`,
    );
  }
  await client.query("VACUUM ANALYZE");
  console.log(`seeded in ${Math.round(performance.now() - seeded)} ms`);

  const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[xs.length >> 1] ?? Number.NaN;
  async function measure(table: string, shape: Shape, ranges: readonly IdRange[], limit: number) {
    const st = shape(table, ranges, limit);
    const { text, values } = toPositional(st.sql, bindParameters(st.parameters));
    const runs: { "Execution Time": number; "Planning Time": number; Plan: PlanNode }[] = [];
    for (let i = 0; i < 7; i++) {
      const r = await client.query(`EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON) ${text}`, values);
      runs.push(r.rows[0]["QUERY PLAN"][0]);
    }
    const first = runs[0];
    if (!first) throw new Error("no run");
    return {
      exec: median(runs.map((r) => r["Execution Time"])),
      plan: median(runs.map((r) => r["Planning Time"])),
      ...summarize(first.Plan),
    };
  }

  // label, table, map, shard 1's cursor (`after`)
  const cases: [string, string, keyof typeof maps, number | undefined][] = [
    ["10 ranges, first page", "own_b100k", "b100k", undefined],
    ["10 ranges, deep page (after 2,399,950)", "own_b100k", "b100k", 2_399_950],
    ["10 ranges, mid page (after 1,250,000)", "own_b100k", "b100k", 1_250_000],
    ["10 ranges, cursor just before a gap (after 99,990)", "own_b100k", "b100k", 99_990],
    ["table holds every id: first page", "t_all", "b100k", undefined],
    ["table holds every id: mid page", "t_all", "b100k", 1_250_000],
    ["table holds every id: cursor just before a gap", "t_all", "b100k", 99_990],
    ["100 ranges, first page", "own_b10k", "b10k", undefined],
    ["100 ranges, mid page (after 1,500,000)", "own_b10k", "b10k", 1_500_000],
    ["100 ranges, deep page (after 2,900,000)", "own_b10k", "b10k", 2_900_000],
    ["1000 ranges, first page", "own_b1k", "b1k", undefined],
    ["1000 ranges, mid page (after 1,500,000)", "own_b1k", "b1k", 1_500_000],
    ["1000 ranges, table holds every id, before a gap", "t_all", "b1k", 990],
  ];
  const shapes = (process.env.SHAPES ?? Object.keys(SHAPES).join(",")).split(",");
  for (const limit of (process.env.LIMITS ?? "101,250").split(",").map(Number)) {
    console.log(
      `\nlimit ${limit}: case | ranges left | shape | exec ms | plan ms | rows removed | plan nodes`,
    );
    for (const [label, table, key, after] of cases) {
      const ranges = maps[key].clip(1, after === undefined ? MIN_ID : after + 1, MAX_ID);
      for (const name of shapes) {
        const shape = SHAPES[name];
        if (!shape) throw new Error(`unknown shape ${name}`);
        const r = await measure(table, shape, ranges, limit);
        const nodes = [...r.nodes].join(" > ");
        console.log(
          `${label} | ${ranges.length} | ${name} | ${r.exec.toFixed(3)} | ${r.plan.toFixed(3)} | ${r.removed} | ${nodes}`,
        );
      }
    }
  }
} finally {
  await client.end();
  await server.stop();
}
