/**
 * The local runtime's one configuration path: `npm start`, `npm run invoke` and `npm run bench` read every setting
 * here, validate all of them before anything starts (no PostgreSQL for a typo), and apply them. The function's own
 * settings are checked by the function's own `loadConfig`, so a bad value fails with the very message a deployed
 * function would log.
 */
import { loadConfig } from "../functions/core/config.js";
import { ConfigError } from "../functions/core/errors.js";
import { FUNCTION_SETTING_ROWS } from "../functions/core/settings.js";
import {
  createShardMap,
  DEFAULT_SHARD_RANGES,
  parseShardMap,
  type ShardMap,
} from "../functions/core/shard-map.js";
import { localArns } from "./arns.js";
import { type Fault, parseFaults } from "./faults.js";
import { parseSeed, planSeed, type Seed } from "./seed.js";

/**
 * The variables of the function's settings (`functions/core/settings.ts`) that the local runtime passes on to the
 * function's `loadConfig`. Powertools' own (`LOG_LEVEL`) it reads from this process's environment, where the
 * function runs locally.
 */
export const FUNCTION_VARIABLES: readonly string[] = FUNCTION_SETTING_ROWS.filter(
  (row) => row.readBy === "loadConfig",
).map((row) => row.env);

export interface LocalSettings {
  /** API port (PORT, default 3000; 0 picks a free one). */
  readonly port: number;
  /** SHARD_MAP, or the default map (docs/architecture.md, "The shard map"). */
  readonly map: ShardMap;
  /** Whether SHARD_MAP was set (the start banner says so). */
  readonly customMap: boolean;
  readonly seed: Seed;
  readonly faults: ReadonlyMap<number, Fault>;
  /** The function settings that were set, to hand to the app as its environment. */
  readonly functionEnv: Readonly<Record<string, string>>;
  /** The values the app will run with, defaults included (validated by `loadConfig`). */
  readonly tableName: string;
  readonly shardTimeoutMs: number;
}

type Env = Readonly<Record<string, string | undefined>>;

function readPort(env: Env, fallback: number): number {
  const raw = env.PORT;
  if (raw === undefined || raw === "") return fallback;
  const port = Number(raw);
  if (!/^\d{1,5}$/.test(raw) || port > 65535) {
    throw new ConfigError(`PORT: expected a port number, got ${JSON.stringify(raw)}`);
  }
  return port;
}

/** SHARD_MAP: the JSON of the CDK context key `shardMap`, read by the function's own `parseShardMap`. */
export function readShardMap(raw: string | undefined): ShardMap | undefined {
  if (raw === undefined || raw.trim() === "") return undefined;
  return parseShardMap(raw, "SHARD_MAP").map;
}

/**
 * Reads and validates every setting of the local runtime; throws a {@link ConfigError} naming the first bad one.
 * Starts nothing.
 */
export function readLocalSettings(env: Env, opts: { defaultPort?: number } = {}): LocalSettings {
  const port = readPort(env, opts.defaultPort ?? 3000);
  const custom = readShardMap(env.SHARD_MAP);
  const map = custom ?? createShardMap(DEFAULT_SHARD_RANGES);
  const seed = parseSeed(env.SEED);
  // Fails here, not after PostgreSQL started, when the seed does not fit the map.
  planSeed(map, seed);
  const faults = parseFaults(env.SHARD_FAULTS);
  for (const shard of faults.keys()) {
    if (!map.rangesOf(shard)) throw new ConfigError(`SHARD_FAULTS: there is no shard ${shard}`);
  }
  const functionEnv: Record<string, string> = {};
  for (const name of FUNCTION_VARIABLES) {
    const value = env[name];
    if (value !== undefined && value !== "") functionEnv[name] = value;
  }
  // The function's own validation, over the map and placeholder coordinates (the real ones exist only once the
  // shards run): the same checks and messages as in Lambda.
  const config = loadConfig({
    ...functionEnv,
    SHARDS: JSON.stringify(
      map.shards.map((s) => ({
        id: s.id,
        ranges: s.ranges,
        resourceArn: localArns(s.id).resourceArn,
        secretArn: localArns(s.id).secretArn,
        database: `local_shard${s.id}`,
      })),
    ),
  });
  return {
    port,
    map,
    customMap: custom !== undefined,
    seed,
    faults,
    functionEnv,
    tableName: config.tableName,
    shardTimeoutMs: config.shardTimeoutMs,
  };
}
