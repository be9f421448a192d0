/**
 * The client against a mocked `fetch`: paging, re-reading partial pages with back-off and the budget's error, point
 * reads and writes with their typed errors, write retries after `retry-after`, reading a row back after an `unknown`
 * outcome, signing, timeouts. Every JSON body the mock answers is first checked against its `openapi.yaml` schema,
 * so the mock cannot drift from the contract. Time is simulated: `sleep` advances a fake clock.
 */
import { describe, expect, it } from "vitest";
import {
  ApiError,
  type ClientEvent,
  type ClientOptions,
  ConflictError,
  createClient,
  IncompleteReadError,
  type ListResult,
  MAX_ID,
  NetworkError,
  NotFoundError,
  ProtocolError,
  type Row,
  retryAfterMs,
  type ShardReport,
  UnavailableError,
} from "../../client/index.js";
import { schemaErrors } from "../helpers/openapi-contract.js";

const BASE = "http://api.test";

interface Reply {
  status: number;
  /** The body's schema in openapi.yaml: the body is checked against it before it is sent. */
  schema?: string;
  body?: unknown;
  headers?: Record<string, string>;
}

interface Sent {
  method: string;
  url: URL;
  headers: Record<string, string>;
  body: string | undefined;
}

/** A fetch that answers each request with `handler`'s reply, and records what was sent. */
function mockFetch(handler: (req: Sent, n: number) => Reply | Promise<Reply> | "network" | "hang") {
  const sent: Sent[] = [];
  const fetch = (async (input: string | URL | Request, init?: RequestInit) => {
    const req: Sent = {
      method: init?.method ?? "GET",
      url: new URL(String(input)),
      headers: { ...(init?.headers as Record<string, string>) },
      body: init?.body as string | undefined,
    };
    sent.push(req);
    const reply = await handler(req, sent.length);
    if (reply === "network") throw new TypeError("fetch failed");
    if (reply === "hang") {
      return new Promise<Response>((_, reject) => {
        if (init?.signal?.aborted) reject(init.signal.reason);
        init?.signal?.addEventListener("abort", () => reject(init.signal?.reason));
      });
    }
    if (reply.schema) expect(schemaErrors(reply.schema, reply.body), reply.schema).toBeNull();
    return new Response(reply.body === undefined ? null : JSON.stringify(reply.body), {
      status: reply.status,
      headers: {
        ...(reply.body === undefined ? {} : { "content-type": "application/json" }),
        ...reply.headers,
      },
    });
  }) as typeof globalThis.fetch;
  return { fetch, sent };
}

/** A client with simulated time: `sleep` advances the clock and records each wait. */
function clientOf(fetch: typeof globalThis.fetch, opts: Partial<ClientOptions> = {}) {
  let clock = 0;
  const sleeps: number[] = [];
  const events: ClientEvent[] = [];
  const client = createClient({
    baseUrl: `${BASE}/`,
    fetch,
    sleep: async (ms) => {
      sleeps.push(ms);
      clock += ms;
    },
    now: () => clock,
    random: () => 1,
    onEvent: (e) => events.push(e),
    ...opts,
  });
  return { client, sleeps, events };
}

const rows = (from: number, to: number): Row[] =>
  Array.from({ length: to - from + 1 }, (_, i) => ({ id: from + i, name: `Test ${from + i}` }));
const OK: ShardReport[] = [
  { shard: 1, status: "ok", count: 3, ms: 2 },
  { shard: 2, status: "ok", count: 3, ms: 2 },
];
const TIMEOUT: ShardReport[] = [
  { shard: 1, status: "ok", count: 3, ms: 2 },
  { shard: 2, status: "timeout", ms: 2000 },
];
const page = (items: Row[], next: number | null, shards = OK): Reply => ({
  status: 200,
  schema: "ListResult",
  body: {
    items,
    next,
    partial: shards.some((s) => ["timeout", "error", "unavailable"].includes(s.status)),
    shards,
  },
});
const afterOf = (req: Sent) => req.url.searchParams.get("after");

