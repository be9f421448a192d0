/**
 * A small client of the sharded data API for Node.js 20+ and browsers: it follows `next`, re-reads partial pages,
 * backs off on `retry-after`, reads a row back after a write whose outcome is unknown, and signs requests when given a
 * signer (`client/sigv4.ts` for AWS). It depends on nothing but `fetch`. See docs/client.md.
 */
import {
  ApiError,
  ConflictError,
  type IdSpan,
  IncompleteReadError,
  NetworkError,
  NotFoundError,
  ProtocolError,
  type ReadBack,
  UnavailableError,
} from "./errors.js";
import {
  type CreateRow,
  type FailedShard,
  type GetResult,
  type ListQuery,
  type ListResult,
  MAX_ID,
  MIN_ID,
  type Row,
  type ShardReport,
  type WriteOutcome,
} from "./types.js";

/** A request about to be sent, as a signer sees it. */
export interface SignableRequest {
  readonly method: string;
  readonly url: URL;
  readonly headers: Readonly<Record<string, string>>;
  readonly body: string | undefined;
}

/** Returns the headers to send (the request's own plus the signature's). */
export type Signer = (request: SignableRequest) => Promise<Record<string, string>>;

/** How long to keep trying one page (or one read, or one write): whichever of the limits comes first. */
export interface RetryOptions {
  /** Requests in all, the first included. */
  readonly attempts?: number;
  /** Milliseconds from the first request after which no new attempt starts. */
  readonly budgetMs?: number;
  /** First back-off; doubles per attempt, with jitter (half to all of it), up to `maxDelayMs`. */
  readonly baseDelayMs?: number;
  readonly maxDelayMs?: number;
}

/** What the client did, for logs and metrics (nothing here is needed to use it). */
export type ClientEvent =
  | {
      readonly type: "partial";
      readonly after: number | undefined;
      readonly next: number | null;
      readonly shards: readonly FailedShard[];
      readonly attempt: number;
      readonly delayMs: number | undefined;
    }
  | {
      readonly type: "retry";
      readonly method: string;
      readonly path: string;
      readonly status: number | undefined;
      readonly attempt: number;
      readonly delayMs: number;
      readonly outcome?: WriteOutcome;
    }
  | { readonly type: "readBack"; readonly method: string; readonly id: number; readonly readBack: ReadBack };

export interface ClientOptions {
  /** The API's base URL: `http://127.0.0.1:3000` locally, the stack's `ApiUrl` in AWS. */
  readonly baseUrl: string;
  /** @default globalThis.fetch */
  readonly fetch?: typeof fetch;
  /** Signs writes (and reads with `signReads`). Unset: nothing is signed (the local runtime authorizes nothing). */
  readonly signer?: Signer;
  /** Sign reads too, for a stack deployed with `requireIamForReads=true`. @default false */
  readonly signReads?: boolean;
  /** Re-reading partial pages and retrying failed reads. @default { attempts: 20, budgetMs: 30000, baseDelayMs: 100, maxDelayMs: 5000 } */
  readonly retry?: RetryOptions;
  /**
   * Retrying writes answered `503 not_applied` (after `retry-after`), `429`, or `unknown` that a read back showed not
   * applied. Off by default: the error is thrown. `true` means `{ attempts: 5, budgetMs: 30000 }`.
   */
  readonly writeRetry?: boolean | RetryOptions;
  /**
   * After a write answered `503` with outcome `unknown`, read the row back (what it shows is final) and succeed if
   * the write is there. @default true
   */
  readonly resolveUnknown?: boolean;
  /** Per-request timeout in milliseconds. @default 30000 */
  readonly requestTimeoutMs?: number;
  /** Extra headers for every request. */
  readonly headers?: Readonly<Record<string, string>>;
  readonly onEvent?: (event: ClientEvent) => void;
  /** For tests: how to wait (default `setTimeout`), the clock (default `performance.now`) and jitter's source. */
  readonly sleep?: (ms: number, signal?: AbortSignal) => Promise<void>;
  readonly now?: () => number;
  readonly random?: () => number;
}

export interface PageOptions {
  readonly signal?: AbortSignal;
}

export interface RowsOptions {
  /** Inclusive id bounds. */
  readonly from?: number;
  readonly to?: number;
  /** Start after this id (a previous walk's `IncompleteReadError.resumeAfter`). */
  readonly after?: number;
  /** Rows per request, 1–1000. @default 250 */
  readonly pageSize?: number;
  readonly signal?: AbortSignal;
}

