import * as fc from "fast-check";
import { describe, expect, it } from "vitest";
import { mergePages, type Page, type ShardRows } from "../../functions/core/paging.js";
import type { Row } from "../../functions/core/row.js";
import { createShardMap, DEFAULT_SHARD_RANGES, type ShardMap } from "../../functions/core/shard-map.js";

const map = createShardMap(DEFAULT_SHARD_RANGES);
const rows = (...ids: number[]): Row[] => ids.map((id) => ({ id, name: `Test ${id}` }));
const ids = (page: Page) => page.items.map((r) => r.id);

/** What a merge must return, computed the slow and obvious way: filter, dedupe, concat, sort, cut. */
function reference(parts: readonly ShardRows[], m: ShardMap, limit: number): Page {
  const owned = parts.flatMap((p) => p.rows.filter((r) => m.ownerOf(r.id) === p.shard));
  const unique = [...new Map(owned.map((r) => [r.id, r] as const)).values()].sort((a, b) => a.id - b.id);
  const items = unique.slice(0, limit);
  return { items, next: unique.length > limit ? (items.at(-1)?.id ?? null) : null };
}

describe("mergePages", () => {
  it("interleaves the shards' rows into one ascending page", () => {
    const page = mergePages(
      [
        { shard: 3, rows: rows(21, 22, 51) },
        { shard: 1, rows: rows(1, 2, 31) },
        { shard: 2, rows: rows(11, 41) },
      ],
      map,
      100,
    );
    expect(ids(page)).toEqual([1, 2, 11, 21, 22, 31, 41, 51]);
    expect(page.items[0]).toEqual({ id: 1, name: "Test 1" });
    expect(page.next).toBeNull();
  });

  it("returns each id once when a shard repeats it", () => {
    const page = mergePages([{ shard: 1, rows: rows(1, 1, 2, 2, 2, 3) }], map, 100);
    expect(ids(page)).toEqual([1, 2, 3]);
  });

  it("returns each id once when two parts of the same shard both hold it", () => {
    const page = mergePages(
      [
        { shard: 2, rows: rows(11, 12) },
        { shard: 2, rows: rows(12, 13) },
      ],
      map,
      100,
    );
    expect(ids(page)).toEqual([11, 12, 13]);
  });

  it("drops rows outside the map and rows the map gives to another shard", () => {
    const page = mergePages(
      [
        { shard: 1, rows: rows(-1, 0, 1, 11, 21, 40, 41, 61) },
        { shard: 2, rows: rows(5, 11) },
      ],
      map,
      100,
    );
    expect(ids(page)).toEqual([1, 11, 40]);
  });

  it("drops every row of a shard the map does not know", () => {
    expect(mergePages([{ shard: 9, rows: rows(1, 2, 3) }], map, 10)).toEqual({ items: [], next: null });
  });

  it("sorts the rows of a shard that returned them out of order", () => {
    const page = mergePages(
      [
        { shard: 1, rows: rows(33, 2, 31, 1) },
        { shard: 2, rows: rows(12, 11) },
      ],
      map,
      100,
    );
    expect(ids(page)).toEqual([1, 2, 11, 12, 31, 33]);
  });

  it("does not reorder the input arrays it was given", () => {
    const shard1 = rows(3, 1, 2);
    mergePages([{ shard: 1, rows: shard1 }], map, 10);
    expect(shard1.map((r) => r.id)).toEqual([3, 1, 2]);
  });

  it("has no next page when exactly limit rows exist", () => {
    const page = mergePages(
      [
        { shard: 1, rows: rows(1, 2) },
        { shard: 2, rows: rows(11) },
      ],
      map,
      3,
    );
    expect(ids(page)).toEqual([1, 2, 11]);
    expect(page.next).toBeNull();
  });

  it("points next at the last returned id when limit + 1 rows exist", () => {
    const page = mergePages(
      [
        { shard: 1, rows: rows(1, 2) },
        { shard: 2, rows: rows(11, 12) },
      ],
      map,
      3,
    );
    expect(ids(page)).toEqual([1, 2, 11]);
    expect(page.next).toBe(11);
  });

  it("does not count a duplicate of the last row as another page", () => {
    const page = mergePages([{ shard: 1, rows: rows(1, 2, 3, 3) }], map, 3);
    expect(ids(page)).toEqual([1, 2, 3]);
    expect(page.next).toBeNull();
  });

  it("returns one row and a cursor with limit 1", () => {
    const page = mergePages(
      [
        { shard: 2, rows: rows(11, 12) },
        { shard: 1, rows: rows(5) },
      ],
      map,
      1,
    );
    expect(page).toEqual({ items: rows(5), next: 5 });
  });

  it("returns an empty last page for no parts, and for parts without rows", () => {
    expect(mergePages([], map, 10)).toEqual({ items: [], next: null });
    expect(
      mergePages(
        [
          { shard: 1, rows: [] },
          { shard: 2, rows: [] },
          { shard: 3, rows: [] },
        ],
        map,
        10,
      ),
    ).toEqual({ items: [], next: null });
  });

  it("merges when only one of several shards has rows", () => {
    const page = mergePages(
      [
        { shard: 1, rows: [] },
        { shard: 3, rows: rows(21, 60) },
      ],
      map,
      10,
    );
    expect(ids(page)).toEqual([21, 60]);
  });

  it("keeps a row whose name is null", () => {
    expect(mergePages([{ shard: 1, rows: [{ id: 4, name: null }] }], map, 10).items).toEqual([
      { id: 4, name: null },
    ]);
  });
});

