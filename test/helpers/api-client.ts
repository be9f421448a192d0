/**
 * The HTTP client of the integration and reliability tests: real requests against a local runtime's URL, one-off
 * (`request`, over `fetch`) or through a keep-alive pool of a known size (`httpClient`, over `node:http`), both
 * answering with one {@link Answer}; plus the seed data, the API's error shape and a paginated walk.
 */
import { Agent, request as httpRequest, type IncomingHttpHeaders } from "node:http";
import pg from "pg";
import { expect } from "vitest";
import type { Row } from "../../functions/core/row.js";
import type { LocalRuntime } from "../../local/runtime.js";
export interface Answer {
  readonly status: number;
  readonly headers: Headers;
  readonly raw: string;
  // biome-ignore lint/suspicious/noExplicitAny: a parsed JSON body, inspected field by field in each test
  readonly body: any;
  /** Client-side round trip, request sent to body read, in milliseconds. */
  readonly ms: number;
  /** `performance.now()` when the request was sent and when its body had arrived. */
  readonly startedAt: number;
  readonly endedAt: number;
}

export interface RequestOptions {
  readonly method?: string;
  /**
   * A string or bytes are sent as they are (bytes get no content-type from fetch); anything else is JSON-encoded and
   * sent as `application/json` unless `headers` says otherwise.
   */
  readonly body?: unknown;
  readonly headers?: Record<string, string>;
}

/** One real HTTP request against `base` (`http://127.0.0.1:port`). */
export async function request(base: string, path: string, opts: RequestOptions = {}): Promise<Answer> {
  const headers: Record<string, string> = {};
  let body: string | Uint8Array | undefined;
  if (typeof opts.body === "string" || opts.body instanceof Uint8Array) body = opts.body;
  else if (opts.body !== undefined) {
    body = JSON.stringify(opts.body);
    headers["content-type"] = "application/json";
  }
  Object.assign(headers, opts.headers);
  const startedAt = performance.now();
  const res = await fetch(`${base}${path}`, { method: opts.method ?? "GET", headers, body });
  const raw = await res.text();
  const endedAt = performance.now();
  const isJson = res.headers.get("content-type")?.startsWith("application/json") ?? false;
  return {
    status: res.status,
    headers: res.headers,
    raw,
    body: isJson && raw !== "" ? JSON.parse(raw) : undefined,
    ms: endedAt - startedAt,
    startedAt,
    endedAt,
  };
}

/** Node's response headers as a `Headers` (a repeated header, such as `set-cookie`, appended once per value). */
function toHeaders(incoming: IncomingHttpHeaders): Headers {
  const headers = new Headers();
  for (const [name, value] of Object.entries(incoming)) {
    if (value === undefined) continue;
    for (const v of Array.isArray(value) ? value : [value]) headers.append(name, v);
  }
  return headers;
}

/**
 * An HTTP client over `node:http` with a keep-alive agent of at most `maxSockets` sockets, so the tests know how many
 * client sockets may legitimately stay open. `close()` destroys them.
 */
export function httpClient(base: string, maxSockets: number) {
  const agent = new Agent({ keepAlive: true, maxSockets, maxFreeSockets: maxSockets });
  const call = (
    method: string,
    path: string,
    opts: { body?: string; headers?: Record<string, string>; timeoutMs?: number } = {},
  ): Promise<Answer> =>
    new Promise((resolve, reject) => {
      // The path goes on the wire as given (`//data` is a path here, not a protocol-relative URL).
      const url = new URL(base);
      const headers: Record<string, string> = { ...opts.headers };
      if (opts.body !== undefined) headers["content-length"] = String(Buffer.byteLength(opts.body));
      const startedAt = performance.now();
      const req = httpRequest(
        {
          agent,
          host: url.hostname,
          port: url.port,
          method,
          path,
          headers,
          signal: AbortSignal.timeout(opts.timeoutMs ?? 10_000),
        },
        (res) => {
          const chunks: Buffer[] = [];
          res.on("data", (c: Buffer) => chunks.push(c));
          res.on("error", reject);
          res.on("end", () => {
            const endedAt = performance.now();
            const raw = Buffer.concat(chunks).toString("utf8");
            const isJson = String(res.headers["content-type"] ?? "").startsWith("application/json");
            let body: unknown;
            try {
              body = isJson && raw !== "" ? JSON.parse(raw) : undefined;
            } catch (error) {
              reject(
                new Error(`${method} ${path}: answered ${res.statusCode} with invalid JSON: ${raw}`, {
                  cause: error,
                }),
              );
              return;
            }
            resolve({
              status: res.statusCode ?? 0,
              headers: toHeaders(res.headers),
              raw,
              body,
              ms: endedAt - startedAt,
              startedAt,
              endedAt,
            });
          });
        },
      );
      req.on("error", reject);
      req.end(opts.body);
    });
  const json = (method: string, path: string, body: unknown) =>
    call(method, path, { body: JSON.stringify(body), headers: { "content-type": "application/json" } });
  return { agent, call, json, close: () => agent.destroy() };
}

