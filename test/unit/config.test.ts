import { describe, expect, it } from "vitest";
import { DEFAULTS, loadConfig, parseShards } from "../../functions/core/config.js";
import { ConfigError } from "../../functions/core/errors.js";
import { ARN_1, ARN_2, type RawShard, rawShards, shardSecretArn, testEnv } from "../helpers/fixtures.js";

const withShard1 = (patch: Partial<RawShard> | Record<string, unknown>) =>
  testEnv({ SHARDS: JSON.stringify(rawShards({ 1: patch as Partial<RawShard> })) });

describe("loadConfig", () => {
  it("reads the shards and applies the documented defaults", () => {
    const config = loadConfig(testEnv());
    expect(config.shards).toEqual([
      {
        id: 1,
        ranges: [
          [1, 10],
          [31, 40],
        ],
        resourceArn: ARN_1,
        secretArn: shardSecretArn(1),
        database: "app",
      },
      expect.objectContaining({ id: 2, resourceArn: ARN_2 }),
      expect.objectContaining({ id: 3 }),
    ]);
    expect(config).toMatchObject({
      tableName: "data_1",
      shardTimeoutMs: 2000,
      deadlineMarginMs: 250,
      maxAttempts: 2,
      breaker: { failureThreshold: 3, cooldownMs: 5000 },
      region: "us-east-1",
    });
    expect(DEFAULTS).toEqual({
      tableName: "data_1",
      shardTimeoutMs: 2000,
      deadlineMarginMs: 250,
      maxAttempts: 2,
      breakerFailureThreshold: 3,
      breakerCooldownMs: 5000,
      region: "us-east-1",
    });
  });

  it("builds the shard map from the same shards", () => {
    const config = loadConfig(testEnv());
    expect(config.map.ownerOf(35)).toBe(1);
    expect(config.map.ownerOf(45)).toBe(2);
    expect(config.map.ownerOf(61)).toBeUndefined();
  });

  it("reads every optional setting when given", () => {
    const config = loadConfig(
      testEnv({
        TABLE_NAME: "Data_2",
        SHARD_TIMEOUT_MS: "150",
        DEADLINE_MARGIN_MS: "0",
        SHARD_MAX_ATTEMPTS: "1",
        BREAKER_FAILURE_THRESHOLD: "0",
        BREAKER_COOLDOWN_MS: "30000",
        AWS_REGION: "eu-west-1",
      }),
    );
    expect(config).toMatchObject({
      tableName: "Data_2",
      shardTimeoutMs: 150,
      deadlineMarginMs: 0,
      maxAttempts: 1,
      breaker: { failureThreshold: 0, cooldownMs: 30_000 },
      region: "eu-west-1",
    });
  });

  it("falls back to AWS_DEFAULT_REGION when AWS_REGION is unset", () => {
    expect(loadConfig(testEnv({ AWS_DEFAULT_REGION: "ap-south-1" })).region).toBe("ap-south-1");
  });

  it("treats empty optional settings as unset", () => {
    const config = loadConfig(testEnv({ TABLE_NAME: "", SHARD_TIMEOUT_MS: "", SHARD_MAX_ATTEMPTS: "" }));
    expect(config).toMatchObject({ tableName: "data_1", shardTimeoutMs: 2000, maxAttempts: 2 });
  });

  it("keeps a shard's endpoint override and leaves it unset otherwise", () => {
    const config = loadConfig(withShard1({ endpoint: "http://127.0.0.1:4001" }));
    expect(config.shards[0]?.endpoint).toBe("http://127.0.0.1:4001");
    expect(config.shards[1]).not.toHaveProperty("endpoint");
  });

  it("sorts a shard's ranges so the config agrees with the map", () => {
    const config = loadConfig(
      withShard1({
        ranges: [
          [31, 40],
          [1, 10],
        ],
      }),
    );
    expect(config.shards[0]?.ranges).toEqual([
      [1, 10],
      [31, 40],
    ]);
  });

  describe("SHARDS", () => {
    it.each([undefined, ""])("is required (%j)", (value) => {
      expect(() => loadConfig({ SHARDS: value })).toThrow(
        new ConfigError("SHARDS: required (a JSON array of shards)"),
      );
    });

    it("must be valid JSON, and says so with the parse error as cause", () => {
      let thrown: unknown;
      try {
        loadConfig({ SHARDS: "[{id: 1}" });
      } catch (err) {
        thrown = err;
      }
      expect(thrown).toBeInstanceOf(ConfigError);
      expect((thrown as Error).message).toBe("SHARDS: not valid JSON");
      expect((thrown as Error).cause).toBeInstanceOf(SyntaxError);
    });

    it("must be an array of shards, validated by the shard map under the name SHARDS", () => {
      expect(() => loadConfig({ SHARDS: "{}" })).toThrow("SHARDS: expected an array of shards");
      expect(() => loadConfig({ SHARDS: "[]" })).toThrow("SHARDS: at least one shard is required");
      expect(() => loadConfig({ SHARDS: '[{"id":1,"ranges":[[5,1]]}]' })).toThrow(
        "SHARDS[0].ranges[0]: start 5 > end 1",
      );
    });

    it.each([
      ["missing", undefined, "SHARDS[0].resourceArn: expected a non-empty string"],
      ["empty", "", "SHARDS[0].resourceArn: expected a non-empty string"],
      ["not a string", 42, "SHARDS[0].resourceArn: expected a non-empty string"],
      ["not an ARN", "shard-1", 'SHARDS[0].resourceArn: invalid value "shard-1"'],
      [
        "an ARN without an account",
        "arn:aws:rds:us-east-1::cluster:x",
        "SHARDS[0].resourceArn: invalid value",
      ],
    ])("rejects a resourceArn that is %s", (_what, resourceArn, message) => {
      expect(() => loadConfig(withShard1({ resourceArn }))).toThrow(message);
    });

    it("rejects a bad secretArn, naming the field", () => {
      expect(() => loadConfig(withShard1({ secretArn: "my-secret" }))).toThrow(
        'SHARDS[0].secretArn: invalid value "my-secret"',
      );
      expect(() => loadConfig(withShard1({ secretArn: undefined }))).toThrow(
        "SHARDS[0].secretArn: expected a non-empty string",
      );
    });

    it.each([
      ["missing", undefined, "SHARDS[0].database: expected a non-empty string"],
      ["with a space", "my db", 'SHARDS[0].database: invalid value "my db"'],
      ["starting with a digit", "1db", "SHARDS[0].database: invalid value"],
      ["quoted", 'app"; DROP', "SHARDS[0].database: invalid value"],
      ["longer than 63 characters", "d".repeat(64), "SHARDS[0].database: invalid value"],
    ])("rejects a database name %s", (_what, database, message) => {
      expect(() => loadConfig(withShard1({ database }))).toThrow(message);
    });

    it.each([
      ["not a URL", "localhost 4001", 'SHARDS[0].endpoint: expected a URL, got "localhost 4001"'],
      ["a number", 4001, "SHARDS[0].endpoint: expected a URL, got 4001"],
      ["empty", "", 'SHARDS[0].endpoint: expected a URL, got ""'],
      ["null", null, "SHARDS[0].endpoint: expected a URL, got null"],
    ])("rejects an endpoint that is %s", (_what, endpoint, message) => {
      expect(() => loadConfig(withShard1({ endpoint }))).toThrow(message);
    });

    it("names the index of the bad shard", () => {
      const shards = rawShards({ 3: { database: "bad name" } });
      expect(() => loadConfig({ SHARDS: JSON.stringify(shards) })).toThrow("SHARDS[2].database");
    });
  });

  describe("TABLE_NAME", () => {
    it.each(["data-1", "1data", 'data"1', "public.data_1", "t".repeat(64), "data 1"])(
      "rejects %j, which is not an SQL identifier",
      (name) => {
        expect(() => loadConfig(testEnv({ TABLE_NAME: name }))).toThrow(
          `TABLE_NAME: expected an SQL identifier, got ${JSON.stringify(name)}`,
        );
      },
    );

    it("accepts an identifier of 63 characters", () => {
      expect(loadConfig(testEnv({ TABLE_NAME: "t".repeat(63) })).tableName).toBe("t".repeat(63));
    });
  });

  describe.each([
    ["SHARD_TIMEOUT_MS", 1, 60_000],
    ["DEADLINE_MARGIN_MS", 0, 10_000],
    ["SHARD_MAX_ATTEMPTS", 1, 5],
    ["BREAKER_FAILURE_THRESHOLD", 0, 100],
    ["BREAKER_COOLDOWN_MS", 100, 600_000],
  ])("%s", (name, min, max) => {
    const NOT_INTEGERS = ["abc", "1.5", "-1", "1e3", " 100", "0x10", "+5"];
    it.each(NOT_INTEGERS)("rejects %j, which is not an integer", (raw) => {
      expect(() => loadConfig(testEnv({ [name]: raw }))).toThrow(
        new ConfigError(`${name}: expected an integer, got ${JSON.stringify(raw)}`),
      );
    });

    it(`rejects values outside ${min}..${max}`, () => {
      if (min > 0) {
        expect(() => loadConfig(testEnv({ [name]: String(min - 1) }))).toThrow(
          `${name}: expected ${min}..${max}, got ${min - 1}`,
        );
      }
      expect(() => loadConfig(testEnv({ [name]: String(max + 1) }))).toThrow(
        `${name}: expected ${min}..${max}, got ${max + 1}`,
      );
    });

    it(`accepts both ends of ${min}..${max}`, () => {
      for (const value of [min, max]) {
        const config = loadConfig(testEnv({ [name]: String(value) }));
        const read: Record<string, number> = {
          SHARD_TIMEOUT_MS: config.shardTimeoutMs,
          DEADLINE_MARGIN_MS: config.deadlineMarginMs,
          SHARD_MAX_ATTEMPTS: config.maxAttempts,
          BREAKER_FAILURE_THRESHOLD: config.breaker.failureThreshold,
          BREAKER_COOLDOWN_MS: config.breaker.cooldownMs,
        };
        expect(read[name]).toBe(value);
      }
    });
  });
});

describe("parseShards", () => {
  it("names the field it was given", () => {
    expect(() => parseShards([{ id: 1, ranges: [[1, 2]] }], "context.shards")).toThrow(
      "context.shards[0].resourceArn: expected a non-empty string",
    );
  });

  it("returns the shards together with their map", () => {
    const { shards, map } = parseShards(rawShards());
    expect(shards.map((s) => s.id)).toEqual([1, 2, 3]);
    expect(map.ownerOf(21)).toBe(3);
  });
});
