import { Metrics, MetricUnit } from "@aws-lambda-powertools/metrics";
import type { RequestSummary } from "../app.js";

/** Metric names, shared with the CDK stack's alarms. */
export const METRIC = {
  shardLatency: "ShardLatency",
  shardTimeouts: "ShardTimeouts",
  shardErrors: "ShardErrors",
  partialResponses: "PartialResponses",
  requestLatency: "RequestLatency",
} as const;

/**
 * Turns each request's summary into CloudWatch metrics (EMF log lines, no API calls): per shard its latency and
 * whether it timed out or failed, with the dimension `shard`; per request whether the answer was partial. EMF gives
 * all metrics of one line the same dimensions, so each shard has its own `Metrics` with a default `shard` dimension,
 * created once per process on first use.
 *
 * Namespace and service come from POWERTOOLS_METRICS_NAMESPACE and POWERTOOLS_SERVICE_NAME.
 */
export function createMetricsObserver(): (summary: RequestSummary) => void {
  const request = new Metrics();
  const perShard = new Map<number, Metrics>();
  const shardMetrics = (shard: number) => {
    let metrics = perShard.get(shard);
    if (!metrics) {
      metrics = new Metrics({ defaultDimensions: { shard: String(shard) } });
      perShard.set(shard, metrics);
    }
    return metrics;
  };
  return (summary) => {
    // Health checks and rejected requests touch no shard: nothing to say about the shards.
    if (summary.shards.length === 0) return;
    for (const report of summary.shards) {
      if (report.status === "skipped") continue;
      const metrics = shardMetrics(report.shard);
      metrics.addMetric(METRIC.shardLatency, MetricUnit.Milliseconds, report.ms);
      metrics.addMetric(METRIC.shardTimeouts, MetricUnit.Count, report.status === "timeout" ? 1 : 0);
      metrics.addMetric(METRIC.shardErrors, MetricUnit.Count, report.status === "error" ? 1 : 0);
      metrics.publishStoredMetrics();
    }
    request.addMetric(METRIC.partialResponses, MetricUnit.Count, summary.partial ? 1 : 0);
    request.addMetric(METRIC.requestLatency, MetricUnit.Milliseconds, summary.ms);
    request.publishStoredMetrics();
  };
}
