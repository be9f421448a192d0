import type { ShardRows } from "../../functions/core/paging.js";
import type { Row } from "../../functions/core/row.js";
import { createShardMap, type IdRange, type ShardMap } from "../../functions/core/shard-map.js";

/**
 * Synthetic shard pages for the CPU figures: `perShard` rows on each of three shards, ids in ascending order per
 * shard (as `ORDER BY id` returns them), names like the seed's (`Test N`).
 *
 * - `blocks`: the default map's shape scaled up: each shard owns two ranges of `perShard / 2` ids, interleaved
 *   1-2-3-1-2-3 as in the default map (docs/architecture.md). Merging mostly copies long runs.
 * - `interleaved`: ranges of 10 ids, 1-2-3-1-2-3…: the merge switches shard every 10 rows.
 */
export function syntheticPages(
  perShard: number,
  layout: "blocks" | "interleaved",
): { map: ShardMap; parts: ShardRows[] } {
  const width = layout === "blocks" ? perShard / 2 : 10;
  const rangesPerShard = perShard / width;
  const shards = [1, 2, 3].map((id) => {
    const ranges: IdRange[] = [];
    for (let k = 0; k < rangesPerShard; k++) {
      const start = k * 3 * width + (id - 1) * width + 1;
      ranges.push([start, start + width - 1]);
    }
    return { id, ranges };
  });
  const map = createShardMap(shards);
  const parts = shards.map(({ id, ranges }) => {
    const rows: Row[] = [];
    for (const [start, end] of ranges)
      for (let i = start; i <= end; i++) rows.push({ id: i, name: `Test ${i}` });
    return { shard: id, rows };
  });
  return { map, parts };
}

/**
 * The baseline the k-way merge is measured against, with the same contract as `mergePages`: drop rows a shard
 * does not own, concatenate, sort by id, drop duplicates, cut at `limit`.
 */
export function concatSortMerge(parts: readonly ShardRows[], map: ShardMap, limit: number) {
  const all: Row[] = [];
  for (const part of parts)
    for (const row of part.rows) if (map.ownerOf(row.id) === part.shard) all.push(row);
  all.sort((a, b) => a.id - b.id);
  const items: Row[] = [];
  let last: number | undefined;
  let more = false;
  for (const row of all) {
    if (row.id === last) continue;
    if (items.length === limit) {
      more = true;
      break;
    }
    items.push(row);
    last = row.id;
  }
  return { items, next: more ? (last ?? null) : null };
}
