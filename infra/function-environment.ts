import { loadConfig, type ShardConfig } from "../functions/core/config.js";
import { ConfigError } from "../functions/core/errors.js";
import { FUNCTION_SETTING_ROWS } from "../functions/core/settings.js";
import type { ShardMap } from "../functions/core/shard-map.js";
import type { DeploySettings } from "./context.js";

/** Powertools service name: the `service` key of every log line and the metrics' service dimension. */
export const POWERTOOLS_SERVICE_NAME = "sharded-data-api";

/** Powertools metrics namespace; the planned alarms watch metrics in this namespace. */
export const METRICS_NAMESPACE = "ShardedDataApi";

/** Lambda rejects a function whose environment (keys and values together) exceeds 4 KB. */
export const LAMBDA_ENVIRONMENT_LIMIT_BYTES = 4096;

/** Where one shard's data lives: the Data API coordinates of its cluster. */
export type ShardCoordinates = Pick<ShardConfig, "resourceArn" | "secretArn" | "database">;

/** One element of `SHARDS`, exactly the shape `parseShards` (functions/core/config.ts) reads. */
export type ShardEntry = Pick<ShardConfig, "id" | "ranges" | "resourceArn" | "secretArn" | "database">;

/** The database each shard's cluster creates (`defaultDatabaseName`) and the Data API calls name. */
export function databaseName(shardId: number): string {
  return `shard${shardId}`;
}

/** The `SHARDS` entries: each shard's ranges from the one shard map plus its cluster's coordinates. */
export function shardEntries(
  map: ShardMap,
  coordinates: (shardId: number) => ShardCoordinates,
): ShardEntry[] {
  return map.shards.map((shard) => ({ id: shard.id, ranges: shard.ranges, ...coordinates(shard.id) }));
}

/** The variables of the function's settings (`functions/core/settings.ts`) that `reader` reads, in the table's order. */
function settingVariables(
  settings: DeploySettings,
  reader: (typeof FUNCTION_SETTING_ROWS)[number]["readBy"],
): Record<string, string> {
  return Object.fromEntries(
    FUNCTION_SETTING_ROWS.filter((row) => row.readBy === reader).map((row) => [
      row.env,
      String(settings[row.name]),
    ]),
  );
}

/**
 * The function's environment: every row of its settings table, with the value the deployment chose. `shardsJson` is
 * the serialized `SHARDS` value: in the stack it comes from `Stack.toJsonString`, because the ARNs inside it are
 * CloudFormation tokens until deploy time.
 */
export function functionEnvironment(settings: DeploySettings, shardsJson: string): Record<string, string> {
  return {
    SHARDS: shardsJson,
    ...settingVariables(settings, "loadConfig"),
    POWERTOOLS_SERVICE_NAME,
    POWERTOOLS_METRICS_NAMESPACE: METRICS_NAMESPACE,
    ...settingVariables(settings, "powertools"),
    // Stack traces in the logs then point at the TypeScript sources instead of the minified bundle.
    NODE_OPTIONS: "--enable-source-maps",
  };
}

/**
 * Stand-ins as long as real ARNs get (a 63-character cluster identifier, a generated secret name with its
 * 6-character suffix), so the checks below see realistic sizes and the formats `loadConfig` accepts.
 */
function placeholderCoordinates(shardId: number): ShardCoordinates {
  return {
    resourceArn: `arn:aws:rds:ap-southeast-2:123456789012:cluster:${"c".repeat(63)}`,
    secretArn: `arn:aws:secretsmanager:ap-southeast-2:123456789012:secret:${"s".repeat(64)}-AbCdEf`,
    database: databaseName(shardId),
  };
}

/** The size Lambda counts for an environment. */
export function environmentBytes(env: Record<string, string>): number {
  return Object.entries(env).reduce(
    (sum, [key, value]) => sum + Buffer.byteLength(key) + Buffer.byteLength(value),
    0,
  );
}

/**
 * Proves at synth that the function will start with this configuration: its environment, with placeholders for the
 * ARNs that only a deployment knows, must pass the function's own `loadConfig` and fit Lambda's 4 KB limit.
 *
 * @throws ConfigError naming what is wrong.
 */
export function validateFunctionEnvironment(settings: DeploySettings): void {
  const entries = shardEntries(settings.shardMap, placeholderCoordinates);
  const env = functionEnvironment(settings, JSON.stringify(entries));
  try {
    loadConfig(env);
  } catch (cause) {
    const reason = cause instanceof Error ? cause.message : String(cause);
    throw new ConfigError(`function environment: ${reason}`, { cause });
  }
  const bytes = environmentBytes(env);
  if (bytes > LAMBDA_ENVIRONMENT_LIMIT_BYTES) {
    throw new ConfigError(
      `context shardMap: the function environment would take about ${bytes} bytes, over Lambda's ${LAMBDA_ENVIRONMENT_LIMIT_BYTES}; use fewer, wider ranges`,
    );
  }
}
