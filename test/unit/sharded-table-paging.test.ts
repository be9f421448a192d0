import { DatabaseErrorException, ExecuteStatementCommand } from "@aws-sdk/client-rds-data";
import fc from "fast-check";
import { afterAll, beforeEach, describe, expect, it } from "vitest";
import { MAX_ROWS_PER_CALL } from "../../functions/core/paging.js";
import { MIN_ID } from "../../functions/core/shard-map.js";
import type { ListQuery, ListResult, ShardedTable } from "../../functions/core/sharded-table.js";
import { ARN_1, ARN_2, ARN_3, rawShards, SEED_ROWS, seedIdsOf } from "../helpers/fixtures.js";
import {
  answerFrom,
  boundParams,
  calledArns,
  mockDataApi,
  seededTable,
  serveStores,
  statements,
} from "../helpers/unit-data-api.js";

const mock = mockDataApi();
beforeEach(() => {
  mock.reset();
});
afterAll(() => {
  mock.restore();
});

/** The bound parameters each called shard received, by resourceArn. */
/** Each called shard's bound range parameters (the fence's `owned`/`unowned` are checked in their own test). */
function paramsByArn(): Map<string | undefined, Record<string, number | string | undefined>> {
  return new Map(
    statements(mock).map((s) => {
      const { owned: _owned, unowned: _unowned, ...ranges } = boundParams(s);
      return [s.resourceArn, ranges] as const;
    }),
  );
}

/** Each called shard's fence parameters: what the caller believes it owns and the unowned ids it must vouch for. */
function fenceByArn(): Map<string | undefined, { owned: unknown; unowned: unknown }> {
  return new Map(
    statements(mock).map((s) => {
      const { owned, unowned } = boundParams(s);
      return [s.resourceArn, { owned, unowned }] as const;
    }),
  );
}

/** Follows `next` until the last page, the way a client would; fails instead of looping forever. */
async function walk(
  table: ShardedTable,
  query: Omit<ListQuery, "after">,
  start?: number,
): Promise<ListResult[]> {
  const pages: ListResult[] = [];
  let after: number | undefined = start;
  do {
    const page = await table.list(after === undefined ? query : { ...query, after });
    pages.push(page);
    if (page.next !== null && after !== undefined && page.next <= after) {
      throw new Error("cursor went backwards");
    }
    after = page.next ?? undefined;
    if (pages.length > 200) throw new Error("the walk did not end");
  } while (after !== undefined);
  return pages;
}

