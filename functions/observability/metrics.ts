import { Metrics, MetricUnit } from "@aws-lambda-powertools/metrics";
import type { BreakerChange } from "../core/circuit-breaker.js";
import type { RequestSummary } from "../request-summary.js";

/** Metric names, shared with the CDK stack's alarms. */
export const METRIC = {
  shardLatency: "ShardLatency",
  shardTimeouts: "ShardTimeouts",
  shardErrors: "ShardErrors",
  /** A call not made because the shard's circuit breaker was open. */
  shardUnavailable: "ShardUnavailable",
  /** A shard's circuit breaker opened (or reopened after a failed probe). */
  breakerOpened: "BreakerOpened",
  /** A shard's circuit breaker closed: the shard answered again. */
  breakerClosed: "BreakerClosed",
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
  const shardMetrics = perShardMetrics();
  return (summary) => {
    // Health checks and rejected requests touch no shard: nothing to say about the shards.
    if (summary.shards.length === 0) return;
    for (const report of summary.shards) {
      if (report.status === "skipped") continue;
      const metrics = shardMetrics(report.shard);
      if (report.status === "unavailable") {
        metrics.addMetric(METRIC.shardUnavailable, MetricUnit.Count, 1);
        metrics.publishStoredMetrics();
        continue;
      }
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

/** One `Metrics` per shard with a default `shard` dimension, created on first use. */
function perShardMetrics(): (shard: number) => Metrics {
  const perShard = new Map<number, Metrics>();
  return (shard) => {
    let metrics = perShard.get(shard);
    if (!metrics) {
      metrics = new Metrics({ defaultDimensions: { shard: String(shard) } });
      perShard.set(shard, metrics);
    }
    return metrics;
  };
}

/** Counts each state change of a shard's circuit breaker that matters to an operator: opened, closed. */
export function createBreakerMetrics(): (change: BreakerChange) => void {
  const shardMetrics = perShardMetrics();
  return (change) => {
    if (change.to === "half_open") return;
    const metrics = shardMetrics(change.shard);
    metrics.addMetric(
      change.to === "open" ? METRIC.breakerOpened : METRIC.breakerClosed,
      MetricUnit.Count,
      1,
    );
    metrics.publishStoredMetrics();
  };
}