describe("mergePages as a k-way merge (property)", () => {
  const idsArb = fc.array(fc.integer({ min: -3, max: 64 }), { maxLength: 30 });

  it("equals filter + dedupe + concat + sort on the default map, for random shard answers", () => {
    fc.assert(
      fc.property(idsArb, idsArb, idsArb, fc.integer({ min: 1, max: 70 }), (a, b, c, limit) => {
        const parts = [
          { shard: 1, rows: rows(...a) },
          { shard: 2, rows: rows(...b) },
          { shard: 3, rows: rows(...c) },
        ];
        expect(mergePages(parts, map, limit)).toEqual(reference(parts, map, limit));
      }),
      { seed: 20_250_101, numRuns: 400 },
    );
  });

  it("equals the reference on random maps of up to 9 shards with sorted, disjoint answers", () => {
    const mapAndParts = fc
      .record({
        cuts: fc.uniqueArray(fc.integer({ min: -500, max: 500 }), { minLength: 2, maxLength: 24 }),
        shardCount: fc.integer({ min: 1, max: 9 }),
        seedIds: fc.array(fc.integer({ min: -520, max: 520 }), { maxLength: 200 }),
        limit: fc.integer({ min: 1, max: 120 }),
      })
      .map(({ cuts, shardCount, seedIds, limit }) => {
        const sorted = [...cuts].sort((x, y) => x - y);
        const shards = Array.from({ length: shardCount }, (_, i) => ({
          id: i + 1,
          ranges: [] as [number, number][],
        }));
        for (let i = 0; i + 1 < sorted.length; i++) {
          const start = sorted[i] as number;
          const end = (sorted[i + 1] as number) - 1;
          if (start <= end) shards[i % shardCount]?.ranges.push([start, end]);
        }
        return { shards: shards.filter((s) => s.ranges.length > 0), seedIds, limit };
      })
      .filter(({ shards }) => shards.length > 0);

    fc.assert(
      fc.property(mapAndParts, ({ shards, seedIds, limit }) => {
        const m = createShardMap(shards);
        const parts = shards.map((s) => ({
          shard: s.id,
          rows: rows(...[...new Set(seedIds)].filter((id) => m.ownerOf(id) === s.id).sort((x, y) => x - y)),
        }));
        const page = mergePages(parts, m, limit);
        expect(page).toEqual(reference(parts, m, limit));
        const out = ids(page);
        expect(out).toEqual([...new Set(out)].sort((x, y) => x - y));
      }),
      { seed: 42, numRuns: 300 },
    );
  });
});

