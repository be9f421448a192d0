import { Duration, Stack, Validations } from "aws-cdk-lib";
import type { HttpApi } from "aws-cdk-lib/aws-apigatewayv2";
import {
  Alarm,
  AlarmStatusWidget,
  ComparisonOperator,
  Dashboard,
  GraphWidget,
  type IMetric,
  Metric,
  TreatMissingData,
} from "aws-cdk-lib/aws-cloudwatch";
import { SnsAction } from "aws-cdk-lib/aws-cloudwatch-actions";
import type { IFunction } from "aws-cdk-lib/aws-lambda";
import { Topic } from "aws-cdk-lib/aws-sns";
import { EmailSubscription } from "aws-cdk-lib/aws-sns-subscriptions";
import { Construct, type IConstruct } from "constructs";
import { METRIC } from "../../functions/observability/metrics.js";
import type { ShardCluster } from "./shard-cluster.js";

export interface MonitoringProps {
  /** POWERTOOLS_METRICS_NAMESPACE and POWERTOOLS_SERVICE_NAME of the function (its custom metrics). */
  readonly namespace: string;
  readonly service: string;
  readonly shards: readonly ShardCluster[];
  readonly handler: IFunction;
  readonly functionTimeout: Duration;
  readonly reservedConcurrency: number;
  readonly api: HttpApi;
  /** The shard timeout: a p99 latency at or over it means requests are waiting for shards that do not answer. */
  readonly shardTimeoutMs: number;
  /** Each cluster's maximum ACUs, drawn on the capacity graph. */
  readonly maxCapacity: number;
  /** Subscribed to the alarm topic when given. */
  readonly alarmEmail?: string | undefined;
}

/** Fraction of the function's timeout at which its maximum duration raises an alarm. */
export const DURATION_ALARM_FRACTION = 0.8;
/** Average ACU utilization (% of the maximum capacity) over 15 minutes that counts as running at the maximum. */
export const MAX_CAPACITY_UTILIZATION_PERCENT = 90;

/**
 * Who hears about trouble, and where to look: one SNS topic that every alarm of the stack notifies (on ALARM and on
 * OK), optionally with an e-mail subscription; the alarms on what AWS measures around the function's own metrics (the
 * function's errors, throttles and duration near its timeout, the API's 5xx and latency, each cluster at its maximum
 * capacity); and one dashboard with the shards (latency, outcomes, breakers), the API, the function and the clusters.
 *
 * `attachActions` is called last, on the whole stack, so alarms created elsewhere (`ApiAlarms`) notify the topic too.
 */
export class Monitoring extends Construct {
  readonly topic: Topic;
  readonly dashboard: Dashboard;
  readonly alarms: Alarm[] = [];

