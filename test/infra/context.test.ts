import { App } from "aws-cdk-lib";
import { describe, expect, it } from "vitest";
import { ConfigError } from "../../functions/core/errors.js";
import { DEFAULT_SHARD_RANGES } from "../../functions/core/shard-map.js";
import { readSettings } from "../../infra/context.js";

const settingsFor = (context: Record<string, unknown> = {}) => readSettings(new App({ context }).node);

describe("deploy settings from CDK context", () => {
  it("default to a production-safe deployment of the default shard map", () => {
    const settings = settingsFor();
    expect(settings).toMatchObject({
      stackName: "ShardedDataApi",
      demo: false,
      minCapacity: 0.5,
      maxCapacity: 2,
      deletionProtection: true,
      removalPolicy: "snapshot",
      seedSampleRows: false,
      tableName: "data_1",
      shardTimeoutMs: 2000,
      deadlineMarginMs: 250,
      shardMaxAttempts: 2,
      breakerFailureThreshold: 3,
      breakerCooldownMs: 5000,
      functionTimeoutSeconds: 10,
      functionMemoryMb: 512,
      throttleRateLimit: 50,
      throttleBurstLimit: 100,
      requireIamForReads: false,
      logRetention: 30,
      logLevel: "INFO",
    });
    expect(settings.shardMap.shards).toEqual(DEFAULT_SHARD_RANGES);
  });

  it("switch to a cheap, disposable deployment with demo=true", () => {
    expect(settingsFor({ demo: "true" })).toMatchObject({
      minCapacity: 0,
      deletionProtection: false,
      removalPolicy: "destroy",
      seedSampleRows: true,
    });
  });

  it("read the strings of -c key=value and the JSON values of cdk.json alike", () => {
    const fromCli = settingsFor({ minCapacity: "1.5", requireIamForReads: "true", removalPolicy: "RETAIN" });
    const fromJson = settingsFor({ minCapacity: 1.5, requireIamForReads: true, removalPolicy: "retain" });
    expect(fromCli).toMatchObject({ minCapacity: 1.5, requireIamForReads: true, removalPolicy: "retain" });
    expect(fromJson).toMatchObject({ minCapacity: 1.5, requireIamForReads: true, removalPolicy: "retain" });
  });

  it("take the shard map as JSON text or as an array", () => {
    const map = [{ id: 7, ranges: [[1, 5]] }];
    expect(settingsFor({ shardMap: JSON.stringify(map) }).shardMap.shards).toEqual(map);
    expect(settingsFor({ shardMap: map }).shardMap.shards).toEqual(map);
  });

  it("reject a bad value with a ConfigError that names the key", () => {
    expect(() => settingsFor({ demo: "yes" })).toThrow(ConfigError);
    expect(() => settingsFor({ demo: "yes" })).toThrow(/^context demo: expected true or false, got "yes"$/);
    expect(() => settingsFor({ shardMap: [{ id: 1, ranges: [[9, 1]] }] })).toThrow(
      /context shardMap\[0\]\.ranges\[0\]: start 9 > end 1/,
    );
    expect(() => settingsFor({ stackName: "1-bad" })).toThrow(/context stackName/);
    expect(() => settingsFor({ throttleRateLimit: "fast" })).toThrow(/context throttleRateLimit/);
    expect(() => settingsFor({ logLevel: "LOUD" })).toThrow(/context logLevel/);
  });

  it("refuse a function timeout that a slow shard plus the margin could outlast", () => {
    expect(() => settingsFor({ shardTimeoutMs: "9800", functionTimeoutSeconds: "10" })).toThrow(
      /context functionTimeoutSeconds: 10 s must exceed shardTimeoutMs \+ deadlineMarginMs \(9800 \+ 250 ms\)/,
    );
    expect(settingsFor({ shardTimeoutMs: "9700", functionTimeoutSeconds: "10" }).shardTimeoutMs).toBe(9700);
  });
});