/** A table of ids 1..30 read 10 a page; `fail(after, attempt)` may make a page partial. */
function table(fail: (after: string | null, attempt: number) => ShardReport[] | undefined = () => undefined) {
  const attempts = new Map<string | null, number>();
  return mockFetch((req) => {
    const after = afterOf(req);
    const n = (attempts.get(after) ?? 0) + 1;
    attempts.set(after, n);
    const start = after === null ? 1 : Number(after) + 1;
    const end = Math.min(start + 9, 30);
    const failed = fail(after, n);
    // A partial page: shard 2 (the even ids) is missing, `next` is where the healthy shard was read.
    if (failed)
      return page(
        rows(start, end).filter((r) => r.id % 2 === 1),
        end,
        failed,
      );
    return page(rows(start, end), end === 30 ? null : end);
  });
}

async function collect(iterable: AsyncIterable<Row>): Promise<{ ids: number[]; error: unknown }> {
  const ids: number[] = [];
  try {
    for await (const row of iterable) ids.push(row.id);
    return { ids, error: undefined };
  } catch (error) {
    return { ids, error };
  }
}

describe("rows(): walking every row", () => {
  it("follows next to the end, in order, sending limit, from, to and after", async () => {
    const { fetch, sent } = table();
    const { client } = clientOf(fetch);
    const { ids, error } = await collect(client.rows({ pageSize: 10, from: 1, to: 30 }));
    expect(error).toBeUndefined();
    expect(ids).toEqual(rows(1, 30).map((r) => r.id));
    expect(sent.map((r) => `${r.url.pathname}${r.url.search}`)).toEqual([
      "/data?limit=10&from=1&to=30",
      "/data?limit=10&after=10&from=1&to=30",
      "/data?limit=10&after=20&from=1&to=30",
    ]);
  });

  it("re-reads a partial page (same cursor, with back-off) and yields each row once", async () => {
    const { fetch, sent } = table((after, n) => (after === "10" && n <= 2 ? TIMEOUT : undefined));
    const { client, sleeps, events } = clientOf(fetch);
    const { ids, error } = await collect(client.rows({ pageSize: 10 }));
    expect(error).toBeUndefined();
    expect(ids).toEqual(rows(1, 30).map((r) => r.id));
    expect(sent.map(afterOf)).toEqual([null, "10", "10", "10", "20"]);
    expect(sleeps).toEqual([100, 200]);
    expect(events.filter((e) => e.type === "partial")).toMatchObject([
      { after: 10, next: 20, attempt: 2, shards: [{ shard: 2, status: "timeout" }] },
      { after: 10, next: 20, attempt: 3 },
    ]);
  });

  it("waits at least a breaker's retryAfterMs, and waits when next did not move", async () => {
    const unavailable: ShardReport[] = [
      { shard: 1, status: "ok", count: 0, ms: 1 },
      { shard: 2, status: "unavailable", reason: "circuit_open", lastFailure: "timeout", retryAfterMs: 2500 },
    ];
    let n = 0;
    const { fetch, sent } = mockFetch((req) => {
      n++;
      if (afterOf(req) === null) return page(rows(1, 5), 5);
      // The healthy shard is done; shard 2 could hold later rows: an empty partial page whose next is the cursor.
      if (n < 4) return page([], 5, unavailable);
      return page(rows(6, 8), null);
    });
    const { client, sleeps } = clientOf(fetch);
    const { ids } = await collect(client.rows());
    expect(ids).toEqual([1, 2, 3, 4, 5, 6, 7, 8]);
    expect(sent.map(afterOf)).toEqual([null, "5", "5", "5"]);
    expect(sleeps).toEqual([2500, 2500]);
  });

  it("fails naming the shards and the ids it could not read when the budget runs out, never with a gap", async () => {
    const { fetch } = table((after) =>
      after === "20"
        ? [
            { shard: 1, status: "ok", count: 3, ms: 2 },
            { shard: 2, status: "error", error: "ShardMapChanged", ms: 3 },
          ]
        : undefined,
    );
    const { client, sleeps } = clientOf(fetch, { retry: { attempts: 4 } });
    const { ids, error } = await collect(client.rows({ pageSize: 10 }));
    expect(ids).toEqual(rows(1, 20).map((r) => r.id));
    expect(error).toBeInstanceOf(IncompleteReadError);
    const e = error as IncompleteReadError;
    expect(e.shards).toEqual([{ shard: 2, status: "error", error: "ShardMapChanged", ms: 3 }]);
    expect(e.missing).toEqual({ from: 21, to: 30 });
    expect(e.resumeAfter).toBe(20);
    expect(e.attempts).toBe(4);
    expect(sleeps).toEqual([100, 200, 400]);
    expect(e.message).toMatch(/ids 21\.\.30 from shard 2 \(ShardMapChanged\) after 4 attempts/);
  });

  it("a budget in time: no attempt starts past budgetMs; the missing range runs to `to` when next did not move", async () => {
    const { fetch, sent } = mockFetch(() =>
      page([], -2147483649, [{ shard: 1, status: "timeout", ms: 2000 }]),
    );
    const { client } = clientOf(fetch, { retry: { budgetMs: 1000, baseDelayMs: 300 } });
    const { ids, error } = await collect(client.rows({ to: 500 }));
    expect(ids).toEqual([]);
    expect(sent).toHaveLength(3); // after 300 and 600 ms; 1200 more would pass 1000
    expect((error as IncompleteReadError).missing).toEqual({ from: -2147483648, to: 500 });
    expect((error as IncompleteReadError).resumeAfter).toBeUndefined();
  });

  it("resumes after a failure from resumeAfter", async () => {
    const { fetch } = table();
    const { client } = clientOf(fetch);
    const { ids } = await collect(client.rows({ pageSize: 10, after: 20 }));
    expect(ids).toEqual(rows(21, 30).map((r) => r.id));
  });

  it("retries transport failures and 5xx within the budget; a 400 is thrown at once", async () => {
    let calls = 0;
    const { fetch } = mockFetch(() => {
      calls++;
      if (calls === 1) return "network";
      if (calls === 2)
        return { status: 500, schema: "GatewayMessage", body: { message: "Internal Server Error" } };
      if (calls === 3)
        return { status: 429, body: { message: "Too Many Requests" }, headers: { "retry-after": "2" } };
      return page(rows(1, 3), null);
    });
    const { client, sleeps } = clientOf(fetch);
    expect((await collect(client.rows())).ids).toEqual([1, 2, 3]);
    expect(sleeps).toEqual([100, 200, 2000]);

    const bad = mockFetch(() => ({
      status: 400,
      schema: "InvalidQueryError",
      body: { error: { code: "invalid_query", message: "limit: must be at most 1000" } },
    }));
    const { error } = await collect(clientOf(bad.fetch).client.rows({ pageSize: 5000 }));
    expect(error).toBeInstanceOf(ApiError);
    expect(error).toMatchObject({ status: 400, code: "invalid_query" });
    expect(bad.sent).toHaveLength(1);
  });

  it("the API never answering within the budget is an IncompleteReadError caused by the last failure", async () => {
    const { fetch } = mockFetch(() => "network");
    const { client } = clientOf(fetch, { retry: { attempts: 3 } });
    const { error } = await collect(client.rows({ from: 10, to: 20 }));
    expect(error).toBeInstanceOf(IncompleteReadError);
    expect((error as IncompleteReadError).missing).toEqual({ from: 10, to: 20 });
    expect((error as IncompleteReadError).cause).toBeInstanceOf(NetworkError);
  });

  it("refuses rows out of order (a broken promise of the API), rather than yield them", async () => {
    const { fetch } = mockFetch((req) =>
      afterOf(req) === null ? page(rows(1, 3), 3) : page(rows(2, 4), null),
    );
    const { ids, error } = await collect(clientOf(fetch).client.rows());
    expect(ids).toEqual([1, 2, 3]);
    expect(error).toBeInstanceOf(ProtocolError);
  });

  it("page() answers the raw page, partial or not; pages() only complete ones", async () => {
    const { fetch } = table((after, n) => (after === null && n === 1 ? TIMEOUT : undefined));
    const { client } = clientOf(fetch);
    const raw: ListResult = await client.page({ limit: 10 });
    expect(raw.partial).toBe(true);
    expect(raw.items.map((r) => r.id)).toEqual([1, 3, 5, 7, 9]);
    const pages: ListResult[] = [];
    for await (const p of client.pages({ pageSize: 10 })) pages.push(p);
    expect(pages.map((p) => p.partial)).toEqual([false, false, false]);
  });
});

