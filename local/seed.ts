/**
 * What the local runtime loads into its shards (`SEED`), as set-based SQL: PostgreSQL expands each range with
 * `generate_series` (as `infra/schema-sql.ts` does for a deployed stack), so no id travels through Node and
 * 3,000,000 rows load in seconds. Big shards are loaded in chunks, so a terminal can show progress.
 */
import { ConfigError } from "../functions/core/errors.js";
import type { IdRange, ShardMap } from "../functions/core/shard-map.js";

/** `all`: every id of the map; `none`: empty tables; a number: that many ids spread evenly over the map. */
export type Seed = "all" | "none" | number;

/**
 * More rows than this is a map meant for real data (a range up to 2^31), not sample rows: seeding it would fill the
 * disk for minutes. Ask for a number of rows instead.
 */
export const MAX_SEED_ROWS = 20_000_000;

/** Rows per INSERT: big enough to cost nothing per statement, small enough to report progress every second or so. */
export const SEED_CHUNK_ROWS = 250_000;

/** Parses `SEED`: `all` (default, also when unset or blank), `none` or a positive integer. */
export function parseSeed(raw: string | undefined): Seed {
  const text = raw?.trim() ?? "";
  if (text === "" || text === "all") return "all";
  if (text === "none") return "none";
  if (/^[1-9]\d{0,9}$/.test(text) && Number(text) <= MAX_SEED_ROWS) return Number(text);
  throw new ConfigError(
    `SEED: expected all, none or a number of rows from 1 to ${MAX_SEED_ROWS}, got ${JSON.stringify(raw)}`,
  );
}

/** How many ids the map assigns, over all shards. */
export function mapIdCount(map: ShardMap): number {
  let total = 0;
  for (const shard of map.shards) for (const [start, end] of shard.ranges) total += end - start + 1;
  return total;
}

/**
 * One INSERT's worth of a shard's seed: the ids `start + floor(k * total / rows) - offset` for `k` in `[kFrom, kTo]`
 * (with `total === rows` that is every id from `start + kFrom - offset`), all inside one range of the shard.
 */
export interface SeedChunk {
  readonly shard: number;
  /** The range's first id and its position among all the map's ids (ranges sorted by start). */
  readonly start: number;
  readonly offset: number;
  readonly kFrom: number;
  readonly kTo: number;
}

export interface SeedPlan {
  readonly rows: number;
  /** Rows per shard id. */
  readonly perShard: ReadonlyMap<number, number>;
  readonly chunks: readonly SeedChunk[];
  /** The `rows`-th part of the map's id count, as a fraction `total / rows` (1 / 1 for `all`). */
  readonly step: { readonly total: number; readonly rows: number };
}

/**
 * Which ids each shard gets. `all` is every id; a number `n` picks the ids at positions `floor(k * total / n)`,
 * `k = 0 … n - 1`, of the map's ids in ascending order: evenly spread, the first id always included, and each shard
 * gets its share of the map.
 *
 * @throws ConfigError when the seed asks for more ids than the map has, or `all` exceeds {@link MAX_SEED_ROWS}.
 */
export function planSeed(map: ShardMap, seed: Seed): SeedPlan {
  const total = mapIdCount(map);
  const perShard = new Map<number, number>(map.shards.map((s) => [s.id, 0]));
  if (seed === "none") return { rows: 0, perShard, chunks: [], step: { total: 1, rows: 1 } };
  if (seed === "all" && total > MAX_SEED_ROWS) {
    throw new ConfigError(
      `SEED: the map holds ${total} ids, more than SEED=all loads (${MAX_SEED_ROWS}); set SEED to a number of rows or none`,
    );
  }
  const rows = seed === "all" ? total : seed;
  if (rows > total)
    throw new ConfigError(`SEED: ${rows} rows asked for, but the map holds only ${total} ids`);

  const ranges: { shard: number; range: IdRange }[] = [];
  for (const shard of map.shards) for (const range of shard.ranges) ranges.push({ shard: shard.id, range });
  ranges.sort((a, b) => a.range[0] - b.range[0]);

  // k's id position is floor(k * total / rows); the k inside [offset, offset + len) are
  // ceil(offset * rows / total) … ceil((offset + len) * rows / total) - 1. BigInt: k * total can pass 2^53.
  const firstK = (position: number) =>
    Number((BigInt(position) * BigInt(rows) + BigInt(total) - 1n) / BigInt(total));
  const chunks: SeedChunk[] = [];
  let offset = 0;
  for (const { shard, range } of ranges) {
    const length = range[1] - range[0] + 1;
    const from = firstK(offset);
    const to = firstK(offset + length) - 1;
    for (let k = from; k <= to; k += SEED_CHUNK_ROWS) {
      chunks.push({ shard, start: range[0], offset, kFrom: k, kTo: Math.min(to, k + SEED_CHUNK_ROWS - 1) });
    }
    if (to >= from) perShard.set(shard, (perShard.get(shard) ?? 0) + (to - from + 1));
    offset += length;
  }
  return { rows, perShard, chunks, step: { total, rows } };
}

const SEED_NAME_PREFIX = "Test ";

/** The name the seed gives row `id` (`Test N`, as docs/architecture.md says; the SQL of {@link seedChunkSql} writes the same). */
export const seedName = (id: number): string => `${SEED_NAME_PREFIX}${id}`;

/** A seeded row and the shard it is seeded on. */
export interface SeedRow {
  readonly id: number;
  readonly name: string;
  readonly shard: number;
}

/**
 * The rows `seed` puts into `map`'s shards, by id ascending: the same plan as the SQL of {@link seedChunkSql}, one
 * row at a time (so for small maps: tests and fixtures derive their expectations of the seed from it).
 */
export function seedRows(map: ShardMap, seed: Seed = "all"): SeedRow[] {
  const { chunks, step } = planSeed(map, seed);
  const rows: SeedRow[] = [];
  for (const chunk of chunks) {
    for (let k = chunk.kFrom; k <= chunk.kTo; k++) {
      const position = Number((BigInt(k) * BigInt(step.total)) / BigInt(step.rows));
      const id = chunk.start - chunk.offset + position;
      rows.push({ id, name: seedName(id), shard: chunk.shard });
    }
  }
  return rows;
}

/**
 * The INSERT of one chunk. Every number is a validated 32-bit id or a count computed from them, so inlining them
 * cannot inject SQL; `table` is quoted by the caller.
 */
export function seedChunkSql(quotedTable: string, chunk: SeedChunk, step: SeedPlan["step"]): string {
  const id =
    step.total === step.rows
      ? `${chunk.start - chunk.offset}::bigint + k`
      : `${chunk.start - chunk.offset}::bigint + (k * ${step.total}::bigint) / ${step.rows}`;
  return [
    `INSERT INTO ${quotedTable} (id, name)`,
    `SELECT i, '${SEED_NAME_PREFIX}' || i FROM (SELECT (${id})::int AS i`,
    `FROM generate_series(${chunk.kFrom}::bigint, ${chunk.kTo}::bigint) AS k) AS ids`,
  ].join(" ");
}
