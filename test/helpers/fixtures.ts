import { type AppConfig, loadConfig } from "../../functions/core/config.js";
import type { Row } from "../../functions/core/row.js";
import { createShardMap, DEFAULT_SHARD_RANGES } from "../../functions/core/shard-map.js";
import { clusterArn, EXAMPLE_ARN_SCOPE, secretArn } from "../../local/arns.js";
import { seedRows } from "../../local/seed.js";
import { ShardAdmin } from "../../reshard/shard-admin.js";

/** Data API coordinates of test shard `n`: syntactically valid ARNs, no real account behind them. */
export const shardClusterArn = (n: number) => clusterArn(`shard-${n}`, EXAMPLE_ARN_SCOPE);
export const shardSecretArn = (n: number) => secretArn(`shard-${n}`, EXAMPLE_ARN_SCOPE);

export const ARN_1 = shardClusterArn(1);
export const ARN_2 = shardClusterArn(2);
export const ARN_3 = shardClusterArn(3);
export const SHARD_ARNS: Readonly<Record<number, string>> = { 1: ARN_1, 2: ARN_2, 3: ARN_3 };

/** The reshard tool's handle on test shard `n` (its SDK client answers whatever mock the test installed). */
export const shardAdmin = (n = 1) =>
  new ShardAdmin({ id: n, resourceArn: shardClusterArn(n), secretArn: shardSecretArn(n), database: "data" });

/** The raw `SHARDS` entries of the default map, as the environment carries them. */
export interface RawShard {
  id: number;
  ranges: [number, number][];
  resourceArn: string;
  secretArn: string;
  database: string;
  endpoint?: string;
}

/** The three shards of the default map (docs/architecture.md), with valid ARNs; `patch` changes one shard by id. */
export function rawShards(patch: Record<number, Partial<RawShard>> = {}): RawShard[] {
  return DEFAULT_SHARD_RANGES.map((s) => ({
    id: s.id,
    ranges: s.ranges.map(([a, b]): [number, number] => [a, b]),
    resourceArn: shardClusterArn(s.id),
    secretArn: shardSecretArn(s.id),
    database: "app",
    ...patch[s.id],
  }));
}

/** An environment that `loadConfig` accepts: the default map plus whatever `extra` sets. */
export function testEnv(extra: Record<string, string | undefined> = {}): Record<string, string | undefined> {
  return { SHARDS: JSON.stringify(rawShards()), ...extra };
}

/** A validated config over the default map (through the real `loadConfig`). */
export function testConfig(extra: Record<string, string | undefined> = {}): AppConfig {
  return loadConfig(testEnv(extra));
}

/** The default map (docs/architecture.md#the-shard-map), validated. */
export const DEFAULT_MAP = createShardMap(DEFAULT_SHARD_RANGES);
export const SHARD_IDS: readonly number[] = DEFAULT_MAP.shards.map((s) => s.id);

const SEEDED = seedRows(DEFAULT_MAP);

/** The seed the local runtime loads into the default map (`local/seed.ts`): every id, id N named `Test N`. */
export const SEED_ROWS: readonly Row[] = SEEDED.map(({ id, name }) => ({ id, name }));
/** The seed as `id -> name`. */
export const SEED: ReadonlyMap<number, string> = new Map(SEEDED.map((r) => [r.id, r.name]));
export const ALL_IDS: readonly number[] = SEEDED.map((r) => r.id);

/** The owner of each seeded id under the default map (1–10 -> 1, 11–20 -> 2, …). */
export function ownerOfSeed(id: number): number {
  const shard = SEEDED.find((r) => r.id === id)?.shard;
  if (shard === undefined) throw new Error(`${id} is not a seeded id`);
  return shard;
}

/** The ids of the seed that `shard` owns, ascending. */
export function seedIdsOf(shard: number): number[] {
  return SEEDED.filter((r) => r.shard === shard).map((r) => r.id);
}

/** The ids of the seed that every shard but `shard` owns, ascending. */
export const idsWithout = (shard: number) => SEEDED.filter((r) => r.shard !== shard).map((r) => r.id);

/** Every range boundary of the default map with the shard that owns it. */
export const BOUNDARY_OWNERS: readonly (readonly [id: number, shard: number])[] = [
  [1, 1],
  [10, 1],
  [11, 2],
  [20, 2],
  [21, 3],
  [30, 3],
  [31, 1],
  [40, 1],
  [41, 2],
  [50, 2],
  [51, 3],
  [60, 3],
];
