/**
 * What one shard call came to. Partial failure is data: every call ends in exactly one of these, and nothing
 * throws past the scatter-gather (the same idea as Elasticsearch's `_shards` section of a search response).
 */
export type ShardOutcome<T> =
  | { readonly shard: number; readonly status: "ok"; readonly value: T; readonly ms: number }
  | { readonly shard: number; readonly status: "timeout"; readonly ms: number }
  | { readonly shard: number; readonly status: "error"; readonly error: string; readonly ms: number }
  | { readonly shard: number; readonly status: "skipped" }
  /** Not called: its circuit breaker is open (circuit-breaker.ts); `lastFailure` is what opened it. */
  | {
      readonly shard: number;
      readonly status: "unavailable";
      readonly lastFailure: string;
      readonly retryAfterMs: number;
    };

/** The per-shard summary clients see in `shards`: no rows, no internals, just what happened and how long it took. */
export type ShardReport =
  | { shard: number; status: "ok"; count: number; ms: number }
  | { shard: number; status: "timeout"; ms: number }
  | { shard: number; status: "error"; error: string; ms: number }
  | { shard: number; status: "skipped" }
  | {
      shard: number;
      status: "unavailable";
      reason: "circuit_open";
      lastFailure: string;
      retryAfterMs: number;
    };

/** A failure a client should know about: a shard that could hold matching rows and did not deliver them. */
export function isFailure(o: { readonly status: ShardOutcome<unknown>["status"] }): boolean {
  return o.status === "timeout" || o.status === "error" || o.status === "unavailable";
}

export function report<T>(o: ShardOutcome<T>, count: (value: T) => number): ShardReport {
  switch (o.status) {
    case "ok":
      return { shard: o.shard, status: "ok", count: count(o.value), ms: o.ms };
    case "timeout":
      return { shard: o.shard, status: "timeout", ms: o.ms };
    case "error":
      return { shard: o.shard, status: "error", error: o.error, ms: o.ms };
    case "skipped":
      return { shard: o.shard, status: "skipped" };
    case "unavailable":
      return {
        shard: o.shard,
        status: "unavailable",
        reason: "circuit_open",
        lastFailure: o.lastFailure,
        retryAfterMs: o.retryAfterMs,
      };
  }
}
