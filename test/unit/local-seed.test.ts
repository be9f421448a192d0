import { describe, expect, it } from "vitest";
import { ConfigError } from "../../functions/core/errors.js";
import { createShardMap, DEFAULT_SHARD_RANGES } from "../../functions/core/shard-map.js";
import {
  MAX_SEED_ROWS,
  mapIdCount,
  parseSeed,
  planSeed,
  SEED_CHUNK_ROWS,
  type SeedPlan,
  seedRows,
} from "../../local/seed.js";

/** The ids a plan loads, per shard, computed the way its SQL computes them. */
function plannedIds(plan: SeedPlan): Map<number, number[]> {
  const out = new Map<number, number[]>();
  for (const c of plan.chunks) {
    const ids = out.get(c.shard) ?? [];
    for (let k = c.kFrom; k <= c.kTo; k++) {
      ids.push(c.start - c.offset + Math.floor((k * plan.step.total) / plan.step.rows));
    }
    out.set(c.shard, ids);
  }
  return out;
}

const defaultMap = () => createShardMap(DEFAULT_SHARD_RANGES);
const blocks = (shards: number, count: number, size: number) => {
  const raw = Array.from({ length: shards }, (_, i) => ({ id: i + 1, ranges: [] as [number, number][] }));
  for (let b = 0; b < count; b++) raw[b % shards]?.ranges.push([b * size + 1, (b + 1) * size]);
  return createShardMap(raw);
};

describe("parseSeed", () => {
  it("reads all (also unset or blank), none and a positive number of rows", () => {
    expect(parseSeed(undefined)).toBe("all");
    expect(parseSeed("")).toBe("all");
    expect(parseSeed(" all ")).toBe("all");
    expect(parseSeed("none")).toBe("none");
    expect(parseSeed("3000000")).toBe(3_000_000);
  });

  it.each(["0", "-5", "1.5", "1e6", "some", "ALL", String(MAX_SEED_ROWS + 1)])(
    "rejects %j with a ConfigError naming SEED",
    (raw) => {
      expect(() => parseSeed(raw)).toThrow(ConfigError);
      expect(() => parseSeed(raw)).toThrow(/^SEED: expected all, none or a number of rows/);
    },
  );
});

describe("planSeed", () => {
  it("plans every id of the map on its owning shard for all", () => {
    const map = defaultMap();
    const plan = planSeed(map, "all");
    expect(plan.rows).toBe(60);
    const ids = plannedIds(plan);
    for (const shard of map.shards) {
      const expected = [...map.ids()].filter((x) => x.shard === shard.id).map((x) => x.id);
      expect(ids.get(shard.id)).toEqual(expected);
      expect(plan.perShard.get(shard.id)).toBe(20);
    }
  });

  it("plans nothing for none, and still lists every shard with 0 rows", () => {
    const plan = planSeed(defaultMap(), "none");
    expect(plan).toMatchObject({ rows: 0, chunks: [] });
    expect([...plan.perShard]).toEqual([
      [1, 0],
      [2, 0],
      [3, 0],
    ]);
  });

  it("spreads N ids evenly over the map: distinct, owned by the shard that gets them, the first id included", () => {
    const map = blocks(3, 30, 1000);
    for (const n of [1, 7, 100, 12_345, 29_999, 30_000]) {
      const plan = planSeed(map, n);
      const ids = plannedIds(plan);
      const all = [...ids.values()].flat().sort((a, b) => a - b);
      expect(all).toHaveLength(n);
      expect(new Set(all).size).toBe(n);
      expect(all[0]).toBe(1);
      for (const [shard, owned] of ids) {
        expect(owned.filter((id) => map.ownerOf(id) !== shard)).toEqual([]);
        expect(plan.perShard.get(shard)).toBe(owned.length);
      }
      // Evenly: no gap between consecutive ids is more than one step wider than another.
      const gaps = all.slice(1).map((id, i) => id - (all[i] as number));
      if (gaps.length) expect(Math.max(...gaps) - Math.min(...gaps)).toBeLessThanOrEqual(1);
    }
  });

  it("gives each shard its share of the map (3 shards of equal size: a third each)", () => {
    const plan = planSeed(blocks(3, 30, 100_000), 300_000);
    expect([...plan.perShard.values()]).toEqual([100_000, 100_000, 100_000]);
  });

  it("splits a big range into chunks of at most SEED_CHUNK_ROWS rows, so progress can be shown", () => {
    const map = createShardMap([{ id: 1, ranges: [[1, 3_000_000]] }]);
    const plan = planSeed(map, "all");
    expect(plan.chunks).toHaveLength(Math.ceil(3_000_000 / SEED_CHUNK_ROWS));
    for (const c of plan.chunks) expect(c.kTo - c.kFrom + 1).toBeLessThanOrEqual(SEED_CHUNK_ROWS);
    expect(plan.chunks.reduce((n, c) => n + c.kTo - c.kFrom + 1, 0)).toBe(3_000_000);
  });

  it("handles ids near both ends of the 32-bit range", () => {
    const map = createShardMap([
      { id: 1, ranges: [[-2_147_483_648, -2_147_483_640]] },
      { id: 2, ranges: [[2_147_483_640, 2_147_483_647]] },
    ]);
    expect(mapIdCount(map)).toBe(17);
    const ids = plannedIds(planSeed(map, "all"));
    expect(ids.get(1)?.[0]).toBe(-2_147_483_648);
    expect(ids.get(2)?.at(-1)).toBe(2_147_483_647);
  });

  it("refuses more rows than the map holds, and all on a map too big to seed whole", () => {
    expect(() => planSeed(defaultMap(), 61)).toThrow(
      /^SEED: 61 rows asked for, but the map holds only 60 ids$/,
    );
    const huge = createShardMap([{ id: 1, ranges: [[1, 2_000_000_000]] }]);
    expect(() => planSeed(huge, "all")).toThrow(
      /^SEED: the map holds 2000000000 ids, more than SEED=all loads/,
    );
    expect(planSeed(huge, 1000).rows).toBe(1000);
  });
});

describe("seedRows", () => {
  it("lists the default map's seed row by row: ids 1 to 60 named Test N, each on its owning shard", () => {
    const rows = seedRows(defaultMap());
    expect(rows.map((r) => r.id)).toEqual(Array.from({ length: 60 }, (_, i) => i + 1));
    expect(rows.every((r) => r.name === `Test ${r.id}`)).toBe(true);
    expect(rows.filter((r) => r.shard === 1).map((r) => r.id)).toEqual([
      1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 31, 32, 33, 34, 35, 36, 37, 38, 39, 40,
    ]);
  });

  it.each([["all" as const], ["none" as const], [1], [7], [59]])(
    "lists the ids the plan's SQL inserts for %s",
    (seed) => {
      const map = defaultMap();
      const byShard = new Map<number, number[]>();
      for (const r of seedRows(map, seed)) byShard.set(r.shard, [...(byShard.get(r.shard) ?? []), r.id]);
      const planned = [...plannedIds(planSeed(map, seed))].filter(([, ids]) => ids.length > 0);
      expect(byShard).toEqual(new Map(planned));
    },
  );
});
