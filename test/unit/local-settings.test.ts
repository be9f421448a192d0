import { describe, expect, it } from "vitest";
import { loadConfig } from "../../functions/core/config.js";
import { ConfigError } from "../../functions/core/errors.js";
import { readLocalSettings } from "../../local/settings.js";

const MAP_24 = JSON.stringify(
  Array.from({ length: 24 }, (_, i) => ({ id: i + 1, ranges: [[i * 1000 + 1, (i + 1) * 1000]] })),
);

/** The message the function's own loadConfig gives for the same value. */
function functionMessage(name: string, value: string): string {
  const shards = JSON.stringify([
    {
      id: 1,
      ranges: [[1, 10]],
      resourceArn: "arn:aws:rds:us-east-1:000000000000:cluster:x",
      secretArn: "arn:aws:secretsmanager:us-east-1:000000000000:secret:x",
      database: "x",
    },
  ]);
  try {
    loadConfig({ SHARDS: shards, [name]: value });
  } catch (error) {
    return (error as Error).message;
  }
  throw new Error(`loadConfig accepted ${name}=${value}`);
}

describe("readLocalSettings", () => {
  it("defaults to port 3000, the default shard map, every id seeded, no faults and the function's defaults", () => {
    const s = readLocalSettings({});
    expect(s.port).toBe(3000);
    expect(s.customMap).toBe(false);
    expect(s.map.shards.map((x) => x.id)).toEqual([1, 2, 3]);
    expect(s.seed).toBe("all");
    expect(s.faults.size).toBe(0);
    expect(s.functionEnv).toEqual({});
    expect(s).toMatchObject({ tableName: "data_1", shardTimeoutMs: 2000 });
  });

  it("reads every setting and hands the function's settings on as its environment", () => {
    const s = readLocalSettings({
      PORT: "0",
      SHARD_MAP: MAP_24,
      SEED: "5000",
      SHARD_FAULTS: "24:hang",
      TABLE_NAME: "items",
      SHARD_TIMEOUT_MS: "500",
      DEADLINE_MARGIN_MS: "100",
      SHARD_MAX_ATTEMPTS: "1",
      UNRELATED: "x",
    });
    expect(s.port).toBe(0);
    expect(s.customMap).toBe(true);
    expect(s.map.shards).toHaveLength(24);
    expect(s.seed).toBe(5000);
    expect(s.faults.get(24)).toEqual({ mode: "hang" });
    expect(s.functionEnv).toEqual({
      TABLE_NAME: "items",
      SHARD_TIMEOUT_MS: "500",
      DEADLINE_MARGIN_MS: "100",
      SHARD_MAX_ATTEMPTS: "1",
    });
    expect(s).toMatchObject({ tableName: "items", shardTimeoutMs: 500 });
  });

  it.each([
    ["SHARD_TIMEOUT_MS", "abc"],
    ["SHARD_TIMEOUT_MS", "0"],
    ["DEADLINE_MARGIN_MS", "abc"],
    ["DEADLINE_MARGIN_MS", "20000"],
    ["SHARD_MAX_ATTEMPTS", "abc"],
    ["SHARD_MAX_ATTEMPTS", "9"],
    ["TABLE_NAME", "data; DROP TABLE x"],
  ])("rejects %s=%j with the function's own message", (name, value) => {
    const expected = functionMessage(name, value);
    expect(expected.startsWith(`${name}:`)).toBe(true);
    expect(() => readLocalSettings({ [name]: value })).toThrow(ConfigError);
    expect(() => readLocalSettings({ [name]: value })).toThrow(expected);
  });

  it.each([
    [{ PORT: "abc" }, 'PORT: expected a port number, got "abc"'],
    [{ PORT: "70000" }, 'PORT: expected a port number, got "70000"'],
    [{ SHARD_MAP: "[{" }, "SHARD_MAP: not valid JSON"],
    [{ SHARD_MAP: "{}" }, "SHARD_MAP: expected an array of shards"],
    [{ SHARD_MAP: '[{"id":1,"ranges":[[5,1]]}]' }, "SHARD_MAP[0].ranges[0]: start 5 > end 1"],
    [
      { SHARD_MAP: '[{"id":1,"ranges":[[1,10]]},{"id":2,"ranges":[[5,20]]}]' },
      "SHARD_MAP: ranges overlap between shards 1 and 2: [1, 10] and [5, 20]",
    ],
    [{ SEED: "lots" }, "SEED: expected all, none or a number of rows"],
    [{ SEED: "61" }, "SEED: 61 rows asked for, but the map holds only 60 ids"],
    [{ SHARD_FAULTS: "2:sleepy" }, 'SHARD_FAULTS entry "2:sleepy": expected hang, down, error, resuming'],
    [{ SHARD_FAULTS: "9:hang" }, "SHARD_FAULTS: there is no shard 9"],
    [{ SHARD_MAP: MAP_24, SHARD_FAULTS: "25:down" }, "SHARD_FAULTS: there is no shard 25"],
  ])("rejects %j: %s", (env, message) => {
    expect(() => readLocalSettings(env)).toThrow(ConfigError);
    expect(() => readLocalSettings(env)).toThrow(message);
  });
});