describe("point reads", () => {
  it("get: the row; 404 is NotFoundError; a 503 is retried after retry-after, then UnavailableError", async () => {
    const getUnavailable = {
      status: 503,
      schema: "GetUnavailable",
      body: {
        error: { code: "shard_unavailable", message: "shard 2 did not answer" },
        shard: 2,
        shards: [{ shard: 2, status: "timeout", ms: 2000 }],
      },
      headers: { "retry-after": "1" },
    };
    const { fetch, sent } = mockFetch((req, n) => {
      if (req.url.pathname === "/data/42")
        return { status: 200, schema: "GetResult", body: { item: { id: 42, name: "Test 42" }, shard: 2 } };
      if (req.url.pathname === "/data/9") {
        return {
          status: 404,
          schema: "GetNotFound",
          body: {
            error: { code: "not_found", message: "no row 9" },
            shard: 1,
            shards: [{ shard: 1, status: "ok", count: 0, ms: 1 }],
          },
        };
      }
      return n < 100 ? getUnavailable : page([], null);
    });
    const { client, sleeps } = clientOf(fetch, { retry: { attempts: 3 } });
    expect(await client.get(42)).toEqual({ id: 42, name: "Test 42" });
    expect(await client.getResult(42)).toEqual({ item: { id: 42, name: "Test 42" }, shard: 2 });
    await expect(client.get(9)).rejects.toBeInstanceOf(NotFoundError);
    const error = await client.get(12).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(UnavailableError);
    expect(error).toMatchObject({
      status: 503,
      shard: 2,
      retryAfterMs: 1000,
      attempts: 3,
      outcome: undefined,
    });
    expect((error as UnavailableError).shards).toEqual([{ shard: 2, status: "timeout", ms: 2000 }]);
    expect(sleeps).toEqual([1000, 1000]);
    expect(sent.filter((r) => r.url.pathname === "/data/12")).toHaveLength(3);
  });
});

