/**
 * The function's settings, one row each: the one table that the function's configuration (`config.ts`), the CDK
 * context (`infra/context.ts`), the function's environment in the stack (`infra/function-environment.ts`) and the
 * local runtime (`local/settings.ts`) take their names, defaults and bounds from, and that docs/configuration.md is
 * checked against (`test/infra/function-settings.test.ts`). It is in the function's bundle: data only, no imports.
 *
 * `SHARDS` is not a row: it is not chosen but built, by the stack and the local runtime, from the shard map.
 */

interface SettingRow {
  /** The environment variable the function reads. */
  readonly env: string;
  /**
   * Whether a deployment chooses it, through the CDK context key named like the row (docs/deploy.md, "Settings").
   * The table name is fixed by the stack, which creates the table under the default name.
   */
  readonly context: boolean;
  /** Who reads the variable in the function: its own `loadConfig`, or Powertools from the process environment. */
  readonly readBy: "loadConfig" | "powertools";
  /** What it sets; docs/configuration.md's "meaning" of the variable starts with these words. */
  readonly description: string;
}

/** A whole number within inclusive bounds. */
export interface IntegerSetting extends SettingRow {
  readonly kind: "integer";
  readonly default: number;
  readonly min: number;
  readonly max: number;
}

/** A name that goes into SQL text as it is, since an identifier cannot be a bound parameter. */
export interface SqlIdentifierSetting extends SettingRow {
  readonly kind: "sql-identifier";
  readonly default: string;
}

/** One of a few words. */
export interface OneOfSetting extends SettingRow {
  readonly kind: "one-of";
  readonly default: string;
  readonly values: readonly string[];
}

export type FunctionSetting = IntegerSetting | SqlIdentifierSetting | OneOfSetting;

/**
 * Ordered as the function's environment lists them (the synthesized template keeps the order): the `loadConfig`
 * rows first, then Powertools' own.
 */
export const FUNCTION_SETTINGS = {
  tableName: {
    kind: "sql-identifier",
    env: "TABLE_NAME",
    context: false,
    readBy: "loadConfig",
    default: "data_1",
    description: "the table's name",
  },
  shardTimeoutMs: {
    kind: "integer",
    env: "SHARD_TIMEOUT_MS",
    context: true,
    readBy: "loadConfig",
    default: 2000,
    min: 1,
    max: 60_000,
    description: "per-call abort timeout for every shard call",
  },
  deadlineMarginMs: {
    kind: "integer",
    env: "DEADLINE_MARGIN_MS",
    context: true,
    readBy: "loadConfig",
    default: 250,
    min: 0,
    max: 10_000,
    description: "kept free of the Lambda's remaining time",
  },
  shardMaxAttempts: {
    kind: "integer",
    env: "SHARD_MAX_ATTEMPTS",
    context: true,
    readBy: "loadConfig",
    default: 2,
    min: 1,
    max: 5,
    description: "SDK attempts for a read",
  },
  breakerFailureThreshold: {
    kind: "integer",
    env: "BREAKER_FAILURE_THRESHOLD",
    context: true,
    readBy: "loadConfig",
    default: 3,
    min: 0,
    max: 100,
    description: "consecutive failures of a shard",
  },
  breakerCooldownMs: {
    kind: "integer",
    env: "BREAKER_COOLDOWN_MS",
    context: true,
    readBy: "loadConfig",
    default: 5000,
    min: 100,
    max: 600_000,
    description: "how long an open breaker skips its shard",
  },
  logLevel: {
    kind: "one-of",
    env: "LOG_LEVEL",
    context: true,
    readBy: "powertools",
    default: "INFO",
    values: ["TRACE", "DEBUG", "INFO", "WARN", "ERROR", "CRITICAL", "SILENT"],
    description: "Powertools Logger level",
  },
} as const satisfies Record<string, FunctionSetting>;

export type FunctionSettingName = keyof typeof FUNCTION_SETTINGS;

/** The value a setting holds once read: a number for an integer row, else a string. */
export type FunctionSettingValues = {
  readonly [K in FunctionSettingName]: (typeof FUNCTION_SETTINGS)[K] extends IntegerSetting ? number : string;
};

/** The settings a deployment chooses, each through the CDK context key of its name. */
export type ContextSettingName = {
  [K in FunctionSettingName]: (typeof FUNCTION_SETTINGS)[K]["context"] extends true ? K : never;
}[FunctionSettingName];

/** Every row with its name, in the table's order. */
export const FUNCTION_SETTING_ROWS: readonly (FunctionSetting & { readonly name: FunctionSettingName })[] = (
  Object.keys(FUNCTION_SETTINGS) as FunctionSettingName[]
).map((name) => ({ name, ...FUNCTION_SETTINGS[name] }));

/** The context keys of the settings a deployment chooses, in the table's order. */
export const CONTEXT_SETTING_NAMES = FUNCTION_SETTING_ROWS.filter((row) => row.context).map(
  (row) => row.name as ContextSettingName,
);
