import { ROUTE_TABLE } from "../functions/http/route-table.js";

/**
 * How much of the account's Lambda concurrency the API function reserves, derived from the two things that bound
 * what it can usefully do: the HTTP API's throttle and the shard clusters' capacity.
 *
 * - **The throttle.** HTTP APIs apply the stage's default throttle to each route separately: `DefaultRouteSettings`
 *   are "the default route settings for the stage", and a route's own settings override them ("Throttle requests to
 *   your HTTP APIs for better throughput in API Gateway", API Gateway Developer Guide,
 *   https://docs.aws.amazon.com/apigateway/latest/developerguide/http-api-throttling.html). So the API as a whole can
 *   take `throttleRateLimit` requests per second on every route (the route table's routes and `$default`). By
 *   Little's law an invocation is in flight for as long as it runs, at most a shard timeout plus the margin the handler
 *   keeps to answer in (a hung shard; the breaker then stops waiting for it), so the throttle never needs more than
 *   `routes × rate × (shardTimeoutMs + deadlineMarginMs) / 1000` concurrent invocations.
 * - **The clusters.** Each invocation has at most one Data API statement in flight per cluster (a read scatters one
 *   call per shard, a write one), so the function's concurrency is also the most statements a cluster may be asked to
 *   run at once. `SHARD_CALLS_PER_ACU` concurrent statements per ACU of the clusters' maximum capacity is our budget
 *   (not an AWS figure): an ACU is about 2 GiB of memory "and corresponding CPU and networking" ("How Aurora
 *   Serverless v2 works", Aurora User Guide), and the default clusters (2 ACU) admit a few hundred connections but
 *   have a fraction of that in CPU. Raise it with `-c reservedConcurrency=N` after a load test: the alarm on a cluster
 *   at its maximum capacity says when the clusters, not the function, are the limit.
 *
 * The smaller of the two wins. Requests beyond it are throttled by Lambda, which API Gateway answers with its own
 * `500 {"message":"Internal Server Error"}` (docs/api.md), instead of piling onto clusters that cannot take them and
 * drawing down the concurrency every other function in the account shares.
 */
export const SHARD_CALLS_PER_ACU = 25;

/** Routes the stage throttles separately: the route table's and `$default`. */
export const THROTTLED_ROUTES = ROUTE_TABLE.length + 1;

export interface ConcurrencyInputs {
  readonly throttleRateLimit: number;
  readonly shardTimeoutMs: number;
  readonly deadlineMarginMs: number;
  readonly maxCapacity: number;
}

/** The most requests per second the stage's throttle lets through, across all routes. */
export function stageRateCeiling(s: Pick<ConcurrencyInputs, "throttleRateLimit">): number {
  return s.throttleRateLimit * THROTTLED_ROUTES;
}

/** The concurrency the throttle can use, and the one the clusters can take; the reservation is the smaller. */
export function concurrencyBounds(s: ConcurrencyInputs): { throttle: number; clusters: number } {
  const seconds = (s.shardTimeoutMs + s.deadlineMarginMs) / 1000;
  return {
    throttle: Math.ceil(stageRateCeiling(s) * seconds),
    clusters: Math.max(1, Math.floor(s.maxCapacity * SHARD_CALLS_PER_ACU)),
  };
}

export function derivedReservedConcurrency(s: ConcurrencyInputs): number {
  const { throttle, clusters } = concurrencyBounds(s);
  return Math.min(throttle, clusters);
}