export const get = (base: string, path: string) => request(base, path);
export const post = (base: string, body: unknown, headers?: Record<string, string>) =>
  request(base, "/data", { method: "POST", body, ...(headers ? { headers } : {}) });
export const put = (base: string, id: number | string, body: unknown, headers?: Record<string, string>) =>
  request(base, `/data/${id}`, { method: "PUT", body, ...(headers ? { headers } : {}) });
export const del = (base: string, id: number | string) => request(base, `/data/${id}`, { method: "DELETE" });

/** Asserts the API's one error shape, `{"error": {"code", "message"}}`, as JSON with the given status. */
export function expectError(answer: Answer, status: number, code: string, message?: RegExp | string): void {
  expect(answer.status, answer.raw).toBe(status);
  expect(answer.headers.get("content-type")).toMatch(/^application\/json/);
  expect(answer.body).toMatchObject({ error: { code, message: expect.any(String) } });
  if (message !== undefined) expect(answer.body.error.message).toMatch(message);
}

/** Every row, from a read that must be complete (no shard missing): what "the table" is in these tests. */
export async function allRows(base: string): Promise<Row[]> {
  const answer = await get(base, "/data?limit=1000");
  expect(answer.status).toBe(200);
  expect(answer.body.partial).toBe(false);
  expect(answer.body.next).toBeNull();
  return answer.body.items;
}

export const idsOf = (items: readonly Row[]) => items.map((r) => r.id);

export interface Walk {
  readonly ids: number[];
  readonly pages: Answer[];
}

/** Follows `next` from the first page to the last; fails rather than loop forever. */
export async function walk(base: string, limit: number, maxPages = 100): Promise<Walk> {
  const ids: number[] = [];
  const pages: Answer[] = [];
  let after: number | null = null;
  do {
    const page = await get(base, `/data?limit=${limit}${after === null ? "" : `&after=${after}`}`);
    expect(page.status).toBe(200);
    pages.push(page);
    ids.push(...idsOf(page.body.items));
    after = page.body.next;
    if (pages.length > maxPages) throw new Error(`the walk did not end within ${maxPages} pages`);
  } while (after !== null);
  return { ids, pages };
}

/**
 * The stored bytes of row `id`'s name, read straight from the shard's PostgreSQL database (not through the API),
 * `null` when the row is absent: proves what a write really stored.
 */
export async function storedName(runtime: LocalRuntime, shard: number, id: number): Promise<Buffer | null> {
  const database = runtime.shards.find((s) => s.id === shard)?.database;
  if (!database) throw new Error(`no shard ${shard}`);
  const client = new pg.Client({ ...runtime.postgres, database });
  await client.connect();
  try {
    const result = await client.query<{ bytes: Buffer }>(
      "SELECT convert_to(name, 'UTF8') AS bytes FROM data_1 WHERE id = $1",
      [id],
    );
    return result.rows[0]?.bytes ?? null;
  } finally {
    await client.end();
  }
}

/**
 * Environment for runtimes whose tests pin what ONE call to a failing shard reports (a `timeout`, an `error` and its
 * name, a 503 outcome), case after case on the same shards: the circuit breaker, which after a few failures skips a
 * shard instead of calling it, is off there. It is on by default, and `api-breaker.test.ts` and the reliability tests
 * run it.
 */
export const BREAKER_OFF = { BREAKER_FAILURE_THRESHOLD: "0" } as const;
