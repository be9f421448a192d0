import { RemovalPolicy } from "aws-cdk-lib";
import { RetentionDays } from "aws-cdk-lib/aws-logs";
import type { Node } from "constructs";
import { ConfigError } from "../functions/core/errors.js";
import {
  CONTEXT_SETTING_NAMES,
  type ContextSettingName,
  FUNCTION_SETTINGS,
  type FunctionSettingName,
  type FunctionSettingValues,
} from "../functions/core/settings.js";
import {
  createShardMap,
  DEFAULT_SHARD_RANGES,
  parseShardMap,
  type ShardMap,
} from "../functions/core/shard-map.js";
import { derivedReservedConcurrency } from "./capacity.js";

/** How a cluster leaves the stack: `snapshot` keeps a final snapshot, `retain` keeps the running cluster. */
export type DataRemoval = "retain" | "snapshot" | "destroy";

/**
 * Everything a deployment may choose, read once from CDK context (`cdk.json` or `-c key=value`) and validated at
 * synth, so a typo fails `cdk synth` with a message naming the key instead of failing a deploy half-way. The
 * function's settings (`functions/core/settings.ts`) are fields of the same names, so a row added there must be read
 * here too, or this does not compile.
 */
export interface DeploySettings extends FunctionSettingValues {
  readonly stackName: string;
  /** `demo=true` switches the defaults marked "demo" below to a cheap, disposable deployment. */
  readonly demo: boolean;
  readonly shardMap: ShardMap;
  /** Aurora Serverless v2 ACUs per cluster. 0 (demo) enables auto-pause; see docs/deploy.md for the trade-off. */
  readonly minCapacity: number;
  readonly maxCapacity: number;
  /** Idle time before an auto-pausing (min 0) cluster pauses. */
  readonly autoPauseMinutes: number;
  /** Default true; demo false. */
  readonly deletionProtection: boolean;
  /** Default `snapshot`; demo `destroy`. */
  readonly removalPolicy: DataRemoval;
  /** Load the sample rows (`Test N` for every id of the shard map) at deploy time. Default false; demo true. */
  readonly seedSampleRows: boolean;
  /**
   * `rds.logical_replication` in the clusters' parameter group, which online resharding's moves need. Default: on
   * unless the clusters may auto-pause (minCapacity 0, as in a demo): a cluster with logical replication on is
   * reported never to pause, which would turn a paused demo's cost into a running one's (docs/deploy.md).
   */
  readonly logicalReplication: boolean;
  readonly functionTimeoutSeconds: number;
  readonly functionMemoryMb: number;
  /** Requests per second, and burst, that the stage admits on each route (HTTP APIs throttle routes separately). */
  readonly throttleRateLimit: number;
  readonly throttleBurstLimit: number;
  /**
   * The function's reserved concurrency: by default the smaller of what the throttle and the clusters' capacity can
   * use (`infra/capacity.ts`); 0 reserves none (the function then shares the account's unreserved pool).
   */
  readonly reservedConcurrency: number;
  /** One Serverless v2 reader per cluster in another Availability Zone, for failover. Default true; demo false. */
  readonly failoverReader: boolean;
  /** An e-mail address subscribed to the alarm topic (confirm the subscription from the mail AWS sends). */
  readonly alarmEmail: string | undefined;
  /** X-Ray active tracing of the function. Default true. */
  readonly tracing: boolean;
  /** Days between rotations of each function secret (alternating users, infra/handlers/function-secret-rotation.ts). */
  readonly functionSecretRotationDays: number;
  /** Reads are public by default (the mission is a public access point); writes always require IAM. */
  readonly requireIamForReads: boolean;
  readonly logRetention: RetentionDays;
}

/** The context keys of the stack's own settings; the function's follow, from its settings table. */
const DEPLOY_KEYS = [
  "stackName",
  "demo",
  "shardMap",
  "minCapacity",
  "maxCapacity",
  "autoPauseMinutes",
  "deletionProtection",
  "removalPolicy",
  "seedSampleRows",
  "logicalReplication",
  "functionTimeoutSeconds",
  "functionMemoryMb",
  "throttleRateLimit",
  "throttleBurstLimit",
  "reservedConcurrency",
  "failoverReader",
  "alarmEmail",
  "tracing",
  "functionSecretRotationDays",
  "requireIamForReads",
  "logRetentionDays",
] as const;

export type ContextKey = (typeof DEPLOY_KEYS)[number] | ContextSettingName;

/** Every context key the app reads, for documentation and for tests that override them. */
export const CONTEXT_KEYS: readonly ContextKey[] = [...DEPLOY_KEYS, ...CONTEXT_SETTING_NAMES];