const READ_RETRY: Required<RetryOptions> = {
  attempts: 20,
  budgetMs: 30_000,
  baseDelayMs: 100,
  maxDelayMs: 5_000,
};
const WRITE_RETRY: Required<RetryOptions> = {
  attempts: 5,
  budgetMs: 30_000,
  baseDelayMs: 200,
  maxDelayMs: 5_000,
};

/** Statuses worth another try for an idempotent request: throttled, the function or a shard did not answer. */
const TRANSIENT = new Set([429, 500, 502, 503, 504]);

interface Answer {
  readonly status: number;
  readonly headers: Headers;
  readonly body: unknown;
}

const defaultSleep = (ms: number, signal?: AbortSignal) =>
  new Promise<void>((resolve, reject) => {
    if (signal?.aborted) {
      reject(signal.reason);
      return;
    }
    const timer = setTimeout(() => {
      signal?.removeEventListener("abort", abort);
      resolve();
    }, ms);
    const abort = () => {
      clearTimeout(timer);
      reject(signal?.reason);
    };
    signal?.addEventListener("abort", abort, { once: true });
  });

/** `retry-after` in milliseconds: delay-seconds or an HTTP date; undefined when absent or unreadable. */
export function retryAfterMs(value: string | null, now = Date.now()): number | undefined {
  if (value === null) return undefined;
  const text = value.trim();
  if (/^\d+$/.test(text)) return Number(text) * 1000;
  const date = Date.parse(text);
  return Number.isNaN(date) ? undefined : Math.max(0, date - now);
}

const isFailed = (s: ShardReport): s is FailedShard =>
  s.status === "timeout" || s.status === "error" || s.status === "unavailable";

/** Counts the attempts of one operation against its {@link RetryOptions}. */
class Budget {
  #attempts = 1;
  readonly #started: number;

  constructor(
    private readonly opts: Required<RetryOptions>,
    private readonly now: () => number,
    private readonly random: () => number,
  ) {
    this.#started = now();
  }

  get attempts(): number {
    return this.#attempts;
  }

  get elapsedMs(): number {
    return this.now() - this.#started;
  }

