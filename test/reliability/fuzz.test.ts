/**
 * Property-based fuzzing of the whole app with fast-check, against real shards (healthy): random methods, paths,
 * query strings, headers and bodies, in process through `runtime.app(event)` (the function the Lambda handler and the
 * local server both call) and, fewer, over real HTTP through the local server adapter.
 *
 * Properties, for every request:
 * - never a 5xx (no shard fails here, so not even a 503);
 * - every 4xx is JSON `{"error": {"code", "message"}}` with two non-empty strings and nothing else, except the one
 *   documented extension: `GET /data/{id}`'s 404 adds `shard` and `shards`; no message leaks internals;
 * - every answer allows any origin, and a 405 says what is allowed;
 * - writes: a rejected write leaves the data exactly as it was (a snapshot of `GET /data?limit=1000` before and
 *   after); an accepted one changes exactly its row, as its answer says.
 *
 * Deterministic: a fixed seed (FUZZ_SEED overrides it), printed with any counterexample by fast-check.
 */
import fc from "fast-check";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { apiGatewayEvent } from "../../local/api-gateway-event.js";
import type { LocalRuntime } from "../../local/runtime.js";
import { httpClient } from "../helpers/api-client.js";
import { SEED } from "../helpers/fixtures.js";
import { startRuntime, watchProcess } from "../helpers/reliability-runtime.js";

const SEED_VALUE = Number(process.env.FUZZ_SEED ?? 20_251_126);
/** FUZZ_RUNS scales both up for a longer hunt (e.g. FUZZ_RUNS=5000); the suite's default stays bounded. */
const IN_PROCESS_RUNS = Number(process.env.FUZZ_RUNS ?? 300);
const HTTP_RUNS = Math.ceil(IN_PROCESS_RUNS / 3);

// ---------------------------------------------------------------------------------------------- requests

interface RawRequest {
  readonly method: string;
  /** The path as sent, percent-encoding and all. */
  readonly path: string;
  /** Query pairs in order; a key may repeat. */
  readonly query: readonly (readonly [string, string])[];
  readonly headers: Readonly<Record<string, string>>;
  readonly body?: string;
  readonly base64?: boolean;
}

const queryString = (req: RawRequest) =>
  new URLSearchParams(req.query.map(([k, v]): [string, string] => [k, v])).toString();

/** The event the local server would build for `req` (with a base64 body when `base64` says so). */
function toEvent(req: RawRequest) {
  return apiGatewayEvent({
    method: req.method,
    path: req.path,
    query: queryString(req),
    headers: req.headers,
    ...(req.body !== undefined ? { body: Buffer.from(req.body, "utf8") } : {}),
    isBase64Encoded: req.body !== undefined && req.base64 === true,
    requestId: "fuzz",
    time: new Date(0),
  });
}

/** A readable one-line description of a request, for failure messages. */
function describeRequest(req: RawRequest): string {
  const q = req.query.length ? `?${queryString(req)}` : "";
  const body =
    req.body === undefined
      ? ""
      : ` body(${req.base64 ? "base64 " : ""}${req.body.length}): ${JSON.stringify(req.body.slice(0, 120))}`;
  return `${req.method} ${req.path}${q} ${JSON.stringify(req.headers)}${body}`;
}

// ---------------------------------------------------------------------------------------------- arbitraries

const intLike = fc.oneof(
  fc.integer({ min: -3, max: 70 }),
  fc.constantFrom(0, -1, 2_147_483_647, -2_147_483_648, 2_147_483_648, -2_147_483_649, 9_999_999_999),
  fc.integer(),
);
const weirdNumber = fc.constantFrom(
  "1e3",
  "1.5",
  " 1",
  "1 ",
  "+1",
  "-0",
  "0x10",
  "00012",
  "NaN",
  "Infinity",
  "",
  "１",
  "1,2",
  "٣",
);
const idText = fc.oneof(
  { weight: 4, arbitrary: intLike.map(String) },
  weirdNumber,
  fc.string({ maxLength: 6 }),
);

const segment = fc.oneof(
  { weight: 6, arbitrary: fc.constant("data") },
  { weight: 4, arbitrary: idText },
  fc.constantFrom("health", "_local", "faults", "", "..", ".", "%2e", "data%2F1", "DATA", "%00", "prod"),
  fc.string({ maxLength: 8 }),
);
const randomPath = fc
  .tuple(fc.array(segment, { minLength: 0, maxLength: 4 }), fc.boolean())
  .map(
    ([segs, trailing]) =>
      `/${segs.map((s) => encodeURIComponent(s).replaceAll("%25", "%")).join("/")}${trailing ? "/" : ""}`,
  );
