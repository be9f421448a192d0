/**
 * The paging contract of a list, in one place: how many rows each shard is asked for ({@link rowsToAsk}, plus one
 * proof row), what a shard's answer proves ({@link shardRows}), where a page ends and what its `next` is
 * ({@link mergePages}), and what `next` becomes when shards failed ({@link pageOf}). Pure: the calls are
 * ShardedTable's (sharded-table.ts), the k-way merge is merge.ts's.
 */
import { mergeOwned } from "./merge.js";
import type { Row } from "./row.js";
import { isFailure, type ShardOutcome } from "./shard-call.js";
import { type IdRange, MIN_ID, type ShardMap } from "./shard-map.js";

/**
 * The most rows one shard call returns. The Data API fails a result over 1 MiB, and AWS describes the JSON result
 * (`formattedRecords`) as ASCII-encoded: a character outside ASCII may then take a 12-byte surrogate-pair escape
 * (`\ud83d\ude00`), 14 once the response escapes the string again. A row of 255 such characters is about 3.6 KB, so
 * 250 rows stay under 1 MiB whatever the names hold (real text stays far below: 255 ASCII characters are ~0.3 KB).
 */
export const MAX_ROWS_PER_CALL = 250;

/** What one shard is asked for: its ranges left to read, and how many rows of them it may contribute to the page. */
export interface ShardAsk {
  readonly ranges: readonly IdRange[];
  readonly rows: number;
}

export interface ShardRows {
  readonly shard: number;
  readonly rows: readonly Row[];
  /** The shard holds more rows after `rows`: only ids up to `through` are known. */
  readonly truncated?: boolean;
  /** With `truncated`: the last id up to which the shard's rows are known (default: its last row's id). */
  readonly through?: number;
}

export interface Page {
  readonly items: Row[];
  /** The cursor for the next page (`after`), or `null` when nothing is left. */
  readonly next: number | null;
}

/** A page of a list across shards: {@link Page}, and whether a shard that could hold its rows failed. */
export interface ListPage extends Page {
  readonly partial: boolean;
}

/**
 * How many rows each called shard may contribute to a page of `limit` (it is asked for one more, as proof that more
 * exist). Not `limit` from every shard: with k shards that fetched, parsed and threw away (k - 1) x limit rows, and
 * parsing them was the largest part of the function's own CPU per shard call. Each shard gets what the page could
 * take from it if no id were missing (its share of the first `limit + 1` ids of the map after the cursor), and at
 * least an equal share of the page (`limit / k`), so tables with missing ids still fill most of a page. A page is
 * exact whatever the shards hold: it stops where the first shard that has more stops being known (`mergePages`), so
 * when many ids are missing a page may hold fewer rows than `limit`, never an empty one, and `next` goes on.
 */
export function rowsToAsk(
  called: readonly { id: number; ranges: readonly IdRange[] }[],
  limit: number,
): Map<number, ShardAsk> {
  const most = Math.min(limit, MAX_ROWS_PER_CALL - 1);
  const share = Math.ceil(limit / Math.max(1, called.length));
  // Every range holds at least one id, so no shard's ranges past its first limit + 1 can matter here.
  const window = called
    .flatMap(({ id, ranges }) => ranges.slice(0, limit + 1).map((r) => ({ shard: id, r })))
    .sort((a, b) => a.r[0] - b.r[0]);
  const dense = new Map<number, number>();
  let left = limit + 1;
  for (const { shard, r } of window) {
    if (left <= 0) break;
    const take = Math.min(left, r[1] - r[0] + 1);
    dense.set(shard, (dense.get(shard) ?? 0) + take);
    left -= take;
  }
  return new Map(
    called.map(({ id, ranges }) => [
      id,
      { ranges, rows: Math.min(most, Math.max(share, dense.get(id) ?? 0)) },
    ]),
  );
}

/**
 * What a shard's answer to its ask (`ask.rows + 1` rows asked) proves. The proof row is never returned: it only
 * shows the shard holds more, so everything up to just before it is known and it opens the next page. So a shard that
 * returned no more than its share is known to be done, and a walk never ends with an empty page, also with `limit`
 * above the per-call cap (where a shard that returned the cap used to be taken as "may have more").
 */
export function shardRows(shard: number, rows: readonly Row[], ask: ShardAsk): ShardRows {
  const proof = rows[ask.rows];
  if (proof === undefined) return { shard, rows };
  return { shard, rows: rows.slice(0, ask.rows), truncated: true, through: proof.id - 1 };
}

/**
 * Merges per-shard pages into one page of at most `limit` rows, sorted by id, without duplicates and without rows a
 * shard does not own (the k-way merge: merge.ts).
 *
 * A truncated shard may hold rows after its last returned id that belong before other shards' later rows, so the page
 * stops at the smallest last id of any truncated shard (`bound`). When shards are asked for `limit + 1` rows, a
 * truncated shard alone fills the page and this is plain keyset paging; when they are asked for fewer (the Data API's
 * 1 MiB result cap), a page may hold fewer than `limit` rows and still have a `next`.
 */
export function mergePages(parts: readonly ShardRows[], map: ShardMap, limit: number): Page {
  let bound = Infinity;
  for (const part of parts) {
    const last = part.rows.at(-1);
    if (part.truncated && last !== undefined)
      bound = Math.min(bound, Math.max(last.id, part.through ?? last.id));
  }
  const { items, full } = mergeOwned(parts, map, limit, bound);
  if (full || (items.length === limit && bound !== Infinity))
    return { items, next: items.at(-1)?.id ?? null };
  // Every row up to `bound` is on this page: the next one starts after it.
  return { items, next: bound === Infinity ? null : bound };
}

/**
 * One page from every shard's outcome of a list round. `asks` are the shards asked for rows; `unowned` the ids of the
 * bounds no shard owns, vouched for by any shard that answered; `lower` the first id the page may hold.
 *
 * `next` is `null` only when every shard that could hold later rows answered and has none left. When a shard failed,
 * the page's `next` is the cursor up to which the healthy shards were read; when they have nothing left, it is the
 * page's last id or, if greater, one below the first id a failed shard could hold, so following it asks the failed
 * shards again instead of ending the walk as if the table had ended (docs/api.md, "Paging when a shard fails").
 */
export function pageOf(
  outcomes: readonly ShardOutcome<readonly Row[]>[],
  asks: ReadonlyMap<number, ShardAsk>,
  unowned: readonly IdRange[],
  lower: number,
  map: ShardMap,
  limit: number,
): ListPage {
  const parts: ShardRows[] = [];
  let firstMissing = Infinity;
  let vouched = unowned.length === 0;
  for (const o of outcomes) {
    const ask = asks.get(o.shard);
    if (o.status === "ok") {
      vouched = true;
      if (ask !== undefined) parts.push(shardRows(o.shard, o.value, ask));
    } else if (isFailure(o) && ask !== undefined) {
      firstMissing = Math.min(firstMissing, ask.ranges[0]?.[0] ?? lower);
    }
  }
  // No shard answered for the ids no shard owns: an assign may have given them to one, so they are unknown too.
  if (!vouched) firstMissing = Math.min(firstMissing, unowned[0]?.[0] ?? lower);
  const page = mergePages(parts, map, limit);
  const partial = firstMissing !== Infinity;
  // The healthy shards are done but a failed one may hold later rows: resume after what was read (and nothing that
  // only the failed shards could hold is skipped), never end here.
  if (partial && page.next === null)
    return {
      items: page.items,
      next: Math.max(page.items.at(-1)?.id ?? MIN_ID - 1, firstMissing - 1),
      partial,
    };
  return { ...page, partial };
}