  /** The wait before the next attempt (at least `hintMs`), or undefined when the budget is spent. */
  next(hintMs = 0): number | undefined {
    if (this.#attempts >= this.opts.attempts) return undefined;
    const exp = Math.min(this.opts.maxDelayMs, this.opts.baseDelayMs * 2 ** (this.#attempts - 1));
    const delay = Math.max(hintMs, Math.round(exp * (0.5 + 0.5 * this.random())));
    if (this.elapsedMs + delay > this.opts.budgetMs) return undefined;
    this.#attempts++;
    return delay;
  }
}

export class ShardedDataClient {
  readonly #base: string;
  readonly #fetch: typeof fetch;
  readonly #opts: ClientOptions;
  readonly #read: Required<RetryOptions>;
  readonly #write: Required<RetryOptions> | undefined;
  readonly #sleep: (ms: number, signal?: AbortSignal) => Promise<void>;
  readonly #now: () => number;
  readonly #random: () => number;

  constructor(opts: ClientOptions) {
    this.#base = opts.baseUrl.replace(/\/+$/, "");
    this.#fetch = opts.fetch ?? ((input, init) => globalThis.fetch(input, init));
    this.#opts = opts;
    this.#read = { ...READ_RETRY, ...opts.retry };
    this.#write =
      opts.writeRetry === true
        ? WRITE_RETRY
        : opts.writeRetry
          ? { ...WRITE_RETRY, ...opts.writeRetry }
          : undefined;
    this.#sleep = opts.sleep ?? defaultSleep;
    this.#now = opts.now ?? (() => performance.now());
    this.#random = opts.random ?? Math.random;
  }

  /** One page as the API answers it, partial or not (transport failures and `5xx`/`429` are retried). */
  async page(query: ListQuery = {}, opts: PageOptions = {}): Promise<ListResult> {
    const budget = this.#budget(this.#read);
    return this.#list(query, budget, opts.signal);
  }

  /**
   * Every row from `from` to `to` in id order, each exactly once. A partial page is never yielded: it is asked for
   * again (same cursor, with back-off) until it is complete; when the retry budget runs out the iterator throws an
   * {@link IncompleteReadError} naming the shards and the id range it could not read.
   */
  async *rows(opts: RowsOptions = {}): AsyncGenerator<Row, void, undefined> {
    for await (const page of this.pages(opts)) yield* page.items;
  }

  /** The complete pages of a walk (as {@link rows}, a page at a time). */
  async *pages(opts: RowsOptions = {}): AsyncGenerator<ListResult, void, undefined> {
    const limit = opts.pageSize ?? 250;
    let after = opts.after;
    let last = after ?? (opts.from === undefined ? undefined : opts.from - 1);
    for (;;) {
      const query: ListQuery = {
        limit,
        ...(after === undefined ? {} : { after }),
        ...(opts.from === undefined ? {} : { from: opts.from }),
        ...(opts.to === undefined ? {} : { to: opts.to }),
      };
      const page = await this.#completePage(query, last, opts);
      for (const row of page.items) {
        if (last !== undefined && !(row.id > last)) {
          throw new ProtocolError(`row ${row.id} came after ${last}: the page is out of order`);
        }
        last = row.id;
      }
      if (page.items.length > 0) yield page;
      if (page.next === null) return;
      if (after !== undefined && page.next <= after && page.items.length === 0) {
        throw new ProtocolError(
          `a complete page after ${after} was empty and its next (${page.next}) did not move`,
        );
      }
      after = page.next;
    }
  }

  /** `GET /data/{id}`: the row, or {@link NotFoundError}; a shard that does not answer is retried, then {@link UnavailableError}. */
  async get(id: number, opts: PageOptions = {}): Promise<Row> {
    return (await this.getResult(id, opts)).item;
  }

  /** `GET /data/{id}` with the shard that answered. */
  async getResult(id: number, opts: PageOptions = {}): Promise<GetResult> {
    const budget = this.#budget(this.#read);
    const answer = await this.#idempotent("GET", `/data/${id}`, undefined, budget, opts.signal);
    if (answer.status === 200) return answer.body as GetResult;
    throw this.#error("GET", answer, budget.attempts);
  }

  /** `POST /data`: `201` or a typed error ({@link ConflictError}, {@link UnavailableError}, …). */
  async create(row: CreateRow, opts: PageOptions = {}): Promise<Row> {
    return this.#write1("POST", "/data", row.id, row, opts.signal, (current) =>
      current === null ? "not_applied" : current.name === row.name ? "applied" : "conflict",
    ) as Promise<Row>;
  }

  /** `PUT /data/{id}`: sets the row's name; {@link NotFoundError} when there is no such row. */
  async replace(id: number, name: string, opts: PageOptions = {}): Promise<Row> {
    return this.#write1("PUT", `/data/${id}`, id, { name }, opts.signal, (current) =>
      current === null ? "gone" : current.name === name ? "applied" : "not_applied",
    ) as Promise<Row>;
  }

  /** `DELETE /data/{id}`: {@link NotFoundError} when there is no such row. */
  async remove(id: number, opts: PageOptions = {}): Promise<void> {
    await this.#write1("DELETE", `/data/${id}`, id, undefined, opts.signal, (current) =>
      current === null ? "applied" : "not_applied",
    );
  }

  #budget(opts: Required<RetryOptions>): Budget {
    return new Budget(opts, this.#now, this.#random);
  }