/** Mostly the API's own routes (so requests reach validation, the shards and the data), some anything. */
const path = fc.oneof(
  { weight: 5, arbitrary: fc.constant("/data") },
  { weight: 6, arbitrary: idText.map((id) => `/data/${encodeURIComponent(id).replaceAll("%25", "%")}`) },
  { weight: 1, arbitrary: fc.constant("/health") },
  { weight: 4, arbitrary: randomPath },
);

const method = fc.oneof(
  { weight: 8, arbitrary: fc.constantFrom("GET", "POST", "PUT", "DELETE") },
  fc.constantFrom("PATCH", "HEAD", "OPTIONS", "TRACE", "get", "Post", "CONNECT"),
);

const queryKey = fc.oneof(
  { weight: 6, arbitrary: fc.constantFrom("limit", "after", "from", "to") },
  fc.constantFrom("LIMIT", "x", "__proto__", "constructor", "limit[]", ""),
  fc.string({ maxLength: 6 }),
);
const query = fc.array(
  fc.tuple(queryKey, fc.oneof({ weight: 3, arbitrary: idText }, fc.string({ maxLength: 10 }))),
  {
    maxLength: 4,
  },
);

const contentType = fc.oneof(
  { weight: 6, arbitrary: fc.constant("application/json") },
  fc.constantFrom(
    "application/json; charset=utf-8",
    "APPLICATION/JSON",
    "application/jsonx",
    "application/vnd.api+json",
    "text/plain",
    "application/x-www-form-urlencoded",
    "",
  ),
);
const headers = fc
  .tuple(
    fc.option(contentType, { nil: undefined }),
    fc.dictionary(
      fc.constantFrom(
        "accept",
        "x-forwarded-for",
        "origin",
        "authorization",
        "content-encoding",
        "x-amz-date",
      ),
      fc.string({ maxLength: 20 }),
      { maxKeys: 2 },
    ),
  )
  .map(([type, rest]) => ({ ...rest, ...(type === undefined ? {} : { "content-type": type }) }));

const name = fc.oneof(
  { weight: 4, arbitrary: fc.string({ minLength: 1, maxLength: 20 }) },
  fc.constantFrom(
    "",
    " ",
    "\t\n",
    "\u0000",
    "a\u0000b",
    "\uD800",
    "\uDC00x",
    "😀",
    "é".repeat(255),
    "é".repeat(256),
  ),
  fc.string({ unit: "binary", maxLength: 30 }),
  fc.integer(),
  fc.constant(null),
  fc.boolean(),
);
const rowObject = fc.record(
  {
    id: fc.oneof(
      { weight: 4, arbitrary: intLike },
      fc.double(),
      fc.string({ maxLength: 4 }),
      fc.constant(null),
    ),
    name,
    extra: fc.anything({ maxDepth: 1 }),
    __proto__: fc.constant({ admin: true }),
  },
  { requiredKeys: [] },
);
/** Bodies the API would accept, given the right route and state. */
const goodName = fc.string({ minLength: 1, maxLength: 20 }).filter((n) => n.trim() !== "");
const goodRow = fc.record({ id: fc.integer({ min: -2, max: 65 }), name: goodName });
const body = fc.oneof(
  { weight: 6, arbitrary: goodRow.map((o) => JSON.stringify(o)) },
  { weight: 3, arbitrary: goodName.map((name) => JSON.stringify({ name })) },
  { weight: 4, arbitrary: rowObject.map((o) => JSON.stringify(o)) },
  // JSON.stringify drops an own `__proto__` key built by fc.record; this one sends it on the wire.
  fc.constant('{"id": 61, "name": "x", "__proto__": {"admin": true}}'),
  fc.json({ maxDepth: 2 }),
  fc.string({ maxLength: 40 }),
  fc.constantFrom("{", "[]", "null", '"x"', "1", '{"id": 1, "name": "a"} trailing', "\uFEFF{}"),
  fc.constant(JSON.stringify({ id: 61, name: "x".repeat(17 * 1024) })),
);

const rawRequest: fc.Arbitrary<RawRequest> = fc.record({
  method,
  path,
  query,
  headers,
  body: fc.option(body, { nil: undefined }),
  base64: fc.boolean(),
});

// ---------------------------------------------------------------------------------------------- checks

