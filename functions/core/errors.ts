import type { ShardReport } from "./shard-report.js";

/**
 * Named errors of the core. They say what went wrong in the table's terms and never choose an HTTP status: http/
 * maps them to answers (http/errors.ts). Errors a write or read raises after its shard answered carry that shard's
 * report (`shards`), so the request's log line and metrics say what the shard did whatever the answer.
 */

/** Configuration is missing or invalid; thrown once at start so a bad deploy fails fast and says which field. */
export class ConfigError extends Error {
  override name = "ConfigError";
}

/**
 * A call on the table that did not do what was asked, said in the table's terms. `shards` is what the shards it
 * called did (none for an id no shard holds), for the request's log line and metrics.
 */
export class TableError extends Error {
  constructor(
    message: string,
    readonly shards: readonly ShardReport[] = [],
  ) {
    super(message);
  }
}

/** No shard's ranges hold the id: nothing was called. */
export class IdOutOfRangeError extends TableError {
  override name = "IdOutOfRangeError";
}

/** A create whose id already exists: the owning shard answered in time and inserted nothing. */
export class DuplicateIdError extends TableError {
  override name = "DuplicateIdError";
}

/** A replace or delete of an id that has no row: the owning shard answered in time and changed nothing. */
export class RowNotFoundError extends TableError {
  override name = "RowNotFoundError";
}

/** A shard did not answer before its deadline. */
export class ShardTimeoutError extends Error {
  override name = "ShardTimeoutError";
  constructor(
    readonly shard: number,
    readonly timeoutMs: number,
  ) {
    super(`shard ${shard} did not answer within ${timeoutMs} ms`);
  }
}

/** A shard answered with something that is not the result set we asked for. */
export class MalformedResultError extends Error {
  override name = "MalformedResultError";
}

/**
 * What is known about a write its shard did not confirm: `not_applied` only when it provably never reached the
 * database or the database provably did nothing (connection refused, its deadline passed before sending, or the
 * statement itself answered that it ran too late); `unknown` otherwise. Either way it can no longer take effect
 * once the error is answered (see `write-deadline.ts`).
 */
export type WriteOutcome = "not_applied" | "unknown";

/** A write could not be confirmed by its owning shard; `shards` holds its one report (the refused or failed call). */
export class ShardUnavailableError extends TableError {
  override name = "ShardUnavailableError";
  constructor(
    readonly shard: number,
    readonly reason: string,
    readonly outcome: WriteOutcome,
    shards: readonly ShardReport[],
    /** How long until the shard is worth trying again (an open circuit breaker's remaining cool-down). */
    readonly retryAfterMs?: number,
  ) {
    super(`shard ${shard} is unavailable: ${reason}`, shards);
  }
}

/**
 * A point read of an id whose owning shard answered without the row: the row is absent, not merely unknown. A
 * {@link RowNotFoundError} that also names the shard asked, which the read's answer shows beside `shards`.
 */
export class RowAbsentError extends RowNotFoundError {
  override name = "RowAbsentError";
  constructor(
    readonly id: number,
    readonly shard: number,
    shards: readonly ShardReport[],
  ) {
    super(`id ${id} does not exist`, shards);
  }
}

/**
 * A point read whose owning shard did not answer (it failed, timed out, or its circuit breaker is open): whether the
 * row exists is unknown, so it must not be answered as absent. For an id no shard owns, `shard` is the one that was
 * asked to vouch for it. `retryAfterMs` is an open breaker's remaining cool-down.
 */
export class RowUnknownError extends TableError {
  override name = "RowUnknownError";
  constructor(
    readonly id: number,
    readonly shard: number,
    shards: readonly ShardReport[],
    readonly retryAfterMs?: number,
  ) {
    super(`id ${id} could not be read: shard ${shard} did not answer`, shards);
  }
}
