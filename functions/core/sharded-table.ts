import { type BreakerChange, type CallResult, ShardBreakers } from "./circuit-breaker.js";
import type { AppConfig, ShardConfig } from "./config.js";
import { execute, type ShardClients } from "./data-api.js";
import { DuplicateIdError, IdOutOfRangeError, RowNotFoundError, ShardUnavailableError } from "./errors.js";
import { mergePages, type ShardRows } from "./merge.js";
import type { Row } from "./row.js";
import {
  type Clock,
  callWithDeadline,
  isFailure,
  report,
  type ShardOutcome,
  type ShardReport,
} from "./shard-call.js";
import { type IdRange, MAX_ID, MIN_ID } from "./shard-map.js";
import { parseRows, type Statement, selectOne, selectRange } from "./sql.js";
import { type WriteTimings, writeDeadline, writeHorizon, writeTimings } from "./write-deadline.js";
import { deleteRow, insertRow, parseWriteResult, updateRow, type WriteResult } from "./write-sql.js";

/**
 * The most rows one shard call returns. The Data API fails a result over 1 MiB, and AWS describes the JSON result
 * (`formattedRecords`) as ASCII-encoded: a character outside ASCII may then take a 12-byte surrogate-pair escape
 * (`\ud83d\ude00`), 14 once the response escapes the string again. A row of 255 such characters is about 3.6 KB, so
 * 250 rows stay under 1 MiB whatever the names hold (real text stays far below: 255 ASCII characters are ~0.3 KB).
 */
export const MAX_ROWS_PER_CALL = 250;

export interface ListQuery {
  readonly limit: number;
  readonly after?: number;
  readonly from?: number;
  readonly to?: number;
}

export interface ListResult {
  readonly items: Row[];
  readonly next: number | null;
  readonly partial: boolean;
  readonly shards: ShardReport[];
}

/** What a call on one row came to: the row (null: absent, or its shard failed), its owning shard, and what that shard did. */
export interface RowResult {
  readonly item: Row | null;
  readonly shard: number;
  readonly shards: ShardReport[];
}

export interface TableDeps {
  readonly config: AppConfig;
  readonly clients: ShardClients;
  readonly now?: Clock;
  /** Wall-clock time (ms since the epoch) for write deadlines, which the database compares with its own clock. */
  readonly wallClock?: Clock;
  /** Told once per change of a shard's circuit breaker, for logs and metrics. */
  readonly onBreakerChange?: (change: BreakerChange) => void;
}

/** What the circuit breaker learns from a call: any answer means the shard is up. */
function breakerResult(o: ShardOutcome<unknown>): CallResult {
  if (o.status === "timeout") return { ok: false, failure: "timeout" };
  if (o.status === "error") return { ok: false, failure: o.error };
  return { ok: true };
}

/**
 * Budget for one request: how long a shard call may take at most. `remainingMs` is the Lambda's remaining time; the
 * margin keeps enough of it to answer, so a slow shard never turns into a Lambda timeout.
 */
export type Budget = { readonly remainingMs?: number };

/** Errors that prove a call never reached the shard: nothing was sent, so nothing can take effect. */
const NEVER_SENT = new Set(["ECONNREFUSED", "WriteNotSentError"]);

/** A write whose deadline left no time to run it; never sent. */
class WriteNotSentError extends Error {
  override name = "WriteNotSentError";
}

/**
 * How many rows each called shard may contribute to a page of `limit` (it is asked for one more, as proof that more
 * exist). Not `limit` from every shard: with k shards that fetched, parsed and threw away (k - 1) x limit rows, and
 * parsing them was the largest part of the function's own CPU per shard call. Each shard gets what the page could
 * take from it if no id were missing (its share of the first `limit + 1` ids of the map after the cursor), and at
 * least an equal share of the page (`limit / k`), so tables with missing ids still fill most of a page. A page is
 * exact whatever the shards hold: it stops where the first shard that has more stops being known (`mergePages`), so
 * when many ids are missing a page may hold fewer rows than `limit`, never an empty one, and `next` goes on.
 */