/**
 * An HTTP API waits at most 30 s for its integration, and the quota cannot be raised ("Quotas for configuring and
 * running an HTTP API in API Gateway": maximum integration timeout 30 seconds,
 * https://docs.aws.amazon.com/apigateway/latest/developerguide/http-api-quotas.html; 29 s is the REST API's default).
 */
export const HTTP_API_INTEGRATION_TIMEOUT_SECONDS = 30;

/**
 * The longest function timeout allowed: a second under the integration timeout, so the function's own answer (a
 * partial page, a 503 with `retry-after`) reaches the client before API Gateway gives up and answers for it.
 */
export const MAX_FUNCTION_TIMEOUT_SECONDS = HTTP_API_INTEGRATION_TIMEOUT_SECONDS - 1;

/** A plain e-mail address (SNS validates it again and sends a confirmation). */
const EMAIL = /^[^\s@]+@[^\s@]+\.[^\s@]+$/;

/** CloudWatch Logs accepts only these retentions; "never expire" is deliberately not offered. */
const RETENTION_VALUES: ReadonlySet<number> = new Set<number>(
  Object.values(RetentionDays).filter(
    (v): v is RetentionDays => typeof v === "number" && v !== RetentionDays.INFINITE,
  ),
);
const STACK_NAME = /^[A-Za-z][A-Za-z0-9-]{0,127}$/;

type Raw = (key: ContextKey) => unknown;

function bool(raw: Raw, key: ContextKey, fallback: boolean): boolean {
  const value = raw(key);
  if (value === undefined) return fallback;
  if (value === true || value === "true") return true;
  if (value === false || value === "false") return false;
  throw new ConfigError(`context ${key}: expected true or false, got ${JSON.stringify(value)}`);
}

/** A number from context: `-c key=value` always passes strings, `cdk.json` passes JSON numbers. */
function num(raw: Raw, key: ContextKey, fallback: number, min: number, max: number, step = 1): number {
  const value = raw(key);
  if (value === undefined) return fallback;
  const n = typeof value === "string" && value.trim() !== "" ? Number(value) : value;
  if (typeof n !== "number" || !Number.isFinite(n) || n < min || n > max || !Number.isInteger(n / step)) {
    const kind = step === 1 ? "an integer" : `a multiple of ${step}`;
    throw new ConfigError(`context ${key}: expected ${kind} in ${min}..${max}, got ${JSON.stringify(value)}`);
  }
  return n;
}

function oneOf<T extends string>(raw: Raw, key: ContextKey, fallback: T, allowed: readonly T[]): T {
  const value = raw(key);
  if (value === undefined) return fallback;
  const wanted = typeof value === "string" ? value.toLowerCase() : value;
  const found = allowed.find((a) => a.toLowerCase() === wanted);
  if (found === undefined) {
    throw new ConfigError(
      `context ${key}: expected one of ${allowed.join(", ")}, got ${JSON.stringify(value)}`,
    );
  }
  return found;
}

/** The shard map from context: a JSON array (cdk.json) or its JSON text (`-c shardMap='[…]'`). */
function readShardMap(raw: Raw): ShardMap {
  const value = raw("shardMap");
  if (value === undefined) return createShardMap(DEFAULT_SHARD_RANGES, "context shardMap");
  return parseShardMap(value, "context shardMap").map;
}

/**
 * One of the function's settings, with the default and bounds of its row in `functions/core/settings.ts`; one a
 * deployment cannot choose is its default.
 */
function functionSetting<K extends FunctionSettingName>(raw: Raw, name: K): FunctionSettingValues[K] {
  const row = FUNCTION_SETTINGS[name];
  if (!row.context) return row.default as FunctionSettingValues[K];
  const key = name as ContextSettingName;
  const value =
    row.kind === "integer"
      ? num(raw, key, row.default, row.min, row.max)
      : oneOf(raw, key, row.default, row.values);
  return value as FunctionSettingValues[K];
}

/**
 * Reads and validates the deploy settings from a construct's context. The defaults are production-safe: warm
 * clusters (no auto-pause), deletion protection, a final snapshot on removal, no sample rows, public reads and IAM
 * writes. `demo=true` flips the data-related defaults to a cheap, disposable deployment; explicit keys still win.
 *
 * @throws ConfigError naming the context key when a value is invalid or two values contradict each other.
 */
