import { type BreakerChange, ShardBreakers } from "./circuit-breaker.js";
import type { AppConfig } from "./config.js";
import { execute, type ShardClients } from "./data-api.js";
import { IdOutOfRangeError, RowAbsentError, RowUnknownError } from "./errors.js";
import { parseStoredMap, READ_MAP_SQL } from "./fence.js";
import { type ListPage, pageOf, rowsToAsk } from "./paging.js";
import type { Row } from "./row.js";
import {
  breakerResult,
  fenced,
  type MapAttempt,
  type RemainingTime,
  type RequestDeadline,
  type RowResult,
  refusedBy,
  type ShardAccess,
  ShardNotConfiguredError,
} from "./shard-access.js";
import {
  type Clock,
  callWithDeadline,
  type ShardOutcome,
  type ShardReport,
  toShardReport,
} from "./shard-call.js";
import { MAX_ID, MIN_ID, type ShardMap } from "./shard-map.js";
import { checkUnowned, parseRows, type Statement, selectOne, selectRange } from "./sql.js";
import { TableWrites } from "./table-writes.js";

export type { RemainingTime, RowResult } from "./shard-access.js";

export interface ListQuery {
  readonly limit: number;
  readonly after?: number;
  readonly from?: number;
  readonly to?: number;
}

export interface ListResult extends ListPage {
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

/** How often one request may learn a newer map and start again: each round is one map change it raced. */
const MAX_MAP_ROUNDS = 3;

/**
 * The one logical table, spread over the shards of the map. Reads scatter to every shard whose ranges can match and
 * gather tagged outcomes (a failed shard is missing data, not a failed request); writes go to the one owning shard and
 * are reported done only when that shard confirmed them (table-writes.ts, over this table's {@link ShardAccess}).
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
  readonly #breakers: ShardBreakers;
  readonly #writes: TableWrites;
  #map: ShardMap;

  constructor(deps: TableDeps) {
    this.#config = deps.config;
    this.#clients = deps.clients;
    this.#now = deps.now ?? performance.now.bind(performance);
    this.#map = deps.config.map;
    this.#breakers = new ShardBreakers(
      { ...deps.config.breaker, quietMs: deps.config.shardTimeoutMs },
      this.#now,
      deps.onBreakerChange,
    );
    this.#writes = new TableWrites(this.#shardAccess(), deps.wallClock ?? Date.now);
  }

  /** The machinery the writes share with the reads: this table's own map, breakers and deadline, not a copy. */
  #shardAccess(): ShardAccess {
    return {
      config: this.#config,
      clients: this.#clients,
      breakers: this.#breakers,
      now: this.#now,
      deadline: (time) => this.#deadline(time),
      left: (deadline) => this.#left(deadline),
      read: (shardId, statement, timeoutMs, parse) => this.#read(shardId, statement, timeoutMs, parse),
      withMap: (deadline, attempt) => this.#withMap(deadline, attempt),
      vouchUnowned: (map, id, deadline) => this.#vouchUnowned(map, id, deadline),
    };
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
  #deadline(time: RemainingTime): RequestDeadline {
    const { shardTimeoutMs, deadlineMarginMs } = this.#config;
    const timeoutMs =
      time.remainingMs === undefined
        ? shardTimeoutMs
        : Math.max(1, Math.min(shardTimeoutMs, time.remainingMs - deadlineMarginMs));
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
   * Each called shard may contribute the rows {@link rowsToAsk} gives it and is asked for one more, the proof that it
   * holds more; how a page and its `next` come out of the answers, failed shards included, is the paging contract
   * (paging.ts, {@link pageOf}).
   *
   * The ids of the bounds that no shard owns must be vouched for too (an assign may have given them to a shard this
   * instance has not heard of): every called shard checks them within its read (one answer is enough: no shard
   * vouches for an id once it has an owner that accepts writes), or, when the bounds meet no shard's ranges, the
   * lowest-id shard with ranges checks them alone.
   */
  async list(query: ListQuery, time: RemainingTime = {}): Promise<ListResult> {
    const deadline = this.#deadline(time);
    return this.#withMap(deadline, (map) => this.#listOnce(query, map, deadline));
  }

  /**
   * Runs `attempt` with the map in use and, each time shards refuse it as stale, again with the newer map they hand
   * over (at most {@link MAX_MAP_ROUNDS} more times, within the request's deadline). Returns the last attempt's result.
   */
  async #withMap<R>(deadline: RequestDeadline, attempt: MapAttempt<R>): Promise<R> {
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
    return {
      result: {
        ...pageOf(outcomes, asks, unowned, lower, map, query.limit),
        shards: outcomes.map((o) => toShardReport(o, (rows) => rows.length)),
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
    const shards = o ? [toShardReport(o, () => 0)] : [];
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
  async get(id: number, time: RemainingTime = {}): Promise<RowResult & { item: Row }> {
    const deadline = this.#deadline(time);
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
      const shards = [toShardReport(outcome, (rows) => rows.length)];
      return { result: { item, shard: owner, shards }, refusing: refusedBy([outcome]) };
    });
    if (item) return { item, shard, shards };
    if (shards.every((s) => s.status === "ok")) throw new RowAbsentError(id, shard, shards);
    const open = shards.find((s) => s.status === "unavailable");
    throw new RowUnknownError(id, shard, shards, open?.retryAfterMs);
  }

  /** Inserts a row; a `DuplicateIdError` when the id exists (the writes: table-writes.ts). */
  async create(
    row: { id: number; name: string },
    time: RemainingTime = {},
  ): Promise<RowResult & { item: Row }> {
    return this.#writes.create(row, time);
  }

  /** Replaces the name of an existing row; a `RowNotFoundError` when there is none. */
  async replace(id: number, name: string, time: RemainingTime = {}): Promise<RowResult & { item: Row }> {
    return this.#writes.replace(id, name, time);
  }

  /** Deletes a row; a `RowNotFoundError` when there is none. */
  async remove(id: number, time: RemainingTime = {}): Promise<Omit<RowResult, "item">> {
    return this.#writes.remove(id, time);
  }
}

/** The configured shards in their order, then any shard only the (newer) map names. */
function shardIds(config: AppConfig, map: ShardMap): number[] {
  const ids = config.shards.map((s) => s.id);
  for (const s of map.shards) if (!ids.includes(s.id)) ids.push(s.id);
  return ids;
}
