/**
 * Walking a big, gappy table through the real API, the way a client does: follow `next` until it is `null`. Rows
 * are deleted between pages and one shard fails; the walk still gets every row of the healthy shards exactly once, in
 * order, never ends on an empty page, and does not end while the failed shard could still hold later rows.
 */
import { afterAll, afterEach, beforeAll, describe, expect, inject, it } from "vitest";
import { createShardMap } from "../../functions/core/shard-map.js";
import { type LocalRuntime, startLocalRuntime } from "../../local/runtime.js";
import { type Answer, BREAKER_OFF, del, get, idsOf } from "../helpers/api-client.js";

/** Three shards with several ranges each and gaps between them (301-350, 701-800, 1151-1200, 1501-1600, 1701-1800). */
const MAP = createShardMap([
  {
    id: 1,
    ranges: [
      [1, 300],
      [801, 1000],
      [1601, 1700],
    ],
  },
  {
    id: 2,
    ranges: [
      [351, 500],
      [1201, 1500],
    ],
  },
  {
    id: 3,
    ranges: [
      [501, 700],
      [1001, 1150],
      [1801, 1900],
    ],
  },
]);
const ALL = [...MAP.ids()].map(({ id }) => id);
const owned = (shard: number) => new Set(ALL.filter((id) => MAP.ownerOf(id) === shard));

let runtime: LocalRuntime;

beforeAll(async () => {
  // The walks pin the paging of each page whose shard failed; the breaker would skip that shard (the same paging,
  // as `unavailable`) and then keep skipping it for a cool-down after the fault is cleared.
  runtime = await startLocalRuntime({
    postgres: inject("postgres"),
    prefix: "api_paging",
    map: MAP,
    env: BREAKER_OFF,
  });
});

afterEach(async () => {
  await runtime.setFault(3, undefined);
});

afterAll(async () => {
  await runtime?.stop();
});

const page = async (limit: number, after: number | null): Promise<Answer> => {
  const answer = await get(runtime.url, `/data?limit=${limit}${after === null ? "" : `&after=${after}`}`);
  expect(answer.status).toBe(200);
  return answer;
};

describe("walking the whole table following next", () => {
  it("gets every healthy row once, in order, with deletes between pages and a failing shard, and waits for it", async () => {
    await runtime.setFault(3, { mode: "error" });
    const three = owned(3);
    const deleted = new Set<number>();
    const seen: number[] = [];
    const pages: Answer[] = [];
    let after: number | null = null;
    for (;;) {
      const answer = await page(37, after);
      pages.push(answer);
      seen.push(...idsOf(answer.body.items));
      // While shard 3 is down the walk never ends: `next` stops moving once the healthy shards are done.
      expect(answer.body.next).not.toBeNull();
      if (answer.body.next === after) break;
      after = answer.body.next;
      // Delete two rows of the healthy shards ahead of the cursor: the walk must not return them.
      for (const id of [(after as number) + 5, (after as number) + 60]) {
        if (id < 1690 && !three.has(id) && ALL.includes(id) && !deleted.has(id)) {
          expect((await del(runtime.url, id)).status).toBe(204);
          deleted.add(id);
        }
      }
      if (pages.length > 100) throw new Error("the walk did not settle");
    }
    const healthy = ALL.filter((id) => !three.has(id) && !deleted.has(id));
    expect(deleted.size).toBeGreaterThan(10);
    expect(seen).toEqual(healthy);
    expect(pages.slice(0, -1).every((p) => p.body.items.length > 0)).toBe(true);
    expect(pages.filter((p) => p.body.partial).length).toBeGreaterThan(0);
    // The healthy shards end at 1700; shard 3's last range, 1801-1900, is unknown, so the walk waits just before it.
    expect(after).toBe(1800);
    expect(pages.at(-1)?.body).toMatchObject({ items: [], next: 1800, partial: true });

    // Shard 3 is back: following the same `next` now reads its rows after the cursor, and the walk ends on them.
    await runtime.setFault(3, undefined);
    const rest: Answer[] = [];
    do {
      rest.push(await page(37, after));
      after = rest.at(-1)?.body.next;
    } while (after !== null && rest.length < 10);
    expect(rest.flatMap((p) => idsOf(p.body.items))).toEqual(ALL.filter((id) => id >= 1801));
    expect(rest.every((p) => p.body.items.length > 0 && !p.body.partial)).toBe(true);
  });

  it.each([37, 249, 250, 600, 1000])(
    "with limit %i, gets every row once, in order, and never an empty page",
    async (limit) => {
      const pages: Answer[] = [];
      let after: number | null = null;
      do {
        pages.push(await page(limit, after));
        after = pages.at(-1)?.body.next;
      } while (after !== null && pages.length < 100);
      const ids = pages.flatMap((p) => idsOf(p.body.items));
      const present = new Set(ids);
      expect(ids).toEqual([...present].sort((a, b) => a - b));
      expect(pages.every((p) => p.body.items.length > 0 && !p.body.partial)).toBe(true);
      expect(after).toBeNull();
      // Rows deleted by the walk above are gone; every other row is here.
      const expected = ALL.filter((id) => present.has(id) || id >= 1690 || MAP.ownerOf(id) === 3);
      expect(ids).toEqual(expected);
    },
  );
});
