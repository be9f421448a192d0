import { ExecuteStatementCommand } from "@aws-sdk/client-rds-data";
import { afterAll, beforeEach, describe, expect, it } from "vitest";
import { IdOutOfRangeError, ShardUnavailableError } from "../../functions/core/errors.js";
import { ARN_1, ARN_3 } from "../helpers/fixtures.js";
import {
  calledArns,
  type FakeFence,
  mockDataApi,
  seededTable,
  statements,
  type TestTable,
} from "../helpers/unit-data-api.js";

/**
 * What an instance does when the map changed under it (docs/architecture.md, "Growing the map online"): the shards'
 * fences refuse what it believes, it learns the newer map from the refusing shard and tries again within the same
 * deadline; a range frozen for a move's switch makes writes wait, then answer not_applied.
 */
const mock = mockDataApi();
beforeEach(() => {
  mock.reset();
});
afterAll(() => {
  mock.restore();
});

/** Moves ids 31-40 with their rows from shard 1 to shard 3 in the fakes, as the reshard tool would: map version 2. */
function moveRange(t: TestTable, [lo, hi]: [number, number], from: number, to: number): void {
  const source = t.fences.get(from) as FakeFence;
  const target = t.fences.get(to) as FakeFence;
  for (let id = lo; id <= hi; id++) {
    const name = t.stores.get(from)?.get(id);
    if (name !== undefined) t.stores.get(to)?.set(id, name);
    t.stores.get(from)?.delete(id);
  }
  const without = (ranges: [number, number][]) => ranges.filter(([a]) => a < lo || a > hi);
  source.owned = without(source.owned);
  target.owned = [...target.owned, [lo, hi]];
  const shards = source.shards.map((s) => ({
    id: s.id,
    ranges:
      s.id === from
        ? without(s.ranges)
        : s.id === to
          ? [...s.ranges, [lo, hi] as [number, number]]
          : s.ranges,
  }));
  for (const fence of t.fences.values()) {
    fence.version = 2;
    fence.shards = shards;
  }
}

describe("an instance whose map is older than the shards'", () => {
  it("learns the new map from the refusing shard and answers a point read from the new owner, in one request", async () => {
    const t = seededTable(mock);
    moveRange(t, [31, 40], 1, 3);
    const got = await t.table.get(35);
    expect(got).toMatchObject({ item: { id: 35, name: "Test 35" }, shard: 3 });
    // Refused by shard 1, the map read from shard 1, then the read on shard 3.
    expect(calledArns(mock)).toEqual([ARN_1, ARN_1, ARN_3]);
    expect(t.table.map.version).toBe(2);
    expect(t.table.map.ownerOf(35)).toBe(3);
  });

  it("pages through every row exactly once, in order, after a move it did not know of", async () => {
    const t = seededTable(mock);
    moveRange(t, [31, 40], 1, 3);
    const page = await t.table.list({ limit: 100 });
    expect(page.partial).toBe(false);
    expect(page.items.map((r) => r.id)).toEqual(Array.from({ length: 60 }, (_, i) => i + 1));
    expect(page.next).toBeNull();
    expect(page.shards.map((s) => s.status)).toEqual(["ok", "ok", "ok"]);
  });

  it("writes to the new owner after the refusal: a refused write did nothing, so it is tried again", async () => {
    const t = seededTable(mock);
    moveRange(t, [31, 40], 1, 3);
    const written = await t.table.replace(33, "renamed");
    expect(written).toMatchObject({ shard: 3, item: { id: 33, name: "renamed" } });
    expect(t.stores.get(3)?.get(33)).toBe("renamed");
    expect(t.stores.get(1)?.has(33)).toBe(false);
  });

  it("finds an id it thought unowned on the shard an assign gave it to", async () => {
    const t = seededTable(mock);
    // Assign 61-70 to shard 2 (no rows move): no shard vouches for them as unowned any more.
    for (const fence of t.fences.values()) {
      fence.unowned = fence.unowned.flatMap(([a, b]): [number, number][] =>
        a <= 61 && b >= 70
          ? (
              [
                [a, 60],
                [71, b],
              ] as [number, number][]
            ).filter(([x, y]) => x <= y)
          : [[a, b]],
      );
      fence.version = 2;
      fence.shards = fence.shards.map((s) => (s.id === 2 ? { id: 2, ranges: [...s.ranges, [61, 70]] } : s));
    }
    (t.fences.get(2) as FakeFence).owned.push([61, 70]);
    const created = await t.table.create({ id: 65, name: "new" });
    expect(created.shard).toBe(2);
    expect(t.stores.get(2)?.get(65)).toBe("new");
    await expect(t.table.create({ id: 71, name: "x" })).rejects.toBeInstanceOf(IdOutOfRangeError);
  });

  it("reports a shard that keeps refusing with no newer map as ShardMapChanged, missing data not a crash", async () => {
    const t = seededTable(mock);
    // The shard no longer owns 31-40 but its stored map is not newer: nothing to learn.
    (t.fences.get(1) as FakeFence).owned = [[1, 10]];
    const page = await t.table.list({ limit: 100 });
    expect(page.partial).toBe(true);
    expect(page.shards[0]).toMatchObject({ shard: 1, status: "error", error: "ShardMapChanged" });
    await expect(t.table.remove(35)).rejects.toMatchObject({
      reason: "ShardMapChanged",
      outcome: "not_applied",
    });
  });

  it("never opens a shard's circuit breaker for refusals: the shard answered", async () => {
    const t = seededTable(mock, { BREAKER_FAILURE_THRESHOLD: "1" });
    (t.fences.get(1) as FakeFence).owned = [[1, 10]];
    for (let i = 0; i < 5; i++) await t.table.list({ limit: 100 });
    expect(t.table.breakerState(1)).toBe("closed");
  });
});

describe("a write to a range frozen while it switches shards", () => {
  it("waits for the switch and succeeds when the range opens within its deadline", async () => {
    const t = seededTable(mock);
    const fence = t.fences.get(1) as FakeFence;
    fence.frozen = [[31, 40]];
    setTimeout(() => {
      fence.frozen = [];
    }, 150);
    const written = await t.table.replace(35, "after the switch");
    expect(written.shard).toBe(1);
    expect(t.stores.get(1)?.get(35)).toBe("after the switch");
    expect(statements(mock).length).toBeGreaterThan(1);
  });

  it("answers not_applied with retry-after when the range stays frozen past what its deadline allows", async () => {
    const t = seededTable(mock, { SHARD_TIMEOUT_MS: "1000" });
    (t.fences.get(1) as FakeFence).frozen = [[31, 40]];
    const started = performance.now();
    const err = await t.table.replace(35, "x").catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ShardUnavailableError);
    expect(err).toMatchObject({
      shard: 1,
      reason: "RangeFrozen",
      outcome: "not_applied",
      retryAfterMs: 1000,
    });
    expect(performance.now() - started).toBeLessThan(1000);
    expect(t.stores.get(1)?.get(35)).toBe("Test 35");
    expect(mock).toHaveReceivedCommand(ExecuteStatementCommand);
  });

  it("still reads a frozen range: only writes wait", async () => {
    const t = seededTable(mock);
    (t.fences.get(1) as FakeFence).frozen = [[31, 40]];
    await expect(t.table.get(35)).resolves.toMatchObject({ item: { id: 35 } });
  });
});
