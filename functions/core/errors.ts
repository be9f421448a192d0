/**
 * Named errors. Only {@link ClientError}s carry messages meant for API clients; everything else is logged and
 * answered with a generic message, so internal details never reach a response.
 */

/** Configuration is missing or invalid; thrown once at start so a bad deploy fails fast and says which field. */
export class ConfigError extends Error {
  override name = "ConfigError";
}

/** A request the client can fix: the status is a 4xx and the message is safe to show. */
export class ClientError extends Error {
  override name = "ClientError";
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    options?: ErrorOptions,
  ) {
    super(message, options);
  }
}

/** A shard did not answer before its deadline. */
export class ShardTimeoutError extends Error {
  override name = "ShardTimeoutError";
  constructor(
    readonly shard: number,
    readonly timeoutMs: number,
    options?: ErrorOptions,
  ) {
    super(`shard ${shard} did not answer within ${timeoutMs} ms`, options);
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
 * once the 503 is answered (see `write-deadline.ts`).
 */
export type WriteOutcome = "not_applied" | "unknown";

/** A write could not be confirmed by its owning shard (answered as 503). */
export class ShardUnavailableError extends Error {
  override name = "ShardUnavailableError";
  constructor(
    readonly shard: number,
    readonly reason: string,
    readonly outcome: WriteOutcome = "unknown",
    /** How long until the shard is worth trying again (an open circuit breaker's remaining cool-down). */
    readonly retryAfterMs?: number,
    options?: ErrorOptions,
  ) {
    super(`shard ${shard} is unavailable: ${reason}`, options);
  }
}
