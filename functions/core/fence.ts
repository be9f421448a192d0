/**
 * The shard fence: each shard database knows which ids it owns at this moment (`sharding.fence`, created by
 * infra/fence-sql.ts) and every statement the function sends carries what it believes that shard owns. The shard
 * checks that belief inside the statement, with the statement's own snapshot, and refuses it with an SQL error when
 * it is wrong: so a shard never answers a read or applies a write for an id it does not own at that moment, whatever
 * map the caller holds. docs/architecture.md ("Growing the map online") gives the protocol and why each step is safe.
 *
 * This module holds what the function needs of it: the names, the refusals as the Data API reports them, and the
 * map as the shards store it.
 */
import { ConfigError } from "./errors.js";
import { createShardMap, type IdRange, type ShardMap } from "./shard-map.js";

/** The schema of the fence, beside the table in every shard database. */
export const FENCE_SCHEMA = "sharding";

/**
 * SQLSTATEs of the fence's refusals (class `SF` is not used by PostgreSQL). `SF001`: the caller's map is stale (the
 * shard does not own what it was asked for, or no longer vouches that an id is unowned): refresh and retry. `SF002`:
 * the id is frozen for writes while a move switches it to its new shard: nothing was written; retry shortly.
 */
export const STALE_MAP_STATE = "SF001";
export const FROZEN_STATE = "SF002";
/** SF003: a write reached its commit after the instant it had to commit by (write-sql.ts); it was rolled back. */
export const DEADLINE_STATE = "SF003";

export type FenceRefusal = "stale" | "frozen" | "late";

/**
 * Whether a failed call was a fence refusal. The Data API reports a failed statement as `DatabaseErrorException`
 * with the message `ERROR: <message>; SQLState: <state>` (AWS's rendering, which the local endpoint follows); the
 * statement was rolled back, so nothing it asked for took effect.
 */
export function fenceRefusal(err: unknown): FenceRefusal | undefined {
  if (!(err instanceof Error) || err.name !== "DatabaseErrorException") return undefined;
  if (err.message.endsWith(`SQLState: ${STALE_MAP_STATE}`)) return "stale";
  if (err.message.endsWith(`SQLState: ${FROZEN_STATE}`)) return "frozen";
  if (err.message.endsWith(`SQLState: ${DEADLINE_STATE}`)) return "late";
  return undefined;
}

/** A refusal, as a named error a shard call ends in (its name is what reports and logs show). */
export class ShardMapChangedError extends Error {
  override name = "ShardMapChanged";
}
export class RangeFrozenError extends Error {
  override name = "RangeFrozen";
}
/** The shard rolled a write back at COMMIT: it came after the instant it had to commit by. */
export class CommitDeadlineError extends Error {
  override name = "CommitDeadlinePassed";
}

/** The map as the shards store it (`sharding.fence.map`): a version and every shard's ranges. */
export interface VersionedMap {
  readonly version: number;
  readonly map: ShardMap;
}

/** The statement that reads a shard's stored map (the function's role may read the fence). */
export const READ_MAP_SQL = `SELECT version::int AS version, map::text AS map FROM ${FENCE_SCHEMA}.fence`;

/**
 * The stored map of a shard, from `READ_MAP_SQL`'s JSON result (`[{"version": 3, "map": {"shards": [...]}}]`).
 * Validated as strictly as the configured map: a shard that returns something else fails the refresh.
 */
export function parseStoredMap(formattedRecords: string | undefined): VersionedMap {
  let rows: unknown;
  try {
    rows = JSON.parse(formattedRecords ?? "");
  } catch {
    throw new ConfigError("stored shard map: not JSON");
  }
  const row = Array.isArray(rows) && rows.length === 1 ? (rows[0] as Record<string, unknown>) : undefined;
  const version = row?.version;
  if (typeof version !== "number" || !Number.isSafeInteger(version) || version < 0)
    throw new ConfigError("stored shard map: no version");
  // The Data API's JSON format returns a jsonb column as a string holding its JSON (AWS: "JSON data types ...
  // returned as strings"); accept an already parsed object too.
  let map = row?.map;
  if (typeof map === "string") map = JSON.parse(map);
  const shards = (map as { shards?: unknown } | null)?.shards;
  return { version, map: createShardMap(shards, "stored shard map") };
}

/** A multirange literal (`{[1,10],[31,40]}`, `{}` for none) of sorted, disjoint inclusive ranges. */
export function multirange(ranges: readonly IdRange[]): string {
  return `{${ranges.map(([start, end]) => `[${start},${end}]`).join(",")}}`;
}
