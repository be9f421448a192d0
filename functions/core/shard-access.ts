/**
 * What the table's reads and writes share about calling shards: the request's one deadline, the map in use and how
 * it is refreshed, fenced reads behind the circuit breakers. ShardedTable (sharded-table.ts) owns all of it and hands
 * the writes (table-writes.ts) this small interface instead of a copy, so both always see the same map and breakers.
 */
import type { CallResult, ShardBreakers } from "./circuit-breaker.js";
import type { AppConfig } from "./config.js";
import type { execute, ShardClients } from "./data-api.js";
import { CommitDeadlineError, fenceRefusal, RangeFrozenError, ShardMapChangedError } from "./fence.js";
import type { Row } from "./row.js";
import type { Clock, ShardOutcome, ShardReport } from "./shard-call.js";
import type { ShardMap } from "./shard-map.js";
import type { Statement } from "./sql.js";

/**
 * The time one request has: `remainingMs` is the Lambda's remaining time, of which the table keeps a margin to
 * answer, so a slow shard never turns into a Lambda timeout (unset: the shard timeout alone bounds the request).
 */
export type RemainingTime = { readonly remainingMs?: number };

/** A request's deadline: its timeout, and the instant it ends once its first call started. */
export interface RequestDeadline {
  readonly timeoutMs: number;
  at?: number;
}

/**
 * What a call on one row came to: the row, its owning shard, and what that shard did. `item` is null only inside a
 * read's map attempt (absent, or its shard failed), which `get` then throws as a RowAbsentError or RowUnknownError.
 */
export interface RowResult {
  readonly item: Row | null;
  readonly shard: number;
  readonly shards: ShardReport[];
}

/** An attempt of a request with one map: its result, and the shards that refused the map as stale. */
export type MapAttempt<R> = (map: ShardMap) => Promise<{ result: R; refusing: number[] }>;

/** The shard machinery of one table that its writes use; ShardedTable implements it over its private state. */
export interface ShardAccess {
  readonly config: AppConfig;
  readonly clients: ShardClients;
  readonly breakers: ShardBreakers;
  readonly now: Clock;
  /** The request's one deadline for the time it has. */
  deadline(time: RemainingTime): RequestDeadline;
  /** What is left of the request's deadline for a call starting now (the first call starts the clock). */
  left(deadline: RequestDeadline): number;
  /** One fenced read on one shard behind its circuit breaker (a read may be the breaker's probe). */
  read<T>(
    shardId: number,
    statement: Statement,
    timeoutMs: number,
    parse: (out: Awaited<ReturnType<typeof execute>>) => T,
  ): Promise<ShardOutcome<T>>;
  /** Runs `attempt` with the map in use, again with each newer map refusing shards hand over; the last result. */
  withMap<R>(deadline: RequestDeadline, attempt: MapAttempt<R>): Promise<R>;
  /** Asks a shard to vouch that `id` has no owner: an IdOutOfRangeError when it does; else what that shard did. */
  vouchUnowned(
    map: ShardMap,
    id: number,
    deadline: RequestDeadline,
  ): Promise<{ shard: number; shards: ShardReport[]; refusing: number[] }>;
}

/** A shard the map names but the function has no Data API coordinates for (deployed before it was added). */
export class ShardNotConfiguredError extends Error {
  override name = "ShardNotConfigured";
}

/** Failures that are answers: the shard is up and refused the call on purpose, so its circuit breaker stays closed. */
const REFUSALS = new Set(["ShardMapChanged", "RangeFrozen"]);

/** What the circuit breaker learns from a call: any answer means the shard is up. */
export function breakerResult(o: ShardOutcome<unknown>): CallResult {
  if (o.status === "timeout") return { ok: false, failure: "timeout" };
  if (o.status === "error" && !REFUSALS.has(o.error)) return { ok: false, failure: o.error };
  return { ok: true };
}

/** The shards whose fence refused a call because the caller's map is stale. */
export function refusedBy(outcomes: readonly ShardOutcome<unknown>[]): number[] {
  return outcomes.filter((o) => o.status === "error" && o.error === "ShardMapChanged").map((o) => o.shard);
}

/** A call's result, with the fence's refusals as named errors (fence.ts) instead of a generic database error. */
export async function fenced<T>(call: Promise<T>): Promise<T> {
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