export function rowsToAsk(
  called: readonly { shard: ShardConfig; ranges: readonly IdRange[] }[],
  limit: number,
): Map<number, { ranges: readonly IdRange[]; rows: number }> {
  const most = Math.min(limit, MAX_ROWS_PER_CALL - 1);
  const share = Math.ceil(limit / Math.max(1, called.length));
  // Every range holds at least one id, so no shard's ranges past its first limit + 1 can matter here.
  const window = called
    .flatMap(({ shard, ranges }) => ranges.slice(0, limit + 1).map((r) => ({ shard: shard.id, r })))
    .sort((a, b) => a.r[0] - b.r[0]);
  const dense = new Map<number, number>();
  let left = limit + 1;
  for (const { shard, r } of window) {
    if (left <= 0) break;
    const take = Math.min(left, r[1] - r[0] + 1);
    dense.set(shard, (dense.get(shard) ?? 0) + take);
    left -= take;
  }
  return new Map(
    called.map(({ shard, ranges }) => [
      shard.id,
      { ranges, rows: Math.min(most, Math.max(share, dense.get(shard.id) ?? 0)) },
    ]),
  );
}

/**
 * The one logical table, spread over the shards of the map. Reads scatter to every shard whose ranges can match and
 * gather tagged outcomes (a failed shard is missing data, not a failed request); writes go to the one owning shard and
 * are reported done only when that shard confirmed them.
 */
export class ShardedTable {
  readonly #config: AppConfig;
  readonly #clients: ShardClients;
  readonly #now: Clock | undefined;
  readonly #timings: WriteTimings;
  readonly #wallClock: Clock;
  readonly #breakers: ShardBreakers;

