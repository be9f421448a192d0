import { type BreakerChange, type CallResult, ShardBreakers } from "./circuit-breaker.js";
import type { AppConfig, ShardConfig } from "./config.js";
import { execute, type ShardClients } from "./data-api.js";
import {
  DuplicateIdError,
  IdOutOfRangeError,
  RowAbsentError,
  RowNotFoundError,
  RowUnknownError,
  ShardUnavailableError,
} from "./errors.js";
import {
  CommitDeadlineError,
  fenceRefusal,
  parseStoredMap,
  RangeFrozenError,
  READ_MAP_SQL,
  ShardMapChangedError,
} from "./fence.js";
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
import { type IdRange, MAX_ID, MIN_ID, type ShardMap } from "./shard-map.js";
import { checkUnowned, parseRows, type Statement, selectOne, selectRange } from "./sql.js";
import { type WriteTimings, writeDeadline, writeHorizon, writeTimings } from "./write-deadline.js";
import {
  deleteRow,
  insertRow,
  parseWriteResult,
  updateRow,
  type WriteResult,
  type WriteTimes,
} from "./write-sql.js";

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
  if (o.status === "error" && !REFUSALS.has(o.error)) return { ok: false, failure: o.error };
  return { ok: true };
}

/**
 * Budget for one request: how long a shard call may take at most. `remainingMs` is the Lambda's remaining time; the
 * margin keeps enough of it to answer, so a slow shard never turns into a Lambda timeout.
 */
export type Budget = { readonly remainingMs?: number };

/**
 * Errors that prove a write did nothing: it was never sent (so nothing can take effect), or the shard rolled it
 * back because it reached its commit too late.
 */
const NEVER_SENT = new Set(["ECONNREFUSED", "WriteNotSentError", "CommitDeadlinePassed"]);

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
  called: readonly { id: number; ranges: readonly IdRange[] }[],
  limit: number,
): Map<number, { ranges: readonly IdRange[]; rows: number }> {
  const most = Math.min(limit, MAX_ROWS_PER_CALL - 1);
  const share = Math.ceil(limit / Math.max(1, called.length));
  // Every range holds at least one id, so no shard's ranges past its first limit + 1 can matter here.
  const window = called
    .flatMap(({ id, ranges }) => ranges.slice(0, limit + 1).map((r) => ({ shard: id, r })))
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
    called.map(({ id, ranges }) => [
      id,
      { ranges, rows: Math.min(most, Math.max(share, dense.get(id) ?? 0)) },
    ]),
  );
}

/** A request's deadline: its timeout, and the instant it ends once its first call started (`#left`). */
interface RequestDeadline {
  readonly timeoutMs: number;
  at?: number;
}

/** A shard the map names but the function has no Data API coordinates for (deployed before it was added). */
class ShardNotConfiguredError extends Error {
  override name = "ShardNotConfigured";
}

/** Failures that are answers: the shard is up and refused the call on purpose, so its circuit breaker stays closed. */
const REFUSALS = new Set(["ShardMapChanged", "RangeFrozen"]);

/** How often one request may learn a newer map and start again: each round is one map change it raced. */
const MAX_MAP_ROUNDS = 3;

/** A write to a range that is switching shards waits this long between tries (doubling up to the maximum). */
const FROZEN_RETRY_MS = { first: 20, max: 200 } as const;

/** What clients are told to wait when a write met a frozen range for its whole deadline. */
const FROZEN_RETRY_AFTER_MS = 1000;

/**
 * The one logical table, spread over the shards of the map. Reads scatter to every shard whose ranges can match and
 * gather tagged outcomes (a failed shard is missing data, not a failed request); writes go to the one owning shard and
 * are reported done only when that shard confirmed them.
 *
 * The map is the newest this instance has learnt: it starts as the configured one, and every shard checks each call
 * against what it owns at that moment (the fence, fence.ts). A shard that refuses a call hands over its stored map;
 * the request adopts it if it is newer and starts again within its one deadline. Nothing extra happens on the happy
 * path: the check rides inside the statements the request sends anyway.
 */
export class ShardedTable {
  readonly #config: AppConfig;
  readonly #clients: ShardClients;
  readonly #now: Clock;
  readonly #timings: WriteTimings;
  readonly #wallClock: Clock;
  readonly #breakers: ShardBreakers;
  #map: ShardMap;

