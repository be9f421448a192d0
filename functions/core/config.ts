import type { BreakerSettings } from "./circuit-breaker.js";
import { ConfigError } from "./errors.js";
import { createShardMap, type ShardMap, type ShardRanges } from "./shard-map.js";
import { SQL_IDENTIFIER } from "./sql-identifier.js";

/** One shard as the function reaches it: its ranges plus the Data API coordinates of its cluster. */
export interface ShardConfig extends ShardRanges {
  readonly resourceArn: string;
  readonly secretArn: string;
  readonly database: string;
  /** Data API endpoint override (the local runtime); unset in AWS, where the regional endpoint is used. */
  readonly endpoint?: string;
}

export interface AppConfig {
  readonly shards: readonly ShardConfig[];
  readonly map: ShardMap;
  readonly tableName: string;
  /** Per-call abort timeout for every shard call. */
  readonly shardTimeoutMs: number;
  /** Kept free of the Lambda's remaining time so the function always answers before it is killed. */
  readonly deadlineMarginMs: number;
  /** SDK attempts per shard call; every attempt shares the one per-call deadline. */
  readonly maxAttempts: number;
  /** Per-shard circuit breaker: consecutive unavailability failures that open it (0: off) and its cool-down. */
  readonly breaker: Omit<BreakerSettings, "quietMs">;
  readonly region: string;
}

export const DEFAULTS = {
  tableName: "data_1",
  shardTimeoutMs: 2000,
  deadlineMarginMs: 250,
  maxAttempts: 2,
  breakerFailureThreshold: 3,
  breakerCooldownMs: 5000,
  region: "us-east-1",
} as const;

const ARN = /^arn:[a-z-]+:[a-z0-9-]+:[a-z0-9-]*:\d{12}:.+$/;

function intFromEnv(
  env: Record<string, string | undefined>,
  name: string,
  fallback: number,
  min: number,
  max: number,
) {
  const raw = env[name];
  if (raw === undefined || raw === "") return fallback;
  if (!/^\d+$/.test(raw)) throw new ConfigError(`${name}: expected an integer, got ${JSON.stringify(raw)}`);
  const value = Number(raw);
  if (value < min || value > max) throw new ConfigError(`${name}: expected ${min}..${max}, got ${value}`);
  return value;
}

function str(obj: Record<string, unknown>, key: string, at: string, pattern?: RegExp): string {
  const value = obj[key];
  if (typeof value !== "string" || value === "")
    throw new ConfigError(`${at}.${key}: expected a non-empty string`);
  if (pattern && !pattern.test(value))
    throw new ConfigError(`${at}.${key}: invalid value ${JSON.stringify(value)}`);
  return value;
}

/** Validates the Data API coordinates of each shard; the ranges are validated by {@link createShardMap}. */
export function parseShards(input: unknown, field = "SHARDS"): { shards: ShardConfig[]; map: ShardMap } {
  const map = createShardMap(input, field);
  const shards = (input as Record<string, unknown>[]).map((raw, i): ShardConfig => {
    const at = `${field}[${i}]`;
    const endpoint = raw.endpoint;
    if (endpoint !== undefined && (typeof endpoint !== "string" || !URL.canParse(endpoint))) {
      throw new ConfigError(`${at}.endpoint: expected a URL, got ${JSON.stringify(endpoint)}`);
    }
    const id = raw.id as number;
    return {
      id,
      ranges: map.rangesOf(id) ?? [],
      resourceArn: str(raw, "resourceArn", at, ARN),
      secretArn: str(raw, "secretArn", at, ARN),
      database: str(raw, "database", at, SQL_IDENTIFIER),
      ...(typeof endpoint === "string" ? { endpoint } : {}),
    };
  });
  return { shards, map };
}

/**
 * Reads and validates the configuration once, at start. Fails fast with a {@link ConfigError} naming the field.
 *
 * - `SHARDS` (required): JSON array of `{id, ranges, resourceArn, secretArn, database, endpoint?}`.
 * - `TABLE_NAME` (default `data_1`): an SQL identifier, since it cannot be a bound parameter.
 * - `SHARD_TIMEOUT_MS` (default 2000), `DEADLINE_MARGIN_MS` (default 250), `SHARD_MAX_ATTEMPTS` (default 2).
 * - `BREAKER_FAILURE_THRESHOLD` (default 3, 0 turns breakers off), `BREAKER_COOLDOWN_MS` (default 5000).
 */
export function loadConfig(env: Record<string, string | undefined>): AppConfig {
  const raw = env.SHARDS;
  if (raw === undefined || raw === "") throw new ConfigError("SHARDS: required (a JSON array of shards)");
  let parsed: unknown;
  try {
    parsed = JSON.parse(raw);
  } catch (cause) {
    throw new ConfigError("SHARDS: not valid JSON", { cause });
  }
  const { shards, map } = parseShards(parsed);
  const tableName = env.TABLE_NAME || DEFAULTS.tableName;
  if (!SQL_IDENTIFIER.test(tableName)) {
    throw new ConfigError(`TABLE_NAME: expected an SQL identifier, got ${JSON.stringify(tableName)}`);
  }
  return {
    shards,
    map,
    tableName,
    shardTimeoutMs: intFromEnv(env, "SHARD_TIMEOUT_MS", DEFAULTS.shardTimeoutMs, 1, 60_000),
    deadlineMarginMs: intFromEnv(env, "DEADLINE_MARGIN_MS", DEFAULTS.deadlineMarginMs, 0, 10_000),
    maxAttempts: intFromEnv(env, "SHARD_MAX_ATTEMPTS", DEFAULTS.maxAttempts, 1, 5),
    breaker: {
      failureThreshold: intFromEnv(
        env,
        "BREAKER_FAILURE_THRESHOLD",
        DEFAULTS.breakerFailureThreshold,
        0,
        100,
      ),
      cooldownMs: intFromEnv(env, "BREAKER_COOLDOWN_MS", DEFAULTS.breakerCooldownMs, 100, 600_000),
    },
    region: env.AWS_REGION || env.AWS_DEFAULT_REGION || DEFAULTS.region,
  };
}