describe("pushing the query down to the shards", () => {
  it("asks every shard for its own ranges and for the rows the page could take from it, plus one", async () => {
    const { table } = seededTable(mock);
    const page = await table.list({ limit: 25 });
    // The first 26 ids after the cursor are 1-10 (shard 1), 11-20 (shard 2) and 21-26 (shard 3); every shard gets at
    // least a third of the page (9).
    expect(paramsByArn()).toEqual(
      new Map([
        [ARN_1, { lo0: 1, hi0: 10, lo1: 31, hi1: 40, limit: 11 }],
        [ARN_2, { lo0: 11, hi0: 20, lo1: 41, hi1: 50, limit: 11 }],
        [ARN_3, { lo0: 21, hi0: 30, lo1: 51, hi1: 60, limit: 10 }],
      ]),
    );
    expect(page.items.map((r) => r.id)).toEqual(Array.from({ length: 25 }, (_, i) => i + 1));
    expect(page.next).toBe(25);
  });

  it("fetches about a page from the shards together, not a page from each", async () => {
    const { table } = seededTable(mock);
    const page = await table.list({ limit: 12, after: 3 });
    const asked = [...paramsByArn().values()].reduce((sum, p) => sum + Number(p.limit), 0);
    expect(page.items).toHaveLength(12);
    // Shard 1 holds 4-10, shard 2 11-16 of the page: 7 + 1, 6 + 1, and shard 3's equal share 4 + 1; not 3 x 13.
    expect(asked).toBe(20);
  });

  it("clips each shard's ranges to from and to", async () => {
    const { table } = seededTable(mock);
    const result = await table.list({ limit: 100, from: 5, to: 35 });
    expect(paramsByArn()).toEqual(
      new Map([
        [ARN_1, { lo0: 5, hi0: 10, lo1: 31, hi1: 35, limit: 35 }],
        [ARN_2, { lo0: 11, hi0: 20, limit: 35 }],
        [ARN_3, { lo0: 21, hi0: 30, limit: 35 }],
      ]),
    );
    expect(result.items.map((r) => r.id)).toEqual(Array.from({ length: 31 }, (_, i) => i + 5));
  });

  it("skips the shards whose ranges cannot match, without calling them", async () => {
    const { table } = seededTable(mock);
    const result = await table.list({ limit: 100, from: 11, to: 20 });
    expect(mock).toHaveReceivedCommandTimes(ExecuteStatementCommand, 1);
    expect(mock).toHaveReceivedCommandWith(ExecuteStatementCommand, { resourceArn: ARN_2 });
    expect(mock.commandCalls(ExecuteStatementCommand, { resourceArn: ARN_1 })).toHaveLength(0);
    expect(mock.commandCalls(ExecuteStatementCommand, { resourceArn: ARN_3 })).toHaveLength(0);
    expect(result.shards).toEqual([
      { shard: 1, status: "skipped" },
      { shard: 2, status: "ok", count: 10, ms: expect.any(Number) },
      { shard: 3, status: "skipped" },
    ]);
    expect(result.items.map((r) => r.id)).toEqual(seedIdsOf(2).slice(0, 10));
  });

  it("reads a single id when from equals to, calling only its owner", async () => {
    const { table } = seededTable(mock);
    const result = await table.list({ limit: 100, from: 45, to: 45 });
    expect(calledArns(mock)).toEqual([ARN_2]);
    expect(paramsByArn().get(ARN_2)).toEqual({ lo0: 45, hi0: 45, limit: 101 });
    expect(result.items).toEqual([{ id: 45, name: "Test 45" }]);
  });

  it("turns after into an exclusive lower bound", async () => {
    const { table } = seededTable(mock);
    const result = await table.list({ limit: 100, after: 35 });
    expect(paramsByArn()).toEqual(
      new Map([
        [ARN_1, { lo0: 36, hi0: 40, limit: 35 }],
        [ARN_2, { lo0: 41, hi0: 50, limit: 35 }],
        [ARN_3, { lo0: 51, hi0: 60, limit: 35 }],
      ]),
    );
    expect(result.items[0]?.id).toBe(36);
    expect(result.items).toHaveLength(25);
  });

  it("uses the larger of from and after + 1 as the lower bound", async () => {
    const { table } = seededTable(mock);
    await table.list({ limit: 10, from: 3, after: 7 });
    expect(paramsByArn().get(ARN_1)).toMatchObject({ lo0: 8, hi0: 10 });
    mock.resetHistory();
    await table.list({ limit: 10, from: 9, after: 2 });
    expect(paramsByArn().get(ARN_1)).toMatchObject({ lo0: 9, hi0: 10 });
  });

  it("has every called shard vouch for the ids of the bounds that no shard owns, within its read", async () => {
    const { table } = seededTable(mock);
    await table.list({ limit: 10, after: 45 });
    expect(fenceByArn()).toEqual(
      new Map([
        [ARN_2, { owned: "{[46,50]}", unowned: "{[61,2147483647]}" }],
        [ARN_3, { owned: "{[51,60]}", unowned: "{[61,2147483647]}" }],
      ]),
    );
    mock.resetHistory();
    await table.list({ limit: 10, from: 11, to: 20 });
    expect(fenceByArn()).toEqual(new Map([[ARN_2, { owned: "{[11,20]}", unowned: "{}" }]]));
  });

  it.each([
    ["after is the last id", { after: 60 }, "{[61,2147483647]}"],
    ["after is far beyond the last id", { after: 2_147_483_646 }, "{[2147483647,2147483647]}"],
    ["from is beyond the last id", { from: 61 }, "{[61,2147483647]}"],
    ["to is below the first id", { to: 0 }, "{[-2147483648,0]}"],
    ["from and to fall in no range", { from: -100, to: -1 }, "{[-100,-1]}"],
  ])(
    "asks only shard 1 to vouch that no shard owns the ids, and returns an empty last page, when %s",
    async (_what, bounds, unowned) => {
      const { table } = seededTable(mock);
      const result = await table.list({ limit: 10, ...bounds });
      expect(fenceByArn()).toEqual(new Map([[ARN_1, { owned: "{}", unowned }]]));
      expect(result).toEqual({
        items: [],
        next: null,
        partial: false,
        shards: [
          { shard: 1, status: "ok", count: 0, ms: expect.any(Number) },
          { shard: 2, status: "skipped" },
          { shard: 3, status: "skipped" },
        ],
      });
    },
  );

  it.each([
    ["after passes to", { after: 30, to: 30 }],
    ["after is the largest id", { after: 2_147_483_647 }],
  ])("calls no shard and returns an empty last page when %s", async (_what, bounds) => {
    const { table } = seededTable(mock);
    const result = await table.list({ limit: 10, ...bounds });
    expect(mock).toHaveReceivedCommandTimes(ExecuteStatementCommand, 0);
    expect(result).toEqual({
      items: [],
      next: null,
      partial: false,
      shards: [
        { shard: 1, status: "skipped" },
        { shard: 2, status: "skipped" },
        { shard: 3, status: "skipped" },
      ],
    });
  });

  it("asks for two rows and returns one with a cursor when limit is 1", async () => {
    const { table } = seededTable(mock);
    const result = await table.list({ limit: 1 });
    expect(result.items).toEqual([{ id: 1, name: "Test 1" }]);
    expect(result.next).toBe(1);
    expect([...paramsByArn().values()].map((p) => p.limit)).toEqual([2, 2, 2]);
  });

  it("has no cursor on a page that ends exactly at the last id", async () => {
    const { table } = seededTable(mock);
    const result = await table.list({ limit: 10, after: 50 });
    expect(result.items.map((r) => r.id)).toEqual([51, 52, 53, 54, 55, 56, 57, 58, 59, 60]);
    expect(result.next).toBeNull();
  });
});

