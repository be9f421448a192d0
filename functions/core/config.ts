import type { BreakerSettings } from "./circuit-breaker.js";
import { ConfigError } from "./errors.js";
import { FUNCTION_SETTINGS, type IntegerSetting } from "./settings.js";
import { parseShardMap, type ShardMap, type ShardRanges } from "./shard-map.js";
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

/** The defaults of `functions/core/settings.ts` under the names of {@link AppConfig}, and the fallback region. */
export const DEFAULTS = {
  tableName: FUNCTION_SETTINGS.tableName.default,
  shardTimeoutMs: FUNCTION_SETTINGS.shardTimeoutMs.default,
  deadlineMarginMs: FUNCTION_SETTINGS.deadlineMarginMs.default,
  maxAttempts: FUNCTION_SETTINGS.shardMaxAttempts.default,
  breakerFailureThreshold: FUNCTION_SETTINGS.breakerFailureThreshold.default,
  breakerCooldownMs: FUNCTION_SETTINGS.breakerCooldownMs.default,
  region: "us-east-1",
} as const;

const ARN = /^arn:[a-z-]+:[a-z0-9-]+:[a-z0-9-]*:\d{12}:.+$/;

function intFromEnv(env: Record<string, string | undefined>, setting: IntegerSetting) {
  const { env: name, default: fallback, min, max } = setting;
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

/**
 * Validates the Data API coordinates of each shard; the JSON and the ranges are validated by {@link parseShardMap}.
 * `input` is JSON text or what it parses to.
 */
export function parseShards(input: unknown, field = "SHARDS"): { shards: ShardConfig[]; map: ShardMap } {
  const { map, entries } = parseShardMap(input, field);
  const shards = entries.map((raw, i): ShardConfig => {
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
 * - the rows of `functions/core/settings.ts` that `loadConfig` reads, with their defaults and bounds.
 */
export function loadConfig(env: Record<string, string | undefined>): AppConfig {
  const raw = env.SHARDS;
  if (raw === undefined || raw === "") throw new ConfigError("SHARDS: required (a JSON array of shards)");
  const { shards, map } = parseShards(raw);
  const table = FUNCTION_SETTINGS.tableName;
  const tableName = env[table.env] || table.default;
  if (!SQL_IDENTIFIER.test(tableName)) {
    throw new ConfigError(`${table.env}: expected an SQL identifier, got ${JSON.stringify(tableName)}`);
  }
  return {
    shards,
    map,
    tableName,
    shardTimeoutMs: intFromEnv(env, FUNCTION_SETTINGS.shardTimeoutMs),
    deadlineMarginMs: intFromEnv(env, FUNCTION_SETTINGS.deadlineMarginMs),
    maxAttempts: intFromEnv(env, FUNCTION_SETTINGS.shardMaxAttempts),
    breaker: {
      failureThreshold: intFromEnv(env, FUNCTION_SETTINGS.breakerFailureThreshold),
      cooldownMs: intFromEnv(env, FUNCTION_SETTINGS.breakerCooldownMs),
    },
    region: env.AWS_REGION || env.AWS_DEFAULT_REGION || DEFAULTS.region,
  };
}
