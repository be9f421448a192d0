import type { Logger } from "@aws-lambda-powertools/logger";
import {
  DuplicateIdError,
  IdOutOfRangeError,
  RowAbsentError,
  RowNotFoundError,
  RowUnknownError,
  ShardUnavailableError,
} from "../core/errors.js";
import { errorResponse, retryAfter } from "./response.js";
import { type RouteResult, routeResult } from "./router.js";

/** A request the client can fix (a bad body, a bad parameter): the status is a 4xx and the message is safe to show. */
export class ClientError extends Error {
  override name = "ClientError";
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

/**
 * The answer to an error a route threw, with the shard reports the error carries: a client error becomes its 4xx; an
 * id no shard holds a 404 for a read (there is nothing there) and a 422 for a write (it cannot be stored); a duplicate
 * id a 409 and a missing row a 404; a point read whose shard did not answer a 503 (unknown is not absent); an
 * unconfirmed write a 503 that says whether it was applied; anything else is logged and answered with a generic 500
 * that reveals nothing. Only these messages reach clients.
 */
export function errorResult(err: unknown, method: string, logger: Logger): RouteResult {
  if (err instanceof ClientError) return routeResult(errorResponse(err.status, err.code, err.message));
  if (err instanceof IdOutOfRangeError) {
    return routeResult(
      errorResponse(method === "GET" ? 404 : 422, "id_out_of_range", err.message),
      err.shards,
    );
  }
  if (err instanceof DuplicateIdError)
    return routeResult(errorResponse(409, "duplicate_id", err.message), err.shards);
  if (err instanceof RowNotFoundError) {
    // A point read names the shard it asked, as its 503 below does: the client sees who said the row is absent.
    const fields = err instanceof RowAbsentError ? { shard: err.shard, shards: err.shards } : {};
    return routeResult(errorResponse(404, "not_found", err.message, {}, fields), err.shards);
  }
  if (err instanceof RowUnknownError) {
    const message = `id ${err.id} could not be read: shard ${err.shard} did not answer; retry later`;
    return shardUnavailable(err, message, { shard: err.shard, shards: err.shards });
  }
  if (err instanceof ShardUnavailableError) {
    logger.warn("write not confirmed", { shard: err.shard, reason: err.reason, outcome: err.outcome });
    const message =
      err.outcome === "not_applied"
        ? `shard ${err.shard} did not apply the write (${err.reason}); it was not applied and can be retried`
        : `shard ${err.shard} did not confirm the write (${err.reason}); it may or may not have been applied, and can no longer take effect: read the row before retrying`;
    return shardUnavailable(err, message, { outcome: err.outcome, shard: err.shard });
  }
  logger.error("unhandled error", err as Error);
  return routeResult(errorResponse(500, "internal_error", "internal server error"));
}

/**
 * The 503 of a read or a write whose shard did not answer: `retry-after` from an open breaker's cool-down (else one
 * second), the fields beside `error` that say which shard, and the shard's report for the log line and metrics.
 */
function shardUnavailable(
  err: RowUnknownError | ShardUnavailableError,
  message: string,
  fields: Record<string, unknown>,
): RouteResult {
  const response = errorResponse(503, "shard_unavailable", message, retryAfter(err.retryAfterMs), fields);
  return routeResult(response, err.shards);
}