  constructor(deps: TableDeps) {
    this.#config = deps.config;
    this.#clients = deps.clients;
    this.#now = deps.now;
    this.#timings = writeTimings(deps.config.shardTimeoutMs);
    this.#wallClock = deps.wallClock ?? Date.now;
    this.#breakers = new ShardBreakers(
      { ...deps.config.breaker, quietMs: deps.config.shardTimeoutMs },
      deps.now ?? performance.now.bind(performance),
      deps.onBreakerChange,
    );
  }

  /** The state of a shard's circuit breaker (the local runtime's fault route shows it). */
  breakerState(shard: number) {
    return this.#breakers.state(shard);
  }

  #timeoutMs(budget: Budget): number {
    const { shardTimeoutMs, deadlineMarginMs } = this.#config;
    if (budget.remainingMs === undefined) return shardTimeoutMs;
    return Math.max(1, Math.min(shardTimeoutMs, budget.remainingMs - deadlineMarginMs));
  }

  /**
   * One read on one shard, unless its circuit breaker is open: then the shard is `unavailable` at once instead of
   * costing the request the whole timeout. A read may be the probe that finds out whether the shard is back.
   */
  async #read<T>(
    shard: ShardConfig,
    statement: Statement,
    budget: Budget,
    parse: (out: Awaited<ReturnType<typeof execute>>) => T,
  ): Promise<ShardOutcome<T>> {
    const admission = this.#breakers.admit(shard.id, true);
    if (!admission.call) {
      const { lastFailure, retryAfterMs } = admission;
      return { shard: shard.id, status: "unavailable", lastFailure, retryAfterMs };
    }
    const client = this.#clients.read.get(shard.id);
    if (!client) throw new Error(`no read client for shard ${shard.id}`);
    const outcome = await callWithDeadline(
      shard.id,
      this.#timeoutMs(budget),
      async (signal) => parse(await execute(client, shard, statement, signal)),
      this.#now,
    );
    this.#breakers.record(shard.id, breakerResult(outcome));
    return outcome;
  }

  #shard(id: number): ShardConfig {
    const shard = this.#config.shards.find((s) => s.id === id);
    if (!shard) throw new Error(`shard ${id} is in the map but not configured`);
    return shard;
  }

  /**
   * A page of rows in id order across all shards. The query's bounds and cursor are pushed down into each shard's
   * ranges; a shard left with nothing to match is not called (`skipped`).
   *
   * Each called shard may contribute the rows {@link rowsToAsk} gives it (at most `limit`, and below the per-call cap
   * {@link MAX_ROWS_PER_CALL}) and is asked for one more: that row is never returned, it only proves that the shard holds
   * more. So a shard that returned no more than its share is known to be done, and a walk never ends with an empty
   * page, also with `limit` above the per-call cap (where a shard that returned the cap used to be taken as "may have
   * more").
   *
   * `next` is `null` only when every shard that could hold later rows answered and has none left. When a shard failed,
   * the page's `next` is the cursor up to which the healthy shards were read; when they have nothing left, it is the
   * page's last id or, if greater, one below the first id a failed shard could hold, so following it asks the failed
   * shards again instead of ending the walk as if the table had ended (docs/api.md, "Paging when a shard fails").
   */
  async list(query: ListQuery, budget: Budget = {}): Promise<ListResult> {
    const lower = Math.max(query.from ?? MIN_ID, query.after === undefined ? MIN_ID : query.after + 1);
    const upper = query.to ?? MAX_ID;
    const called = this.#config.shards
      .map((shard) => ({ shard, ranges: this.#config.map.clip(shard.id, lower, upper) }))
      .filter(({ ranges }) => ranges.length > 0);
    const asks = rowsToAsk(called, query.limit);
    const outcomes = await Promise.all(
      this.#config.shards.map((shard): Promise<ShardOutcome<Row[]>> => {
        const ask = asks.get(shard.id);
        if (ask === undefined) return Promise.resolve({ shard: shard.id, status: "skipped" });
        const statement = selectRange(this.#config.tableName, ask.ranges, ask.rows + 1);
        return this.#read(shard, statement, budget, (out) => parseRows(out.formattedRecords));
      }),
    );
    const parts: ShardRows[] = [];
    let firstMissing = Infinity;
    for (const o of outcomes) {
      const ask = asks.get(o.shard);
      if (ask === undefined) continue;
      if (o.status === "ok") {
        const proof = o.value[ask.rows];
        if (proof === undefined) parts.push({ shard: o.shard, rows: o.value });
        // Everything up to just before the proof row is known; the proof row itself opens the next page.
        else
          parts.push({
            shard: o.shard,
            rows: o.value.slice(0, ask.rows),
            truncated: true,
            through: proof.id - 1,
          });
      } else if (isFailure(o)) firstMissing = Math.min(firstMissing, ask.ranges[0]?.[0] ?? lower);
    }
    const page = mergePages(parts, this.#config.map, query.limit);
    const failed = firstMissing !== Infinity;
    let next = page.next;
    // The healthy shards are done but a failed one may hold later rows: resume after what was read (and nothing that
    // only the failed shards could hold is skipped), never end here.
    if (failed && next === null) next = Math.max(page.items.at(-1)?.id ?? MIN_ID - 1, firstMissing - 1);
    return {
      items: page.items,
      next,
      partial: failed,
      shards: outcomes.map((o) => report(o, (rows) => rows.length)),
    };
  }

  /** The owner of `id`; http/ answers an id no shard can hold as a 404 for reads and a 422 for writes. */
  #owner(id: number): ShardConfig {
    const owner = this.#config.map.ownerOf(id);
    if (owner === undefined) throw new IdOutOfRangeError(`id ${id} is outside every shard's range`);
    return this.#shard(owner);
  }

  /**
   * One row from the one shard that owns its id. `item` is null only when that shard answered and the row is absent;
   * when the shard failed, `shards` says so and the caller must not call the row absent.
   */
  async get(id: number, budget: Budget = {}): Promise<RowResult> {
    const shard = this.#owner(id);
    const outcome = await this.#read(shard, selectOne(this.#config.tableName, id), budget, (out) =>
      parseRows(out.formattedRecords),
    );
    const item = outcome.status === "ok" ? (outcome.value.find((r) => r.id === id) ?? null) : null;
    return { item, shard: shard.id, shards: [report(outcome, (rows) => rows.length)] };
  }

  /**
   * Runs one write on the owning shard under its own deadline (see `write-deadline.ts`) and returns how many rows it
   * changed with the shard's report, or throws a {@link ShardUnavailableError} that says whether the write provably
   * did not happen (`not_applied`) or may have (`unknown`). An `unknown` one is thrown only once the write can no
   * longer take effect, so a read after the error's answer shows the final state.
   */
  async #write(
    id: number,
    build: (table: string, deadlineMs: number) => Statement,
    budget: Budget,
  ): Promise<{ changed: number; shard: number; shards: ShardReport[] }> {
    const shard = this.#owner(id);
    await this.#admitWrite(shard, id, budget);
    const client = this.#clients.write.get(shard.id);
    if (!client) throw new Error(`no write client for shard ${shard.id}`);
    const timeoutMs = this.#timeoutMs(budget);
    const deadlineMs = writeDeadline(this.#wallClock(), timeoutMs, this.#timings);
    let sent = false;
    const outcome = await callWithDeadline(
      shard.id,
      timeoutMs,
      async (signal): Promise<WriteResult> => {
        // Checked at the moment of sending: a stalled process must not send a write that can only arrive late.
        if (this.#wallClock() >= deadlineMs)
          throw new WriteNotSentError("the write deadline passed before sending");
        sent = true;
        const statement = build(this.#config.tableName, deadlineMs);
        return parseWriteResult((await execute(client, shard, statement, signal)).formattedRecords);
      },
      this.#now,
    );
    const shards = [report(outcome, (r) => r.changed)];
    // A write that was never sent says nothing about the shard.
    if (sent) this.#breakers.record(shard.id, breakerResult(outcome));
    if (outcome.status === "ok") {
      if (outcome.value.inTime) return { changed: outcome.value.changed, shard: shard.id, shards };
      throw new ShardUnavailableError(shard.id, "deadline", "not_applied", shards);
    }
    const reason = outcome.status === "error" ? outcome.error : outcome.status;
    const neverSent = !sent || (outcome.status === "error" && NEVER_SENT.has(outcome.error));
    if (neverSent) throw new ShardUnavailableError(shard.id, reason, "not_applied", shards);
    // It may have reached the database: wait out the instant after which it cannot commit any more.
    const wait = writeHorizon(deadlineMs, this.#timings) - this.#wallClock();
    if (wait > 0) await new Promise((resolve) => setTimeout(resolve, wait));
    throw new ShardUnavailableError(shard.id, reason, "unknown", shards);
  }

  /**
   * Lets a write through unless its shard's breaker is open: then it is refused at once, `not_applied`, with the
   * remaining cool-down as `retry-after`. A write is never the probe (a write sent to a shard that then hangs has an
   * unknown outcome): once the cool-down is over, a read of the row finds out first whether the shard is back.
   */
  async #admitWrite(shard: ShardConfig, id: number, budget: Budget): Promise<void> {
    let admission = this.#breakers.admit(shard.id, false);
    if (admission.call) return;
    if (admission.retryAfterMs === 0) {
      const probe = await this.#read(shard, selectOne(this.#config.tableName, id), budget, () => undefined);
      if (probe.status === "ok") return;
      admission = this.#breakers.admit(shard.id, false);
      if (admission.call) return;
    }
    const refused: ShardOutcome<never> = {
      shard: shard.id,
      status: "unavailable",
      lastFailure: admission.lastFailure,
      retryAfterMs: admission.retryAfterMs,
    };
    const shards = [report(refused, () => 0)];
    throw new ShardUnavailableError(shard.id, "circuit_open", "not_applied", shards, admission.retryAfterMs);
  }

  /** Inserts a row; a {@link DuplicateIdError} when the id exists. */
  async create(row: { id: number; name: string }, budget: Budget = {}): Promise<RowResult & { item: Row }> {
    const { changed, ...written } = await this.#write(
      row.id,
      (t, d) => insertRow(t, row.id, row.name, d),
      budget,
    );
    if (changed === 0) throw new DuplicateIdError(`id ${row.id} already exists`, written.shards);
    return { item: { id: row.id, name: row.name }, ...written };
  }

  /** Replaces the name of an existing row; a {@link RowNotFoundError} when there is none. */
  async replace(id: number, name: string, budget: Budget = {}): Promise<RowResult & { item: Row }> {
    const written = existing(id, await this.#write(id, (t, d) => updateRow(t, id, name, d), budget));
    return { item: { id, name }, ...written };
  }

  /** Deletes a row; a {@link RowNotFoundError} when there is none. */
  async remove(id: number, budget: Budget = {}): Promise<Omit<RowResult, "item">> {
    return existing(id, await this.#write(id, (t, d) => deleteRow(t, id, d), budget));
  }
}

/** A replace or delete's result without its count, once it changed a row; a {@link RowNotFoundError} if none. */
function existing(
  id: number,
  { changed, ...written }: { changed: number; shard: number; shards: ShardReport[] },
): Omit<RowResult, "item"> {
  if (changed === 0) throw new RowNotFoundError(`id ${id} does not exist`, written.shards);
  return written;
}