  constructor(scope: Construct, id: string, props: MonitoringProps) {
    super(scope, id);
    this.topic = new Topic(this, "AlarmTopic", {
      displayName: "Sharded data API alarms",
      // Publishing and subscribing only over TLS (AwsSolutions-SNS3).
      enforceSSL: true,
    });
    Validations.of(this.topic).acknowledge({
      id: "AwsSolutions-SNS2",
      reason:
        "The topic carries alarm state changes (alarm names, metric values), no data. CloudWatch cannot publish to a topic encrypted with the AWS managed SNS key, only with a customer managed key whose policy admits CloudWatch ($1 a month per key); see docs/observability.md.",
    });
    if (props.alarmEmail) this.topic.addSubscription(new EmailSubscription(props.alarmEmail));

    const fiveMinutes = Duration.minutes(5);
    const fn = props.handler;
    const timeoutMs = props.functionTimeout.toMilliseconds();
    const alarm = (
      alarmId: string,
      metric: IMetric,
      threshold: number,
      description: string,
      evaluationPeriods = 1,
    ) => {
      const created = new Alarm(this, alarmId, {
        metric,
        threshold,
        evaluationPeriods,
        comparisonOperator: ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
        treatMissingData: TreatMissingData.NOT_BREACHING,
        alarmDescription: description,
      });
      this.alarms.push(created);
      return created;
    };

    alarm(
      "FunctionErrors",
      fn.metricErrors({ period: fiveMinutes, statistic: "Sum" }),
      1,
      "The function failed an invocation (crash, configuration rejected at cold start, or timeout): API Gateway answered 500 without CORS headers",
    );
    alarm(
      "FunctionThrottles",
      fn.metricThrottles({ period: fiveMinutes, statistic: "Sum" }),
      1,
      `Lambda throttled the function at its reserved concurrency (${props.reservedConcurrency || "unreserved"}): API Gateway answered 500`,
    );
    alarm(
      "FunctionDurationNearTimeout",
      fn.metricDuration({ period: fiveMinutes, statistic: "Maximum" }),
      Math.round(timeoutMs * DURATION_ALARM_FRACTION),
      `An invocation ran ${DURATION_ALARM_FRACTION * 100}% of the function's ${timeoutMs} ms timeout or longer`,
    );
    alarm(
      "ApiServerErrors",
      props.api.metricServerError({ period: fiveMinutes, statistic: "Sum" }),
      5,
      "5+ answers were 5xx in 5 minutes (the function's 503s and 500s, and API Gateway's own 500s)",
    );
    alarm(
      "ApiLatencyP99",
      props.api.metricLatency({ period: fiveMinutes, statistic: "p99" }),
      props.shardTimeoutMs,
      `The API's p99 latency stayed at or over the shard timeout (${props.shardTimeoutMs} ms) for 15 minutes: requests wait for shards that do not answer`,
      3,
    );
    for (const shard of props.shards) {
      alarm(
        `Shard${shard.shardId}AtMaxCapacity`,
        shard.cluster.metricACUUtilization({ period: fiveMinutes, statistic: "Average" }),
        MAX_CAPACITY_UTILIZATION_PERCENT,
        `Shard ${shard.shardId}'s cluster ran at ${MAX_CAPACITY_UTILIZATION_PERCENT}%+ of its maximum capacity (${props.maxCapacity} ACU) for 15 minutes`,
        3,
      );
    }

    this.dashboard = new Dashboard(this, "Dashboard", {
      dashboardName: `${Stack.of(this).stackName}-overview`,
      defaultInterval: Duration.hours(3),
    });
    const custom = (metricName: string, dims: Record<string, string>, statistic: string, label: string) =>
      new Metric({
        namespace: props.namespace,
        metricName,
        dimensionsMap: { service: props.service, ...dims },
        statistic,
        period: Duration.minutes(1),
        label,
      });
    const perShard = (metricName: string, statistic: string, suffix = "") =>
      props.shards.map((s) =>
        custom(metricName, { shard: String(s.shardId) }, statistic, `shard ${s.shardId}${suffix}`),
      );
    const wide = { width: 12, height: 6 };
    this.dashboard.addWidgets(
      new GraphWidget({
        title: "Per-shard latency (ms): p50 and p99",
        left: [
          ...perShard(METRIC.shardLatency, "p50", " p50"),
          ...perShard(METRIC.shardLatency, "p99", " p99"),
        ],
        leftAnnotations: [{ value: props.shardTimeoutMs, label: "shard timeout" }],
        ...wide,
      }),
      new GraphWidget({
        title: "Per-shard status: timeouts, errors, skipped by an open breaker",
        left: [
          ...perShard(METRIC.shardTimeouts, "Sum", " timeout"),
          ...perShard(METRIC.shardErrors, "Sum", " error"),
          ...perShard(METRIC.shardUnavailable, "Sum", " unavailable"),
        ],
        right: [custom(METRIC.partialResponses, {}, "Sum", "partial answers")],
        ...wide,
      }),
    );
    this.dashboard.addWidgets(
      new GraphWidget({
        title: "Circuit breakers: opened and closed (per shard)",
        left: [
          ...perShard(METRIC.breakerOpened, "Sum", " opened"),
          ...perShard(METRIC.breakerClosed, "Sum", " closed"),
        ],
        ...wide,
      }),
      new GraphWidget({
        title: "API: requests, 4xx, 5xx",
        left: [
          props.api.metricCount({ period: Duration.minutes(1), statistic: "Sum", label: "requests" }),
          props.api.metricClientError({ period: Duration.minutes(1), statistic: "Sum", label: "4xx" }),
          props.api.metricServerError({ period: Duration.minutes(1), statistic: "Sum", label: "5xx" }),
        ],
        ...wide,
      }),
    );
    this.dashboard.addWidgets(
      new GraphWidget({
        title: "API latency (ms): total and integration, p50 / p99",
        left: [
          props.api.metricLatency({ period: Duration.minutes(1), statistic: "p50", label: "latency p50" }),
          props.api.metricLatency({ period: Duration.minutes(1), statistic: "p99", label: "latency p99" }),
          props.api.metricIntegrationLatency({
            period: Duration.minutes(1),
            statistic: "p99",
            label: "integration p99",
          }),
          custom(METRIC.requestLatency, {}, "p99", "function's request p99"),
        ],
        ...wide,
      }),
      new GraphWidget({
        title: "Function: invocations, errors, throttles, concurrency",
        left: [
          fn.metricInvocations({ period: Duration.minutes(1), statistic: "Sum", label: "invocations" }),
          fn.metricErrors({ period: Duration.minutes(1), statistic: "Sum", label: "errors" }),
          fn.metricThrottles({ period: Duration.minutes(1), statistic: "Sum", label: "throttles" }),
        ],
        right: [
          fn.metric("ConcurrentExecutions", {
            period: Duration.minutes(1),
            statistic: "Maximum",
            label: "concurrent executions",
          }),
        ],
        ...(props.reservedConcurrency > 0
          ? { rightAnnotations: [{ value: props.reservedConcurrency, label: "reserved concurrency" }] }
          : {}),
        ...wide,
      }),
    );
    this.dashboard.addWidgets(
      new GraphWidget({
        title: "Function duration (ms): p99 and maximum",
        left: [
          fn.metricDuration({ period: Duration.minutes(1), statistic: "p99", label: "p99" }),
          fn.metricDuration({ period: Duration.minutes(1), statistic: "Maximum", label: "max" }),
        ],
        leftAnnotations: [{ value: timeoutMs, label: "timeout" }],
        ...wide,
      }),
      new GraphWidget({
        title: "Clusters: capacity (ACU) and utilization of the maximum (%)",
        left: props.shards.map((s) =>
          s.cluster.metricServerlessDatabaseCapacity({
            period: Duration.minutes(1),
            statistic: "Maximum",
            label: `shard ${s.shardId} ACU`,
          }),
        ),
        leftAnnotations: [{ value: props.maxCapacity, label: "max ACU" }],
        right: props.shards.map((s) =>
          s.cluster.metricACUUtilization({
            period: Duration.minutes(1),
            statistic: "Maximum",
            label: `shard ${s.shardId} %`,
          }),
        ),
        ...wide,
      }),
    );
    this.dashboard.addWidgets(
      new GraphWidget({
        title: "Clusters: CPU (%) and connections",
        left: props.shards.map((s) =>
          s.cluster.metricCPUUtilization({
            period: Duration.minutes(1),
            statistic: "Maximum",
            label: `shard ${s.shardId} CPU`,
          }),
        ),
        right: props.shards.map((s) =>
          s.cluster.metricDatabaseConnections({
            period: Duration.minutes(1),
            statistic: "Maximum",
            label: `shard ${s.shardId} connections`,
          }),
        ),
        width: 24,
        height: 6,
      }),
    );
  }

  /**
   * Sends every alarm under `scope` (the whole stack) to the topic, on ALARM and on OK, and lists them all on the
   * dashboard's alarm widget. Call it once everything is built.
   */
  attachActions(scope: IConstruct): Alarm[] {
    const action = new SnsAction(this.topic);
    const all = scope.node.findAll().filter((c): c is Alarm => c instanceof Alarm);
    for (const a of all) {
      a.addAlarmAction(action);
      a.addOkAction(action);
    }
    this.dashboard.addWidgets(
      new AlarmStatusWidget({ title: "Every alarm of the stack", alarms: all, width: 24, height: 4 }),
    );
    return all;
  }
}