describe("mergePages with truncated shards (fewer rows per call than the page size)", () => {
  const bigMap = createShardMap([
    { id: 1, ranges: [[1, 1000]] },
    { id: 2, ranges: [[1001, 2000]] },
    { id: 3, ranges: [[2001, 3000]] },
  ]);

  it("stops the page at the smallest last id of a truncated shard, with that id as next", () => {
    const page = mergePages(
      [
        { shard: 1, rows: rows(1, 2, 3), truncated: true },
        { shard: 2, rows: rows(1001, 1002) },
      ],
      bigMap,
      10,
    );
    expect(ids(page)).toEqual([1, 2, 3]);
    expect(page.next).toBe(3);
  });

  it("fills the page and continues from its last row when the bound leaves more than the limit", () => {
    const page = mergePages([{ shard: 1, rows: rows(1, 2, 3, 4), truncated: true }], bigMap, 2);
    expect(ids(page)).toEqual([1, 2]);
    expect(page.next).toBe(2);
  });

  it("ends with next null when no shard is truncated and everything fits", () => {
    const page = mergePages(
      [
        { shard: 1, rows: rows(1, 2) },
        { shard: 2, rows: rows(1001) },
      ],
      bigMap,
      3,
    );
    expect(page.next).toBeNull();
  });

  it("walks any table exactly once, in order, whatever the page size and the per-call cap", () => {
    const table = fc.uniqueArray(fc.integer({ min: 1, max: 3000 }), { maxLength: 400 });
    fc.assert(
      fc.property(
        table,
        fc.integer({ min: 1, max: 50 }),
        fc.integer({ min: 1, max: 60 }),
        (all, limit, cap) => {
          const sorted = [...all].sort((a, b) => a - b);
          const shardOf = (id: number) => bigMap.ownerOf(id) as number;
          const visited: number[] = [];
          let after = 0;
          for (let page = 0; page < 10_000; page++) {
            const perCall = Math.min(limit + 1, cap);
            const parts = [1, 2, 3].map((shard) => {
              const got = sorted.filter((id) => shardOf(id) === shard && id > after).slice(0, perCall);
              return { shard, rows: rows(...got), truncated: got.length >= perCall };
            });
            const result = mergePages(parts, bigMap, limit);
            expect(result.items.length).toBeLessThanOrEqual(limit);
            visited.push(...ids(result));
            if (result.next === null) break;
            expect(result.next).toBeGreaterThan(after);
            after = result.next;
          }
          expect(visited).toEqual(sorted);
        },
      ),
      { seed: 20261126, numRuns: 200 },
    );
  });

  it("with one row past the cap as proof of more, walks any table once, in order, never ending on an empty page", () => {
    const table = fc.uniqueArray(fc.integer({ min: 1, max: 3000 }), { maxLength: 400 });
    fc.assert(
      fc.property(
        table,
        fc.integer({ min: 1, max: 80 }),
        fc.integer({ min: 2, max: 60 }),
        (all, limit, cap) => {
          const sorted = [...all].sort((a, b) => a - b);
          const shardOf = (id: number) => bigMap.ownerOf(id) as number;
          const pages: number[][] = [];
          let after = 0;
          for (let page = 0; page < 10_000; page++) {
            // As ShardedTable.list asks: `want + 1` rows, the last one only proving that more exist.
            const want = Math.min(limit, cap - 1);
            const parts = [1, 2, 3].map((shard) => {
              const got = sorted.filter((id) => shardOf(id) === shard && id > after).slice(0, want + 1);
              const truncated = got.length > want;
              return { shard, rows: rows(...(truncated ? got.slice(0, want) : got)), truncated };
            });
            const result = mergePages(parts, bigMap, limit);
            expect(result.items.length).toBeLessThanOrEqual(limit);
            pages.push(ids(result));
            if (result.next === null) break;
            expect(result.next).toBeGreaterThan(after);
            after = result.next;
          }
          expect(pages.flat()).toEqual(sorted);
          if (sorted.length > 0) expect(pages.every((p) => p.length > 0)).toBe(true);
        },
      ),
      { seed: 20261202, numRuns: 300 },
    );
  });
});