describe("walking the table page by page", () => {
  it.each([1, 3, 7, 10, 20, 59, 60, 61, 1000])(
    "visits every id exactly once, in order, with limit %i",
    async (limit) => {
      const { table } = seededTable(mock);
      const pages = await walk(table, { limit });
      const visited = pages.flatMap((p) => p.items.map((r) => r.id));
      expect(visited).toEqual(SEED_ROWS.map((r) => r.id));
      expect(pages).toHaveLength(Math.max(1, Math.ceil(60 / limit)));
      expect(pages.every((p) => p.items.length <= limit && !p.partial)).toBe(true);
      expect(pages.at(-1)?.next).toBeNull();
    },
  );

  it("visits exactly the ids between from and to", async () => {
    const { table } = seededTable(mock);
    const pages = await walk(table, { limit: 4, from: 15, to: 45 });
    const expected = Array.from({ length: 31 }, (_, i) => i + 15);
    expect(pages.flatMap((p) => p.items.map((r) => r.id))).toEqual(expected);
  });

  it("ends when a failed shard can hold no later rows, missing only that shard's rows", async () => {
    const { table } = seededTable(mock);
    mock
      .on(ExecuteStatementCommand, { resourceArn: ARN_2 })
      .rejects(new DatabaseErrorException({ message: "relation does not exist", $metadata: {} }));
    const pages = await walk(table, { limit: 7 });
    const failing = new Set(seedIdsOf(2));
    expect(pages.flatMap((p) => p.items.map((r) => r.id))).toEqual(
      SEED_ROWS.map((r) => r.id).filter((id) => !failing.has(id)),
    );
    // Shard 2 is called (and fails) until the cursor passes its last range (50); after that it is skipped.
    const statusOf2 = pages.map((p) => p.shards.find((s) => s.shard === 2)?.status);
    expect(new Set(statusOf2)).toEqual(new Set(["error", "skipped"]));
    expect(pages.map((p) => p.partial)).toEqual(statusOf2.map((s) => s === "error"));
    expect(pages.at(-1)?.next).toBeNull();
  });

  it("does not end while a failed shard could hold later rows, and reads them once the shard is back", async () => {
    const { table, stores } = seededTable(mock);
    mock
      .on(ExecuteStatementCommand, { resourceArn: ARN_3 })
      .rejects(new DatabaseErrorException({ message: "down", $metadata: {} }));
    const visited: number[] = [];
    const pages: ListResult[] = [];
    let after: number | undefined;
    // A client following `next`: while shard 3 is down, the walk stops making progress instead of ending.
    for (;;) {
      const page = await table.list({ limit: 7, ...(after === undefined ? {} : { after }) });
      pages.push(page);
      visited.push(...page.items.map((r) => r.id));
      expect(page.next).not.toBeNull();
      if (page.next === after) break;
      after = page.next ?? undefined;
      if (pages.length > 50) throw new Error("the walk did not settle");
    }
    const three = new Set(seedIdsOf(3));
    expect(visited).toEqual(SEED_ROWS.map((r) => r.id).filter((id) => !three.has(id)));
    // Shard 1 and 2's rows end at 50; shard 3's 51..60 are unknown, so the walk waits at 50.
    expect(after).toBe(50);
    expect(pages.at(-1)).toMatchObject({ items: [], next: 50, partial: true });

    mock
      .on(ExecuteStatementCommand, { resourceArn: ARN_3 })
      .callsFake(answerFrom(stores.get(3) ?? new Map()));
    const rest = await walk(table, { limit: 7 }, after);
    expect(rest.flatMap((p) => p.items.map((r) => r.id))).toEqual([51, 52, 53, 54, 55, 56, 57, 58, 59, 60]);
    expect(rest.at(-1)?.items.length).toBeGreaterThan(0);
  });

  it("accepts one below the lowest id as after: the cursor of a first page that could read nothing", async () => {
    const { table } = seededTable(mock);
    const page = await table.list({ limit: 3, after: MIN_ID - 1 });
    expect(page.items.map((r) => r.id)).toEqual([1, 2, 3]);
  });

  it("walks any subset of the rows exactly once, in order, never on an empty page, whatever the limit (property)", async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.subarray(SEED_ROWS.map((r) => r.id)),
        fc.integer({ min: 1, max: 70 }),
        async (kept, limit) => {
          mock.reset();
          const { table, stores } = seededTable(mock);
          const keep = new Set(kept);
          for (const store of stores.values())
            for (const id of [...store.keys()]) if (!keep.has(id)) store.delete(id);
          const pages = await walk(table, { limit });
          expect(pages.flatMap((p) => p.items.map((r) => r.id))).toEqual(kept);
          if (kept.length > 0) expect(pages.every((p) => p.items.length > 0)).toBe(true);
        },
      ),
      { seed: 20261202, numRuns: 150 },
    );
  });

  it("reads the shards afresh for every page, so the cursor survives changes made between pages", async () => {
    const { table, stores } = seededTable(mock);
    const first = await table.list({ limit: 10 });
    expect(first.next).toBe(10);
    stores.get(1)?.delete(3);
    stores.get(1)?.set(35, "renamed");
    const second = await table.list({ limit: 10, after: first.next ?? undefined });
    expect(second.items.map((r) => r.id)).toEqual([11, 12, 13, 14, 15, 16, 17, 18, 19, 20]);
    const rest = await walk(table, { limit: 100 });
    expect(rest[0]?.items.find((r) => r.id === 35)?.name).toBe("renamed");
    expect(rest[0]?.items.some((r) => r.id === 3)).toBe(false);
  });
});