const unavailable = (outcome: "not_applied" | "unknown"): Reply => ({
  status: 503,
  schema: "ShardUnavailableError",
  body: {
    error: { code: "shard_unavailable", message: "shard 1 did not confirm the write" },
    outcome,
    shard: 1,
  },
  headers: { "retry-after": "1" },
});
const written = (row: Row, status = 201): Reply => ({
  status,
  schema: "WriteResult",
  body: { item: row, shard: 1 },
});
const notFound: Reply = {
  status: 404,
  schema: "NotFoundError",
  body: { error: { code: "not_found", message: "no row 7" } },
};

describe("writes", () => {
  it("create, replace, remove: their rows, 409 ConflictError, 404 NotFoundError, JSON bodies", async () => {
    const { fetch, sent } = mockFetch((req) => {
      if (req.method === "POST") {
        return JSON.parse(req.body as string).id === 1
          ? {
              status: 409,
              schema: "DuplicateIdError",
              body: { error: { code: "duplicate_id", message: "id 1 already exists" } },
            }
          : written({ id: 7, name: "Seven" });
      }
      if (req.method === "PUT") return written({ id: 7, name: "Sieben" }, 200);
      return req.url.pathname === "/data/7" ? { status: 204 } : notFound;
    });
    const { client } = clientOf(fetch);
    expect(await client.create({ id: 7, name: "Seven" })).toEqual({ id: 7, name: "Seven" });
    expect(await client.replace(7, "Sieben")).toEqual({ id: 7, name: "Sieben" });
    expect(await client.remove(7)).toBeUndefined();
    await expect(client.create({ id: 1, name: "One" })).rejects.toBeInstanceOf(ConflictError);
    await expect(client.remove(8)).rejects.toMatchObject({
      name: "NotFoundError",
      status: 404,
      code: "not_found",
    });
    expect(sent[0]).toMatchObject({ method: "POST", body: '{"id":7,"name":"Seven"}' });
    expect(sent[0]?.headers["content-type"]).toBe("application/json");
    expect(sent[1]).toMatchObject({ method: "PUT", body: '{"name":"Sieben"}' });
  });

  it("not_applied: thrown with its outcome, shard and retryAfter; with writeRetry, sent again after retry-after", async () => {
    const plain = mockFetch(() => unavailable("not_applied"));
    const error = await clientOf(plain.fetch)
      .client.create({ id: 7, name: "Seven" })
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(UnavailableError);
    expect(error).toMatchObject({ outcome: "not_applied", shard: 1, retryAfterMs: 1000, attempts: 1 });
    expect(plain.sent).toHaveLength(1);

    const retried = mockFetch((_, n) =>
      n <= 2 ? unavailable("not_applied") : written({ id: 7, name: "Seven" }),
    );
    const { client, sleeps, events } = clientOf(retried.fetch, { writeRetry: true });
    expect(await client.create({ id: 7, name: "Seven" })).toEqual({ id: 7, name: "Seven" });
    expect(sleeps).toEqual([1000, 1000]);
    expect(events).toMatchObject([
      { type: "retry", method: "POST", status: 503, outcome: "not_applied", attempt: 2 },
      { type: "retry", attempt: 3 },
    ]);

    const never = mockFetch(() => unavailable("not_applied"));
    const spent = await clientOf(never.fetch, { writeRetry: { attempts: 3 } })
      .client.remove(7)
      .catch((e: unknown) => e);
    expect(spent).toMatchObject({ outcome: "not_applied", attempts: 3 });
    expect(never.sent).toHaveLength(3);
  });

  it("unknown: reads the row back; there as written is success, reported", async () => {
    const { fetch, sent } = mockFetch((req) =>
      req.method === "GET"
        ? { status: 200, schema: "GetResult", body: { item: { id: 7, name: "Seven" }, shard: 1 } }
        : unavailable("unknown"),
    );
    const { client, events } = clientOf(fetch);
    expect(await client.create({ id: 7, name: "Seven" })).toEqual({ id: 7, name: "Seven" });
    expect(sent.map((r) => r.method)).toEqual(["POST", "GET"]);
    expect(events).toEqual([
      { type: "readBack", method: "POST", id: 7, readBack: { applied: true, row: { id: 7, name: "Seven" } } },
    ]);
    expect(await client.replace(7, "Seven")).toEqual({ id: 7, name: "Seven" });
  });

  it("unknown, read back as not applied: thrown with the read back, or with writeRetry sent again at once", async () => {
    const absent = mockFetch((req) => (req.method === "GET" ? notFound : unavailable("unknown")));
    const error = await clientOf(absent.fetch)
      .client.create({ id: 7, name: "Seven" })
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(UnavailableError);
    expect(error).toMatchObject({ outcome: "unknown", readBack: { applied: false, row: null } });
    expect((error as Error).message).toMatch(/read back: not applied \(row absent\)/);

    let posts = 0;
    const retried = mockFetch((req) => {
      if (req.method === "GET") return notFound;
      return ++posts === 1 ? unavailable("unknown") : written({ id: 7, name: "Seven" });
    });
    const { client, sleeps } = clientOf(retried.fetch, { writeRetry: true });
    expect(await client.create({ id: 7, name: "Seven" })).toEqual({ id: 7, name: "Seven" });
    expect(retried.sent.map((r) => r.method)).toEqual(["POST", "GET", "POST"]);
    expect(sleeps).toEqual([200]);
  });

  it("unknown: a delete read back absent is done; a replace of a row gone is NotFound; another name is a conflict", async () => {
    const { fetch } = mockFetch((req) => {
      if (req.method !== "GET") return unavailable("unknown");
      return req.url.pathname === "/data/8"
        ? { status: 200, schema: "GetResult", body: { item: { id: 8, name: "Other" }, shard: 1 } }
        : notFound;
    });
    const { client } = clientOf(fetch);
    expect(await client.remove(7)).toBeUndefined();
    await expect(client.replace(7, "Seven")).rejects.toBeInstanceOf(NotFoundError);
    await expect(client.create({ id: 8, name: "Eight" })).rejects.toBeInstanceOf(ConflictError);
    await expect(client.remove(8)).rejects.toMatchObject({
      outcome: "unknown",
      readBack: { applied: false },
    });
  });

  it("unknown with resolveUnknown: false, or a read back that fails: thrown as unknown", async () => {
    const { fetch, sent } = mockFetch(() => unavailable("unknown"));
    const off = clientOf(fetch, { resolveUnknown: false }).client;
    await expect(off.remove(7)).rejects.toMatchObject({ outcome: "unknown", readBack: undefined });
    expect(sent).toHaveLength(1);
    const failing = clientOf(fetch, { retry: { attempts: 2 } }).client;
    const error = await failing.remove(7).catch((e: unknown) => e);
    expect(error).toMatchObject({ outcome: "unknown", readBack: undefined });
    expect((error as Error).message).toMatch(/reading the row back failed too/);
  });

  it("a write whose request fails is a NetworkError, never retried (its outcome is not known, nor final)", async () => {
    const { fetch, sent } = mockFetch(() => "network");
    await expect(clientOf(fetch, { writeRetry: true }).client.replace(7, "x")).rejects.toBeInstanceOf(
      NetworkError,
    );
    expect(sent).toHaveLength(1);
  });
});

