import { describe, expect, it } from "vitest";
import {
  MAX_ROWS_PER_CALL,
  pageOf,
  rowsToAsk,
  type ShardAsk,
  shardRows,
} from "../../functions/core/paging.js";
import type { Row } from "../../functions/core/row.js";
import type { ShardOutcome } from "../../functions/core/shard-call.js";
import {
  createShardMap,
  DEFAULT_SHARD_RANGES,
  type IdRange,
  MAX_ID,
  MIN_ID,
} from "../../functions/core/shard-map.js";

// Shard 1 owns 1-10 and 31-40, shard 2 11-20 and 41-50, shard 3 21-30 and 51-60; no shard owns 61 and above.
const map = createShardMap(DEFAULT_SHARD_RANGES);
const rows = (...ids: number[]): Row[] => ids.map((id) => ({ id, name: `Test ${id}` }));
const span = (from: number, to: number) => rows(...Array.from({ length: to - from + 1 }, (_, i) => from + i));
const ok = (shard: number, value: Row[]): ShardOutcome<Row[]> => ({ shard, status: "ok", value, ms: 1 });
const timeout = (shard: number): ShardOutcome<Row[]> => ({ shard, status: "timeout", ms: 1 });
const skipped = (shard: number): ShardOutcome<Row[]> => ({ shard, status: "skipped" });

/** Every shard's ranges from `lower` on, with the rows rowsToAsk gives it for a page of `limit`. */
function asksFrom(lower: number, limit: number): Map<number, ShardAsk> {
  const called = map.shards
    .map((s) => ({ id: s.id, ranges: map.clip(s.id, lower, MAX_ID) }))
    .filter(({ ranges }) => ranges.length > 0);
  return rowsToAsk(called, limit);
}

const UNOWNED: IdRange[] = [[61, MAX_ID]];

describe("rowsToAsk", () => {
  it("fetches 239 rows, not 2,424, for a page of 100 from 24 shards (docs/api.md)", () => {
    const shards = Array.from({ length: 24 }, (_, i) => ({ id: i + 1, ranges: [] as [number, number][] }));
    for (let k = 0; k < 96; k++) shards[k % 24]?.ranges.push([k * 100 + 1, (k + 1) * 100]);
    const bigMap = createShardMap(shards);
    const called = shards.map((s) => ({ id: s.id, ranges: bigMap.clip(s.id, 1, MAX_ID) }));
    const asks = rowsToAsk(called, 100);
    expect([...asks.values()].reduce((sum, a) => sum + a.rows + 1, 0)).toBe(239);
    expect(asks.get(1)?.rows).toBe(100);
    expect(asks.get(2)?.rows).toBe(5);
  });

  it("gives each shard what the page could take from it, at least an equal share", () => {
    const asks = asksFrom(1, 25);
    // The first 26 ids are 1-10 (shard 1), 11-20 (shard 2) and 21-26 (shard 3); a third of 25 is 9.
    expect([...asks].map(([id, a]) => [id, a.rows])).toEqual([
      [1, 10],
      [2, 10],
      [3, 9],
    ]);
  });

  it("never asks a shard for more than MAX_ROWS_PER_CALL rows with the proof row", () => {
    const asks = rowsToAsk([{ id: 1, ranges: [[1, 100_000]] }], 1000);
    expect(asks.get(1)?.rows).toBe(MAX_ROWS_PER_CALL - 1);
  });
});

describe("shardRows: what a shard's answer proves", () => {
  const ask: ShardAsk = { ranges: [[1, 10]], rows: 3 };

  it("takes an answer without the proof row as all the shard holds", () => {
    expect(shardRows(1, rows(1, 2, 3), ask)).toEqual({ shard: 1, rows: rows(1, 2, 3) });
  });

  it("never returns the proof row: the shard is known up to just before it", () => {
    expect(shardRows(1, rows(1, 2, 5, 9), ask)).toEqual({
      shard: 1,
      rows: rows(1, 2, 5),
      truncated: true,
      through: 8,
    });
  });
});

describe("pageOf: a page and its next from every shard's outcome", () => {
  it("ends the walk (next null) when every shard answered and has nothing left", () => {
    const asks = asksFrom(51, 25);
    const outcomes = [skipped(1), ok(2, []), ok(3, span(51, 60))];
    expect(pageOf(outcomes, asks, UNOWNED, 51, map, 25)).toEqual({
      items: span(51, 60),
      next: null,
      partial: false,
    });
  });

  it("stops where a shard's proof row says it holds more", () => {
    const asks = asksFrom(1, 25);
    const outcomes = [
      ok(1, span(1, 10).concat(rows(31))),
      ok(2, span(11, 20).concat(rows(41))),
      ok(3, span(21, 30)),
    ];
    const page = pageOf(outcomes, asks, UNOWNED, 1, map, 25);
    expect(page.items).toEqual(span(1, 25));
    expect(page.next).toBe(25);
    expect(page.partial).toBe(false);
  });

  it("resumes at the healthy shards' cursor when they have more and a shard failed", () => {
    const asks = new Map<number, ShardAsk>([
      [1, { ranges: [[1, 10]], rows: 2 }],
      [2, { ranges: [[11, 20]], rows: 2 }],
    ]);
    const page = pageOf([ok(1, rows(1, 2, 3)), timeout(2)], asks, [], 1, map, 2);
    expect(page).toEqual({ items: rows(1, 2), next: 2, partial: true });
  });

  it("never ends while a failed shard could hold later rows: next is one below its first id", () => {
    const asks = asksFrom(1, 25);
    // Shards 1 and 3 answered without a proof row: they hold nothing more.
    const page = pageOf([ok(1, span(1, 10)), timeout(2), ok(3, span(21, 29))], asks, UNOWNED, 1, map, 25);
    expect(page.items).toEqual([...span(1, 10), ...span(21, 29)]);
    // The page's last id (29) is past one below shard 2's first (10): the walk goes on after the page.
    expect(page.next).toBe(29);
    expect(page.partial).toBe(true);
  });

  it("points next below the failed shard's first id when the page read nothing past it", () => {
    const asks = asksFrom(41, 25);
    const page = pageOf([ok(1, []), ok(2, []), timeout(3)], asks, UNOWNED, 41, map, 25);
    expect(page).toEqual({ items: [], next: 50, partial: true });
  });

  it("treats unowned ids as unknown when no shard answered to vouch for them", () => {
    const page = pageOf([timeout(1)], new Map(), UNOWNED, 61, map, 25);
    expect(page).toEqual({ items: [], next: 60, partial: true });
  });

  it("takes any answer as vouching for the unowned ids", () => {
    expect(pageOf([ok(1, [])], new Map(), UNOWNED, 61, map, 25)).toEqual({
      items: [],
      next: null,
      partial: false,
    });
  });

  it("keeps a cursor of one below the lowest id when nothing at all was read", () => {
    const asks = new Map<number, ShardAsk>([[1, { ranges: [], rows: 5 }]]);
    expect(pageOf([timeout(1)], asks, [], MIN_ID, map, 5).next).toBe(MIN_ID - 1);
  });
});
