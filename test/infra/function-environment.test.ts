import { App } from "aws-cdk-lib";
import { describe, expect, it } from "vitest";
import { loadConfig } from "../../functions/core/config.js";
import { readSettings } from "../../infra/context.js";
import {
  environmentBytes,
  functionEnvironment,
  LAMBDA_ENVIRONMENT_LIMIT_BYTES,
  shardEntries,
  validateFunctionEnvironment,
} from "../../infra/function-environment.js";

const settingsFor = (context: Record<string, unknown> = {}) => readSettings(new App({ context }).node);
const arnsFor = (id: number) => ({
  resourceArn: `arn:aws:rds:eu-west-1:123456789012:cluster:shard-${id}`,
  secretArn: `arn:aws:secretsmanager:eu-west-1:123456789012:secret:shard-${id}-AbCdEf`,
  database: `shard${id}`,
});

describe("the function environment", () => {
  it("carries the shard map with each cluster's coordinates, in the shape the function parses", () => {
    const settings = settingsFor();
    const env = functionEnvironment(settings, JSON.stringify(shardEntries(settings.shardMap, arnsFor)));
    const config = loadConfig(env);
    expect(config.shards).toEqual([
      {
        id: 1,
        ranges: [
          [1, 10],
          [31, 40],
        ],
        ...arnsFor(1),
      },
      {
        id: 2,
        ranges: [
          [11, 20],
          [41, 50],
        ],
        ...arnsFor(2),
      },
      {
        id: 3,
        ranges: [
          [21, 30],
          [51, 60],
        ],
        ...arnsFor(3),
      },
    ]);
    expect(config).toMatchObject({
      tableName: "data_1",
      shardTimeoutMs: 2000,
      deadlineMarginMs: 250,
      maxAttempts: 2,
      breaker: { failureThreshold: 3, cooldownMs: 5000 },
    });
  });

  it("passes the timeouts and the Powertools settings through as strings", () => {
    const env = functionEnvironment(settingsFor({ shardTimeoutMs: "1500", logLevel: "debug" }), "[]");
    expect(env).toMatchObject({
      SHARD_TIMEOUT_MS: "1500",
      LOG_LEVEL: "DEBUG",
      POWERTOOLS_SERVICE_NAME: "sharded-data-api",
      POWERTOOLS_METRICS_NAMESPACE: "ShardedDataApi",
    });
  });

  it("is checked at synth against the function's loader and Lambda's 4 KB limit", () => {
    const settings = settingsFor();
    expect(() => validateFunctionEnvironment(settings)).not.toThrow();
    const env = functionEnvironment(settings, JSON.stringify(shardEntries(settings.shardMap, arnsFor)));
    expect(environmentBytes(env)).toBeLessThan(LAMBDA_ENVIRONMENT_LIMIT_BYTES);
  });
});