  constructor(deps: TableDeps) {
    this.#config = deps.config;
    this.#clients = deps.clients;
    this.#now = deps.now ?? performance.now.bind(performance);
    this.#timings = writeTimings(deps.config.shardTimeoutMs);
    this.#wallClock = deps.wallClock ?? Date.now;
    this.#map = deps.config.map;
    this.#breakers = new ShardBreakers(
      { ...deps.config.breaker, quietMs: deps.config.shardTimeoutMs },
      this.#now,
      deps.onBreakerChange,
    );
  }

  /** The state of a shard's circuit breaker (the local runtime's fault route shows it). */
  breakerState(shard: number) {
    return this.#breakers.state(shard);
  }

  /** The map this instance uses now (its version grows as it learns changes from the shards). */
  get map(): ShardMap {
    return this.#map;
  }

  /**
   * A request's one deadline: the shard timeout (within the Lambda's remaining time), counted from its first shard
   * call, so every call of the first round gets the whole timeout and a retry after a map change only what is left.
   */
  #deadline(budget: Budget): RequestDeadline {
    const { shardTimeoutMs, deadlineMarginMs } = this.#config;
    const timeoutMs =
      budget.remainingMs === undefined
        ? shardTimeoutMs
        : Math.max(1, Math.min(shardTimeoutMs, budget.remainingMs - deadlineMarginMs));
    return { timeoutMs };
  }

  /** What is left of the request's deadline for a call starting now (the first call starts the clock). */
  #left(deadline: RequestDeadline): number {
    const now = this.#now();
    deadline.at ??= now + deadline.timeoutMs;
    return Math.max(1, Math.min(deadline.timeoutMs, Math.ceil(deadline.at - now)));
  }

  /**
   * One read on one shard, unless its circuit breaker is open: then the shard is `unavailable` at once instead of
   * costing the request the whole timeout. A read may be the probe that finds out whether the shard is back. A shard
   * the map names without coordinates is an error (`ShardNotConfigured`), a fence refusal `ShardMapChanged`.
   */
  async #read<T>(
    shardId: number,
    statement: Statement,
    timeoutMs: number,
    parse: (out: Awaited<ReturnType<typeof execute>>) => T,
  ): Promise<ShardOutcome<T>> {
    const shard = this.#config.shards.find((s) => s.id === shardId);
    const client = this.#clients.read.get(shardId);
    if (!shard || !client) {
      return { shard: shardId, status: "error", error: new ShardNotConfiguredError().name, ms: 0 };
    }
    const admission = this.#breakers.admit(shard.id, true);
    if (!admission.call) {
      const { lastFailure, retryAfterMs } = admission;
      return { shard: shard.id, status: "unavailable", lastFailure, retryAfterMs };
    }
    const outcome = await callWithDeadline(
      shard.id,
      timeoutMs,
      async (signal) => parse(await fenced(execute(client, shard, statement, signal))),
      this.#now,
    );
    this.#breakers.record(shard.id, breakerResult(outcome));
    return outcome;
  }

  /**
   * Learns the map from the shards that refused a call: reads each one's stored map and adopts the newest if it is
   * newer than the one in use. True when the map in use is now newer than `used` (also when another request of this
   * instance learnt it meanwhile), so the caller may start again.
   */
  async #refresh(used: ShardMap, refusing: readonly number[], deadline: RequestDeadline): Promise<boolean> {
    if (this.#map.version > used.version) return true;
    const timeoutMs = this.#left(deadline);
    const stored = await Promise.all(
      refusing.map((id) =>
        this.#read(id, { sql: READ_MAP_SQL, parameters: [], formatRecordsAs: "JSON" }, timeoutMs, (out) =>
          parseStoredMap(out.formattedRecords),
        ),
      ),
    );
    for (const o of stored) {
      if (o.status === "ok" && o.value.version > this.#map.version)
        this.#map = o.value.map.withVersion(o.value.version);
    }
    return this.#map.version > used.version;
  }

  /** The shard that vouches for ids no shard owns when a request calls no other: the lowest-id one with ranges. */
  #carrier(map: ShardMap): number | undefined {
    let best: number | undefined;
    for (const s of map.shards) if (s.ranges.length > 0 && (best === undefined || s.id < best)) best = s.id;
    return best;
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
   * The ids of the bounds that no shard owns must be vouched for too (an assign may have given them to a shard this
   * instance has not heard of): every called shard checks them within its read (one answer is enough: no shard
   * vouches for an id once it has an owner that accepts writes), or, when the bounds meet no shard's ranges, the
   * lowest-id shard with ranges checks them alone.
   *
   * `next` is `null` only when every shard that could hold later rows answered and has none left. When a shard failed,
   * the page's `next` is the cursor up to which the healthy shards were read; when they have nothing left, it is the
   * page's last id or, if greater, one below the first id a failed shard could hold, so following it asks the failed
   * shards again instead of ending the walk as if the table had ended (docs/api.md, "Paging when a shard fails").
   */
  async list(query: ListQuery, budget: Budget = {}): Promise<ListResult> {
    const deadline = this.#deadline(budget);
    return this.#withMap(deadline, (map) => this.#listOnce(query, map, deadline));
  }

  /**
   * Runs `attempt` with the map in use and, each time shards refuse it as stale, again with the newer map they hand
   * over (at most {@link MAX_MAP_ROUNDS} more times, within the request's deadline). Returns the last attempt's result.
   */
  async #withMap<R>(
    deadline: RequestDeadline,
    attempt: (map: ShardMap) => Promise<{ result: R; refusing: number[] }>,
  ): Promise<R> {
    for (let round = 1; ; round++) {
      const map = this.#map;
      const { result, refusing } = await attempt(map);
      if (refusing.length === 0 || round > MAX_MAP_ROUNDS || !(await this.#refresh(map, refusing, deadline)))
        return result;
    }
  }

  async #listOnce(
    query: ListQuery,
    map: ShardMap,
    deadline: RequestDeadline,
  ): Promise<{ result: ListResult; refusing: number[] }> {
    const lower = Math.max(query.from ?? MIN_ID, query.after === undefined ? MIN_ID : query.after + 1);
    const upper = query.to ?? MAX_ID;
    const ids = shardIds(this.#config, map);
    const called = ids
      .map((id) => ({ id, ranges: map.clip(id, lower, upper) }))
      .filter(({ ranges }) => ranges.length > 0);
    const asks = rowsToAsk(called, query.limit);
    const unowned = map.unownedIn(lower, upper);
    // Every called shard vouches for the unowned ids within its read (a multirange check); when the bounds meet no
    // shard's ranges, one shard checks them alone.
    const carrier = unowned.length > 0 && called.length === 0 ? this.#carrier(map) : undefined;
    // One timeout for the whole round, taken before any call: every call of it gets the same time, whatever the
    // process does between starting them.
    const timeoutMs = this.#left(deadline);
    const outcomes = await Promise.all(
      ids.map((id): Promise<ShardOutcome<Row[]>> => {
        const ask = asks.get(id);
        if (ask === undefined) {
          if (id !== carrier) return Promise.resolve({ shard: id, status: "skipped" });
          return this.#read(id, checkUnowned(unowned), timeoutMs, () => []);
        }
        const statement = selectRange(this.#config.tableName, ask.ranges, ask.rows + 1, unowned);
        return this.#read(id, statement, timeoutMs, (out) => parseRows(out.formattedRecords));
      }),
    );
    const parts: ShardRows[] = [];
    let firstMissing = Infinity;
    let vouched = unowned.length === 0;
    for (const o of outcomes) {
      const ask = asks.get(o.shard);
      if (o.status === "ok") {
        vouched = true;
        if (ask === undefined) continue;
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
      } else if (isFailure(o) && ask !== undefined) {
        firstMissing = Math.min(firstMissing, ask.ranges[0]?.[0] ?? lower);
      }
    }
    // No shard answered for the ids no shard owns: an assign may have given them to one, so they are unknown too.
    if (!vouched) firstMissing = Math.min(firstMissing, unowned[0]?.[0] ?? lower);
    const page = mergePages(parts, map, query.limit);
    const failed = firstMissing !== Infinity;
    let next = page.next;
    // The healthy shards are done but a failed one may hold later rows: resume after what was read (and nothing that
    // only the failed shards could hold is skipped), never end here.
    if (failed && next === null) next = Math.max(page.items.at(-1)?.id ?? MIN_ID - 1, firstMissing - 1);
    return {
      result: {
        items: page.items,
        next,
        partial: failed,
        shards: outcomes.map((o) => report(o, (rows) => rows.length)),
      },
      refusing: refusedBy(outcomes),
    };
  }

  /**
   * Asks the carrier to vouch that `id` has no owner: throws an {@link IdOutOfRangeError} when it does; else says what
   * the carrier did (`refusing`: it refused the map in use as stale; otherwise it failed, and nobody knows).
   */
  async #vouchUnowned(
    map: ShardMap,
    id: number,
    deadline: RequestDeadline,
  ): Promise<{ shard: number; shards: ShardReport[]; refusing: number[] }> {
    const carrier = this.#carrier(map) ?? 0;
    const o =
      carrier === 0
        ? undefined
        : await this.#read(carrier, checkUnowned([[id, id]]), this.#left(deadline), () => 0);
    const shards = o ? [report(o, () => 0)] : [];
    if (o === undefined || o.status === "ok")
      throw new IdOutOfRangeError(`id ${id} is outside every shard's range`, shards);
    return { shard: carrier, shards, refusing: refusedBy([o]) };
  }

  /**
   * One row from the one shard that owns its id. Unknown is not absent: only an answering owner may say the row does
   * not exist (a {@link RowAbsentError}); an owner that failed makes it a {@link RowUnknownError}. An id outside the
   * map is an {@link IdOutOfRangeError} once a shard vouched that no shard owns it, a {@link RowUnknownError} (naming
   * the shard asked) while that shard cannot answer.
   */
  async get(id: number, budget: Budget = {}): Promise<RowResult & { item: Row }> {
    const deadline = this.#deadline(budget);
    const { item, shard, shards } = await this.#withMap(deadline, async (map) => {
      const owner = map.ownerOf(id);
      if (owner === undefined) {
        const { shard, shards, refusing } = await this.#vouchUnowned(map, id, deadline);
        return { result: { item: null, shard, shards }, refusing };
      }
      const statement = selectOne(this.#config.tableName, id);
      const outcome = await this.#read(owner, statement, this.#left(deadline), (out) =>
        parseRows(out.formattedRecords),
      );
      const item = outcome.status === "ok" ? (outcome.value.find((r) => r.id === id) ?? null) : null;
      const shards = [report(outcome, (rows) => rows.length)];
      return { result: { item, shard: owner, shards }, refusing: refusedBy([outcome]) };
    });
    if (item) return { item, shard, shards };
    if (shards.every((s) => s.status === "ok")) throw new RowAbsentError(id, shard, shards);
    const open = shards.find((s) => s.status === "unavailable");
    throw new RowUnknownError(id, shard, shards, open?.retryAfterMs);
  }

  /**
   * Runs one write on the owning shard under its own deadline (see `write-deadline.ts`) and returns how many rows it
   * changed with the shard's report, or throws a {@link ShardUnavailableError} that says whether the write provably
   * did not happen (`not_applied`) or may have (`unknown`). An `unknown` one is thrown only once the write can no
   * longer take effect, so a read after the error's answer shows the final state.
   *
   * A fence refusal did nothing (the statement failed whole), so it is tried again within the request's deadline:
   * with the newer map the refusing shard hands over, or, for a range frozen while it switches shards, after a short
   * wait. A write that found the range frozen until its deadline is `not_applied`, with a `retry-after`.
   */
  async #write(
    id: number,
    build: (table: string, times: WriteTimes) => Statement,
    budget: Budget,
  ): Promise<{ changed: number; shard: number; shards: ShardReport[] }> {
    const deadline = this.#deadline(budget);
    // The last attempt's answer: its result, or the error that says why the write was not applied.
    type Written = { changed: number; shard: number; shards: ShardReport[] };
    const answer = await this.#withMap<Written | ShardUnavailableError>(deadline, async (map) => {
      const owner = map.ownerOf(id);
      if (owner === undefined) {
        const { shard, shards, refusing } = await this.#vouchUnowned(map, id, deadline);
        const reason = refusing.length > 0 ? "ShardMapChanged" : failureReason(shards[0]);
        return { result: new ShardUnavailableError(shard, reason, "not_applied", shards), refusing };
      }
      const attempt = await this.#writeUntilOpen(owner, id, build, deadline);
      if ("changed" in attempt) return { result: attempt, refusing: [] };
      const refused = new ShardUnavailableError(owner, "ShardMapChanged", "not_applied", attempt.shards);
      return { result: refused, refusing: [owner] };
    });
    if (answer instanceof ShardUnavailableError) throw answer;
    return answer;
  }

  /**
   * A write on `owner`, tried again while its range is frozen for a move's switch, as long as a retry could still be
   * sent in time (the write's own deadline leaves room to run it); then `not_applied` with a `retry-after`.
   */
  async #writeUntilOpen(
    owner: number,
    id: number,
    build: (table: string, times: WriteTimes) => Statement,
    deadline: RequestDeadline,
  ): Promise<{ changed: number; shard: number; shards: ShardReport[] } | { shards: ShardReport[] }> {
    for (let pause: number = FROZEN_RETRY_MS.first; ; pause = Math.min(FROZEN_RETRY_MS.max, pause * 2)) {
      const attempt = await this.#writeOnce(owner, id, build, deadline);
      if (!("refusal" in attempt) || attempt.refusal === "stale") return attempt;
      const room = this.#left(deadline) - this.#timings.statementTimeoutMs - this.#timings.safetyMs;
      if (room <= pause) {
        const { shards } = attempt;
        throw new ShardUnavailableError(owner, "RangeFrozen", "not_applied", shards, FROZEN_RETRY_AFTER_MS);
      }
      await new Promise((resolve) => setTimeout(resolve, pause));
    }
  }

  /** One attempt of a write on `owner`: its result, a fence refusal (nothing done), or a thrown unavailability. */
  async #writeOnce(
    owner: number,
    id: number,
    build: (table: string, times: WriteTimes) => Statement,
    deadline: RequestDeadline,
  ): Promise<
    | { changed: number; shard: number; shards: ShardReport[] }
    | { refusal: "stale" | "frozen"; shards: ShardReport[] }
  > {
    const shard = this.#config.shards.find((s) => s.id === owner);
    const client = this.#clients.write.get(owner);
    if (!shard || !client) {
      const failed: ShardOutcome<never> = {
        shard: owner,
        status: "error",
        error: new ShardNotConfiguredError().name,
        ms: 0,
      };
      throw new ShardUnavailableError(owner, failed.error, "not_applied", [report(failed, () => 0)]);
    }
    await this.#admitWrite(shard, id, deadline);
    const timeoutMs = this.#left(deadline);
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
        // The latest commit a statement that started by its deadline may make under the role's statement_timeout;
        // the shard refuses any later one (infra/fence-sql.ts), whatever the session's timeouts are.
        const commitByMs = deadlineMs + this.#timings.statementTimeoutMs;
        const statement = build(this.#config.tableName, { deadlineMs, commitByMs });
        return parseWriteResult((await fenced(execute(client, shard, statement, signal))).formattedRecords);
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
    // Refused by the fence: the statement failed whole, nothing was written.
    if (outcome.status === "error" && outcome.error === "RangeFrozen") return { refusal: "frozen", shards };
    if (outcome.status === "error" && outcome.error === "ShardMapChanged")
      return { refusal: "stale", shards };
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
  async #admitWrite(shard: ShardConfig, id: number, deadline: RequestDeadline): Promise<void> {
    let admission = this.#breakers.admit(shard.id, false);
    if (admission.call) return;
    if (admission.retryAfterMs === 0) {
      const statement = selectOne(this.#config.tableName, id);
      const probe = await this.#read(shard.id, statement, this.#left(deadline), () => undefined);
      // Any answer, a fence refusal too, shows the shard is back.
      if (probe.status === "ok" || refusedBy([probe]).length > 0) return;
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

/** The configured shards in their order, then any shard only the (newer) map names. */
function shardIds(config: AppConfig, map: ShardMap): number[] {
  const ids = config.shards.map((s) => s.id);
  for (const s of map.shards) if (!ids.includes(s.id)) ids.push(s.id);
  return ids;
}

/** The shards whose fence refused a call because the caller's map is stale. */
function refusedBy(outcomes: readonly ShardOutcome<unknown>[]): number[] {
  return outcomes.filter((o) => o.status === "error" && o.error === "ShardMapChanged").map((o) => o.shard);
}

function failureReason(r: ShardReport | undefined): string {
  if (r === undefined) return "error";
  if (r.status === "error") return r.error;
  if (r.status === "unavailable") return "circuit_open";
  return r.status;
}

/** A call's result, with the fence's refusals as named errors (fence.ts) instead of a generic database error. */
async function fenced<T>(call: Promise<T>): Promise<T> {
  try {
    return await call;
  } catch (err) {
    const refusal = fenceRefusal(err);
    if (refusal === "stale") throw new ShardMapChangedError("the shard refused a stale map", { cause: err });
    if (refusal === "frozen") throw new RangeFrozenError("the id is frozen while it moves", { cause: err });
    if (refusal === "late") throw new CommitDeadlineError("rolled back at commit: too late", { cause: err });
    throw err;
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
