/**
 * Reads through the whole local stack with every shard healthy (unless a test says otherwise): real HTTP to the local
 * API server, the real handler, the real SDK client and the local Data API endpoints over real PostgreSQL.
 */
import { afterAll, afterEach, beforeAll, describe, expect, inject, it } from "vitest";
import { type LocalRuntime, startLocalRuntime } from "../../local/runtime.js";
import {
  type Answer,
  allRows,
  BREAKER_OFF,
  del,
  expectError,
  get,
  idsOf,
  post,
  request,
  walk,
} from "../helpers/api-client.js";
import { ALL_IDS, idsWithout, SEED_ROWS, SHARD_IDS } from "../helpers/fixtures.js";

let runtime: LocalRuntime;
let url: string;

beforeAll(async () => {
  runtime = await startLocalRuntime({
    postgres: inject("postgres"),
    prefix: "api_reads",
    shardTimeoutMs: 1000,
    env: BREAKER_OFF,
  });
  url = runtime.url;
});

afterEach(async () => {
  for (const shard of SHARD_IDS) await runtime.setFault(shard, undefined);
});

afterAll(async () => {
  await runtime?.stop();
});

const range = (from: number, to: number) => Array.from({ length: to - from + 1 }, (_, i) => from + i);

describe("GET /data", () => {
  it("returns all 60 seeded rows sorted by id with their names, every shard ok, complete and last", async () => {
    const answer = await get(url, "/data?limit=1000");
    expect(answer.status).toBe(200);
    expect(answer.body.items).toEqual(SEED_ROWS);
    expect(answer.body.partial).toBe(false);
    expect(answer.body.next).toBeNull();
    expect(answer.body.shards).toEqual(
      SHARD_IDS.map((shard) => ({ shard, status: "ok", count: 20, ms: expect.any(Number) })),
    );
  });

  it("pages 100 rows by default, so the 60 seeded rows fit on one page", async () => {
    const answer = await get(url, "/data");
    expect(answer.status).toBe(200);
    expect(idsOf(answer.body.items)).toEqual(ALL_IDS);
    expect(answer.body.next).toBeNull();
  });

  it("answers JSON with a CORS header that allows any origin", async () => {
    const answer = await get(url, "/data?limit=1");
    expect(answer.headers.get("content-type")).toBe("application/json");
    expect(answer.headers.get("access-control-allow-origin")).toBe("*");
    expect(answer.body.next).toBe(1);
  });

  it("calls only shard 2 for from=12&to=18 and reports the others as skipped", async () => {
    const answer = await get(url, "/data?from=12&to=18");
    expect(answer.status).toBe(200);
    expect(idsOf(answer.body.items)).toEqual(range(12, 18));
    expect(answer.body.partial).toBe(false);
    expect(answer.body.next).toBeNull();
    expect(answer.body.shards).toEqual([
      { shard: 1, status: "skipped" },
      { shard: 2, status: "ok", count: 7, ms: expect.any(Number) },
      { shard: 3, status: "skipped" },
    ]);
  });

  it.each([
    { query: "from=5&to=25", ids: range(5, 25), statuses: ["ok", "ok", "ok"] },
    { query: "from=31&to=35", ids: range(31, 35), statuses: ["ok", "skipped", "skipped"] },
    { query: "from=42&to=42", ids: [42], statuses: ["skipped", "ok", "skipped"] },
    { query: "from=21&to=60&after=45", ids: range(46, 60), statuses: ["skipped", "ok", "ok"] },
    // Ids no shard owns: shard 1 alone vouches that no shard has been given them since (docs/architecture.md).
    { query: "from=-100&to=0", ids: [], statuses: ["ok", "skipped", "skipped"] },
    { query: "from=61&to=2147483647", ids: [], statuses: ["ok", "skipped", "skipped"] },
  ])(
    "reads exactly the ids of $query and calls only the shards that can hold them",
    async ({ query, ids, statuses }) => {
      const answer = await get(url, `/data?${query}`);
      expect(answer.status).toBe(200);
      expect(idsOf(answer.body.items)).toEqual(ids);
      expect(answer.body.shards.map((s: { status: string }) => s.status)).toEqual(statuses);
      expect(answer.body.partial).toBe(false);
      expect(answer.body.next).toBeNull();
    },
  );

  it("walks every id exactly once, in order, with limit 7, and ends without an empty page", async () => {
    const { ids, pages } = await walk(url, 7);
    expect(ids).toEqual(ALL_IDS);
    expect(pages).toHaveLength(Math.ceil(60 / 7));
    for (const page of pages) {
      expect(page.body.items.length).toBeGreaterThan(0);
      expect(page.body.items.length).toBeLessThanOrEqual(7);
      expect(page.body.partial).toBe(false);
    }
    expect(pages.at(-1)?.body.next).toBeNull();
  });

  it.each(SHARD_IDS)(
    "walks exactly the other shards' ids while shard %i is down, ending only if it holds no later id",
    async (shard) => {
      await runtime.setFault(shard, { mode: "down" });
      // Follow `next` until it is null or stops moving: a down shard that may hold later rows keeps the walk waiting.
      const pages: Answer[] = [];
      let after: number | null = null;
      do {
        const page = await get(url, `/data?limit=7${after === null ? "" : `&after=${after}`}`);
        pages.push(page);
        if (page.body.next === after) break;
        after = page.body.next;
      } while (after !== null && pages.length < 30);
      const ids = pages.flatMap((p) => idsOf(p.body.items));
      expect(ids).toEqual(idsWithout(shard));
      // Shard 3 owns the last ids (51-60): while it is down the walk waits at 50 instead of ending.
      expect(after).toBe(shard === 3 ? 50 : null);
      // Once the cursor is past the down shard's last range, it is no longer called: then the page is complete.
      for (const page of pages) {
        const status = page.body.shards.find((s: { shard: number }) => s.shard === shard)?.status;
        expect(["error", "skipped"]).toContain(status);
        expect(page.body.partial).toBe(status === "error");
      }
      expect(pages[0]?.body.partial).toBe(true);
    },
  );

  it.each([60, 1000, 2147483647])(
    "answers an empty last page after=%i, beyond the last id",
    async (after) => {
      const answer = await get(url, `/data?after=${after}`);
      expect(answer.status).toBe(200);
      expect(answer.body.items).toEqual([]);
      expect(answer.body.next).toBeNull();
      expect(answer.body.partial).toBe(false);
    },
  );

  it.each([
    ["limit=0", /^limit:/],
    ["limit=1001", /^limit:/],
    ["limit=abc", /^limit:/],
    ["limit=1e3", /^limit:/],
    ["limit=", /^limit:/],
    ["limit=1&limit=2", /^limit:/],
    ["after=1.5", /^after:/],
    ["after=%201", /^after:/],
    ["after=2147483648", /^after:/],
    ["from=-2147483649", /^from:/],
    ["to=x", /^to:/],
    ["from=20&to=10", /^from: must not be greater than to/],
    ["offset=5", /unknown query parameter: offset/],
    ["limit=5&LIMIT=5", /unknown query parameter: LIMIT/],
  ])("rejects ?%s with a 400 that names the parameter", async (query, message) => {
    const answer = await get(url, `/data?${query}`);
    expectError(answer, 400, "invalid_query", message);
    expect(answer.headers.get("access-control-allow-origin")).toBe("*");
  });
});