  #emit(event: ClientEvent): void {
    this.#opts.onEvent?.(event);
  }

  /** Reads one page until it is complete, or throws {@link IncompleteReadError}. */
  async #completePage(query: ListQuery, last: number | undefined, opts: RowsOptions): Promise<ListResult> {
    const budget = this.#budget(this.#read);
    for (;;) {
      let page: ListResult;
      try {
        page = await this.#list(query, budget, opts.signal);
      } catch (error) {
        if (error instanceof ApiError && !TRANSIENT.has(error.status)) throw error;
        if (!(error instanceof ApiError || error instanceof NetworkError)) throw error;
        throw new IncompleteReadError({
          shards: [],
          missing: this.#missing(query, last, null),
          resumeAfter: last,
          attempts: budget.attempts,
          elapsedMs: budget.elapsedMs,
          cause: error,
        });
      }
      if (!page.partial) return page;
      const failed = page.shards.filter(isFailed);
      const hint = Math.max(0, ...failed.map((s) => (s.status === "unavailable" ? s.retryAfterMs : 0)));
      const delayMs = budget.next(hint);
      this.#emit({
        type: "partial",
        after: query.after,
        next: page.next,
        shards: failed,
        attempt: budget.attempts,
        delayMs,
      });
      if (delayMs === undefined) {
        throw new IncompleteReadError({
          shards: failed,
          missing: this.#missing(query, last, page.next),
          resumeAfter: last,
          attempts: budget.attempts,
          elapsedMs: budget.elapsedMs,
        });
      }
      await this.#sleep(delayMs, opts.signal);
    }
  }

  /** The ids a partial page left unread: from the cursor to its `next` (or to the end when `next` did not move). */
  #missing(query: ListQuery, last: number | undefined, next: number | null): IdSpan {
    const lo = Math.max(
      query.after === undefined ? MIN_ID : query.after + 1,
      query.from ?? MIN_ID,
      last === undefined ? MIN_ID : last + 1,
    );
    const end = query.to ?? MAX_ID;
    const hi = next !== null && next >= lo ? Math.min(next, end) : end;
    return { from: lo, to: hi };
  }

  async #list(query: ListQuery, budget: Budget, signal: AbortSignal | undefined): Promise<ListResult> {
    const params = new URLSearchParams();
    for (const key of ["limit", "after", "from", "to"] as const) {
      const value = query[key];
      if (value !== undefined) params.set(key, String(value));
    }
    const qs = params.toString();
    const answer = await this.#idempotent("GET", qs ? `/data?${qs}` : "/data", undefined, budget, signal);
    if (answer.status === 200) return answer.body as ListResult;
    throw this.#error("GET", answer, budget.attempts);
  }

  /** Sends a request that is safe to repeat, again after transport failures and transient statuses, within `budget`. */
  async #idempotent(
    method: string,
    path: string,
    body: unknown,
    budget: Budget,
    signal: AbortSignal | undefined,
  ): Promise<Answer> {
    for (;;) {
      let answer: Answer | undefined;
      let failure: NetworkError | undefined;
      try {
        answer = await this.#send(method, path, body, signal);
      } catch (error) {
        if (!(error instanceof NetworkError)) throw error;
        failure = error;
      }
      if (answer && !TRANSIENT.has(answer.status)) return answer;
      const hint = answer ? (retryAfterMs(answer.headers.get("retry-after")) ?? 0) : 0;
      const delayMs = budget.next(hint);
      if (delayMs === undefined) {
        if (answer) return answer;
        throw failure;
      }
      this.#emit({ type: "retry", method, path, status: answer?.status, attempt: budget.attempts, delayMs });
      await this.#sleep(delayMs, signal);
    }
  }

  /**
   * One write: sent, and on `503` either thrown or (with `writeRetry`) sent again after `retry-after` when it is known
   * not to have happened. An `unknown` outcome is settled by reading the row back (`verify` says what it shows).
   */
  async #write1(
    method: "POST" | "PUT" | "DELETE",
    path: string,
    id: number,
    body: unknown,
    signal: AbortSignal | undefined,
    verify: (current: Row | null) => "applied" | "not_applied" | "conflict" | "gone",
  ): Promise<Row | undefined> {
    const budget = this.#write ? this.#budget(this.#write) : undefined;
    let attempts = 1;
    for (; ; attempts++) {
      const answer = await this.#send(method, path, body, signal);
      if (answer.status >= 200 && answer.status < 300) {
        return answer.status === 204 ? undefined : (answer.body as GetResult).item;
      }
      let error = this.#error(method, answer, attempts);
      let hint = retryAfterMs(answer.headers.get("retry-after")) ?? 0;
      if (error instanceof UnavailableError && error.outcome === "unknown") {
        if (this.#opts.resolveUnknown === false) throw error;
        const current = await this.#readBack(id, signal, error.with({ attempts }));
        const verdict = verify(current);
        const readBack: ReadBack = { applied: verdict === "applied", row: current };
        this.#emit({ type: "readBack", method, id, readBack });
        if (verdict === "applied") return method === "DELETE" ? undefined : (current as Row);
        if (verdict === "gone")
          throw new NotFoundError(
            404,
            "not_found",
            `${method} ${path}: the row does not exist (read back after an unknown outcome)`,
            undefined,
          );
        if (verdict === "conflict") {
          throw new ConflictError(
            409,
            "duplicate_id",
            `${method} ${path}: the row exists with another name (read back after an unknown outcome): ${JSON.stringify(current)}`,
            undefined,
          );
        }
        error = error.with({ readBack, attempts });
        hint = 0; // what the read showed is final: the write can be sent again at once
      } else if (
        !(error instanceof UnavailableError && error.outcome === "not_applied") &&
        answer.status !== 429
      ) {
        throw error;
      }
      const delayMs = budget?.next(hint);
      if (delayMs === undefined) throw error instanceof UnavailableError ? error.with({ attempts }) : error;
      this.#emit({
        type: "retry",
        method,
        path,
        status: answer.status,
        attempt: attempts + 1,
        delayMs,
        ...(error instanceof UnavailableError && error.outcome ? { outcome: error.outcome } : {}),
      });
      await this.#sleep(delayMs, signal);
    }
  }

  /** The row as it is now (`null`: absent), read with the read retry budget; on failure, `unknown` is thrown as is. */
  async #readBack(
    id: number,
    signal: AbortSignal | undefined,
    unknown: UnavailableError,
  ): Promise<Row | null> {
    try {
      return await this.get(id, signal ? { signal } : {});
    } catch (error) {
      if (error instanceof NotFoundError) return null;
      if (error instanceof ApiError || error instanceof NetworkError) {
        throw new UnavailableError(
          unknown.status,
          unknown.code,
          `${unknown.message}; reading the row back failed too: ${error.message}`,
          unknown.body,
          {
            ...(unknown.outcome ? { outcome: unknown.outcome } : {}),
            ...(unknown.shard === undefined ? {} : { shard: unknown.shard }),
            ...(unknown.retryAfterMs === undefined ? {} : { retryAfterMs: unknown.retryAfterMs }),
            attempts: unknown.attempts,
          },
        );
      }
      throw error;
    }
  }

  /** One HTTP request; a JSON body is parsed. Transport failures and timeouts are {@link NetworkError}. */
  async #send(method: string, path: string, body: unknown, signal: AbortSignal | undefined): Promise<Answer> {
    const url = new URL(this.#base + path);
    let headers: Record<string, string> = { accept: "application/json", ...this.#opts.headers };
    const text = body === undefined ? undefined : JSON.stringify(body);
    if (text !== undefined) headers["content-type"] = "application/json";
    const signer = this.#opts.signer;
    if (signer && (method !== "GET" || this.#opts.signReads)) {
      headers = await signer({ method, url, headers, body: text });
    }
    const timeout = AbortSignal.timeout(this.#opts.requestTimeoutMs ?? 30_000);
    const combined = signal ? AbortSignal.any([signal, timeout]) : timeout;
    let res: Response;
    let raw: string;
    try {
      res = await this.#fetch(url, {
        method,
        headers,
        ...(text === undefined ? {} : { body: text }),
        signal: combined,
      });
      raw = await res.text();
    } catch (error) {
      if (signal?.aborted) throw signal.reason;
      const why = timeout.aborted
        ? `no answer within ${this.#opts.requestTimeoutMs ?? 30_000} ms`
        : String((error as Error)?.message ?? error);
      throw new NetworkError(`${method} ${path}: ${why}`, { cause: error });
    }
    let parsed: unknown;
    if (raw !== "" && (res.headers.get("content-type") ?? "").includes("json")) {
      try {
        parsed = JSON.parse(raw);
      } catch (error) {
        throw new ProtocolError(`${method} ${path}: ${res.status} with invalid JSON`, { cause: error });
      }
    }
    return { status: res.status, headers: res.headers, body: parsed };
  }

  /** The typed error for an answer that is not a success. */
  #error(method: string, answer: Answer, attempts: number): ApiError {
    const body = answer.body as
      | {
          error?: { code?: string; message?: string };
          message?: string;
          outcome?: WriteOutcome;
          shard?: number;
          shards?: ShardReport[];
        }
      | undefined;
    const code = body?.error?.code ?? `http_${answer.status}`;
    const message = `${method}: ${answer.status} ${code}: ${body?.error?.message ?? body?.message ?? "(no message)"}`;
    switch (answer.status) {
      case 404:
        return new NotFoundError(404, code, message, body);
      case 409:
        return new ConflictError(409, code, message, body);
      case 503: {
        const retryAfter = retryAfterMs(answer.headers.get("retry-after"));
        return new UnavailableError(503, code, message, body, {
          ...(body?.outcome ? { outcome: body.outcome } : {}),
          ...(typeof body?.shard === "number" ? { shard: body.shard } : {}),
          ...(retryAfter === undefined ? {} : { retryAfterMs: retryAfter }),
          ...(body?.shards ? { shards: body.shards } : {}),
          attempts,
        });
      }
      default:
        return new ApiError(answer.status, code, message, body);
    }
  }
}

/** A client of the API at `baseUrl` (see {@link ClientOptions}). */
export function createClient(opts: ClientOptions | string): ShardedDataClient {
  return new ShardedDataClient(typeof opts === "string" ? { baseUrl: opts } : opts);
}