export function readSettings(node: Node): DeploySettings {
  const raw: Raw = (key) => node.tryGetContext(key);
  const demo = bool(raw, "demo", false);

  const minCapacity = num(raw, "minCapacity", demo ? 0 : 0.5, 0, 256, 0.5);
  const maxCapacity = num(raw, "maxCapacity", 2, 1, 256, 0.5);
  if (maxCapacity < minCapacity) {
    throw new ConfigError(`context maxCapacity: ${maxCapacity} is below minCapacity ${minCapacity}`);
  }

  const shardTimeoutMs = functionSetting(raw, "shardTimeoutMs");
  const deadlineMarginMs = functionSetting(raw, "deadlineMarginMs");
  const functionTimeoutSeconds = num(raw, "functionTimeoutSeconds", 10, 1, MAX_FUNCTION_TIMEOUT_SECONDS);
  // A shard call may use its whole timeout and the handler keeps a margin to answer in: the function must outlive
  // both, or Lambda kills the invocation instead of the slowest shard being reported as a timeout.
  if (functionTimeoutSeconds * 1000 <= shardTimeoutMs + deadlineMarginMs) {
    throw new ConfigError(
      `context functionTimeoutSeconds: ${functionTimeoutSeconds} s must exceed shardTimeoutMs + deadlineMarginMs (${shardTimeoutMs} + ${deadlineMarginMs} ms)`,
    );
  }

  const retentionDays = num(raw, "logRetentionDays", RetentionDays.ONE_MONTH, 1, 3653);
  if (!RETENTION_VALUES.has(retentionDays)) {
    throw new ConfigError(
      `context logRetentionDays: ${retentionDays} is not a CloudWatch Logs retention (${[...RETENTION_VALUES].join(", ")})`,
    );
  }

  const stackName = raw("stackName") ?? "ShardedDataApi";
  if (typeof stackName !== "string" || !STACK_NAME.test(stackName)) {
    throw new ConfigError(`context stackName: not a CloudFormation stack name: ${JSON.stringify(stackName)}`);
  }

  const throttleRateLimit = num(raw, "throttleRateLimit", 50, 1, 10_000);
  const maxConcurrency = derivedReservedConcurrency({
    throttleRateLimit,
    shardTimeoutMs,
    deadlineMarginMs,
    maxCapacity,
  });
  const alarmEmail = raw("alarmEmail");
  if (alarmEmail !== undefined && (typeof alarmEmail !== "string" || !EMAIL.test(alarmEmail))) {
    throw new ConfigError(`context alarmEmail: not an e-mail address: ${JSON.stringify(alarmEmail)}`);
  }

  return {
    stackName,
    demo,
    shardMap: readShardMap(raw),
    minCapacity,
    maxCapacity,
    autoPauseMinutes: num(raw, "autoPauseMinutes", 5, 5, 1440),
    deletionProtection: bool(raw, "deletionProtection", !demo),
    removalPolicy: oneOf<DataRemoval>(raw, "removalPolicy", demo ? "destroy" : "snapshot", [
      "retain",
      "snapshot",
      "destroy",
    ]),
    seedSampleRows: bool(raw, "seedSampleRows", demo),
    logicalReplication: bool(raw, "logicalReplication", minCapacity > 0),
    tableName: functionSetting(raw, "tableName"),
    shardTimeoutMs,
    deadlineMarginMs,
    shardMaxAttempts: functionSetting(raw, "shardMaxAttempts"),
    breakerFailureThreshold: functionSetting(raw, "breakerFailureThreshold"),
    breakerCooldownMs: functionSetting(raw, "breakerCooldownMs"),
    functionTimeoutSeconds,
    functionMemoryMb: num(raw, "functionMemoryMb", 512, 128, 10_240),
    throttleRateLimit,
    throttleBurstLimit: num(raw, "throttleBurstLimit", 100, 1, 5_000),
    reservedConcurrency: num(raw, "reservedConcurrency", maxConcurrency, 0, 10_000),
    failoverReader: bool(raw, "failoverReader", !demo),
    alarmEmail: alarmEmail as string | undefined,
    tracing: bool(raw, "tracing", true),
    functionSecretRotationDays: num(raw, "functionSecretRotationDays", 30, 1, 365),
    requireIamForReads: bool(raw, "requireIamForReads", false),
    logRetention: retentionDays as RetentionDays,
    logLevel: functionSetting(raw, "logLevel"),
  };
}

/** The removal policy of the clusters. */
export function dataRemovalPolicy(removal: DataRemoval): RemovalPolicy {
  if (removal === "retain") return RemovalPolicy.RETAIN;
  if (removal === "snapshot") return RemovalPolicy.SNAPSHOT;
  return RemovalPolicy.DESTROY;
}

/** Log groups cannot be snapshotted: they are kept unless the whole deployment is disposable. */
export function logRemovalPolicy(removal: DataRemoval): RemovalPolicy {
  return removal === "destroy" ? RemovalPolicy.DESTROY : RemovalPolicy.RETAIN;
}
