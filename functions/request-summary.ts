/**
 * What the app tells its observers about each request. It sits below app.ts, which makes it, so that the observers
 * (observability/metrics.ts, observability/tracing.ts) read it without importing the composition root that wires them.
 */
import type { ShardReport } from "./core/shard-report.js";

export interface RequestSummary {
  readonly method: string;
  readonly route: string;
  readonly status: number;
  readonly ms: number;
  readonly shards: readonly ShardReport[];
  readonly partial: boolean;
}
