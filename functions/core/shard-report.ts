/**
 * A file of its own, below both shard-call.ts (which makes reports) and errors.ts (whose errors carry them): when it
 * lived in shard-call.ts, that file and errors.ts imported each other.
 */

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