describe("signing, headers and timeouts", () => {
  it("signs writes with the signer, reads only with signReads", async () => {
    const { fetch, sent } = mockFetch((req) =>
      req.method === "GET" ? page(rows(1, 1), null) : written({ id: 7, name: "Seven" }),
    );
    const signed: string[] = [];
    const signer = async (req: {
      method: string;
      url: URL;
      headers: Readonly<Record<string, string>>;
      body: string | undefined;
    }) => {
      signed.push(`${req.method} ${req.url.pathname}${req.url.search} ${req.body ?? ""}`);
      return { ...req.headers, authorization: "AWS4-HMAC-SHA256 test" };
    };
    const { client } = clientOf(fetch, { signer, headers: { "x-trace": "1" } });
    await client.create({ id: 7, name: "Seven" });
    await client.page();
    expect(signed).toEqual(['POST /data {"id":7,"name":"Seven"}']);
    expect(sent[0]?.headers).toMatchObject({ authorization: "AWS4-HMAC-SHA256 test", "x-trace": "1" });
    expect(sent[1]?.headers.authorization).toBeUndefined();
    await clientOf(fetch, { signer, signReads: true }).client.page({ limit: 5 });
    expect(signed.at(-1)).toBe("GET /data?limit=5 ");
  });

  it("a request without an answer within requestTimeoutMs is a NetworkError; the caller's abort is its own", async () => {
    const { fetch } = mockFetch(() => "hang");
    const client = createClient({ baseUrl: BASE, fetch, requestTimeoutMs: 50 });
    await expect(client.remove(7)).rejects.toThrow(/no answer within 50 ms/);
    const controller = new AbortController();
    const pending = client.get(7, { signal: controller.signal });
    controller.abort(new Error("stop"));
    await expect(pending).rejects.toThrow("stop");
  });

  it("reads retry-after as seconds or a date", () => {
    expect(retryAfterMs("1")).toBe(1000);
    expect(retryAfterMs(null)).toBeUndefined();
    expect(retryAfterMs("soon")).toBeUndefined();
    expect(retryAfterMs(new Date(10_000).toUTCString(), 4_000)).toBe(6_000);
    expect(MAX_ID).toBe(2 ** 31 - 1);
  });
});
