import { Duration } from "aws-cdk-lib";
import { Alarm, ComparisonOperator, Metric, TreatMissingData } from "aws-cdk-lib/aws-cloudwatch";
import { Construct } from "constructs";
import { METRIC } from "../../functions/observability/metrics.js";

export interface ApiAlarmsProps {
  /** POWERTOOLS_METRICS_NAMESPACE of the function. */
  readonly namespace: string;
  /** POWERTOOLS_SERVICE_NAME of the function: Powertools adds it as the `service` dimension. */
  readonly service: string;
  readonly shardIds: readonly number[];
  /** Partial answers, shard timeouts or shard errors within one period that raise an alarm. Default: 5. */
  readonly threshold?: number;
  /** Default: 5 minutes. */
  readonly period?: Duration;
}

/**
 * Alarms on the function's own metrics (EMF, written by functions/observability/metrics.ts): too many partial
 * answers overall, and per shard too many timeouts or too many errors. Both per-shard alarms are needed: an
 * overloaded or hung cluster shows as `timeout`, but a paused (DatabaseResumingException), unreachable or refusing
 * one shows as `error`, and an alarm on timeouts alone never sees it. The stack's `Monitoring` sends them, with every
 * other alarm, to its SNS topic.
 */
export class ApiAlarms extends Construct {
  readonly partialResponses: Alarm;
  readonly shardTimeouts: ReadonlyMap<number, Alarm>;
  readonly shardErrors: ReadonlyMap<number, Alarm>;

  constructor(scope: Construct, id: string, props: ApiAlarmsProps) {
    super(scope, id);
    const threshold = props.threshold ?? 5;
    const period = props.period ?? Duration.minutes(5);
    const metric = (metricName: string, dimensionsMap: Record<string, string>) =>
      new Metric({ namespace: props.namespace, metricName, dimensionsMap, statistic: "Sum", period });
    const alarm = (alarmId: string, m: Metric, description: string) =>
      new Alarm(this, alarmId, {
        metric: m,
        threshold,
        evaluationPeriods: 1,
        comparisonOperator: ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
        // No traffic is not a failure.
        treatMissingData: TreatMissingData.NOT_BREACHING,
        alarmDescription: description,
      });

    this.partialResponses = alarm(
      "PartialResponses",
      metric(METRIC.partialResponses, { service: props.service }),
      `${threshold}+ answers in ${period.toHumanString()} were missing at least one shard's rows`,
    );
    this.shardTimeouts = new Map(
      props.shardIds.map((shard) => [
        shard,
        alarm(
          `Shard${shard}Timeouts`,
          metric(METRIC.shardTimeouts, { service: props.service, shard: String(shard) }),
          `shard ${shard} timed out ${threshold}+ times in ${period.toHumanString()}`,
        ),
      ]),
    );
    this.shardErrors = new Map(
      props.shardIds.map((shard) => [
        shard,
        alarm(
          `Shard${shard}Errors`,
          metric(METRIC.shardErrors, { service: props.service, shard: String(shard) }),
          `shard ${shard} failed ${threshold}+ calls in ${period.toHumanString()} (paused, unreachable or erroring)`,
        ),
      ]),
    );
  }
}
