import { ConfigError } from "./errors.js";

/** An inclusive id range `[start, end]`. */
export type IdRange = readonly [start: number, end: number];

/** Where a shard's ids live: the shard id and its inclusive id ranges. */
export interface ShardRanges {
  readonly id: number;
  readonly ranges: readonly IdRange[];
}

/**
 * The default shard map (docs/architecture.md). This constant is the one source of truth: the function falls back to it,
 * the CDK stack builds its clusters from it and the local runtime seeds its databases from it.
 */
export const DEFAULT_SHARD_RANGES: readonly ShardRanges[] = [
  {
    id: 1,
    ranges: [
      [1, 10],
      [31, 40],
    ],
  },
  {
    id: 2,
    ranges: [
      [11, 20],
      [41, 50],
    ],
  },
  {
    id: 3,
    ranges: [
      [21, 30],
      [51, 60],
    ],
  },
];

/** The ids a row may carry: PostgreSQL's INT is a signed 32-bit integer. */
export const MIN_ID = -2_147_483_648;
export const MAX_ID = 2_147_483_647;

interface OwnedRange {
  readonly start: number;
  readonly end: number;
  readonly shard: number;
}

/**
 * A validated, immutable shard map with an O(log n) owner lookup. Build it with {@link createShardMap}, which
 * rejects anything ambiguous, so every id has at most one owner.
 */
export class ShardMap {
  /** All ranges of all shards, sorted by start: the search space of {@link ownerOf}. */
  readonly #sorted: readonly OwnedRange[];

  constructor(
    readonly shards: readonly ShardRanges[],
    sorted: readonly OwnedRange[],
    /**
     * The map's version: 1 for the map a stack or runtime starts with; every online change (docs/architecture.md,
     * "Growing the map online") stores a higher one in the shards, where callers learn it.
     */
    readonly version = 1,
  ) {
    this.#sorted = sorted;
  }