describe("GET /data/{id}", () => {
  it.each([
    { id: 1, shard: 1 },
    { id: 40, shard: 1 },
    { id: 11, shard: 2 },
    { id: 42, shard: 2 },
    { id: 30, shard: 3 },
    { id: 51, shard: 3 },
  ])("reads id $id from its owner, shard $shard, alone", async ({ id, shard }) => {
    const answer = await get(url, `/data/${id}`);
    expect(answer.status).toBe(200);
    expect(answer.headers.get("content-type")).toBe("application/json");
    expect(answer.body).toEqual({ item: { id, name: `Test ${id}` }, shard });
  });

  it("answers 404 for an id of the map that is absent (after a DELETE), saying its shard answered", async () => {
    expect((await del(url, 33)).status).toBe(204);
    try {
      const answer = await get(url, "/data/33");
      expectError(answer, 404, "not_found", /^id 33 does not exist$/);
      expect(answer.body.shard).toBe(1);
      expect(answer.body.shards).toEqual([{ shard: 1, status: "ok", count: 0, ms: expect.any(Number) }]);
    } finally {
      expect((await post(url, { id: 33, name: "Test 33" })).status).toBe(201);
    }
    expect(await allRows(url)).toEqual(SEED_ROWS);
  });

  it.each([0, 61, -5, 1000, -2147483648, 2147483647])(
    "answers 404 for id %i, outside the shard map",
    async (id) => {
      const answer = await get(url, `/data/${id}`);
      expectError(answer, 404, "id_out_of_range", new RegExp(`^id ${id} is outside`));
    },
  );

  it.each(["abc", "1.5", "1e3", "0x10", "2147483648", "-2147483649", "%2042"])(
    "answers 400 for the non-integer or out-of-int32 id %s",
    async (id) => {
      expectError(await get(url, `/data/${id}`), 400, "invalid_id", /^id:/);
    },
  );
});

describe("the rest of the surface", () => {
  it("answers GET /health with ok without touching the shards", async () => {
    for (const shard of SHARD_IDS) await runtime.setFault(shard, { mode: "hang" });
    const answer = await get(url, "/health");
    expect(answer.status).toBe(200);
    expect(answer.body).toEqual({ status: "ok" });
    expect(answer.headers.get("access-control-allow-origin")).toBe("*");
    expect(answer.ms).toBeLessThan(500);
  });

  it.each(["/", "/nope", "/data/1/extra", "/datas", "/health/1"])(
    "answers 404 route_not_found for %s",
    async (path) => {
      const answer = await get(url, path);
      expectError(answer, 404, "route_not_found");
      expect(answer.headers.get("access-control-allow-origin")).toBe("*");
    },
  );

  it.each([
    { method: "DELETE", path: "/data", allow: ["GET", "POST", "OPTIONS"] },
    { method: "PATCH", path: "/data/1", allow: ["GET", "PUT", "DELETE", "OPTIONS"] },
    { method: "POST", path: "/health", allow: ["GET", "OPTIONS"] },
  ])("answers $method $path with 405 and an allow header", async ({ method, path, allow }) => {
    const answer = await request(url, path, { method });
    expectError(answer, 405, "method_not_allowed");
    expect(answer.headers.get("allow")?.split(/,\s*/).sort()).toEqual([...allow].sort());
    expect(answer.headers.get("access-control-allow-origin")).toBe("*");
  });

  it("answers a CORS preflight with 204 and the allowed methods", async () => {
    const answer = await request(url, "/data", {
      method: "OPTIONS",
      headers: { origin: "https://example.com", "access-control-request-method": "POST" },
    });
    expect(answer.status).toBe(204);
    expect(answer.headers.get("access-control-allow-origin")).toBe("*");
    expect(answer.headers.get("access-control-allow-methods")).toContain("POST");
    expect(answer.raw).toBe("");
  });

  it("keeps the seed intact through all the reads above", async () => {
    expect(await allRows(url)).toEqual(SEED_ROWS);
  });
});