describe("the per-call row cap", () => {
  /** Shards of exactly 250, 250 and 249 rows: a shard that returns the cap may have nothing left. */
  function cappedTable() {
    const shards = rawShards({
      1: { ranges: [[1, 250]] },
      2: { ranges: [[251, 500]] },
      3: { ranges: [[501, 749]] },
    });
    const t = seededTable(mock, { SHARDS: JSON.stringify(shards) });
    for (const [n, store] of t.stores) {
      store.clear();
      const [lo, hi] = shards[n - 1]?.ranges[0] ?? [0, -1];
      for (let id = lo; id <= hi; id++) store.set(id, `Test ${id}`);
    }
    serveStores(mock, t.stores, t.fences);
    return t;
  }

  it.each([250, 251, 600, 1000])(
    "never ends a walk with an empty page when limit (%i) is above the per-call cap",
    async (limit) => {
      const { table } = cappedTable();
      const pages = await walk(table, { limit });
      expect(pages.flatMap((p) => p.items.map((r) => r.id))).toEqual(
        Array.from({ length: 749 }, (_, i) => i + 1),
      );
      expect(pages.every((p) => p.items.length > 0)).toBe(true);
      expect(pages.at(-1)?.next).toBeNull();
    },
  );

  it("uses the row past the cap only as proof that more exist: it is never returned", async () => {
    const { table } = cappedTable();
    const page = await table.list({ limit: 1000 });
    expect(page.items.map((r) => r.id)).toEqual(Array.from({ length: 249 }, (_, i) => i + 1));
    expect(page.next).toBe(249);
    expect(page.shards.map((s) => (s.status === "ok" ? s.count : -1))).toEqual([250, 250, 249]);
  });

  it("asks each shard for at most MAX_ROWS_PER_CALL rows however large the page, so no result nears 1 MiB", async () => {
    const { table } = seededTable(mock);
    await table.list({ limit: 1000 });
    for (const input of statements(mock)) {
      expect(input.parameters?.find((p) => p.name === "limit")?.value?.longValue).toBe(MAX_ROWS_PER_CALL);
    }
  });
});