const WRITES = new Set(["POST", "PUT", "DELETE"]);
/** A `.` or `..` path segment, also percent-encoded: WHATWG URL parsing resolves them. */
const DOT_SEGMENT = /(^|\/)(\.|%2e){1,2}(\/|$)/i;
/** Words that would mean an internal detail reached a client. */
const INTERNALS = /arn:aws|SELECT |INSERT |UPDATE |DELETE FROM|postgres|stack|node_modules|\bat [\w.]+ \(/i;

interface Outcome {
  readonly status: number;
  readonly headers: Headers;
  readonly body: string;
}

/** The response properties every request must have; returns nothing or throws with a description. */
function checkResponse(req: RawRequest, res: Outcome): void {
  const where = `${describeRequest(req)} -> ${res.status} ${res.body.slice(0, 300)}`;
  expect(res.status, where).toBeLessThan(500);
  expect(res.headers.get("access-control-allow-origin"), where).toBe("*");
  if (res.status === 405) expect(res.headers.get("allow"), where).toMatch(/\bOPTIONS\b/);
  if (res.status < 400) return;
  const parsed = JSON.parse(res.body) as Record<string, unknown>;
  const isItemNotFound =
    res.status === 404 && req.method.toUpperCase() === "GET" && "shards" in parsed && "shard" in parsed;
  expect(Object.keys(parsed).sort(), where).toEqual(
    isItemNotFound ? ["error", "shard", "shards"] : ["error"],
  );
  const error = parsed.error as Record<string, unknown>;
  expect(Object.keys(error).sort(), where).toEqual(["code", "message"]);
  expect(typeof error.code === "string" && error.code.length > 0, where).toBe(true);
  expect(typeof error.message === "string" && error.message.length > 0, where).toBe(true);
  expect(error.message as string, where).not.toMatch(INTERNALS);
}

/**
 * What a write did to the table, by its answer (201/200 with the row written, 204 for a delete), or `undefined` for
 * a rejected write. The id of a PUT or DELETE is the path's, as the app saw it.
 */
function effect(
  req: RawRequest,
  status: number,
  body: string,
): ((m: Map<number, string | null>) => void) | undefined {
  if (status >= 300) return undefined;
  const m = req.method.toUpperCase();
  if (m === "POST" && status === 201) {
    const { item } = JSON.parse(body) as { item: { id: number; name: string } };
    return (model) => model.set(item.id, item.name);
  }
  if (m === "PUT" && status === 200) {
    const { item } = JSON.parse(body) as { item: { id: number; name: string } };
    return (model) => model.set(item.id, item.name);
  }
  if (m === "DELETE" && status === 204) {
    const id = Number(decodeURIComponent(req.path.split("/").filter(Boolean)[1] ?? ""));
    return (model) => model.delete(id);
  }
  return undefined;
}

// ---------------------------------------------------------------------------------------------- the tests

let runtime: LocalRuntime;
let watch: ReturnType<typeof watchProcess>;
/** The table as the confirmed writes left it. */
const model = new Map<number, string | null>(SEED);
/** How many answers of each status the fuzz produced, to show it reached past the validation layer. */
const seen = new Map<number, number>();
const tally = (status: number) => seen.set(status, (seen.get(status) ?? 0) + 1);

async function snapshot(): Promise<Map<number, string | null>> {
  const res = await runtime.app(
    toEvent({ method: "GET", path: "/data", query: [["limit", "1000"]], headers: {} }),
  );
  const page = JSON.parse(res.body ?? "") as {
    items: { id: number; name: string | null }[];
    partial: boolean;
  };
  if (res.statusCode !== 200 || page.partial)
    throw new Error(`snapshot failed: ${res.statusCode} ${res.body}`);
  return new Map(page.items.map((r) => [r.id, r.name]));
}

async function checkWrite(req: RawRequest, res: Outcome): Promise<void> {
  if (!WRITES.has(req.method.toUpperCase())) return;
  effect(req, res.status, res.body)?.(model);
  const after = await snapshot();
  expect(
    [...after].sort((a, b) => a[0] - b[0]),
    `${describeRequest(req)} -> ${res.status} ${res.body}`,
  ).toEqual([...model].sort((a, b) => a[0] - b[0]));
}

beforeAll(async () => {
  watch = watchProcess();
  runtime = await startRuntime("fuzz");
  expect(await snapshot()).toEqual(model);
  console.info(`fuzz seed ${SEED_VALUE} (set FUZZ_SEED to replay another)`);
});

afterAll(async () => {
  watch?.stop();
  await runtime?.stop();
});

describe("random requests", () => {
  it(`in process (${IN_PROCESS_RUNS} runs): never a 5xx, errors well-formed, rejected writes change nothing`, async () => {
    await fc.assert(
      fc.asyncProperty(rawRequest, async (req) => {
        const res = await runtime.app(toEvent(req));
        const headers = new Headers(Object.entries(res.headers ?? {}).map(([k, v]) => [k, String(v)]));
        const outcome = { status: res.statusCode, headers, body: res.body ?? "" };
        tally(outcome.status);
        checkResponse(req, outcome);
        await checkWrite(req, outcome);
      }),
      { seed: SEED_VALUE, numRuns: IN_PROCESS_RUNS, endOnFailure: true },
    );
  });

  it(`over HTTP (${HTTP_RUNS} runs): the local server keeps the same promises, and reads answer as in process`, async () => {
    const client = httpClient(runtime.url, 4);
    const disagreements: string[] = [];
    try {
      // Node's client refuses what no HTTP server would receive (bad method tokens, control characters in header
      // values): keep to what can be sent.
      const sendable = rawRequest.filter(
        (r) =>
          /^[A-Z]+$/.test(r.method) &&
          r.method !== "CONNECT" &&
          // A path starting with `//` is a known bug of the local server (below); the fuzz covers the rest.
          !r.path.startsWith("//") &&
          Object.values(r.headers).every((v) => /^[\x20-\x7e]*$/.test(v)),
      );
      await fc.assert(
        fc.asyncProperty(sendable, async (req) => {
          const q = req.query.length ? `?${queryString(req)}` : "";
          const withBody = req.body !== undefined && req.method !== "GET" && req.method !== "HEAD";
          const res = await client.call(req.method, `${req.path}${q}`, {
            headers: { ...req.headers },
            ...(withBody ? { body: req.body } : {}),
          });
          const outcome = { status: res.status, headers: res.headers, body: res.raw };
          tally(outcome.status);
          if (req.method === "HEAD") {
            expect(res.status, describeRequest(req)).toBeLessThan(500);
            return;
          }
          checkResponse(req, outcome);
          await checkWrite(req, outcome);
          // One app, many doors: a read answers the same through the local server as in process (except for the
          // known divergences below: dot segments, a `__proto__` query parameter).
          const known = DOT_SEGMENT.test(req.path) || req.query.some(([k]) => k === "__proto__");
          if (req.method === "GET" && !known) {
            const direct = await runtime.app(toEvent({ ...req, body: undefined }));
            if (direct.statusCode !== res.status) {
              disagreements.push(
                `${describeRequest(req)}: HTTP ${res.status}, in process ${direct.statusCode}`,
              );
            }
          }
        }),
        { seed: SEED_VALUE + 1, numRuns: HTTP_RUNS, endOnFailure: true },
      );
    } finally {
      client.close();
    }
    expect(disagreements).toEqual([]);
  });

  it("raised no unhandled rejection and no process warning", () => {
    const statuses = [...seen].sort((a, b) => a[0] - b[0]).map(([s, n]) => `${s}: ${n}`);
    console.info(`fuzz answers by status: ${statuses.join(", ")}`);
    expect(watch.unhandled).toEqual([]);
    expect(watch.warnings).toEqual([]);
  });
});

/**
 * Found by the HTTP fuzz: the local server used to parse the request target with `new URL(req.url, base)`, which reads
 * a path starting with `//` as a host (`//?x=1` threw, answered 500), resolves dot segments (`/a/../health` became
 * `/health`) and dropped a `__proto__` query parameter. It now passes the raw path and query on, as API Gateway does,
 * so these answer as the app does in process.
 */
describe("the local server passes the request target on raw, as API Gateway does", () => {
  // /health, not a row: the fuzz above may have deleted any row.
  // An empty segment matches no route (functions/http/route-table.ts): `//x/health` is a 404 in process, while a
  // server that read `//x` as a host would have answered GET /health with 200.
  it("GET //x/health answers as in process (404), not as GET /health on host `x`", async () => {
    const client = httpClient(runtime.url, 1);
    try {
      const res = await client.call("GET", "//x/health");
      const direct = await runtime.app(
        toEvent({ method: "GET", path: "//x/health", query: [], headers: {} }),
      );
      expect(direct.statusCode).toBe(404);
      expect(res.status).toBe(direct.statusCode);
    } finally {
      client.close();
    }
  });

  it("GET /a/../health answers as in process (404), not as GET /health", async () => {
    const client = httpClient(runtime.url, 1);
    try {
      const res = await client.call("GET", "/a/../health");
      const direct = await runtime.app(
        toEvent({ method: "GET", path: "/a/../health", query: [], headers: {} }),
      );
      expect(direct.statusCode).toBe(404);
      expect(res.status).toBe(direct.statusCode);
    } finally {
      client.close();
    }
  });

  // The local adapter builds the query object with `query[key] = value`, so `__proto__` hits the prototype setter and
  // vanishes; the event Lambda parses from JSON has it as an own key, which the app rejects.
  it("GET /data?__proto__=1 answers 400 as in process, not 200 with the parameter dropped", async () => {
    const client = httpClient(runtime.url, 1);
    try {
      const res = await client.call("GET", "/data?__proto__=1");
      const direct = await runtime.app(
        toEvent({ method: "GET", path: "/data", query: [["__proto__", "1"]], headers: {} }),
      );
      expect(direct.statusCode).toBe(400);
      expect(res.status).toBe(direct.statusCode);
    } finally {
      client.close();
    }
  });

  it("GET //?x=1 answers 404 route_not_found, not 500", async () => {
    const client = httpClient(runtime.url, 1);
    try {
      const res = await client.call("GET", "//?x=1");
      expect(res.status).toBe(404);
    } finally {
      client.close();
    }
  });
});