  /** The same ranges under another version (a map read back from the shards). */
  withVersion(version: number): ShardMap {
    return new ShardMap(this.shards, this.#sorted, version);
  }

  /**
   * The ids in `[from, to]` that no shard owns, as sorted disjoint ranges: what a caller must have a shard vouch for
   * before it answers that they hold nothing (the fence's `unowned` check).
   */
  unownedIn(from: number, to: number): IdRange[] {
    const out: IdRange[] = [];
    let next = from;
    for (const r of this.#sorted) {
      if (r.end < next) continue;
      if (r.start > to) break;
      if (r.start > next) out.push([next, r.start - 1]);
      next = r.end + 1;
      if (next > to) return out;
    }
    if (next <= to) out.push([next, to]);
    return out;
  }

  /** The shard id that owns `id`, or `undefined` when no range holds it. Binary search over sorted ranges. */
  ownerOf(id: number): number | undefined {
    let lo = 0;
    let hi = this.#sorted.length - 1;
    while (lo <= hi) {
      const mid = (lo + hi) >>> 1;
      const range = this.#sorted[mid] as OwnedRange;
      if (id < range.start) hi = mid - 1;
      else if (id > range.end) lo = mid + 1;
      else return range.shard;
    }
    return undefined;
  }

  /** The ranges of one shard, or `undefined` for an unknown shard id. */
  rangesOf(shardId: number): readonly IdRange[] | undefined {
    return this.shards.find((s) => s.id === shardId)?.ranges;
  }

  /** The parts of `shardId`'s ranges that intersect `[from, to]`: what a bounded read must ask that shard for. */
  clip(shardId: number, from: number, to: number): IdRange[] {
    const out: IdRange[] = [];
    for (const [start, end] of this.rangesOf(shardId) ?? []) {
      const s = Math.max(start, from);
      const e = Math.min(end, to);
      if (s <= e) out.push([s, e]);
    }
    return out;
  }

  /** Every id the map assigns, ascending, with its owner (used to seed shards; small maps only). */
  *ids(): Generator<{ id: number; shard: number }> {
    for (const r of this.#sorted) {
      for (let id = r.start; id <= r.end; id++) yield { id, shard: r.shard };
    }
  }
}

function isId(value: unknown): value is number {
  return typeof value === "number" && Number.isInteger(value) && value >= MIN_ID && value <= MAX_ID;
}

/**
 * Validates an untrusted shard map (from the environment or CDK context) and builds a {@link ShardMap}.
 * Every message names the offending field, e.g. `shards[1].ranges[0]: start 12 > end 11`.
 *
 * @throws ConfigError when the map is not an array of shards with unique integer ids and non-overlapping ranges.
 */
export function createShardMap(input: unknown, field = "shards", version = 1): ShardMap {
  if (!Array.isArray(input)) throw new ConfigError(`${field}: expected an array of shards`);
  if (input.length === 0) throw new ConfigError(`${field}: at least one shard is required`);

  const seenIds = new Set<number>();
  const shards: ShardRanges[] = [];
  const all: OwnedRange[] = [];
  input.forEach((raw: unknown, i) => {
    const at = `${field}[${i}]`;
    if (typeof raw !== "object" || raw === null) throw new ConfigError(`${at}: expected an object`);
    const { id, ranges } = raw as { id?: unknown; ranges?: unknown };
    if (typeof id !== "number" || !Number.isInteger(id) || id < 1) {
      throw new ConfigError(`${at}.id: expected a positive integer, got ${JSON.stringify(id)}`);
    }
    if (seenIds.has(id)) throw new ConfigError(`${at}.id: duplicate shard id ${id}`);
    seenIds.add(id);
    // An empty list is valid: a new shard that owns nothing yet, waiting for its first assign or move.
    if (!Array.isArray(ranges)) {
      throw new ConfigError(`${at}.ranges: expected an array of [start, end] pairs`);
    }
    const own: IdRange[] = ranges.map((r: unknown, j) => {
      const rat = `${at}.ranges[${j}]`;
      if (!Array.isArray(r) || r.length !== 2) throw new ConfigError(`${rat}: expected a [start, end] pair`);
      const [start, end] = r as unknown[];
      if (!isId(start) || !isId(end)) {
        throw new ConfigError(`${rat}: bounds must be 32-bit integers, got ${JSON.stringify(r)}`);
      }
      if (start > end) throw new ConfigError(`${rat}: start ${start} > end ${end}`);
      return [start, end] as const;
    });
    own.sort((a, b) => a[0] - b[0]);
    shards.push({ id, ranges: own });
    for (const [start, end] of own) all.push({ start, end, shard: id });
  });

  all.sort((a, b) => a.start - b.start);
  for (let k = 1; k < all.length; k++) {
    const prev = all[k - 1] as OwnedRange;
    const cur = all[k] as OwnedRange;
    if (cur.start <= prev.end) {
      const where =
        prev.shard === cur.shard
          ? `within shard ${cur.shard}`
          : `between shards ${prev.shard} and ${cur.shard}`;
      throw new ConfigError(
        `${field}: ranges overlap ${where}: [${prev.start}, ${prev.end}] and [${cur.start}, ${cur.end}]`,
      );
    }
  }
  return new ShardMap(shards, all, version);
}

/** A shard map read from outside, with the entries it was built from (an entry may carry more than its ranges). */
export interface ParsedShardMap {
  readonly map: ShardMap;
  /** The input's entries, each an object (checked by {@link createShardMap}), in the input's order. */
  readonly entries: readonly Record<string, unknown>[];
}

/**
 * The one way a shard map comes in from outside: the function's `SHARDS`, the CDK context key `shardMap` and the
 * local runtime's `SHARD_MAP`. `value` is JSON text, or what JSON text parses to (cdk.json holds an array, `-c`
 * passes text); every message names `field`, e.g. `SHARD_MAP: not valid JSON`.
 *
 * @throws ConfigError when the text is not JSON or the map is invalid (see {@link createShardMap}).
 */
export function parseShardMap(value: unknown, field: string): ParsedShardMap {
  let input = value;
  if (typeof value === "string") {
    try {
      input = JSON.parse(value);
    } catch (cause) {
      throw new ConfigError(`${field}: not valid JSON`, { cause });
    }
  }
  const map = createShardMap(input, field);
  return { map, entries: input as Record<string, unknown>[] };
}
