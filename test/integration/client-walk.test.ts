/**
 * The client walking a real local runtime while a shard fails: 20,000 rows over three shards in blocks of 500 ids. With a shard hanging on some requests (deterministically, every few
 * pages), flapping on a timer, or down for good, `client.rows()` yields every row exactly once and in order, or fails
 * naming the shard and the ids it could not read, and resumes from there. (The same at 1,000,000 rows:
 * docs/client.md, "Walking 1,000,000 rows".)
 */
import { afterAll, afterEach, beforeAll, describe, expect, inject, it } from "vitest";
import { type ClientEvent, createClient, IncompleteReadError } from "../../client/index.js";
import { createShardMap } from "../../functions/core/shard-map.js";
import { type LocalRuntime, startLocalRuntime } from "../../local/runtime.js";

const ROWS = 20_000;
const BLOCK = 500;
const MAP = createShardMap(
  [1, 2, 3].map((id) => ({
    id,
    ranges: Array.from({ length: ROWS / BLOCK }, (_, b) => b)
      .filter((b) => b % 3 === id - 1)
      .map((b) => [b * BLOCK + 1, (b + 1) * BLOCK] as [number, number]),
  })),
);
const ALL = Array.from({ length: ROWS }, (_, i) => i + 1);

let runtime: LocalRuntime;

beforeAll(async () => {
  runtime = await startLocalRuntime({
    postgres: inject("postgres"),
    prefix: "client_walk",
    map: MAP,
    // A hung call costs the shard timeout: short here, so the faults cost little time. The breaker stays on (as in
    // AWS), with a short cool-down; its `unavailable` pages are partial like any other.
    shardTimeoutMs: 150,
    env: { BREAKER_COOLDOWN_MS: "200" },
  });
});

afterEach(async () => {
  for (const shard of [1, 2, 3]) await runtime.setFault(shard, undefined);
});

afterAll(async () => {
  await runtime?.stop();
});

async function walk(rows: AsyncIterable<{ id: number }>): Promise<{ ids: number[]; error: unknown }> {
  const ids: number[] = [];
  try {
    for await (const row of rows) ids.push(row.id);
    return { ids, error: undefined };
  } catch (error) {
    return { ids, error };
  }
}

describe("client.rows() against the local runtime with faults", () => {
  it("the shard of the next row hanging on every sixth request: every row once, in order, its pages re-read", async () => {
    let n = 0;
    const events: ClientEvent[] = [];
    const client = createClient({
      baseUrl: runtime.url,
      onEvent: (e) => events.push(e),
      // For requests 2, 8, 14, …, the shard that owns the page's first id hangs: those pages come back partial.
      fetch: async (input, init) => {
        const after = Number(new URL(String(input)).searchParams.get("after") ?? 0);
        const shard = ++n % 6 === 2 ? MAP.ownerOf(after + 1) : undefined;
        if (shard) await runtime.setFault(shard, { mode: "hang" });
        try {
          return await fetch(input, init);
        } finally {
          if (shard) await runtime.setFault(shard, undefined);
        }
      },
    });
    const { ids, error } = await walk(client.rows({ pageSize: 500 }));
    expect(error).toBeUndefined();
    expect(ids).toEqual(ALL);
    const partial = events.filter((e) => e.type === "partial");
    expect(partial.length).toBeGreaterThanOrEqual(8);
    // Each names the shard that failed (on a busy machine another one may time out too: still every row once).
    expect(partial.every((e) => e.type === "partial" && e.shards.length >= 1)).toBe(true);
  });

  it("a shard flapping on a timer (hung 100 ms, up 300 ms): every row once, in order", async () => {
    let flips = 0;
    let flap: ReturnType<typeof setTimeout> | undefined;
    const toggle = (hung: boolean) => {
      flips++;
      void runtime.setFault(3, hung ? { mode: "hang" } : undefined);
      flap = setTimeout(() => toggle(!hung), hung ? 100 : 300);
    };
    toggle(true);
    const events: ClientEvent[] = [];
    try {
      const client = createClient({ baseUrl: runtime.url, onEvent: (e) => events.push(e) });
      const { ids, error } = await walk(client.rows({ pageSize: 500, from: 1, to: ROWS }));
      expect(error).toBeUndefined();
      expect(ids).toEqual(ALL);
    } finally {
      clearTimeout(flap);
    }
    expect(flips).toBeGreaterThan(2);
  });

  it("a shard down for good: fails naming it and the ids it could not read; resumes once it is back", async () => {
    let pages = 0;
    const client = createClient({
      baseUrl: runtime.url,
      retry: { budgetMs: 1_000 },
      // Shard 3 goes down after the third page.
      fetch: async (input, init) => {
        if (++pages === 4) await runtime.setFault(3, { mode: "down" });
        return fetch(input, init);
      },
    });
    const first = await walk(client.rows({ pageSize: 250, from: 1 }));
    expect(first.error).toBeInstanceOf(IncompleteReadError);
    const error = first.error as IncompleteReadError;
    // Three pages were read (about 750 rows: a page may stop short of its limit), nothing after them.
    expect(first.ids.length).toBeGreaterThan(500);
    expect(first.ids).toEqual(ALL.slice(0, first.ids.length));
    const last = first.ids.at(-1) as number;
    expect(error.resumeAfter).toBe(last);
    expect(error.missing.from).toBe(last + 1);
    expect(error.missing.to).toBeGreaterThan(last);
    expect(error.shards.map((s) => s.shard)).toEqual([3]);
    expect(error.message).toMatch(
      new RegExp(`could not read ids ${last + 1}\\.\\.\\d+ from shard 3 \\((unavailable: )?ECONNREFUSED\\)`),
    );

    await runtime.setFault(3, undefined);
    const rest = await walk(
      createClient(runtime.url).rows({ pageSize: 250, from: 1, after: error.resumeAfter as number }),
    );
    expect(rest.error).toBeUndefined();
    expect([...first.ids, ...rest.ids]).toEqual(ALL);
  });
});
