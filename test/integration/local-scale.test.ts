/**
 * The local runtime with any shard map at any size: 24 shards start and answer, SEED loads every id, none or an
 * even spread, each row on the shard that owns it, and the seed is set-based SQL (no id passes through Node).
 */
import pg from "pg";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { createShardMap, type ShardMap } from "../../functions/core/shard-map.js";
import { createShardDatabases } from "../../local/postgres.js";
import { type LocalRuntime, startLocalRuntime } from "../../local/runtime.js";

/** `shards` shards owning `blocks` blocks of `size` ids round-robin: the shape of a big table's map. */
function roundRobin(shards: number, blocks: number, size: number): ShardMap {
  const raw = Array.from({ length: shards }, (_, i) => ({ id: i + 1, ranges: [] as [number, number][] }));
  for (let b = 0; b < blocks; b++) raw[b % shards]?.ranges.push([b * size + 1, (b + 1) * size]);
  return createShardMap(raw);
}

async function rowsOf(database: string, sql: string): Promise<pg.QueryResultRow[]> {
  const client = new pg.Client({ ...inject("postgres"), database });
  await client.connect();
  try {
    return (await client.query(sql)).rows;
  } finally {
    await client.end();
  }
}

describe("a runtime with 24 shards", () => {
  const map = roundRobin(24, 96, 250);
  let runtime: LocalRuntime;

  beforeAll(async () => {
    runtime = await startLocalRuntime({
      postgres: inject("postgres"),
      prefix: "local_scale_24",
      map,
      seed: 2400,
    });
  }, 120_000);
  afterAll(async () => {
    await runtime?.stop();
  });

  it("starts one database and one Data API endpoint per shard, each seeded with its share", () => {
    expect(runtime.shards).toHaveLength(24);
    expect(new Set(runtime.shards.map((s) => s.endpoint.url)).size).toBe(24);
    expect(runtime.shards.map((s) => s.rows)).toEqual(Array(24).fill(100));
  });

  it("answers GET /data from all 24 shards, in id order, every seeded row exactly once", async () => {
    const ids: number[] = [];
    let after: number | null = null;
    for (let pages = 0; pages < 50; pages++) {
      const res = await fetch(`${runtime.url}/data?limit=1000${after === null ? "" : `&after=${after}`}`);
      expect(res.status).toBe(200);
      const body = (await res.json()) as { items: { id: number }[]; next: number | null; shards: unknown[] };
      expect(body.shards.length).toBeGreaterThan(0);
      ids.push(...body.items.map((r) => r.id));
      after = body.next;
      if (after === null) break;
    }
    expect(after).toBeNull();
    // 2400 of 24,000 ids: every tenth, from 1.
    expect(ids).toEqual(Array.from({ length: 2400 }, (_, k) => 1 + 10 * k));
  });

  it("answers GET /data/{id} from the owning shard", async () => {
    const res = await fetch(`${runtime.url}/data/23751`);
    expect(await res.json()).toEqual({ item: { id: 23751, name: "Test 23751" }, shard: map.ownerOf(23751) });
  });
});

describe("createShardDatabases' seed", () => {
  const map = roundRobin(3, 12, 50_000);

  it("loads every id of a 600,000-id map on its owning shard with all, with a primary key", async () => {
    let reported = 0;
    const databases = await createShardDatabases(inject("postgres"), map, {
      prefix: "local_scale_all",
      seed: "all",
      onSeedProgress: (loaded, total) => {
        expect(total).toBe(600_000);
        reported = loaded;
      },
    });
    expect(reported).toBe(600_000);
    for (const { shard, database, rows } of databases) {
      expect(rows).toBe(200_000);
      const [stats] = await rowsOf(
        database,
        "SELECT count(*)::int AS n, min(id) AS lo, max(id) AS hi, count(*) FILTER (WHERE name <> 'Test ' || id)::int AS odd FROM data_1",
      );
      expect(stats).toEqual({ n: 200_000, lo: (shard - 1) * 50_000 + 1, hi: (shard + 9) * 50_000, odd: 0 });
      const misplaced = await rowsOf(
        database,
        `SELECT count(*)::int AS n FROM data_1 WHERE NOT (${map
          .rangesOf(shard)
          ?.map(([a, b]) => `id BETWEEN ${a} AND ${b}`)
          .join(" OR ")})`,
      );
      expect(misplaced).toEqual([{ n: 0 }]);
      const pk = await rowsOf(
        database,
        "SELECT a.attname AS col FROM pg_index i JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = ANY(i.indkey) WHERE i.indrelid = 'data_1'::regclass AND i.indisprimary",
      );
      expect(pk).toEqual([{ col: "id" }]);
    }
  }, 60_000);

  it("loads nothing with none, and N evenly spread ids with a number, into a table of another name", async () => {
    const empty = await createShardDatabases(inject("postgres"), map, {
      prefix: "local_scale_none",
      seed: "none",
    });
    expect(empty.map((d) => d.rows)).toEqual([0, 0, 0]);
    expect(await rowsOf(empty[0]?.database ?? "", "SELECT count(*)::int AS n FROM data_1")).toEqual([
      { n: 0 },
    ]);

    const some = await createShardDatabases(inject("postgres"), map, {
      prefix: "local_scale_some",
      seed: 6000,
      tableName: "items",
    });
    expect(some.map((d) => d.rows)).toEqual([2000, 2000, 2000]);
    const ids = (await Promise.all(some.map((d) => rowsOf(d.database, "SELECT id FROM items"))))
      .flat()
      .map((r) => r.id as number)
      .sort((a, b) => a - b);
    expect(ids).toEqual(Array.from({ length: 6000 }, (_, k) => 1 + 100 * k));
  });
});
