/**
 * The k-way merge of the shards' sorted rows (a min-heap of cursors): owned rows only, each id once, up to a bound.
 * Which rows a page takes and what its `next` is belong to the paging contract (paging.ts).
 */
import type { Row } from "./row.js";
import type { ShardMap } from "./shard-map.js";

interface Cursor {
  readonly shard: number;
  readonly rows: readonly Row[];
  index: number;
}

const head = (c: Cursor) => (c.rows[c.index] as Row).id;

/** A binary min-heap of cursors keyed by their current id: O(log k) per row for k shards. */
class CursorHeap {
  readonly #items: Cursor[] = [];

  get size() {
    return this.#items.length;
  }

  push(c: Cursor) {
    const a = this.#items;
    a.push(c);
    let i = a.length - 1;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (head(a[parent] as Cursor) <= head(c)) break;
      a[i] = a[parent] as Cursor;
      i = parent;
    }
    a[i] = c;
  }

  /** Removes and returns the cursor with the smallest head. */
  pop(): Cursor | undefined {
    const a = this.#items;
    const top = a[0];
    const last = a.pop();
    if (top === undefined || last === undefined || a.length === 0) return top;
    let i = 0;
    for (;;) {
      const l = 2 * i + 1;
      if (l >= a.length) break;
      const r = l + 1;
      const child = r < a.length && head(a[r] as Cursor) < head(a[l] as Cursor) ? r : l;
      if (head(a[child] as Cursor) >= head(last)) break;
      a[i] = a[child] as Cursor;
      i = child;
    }
    a[i] = last;
    return top;
  }
}

/** A shard's rows in ascending id order: as they come when the shard sorted them (the SQL says so), else a copy. */
function ascending(rows: readonly Row[]): readonly Row[] {
  for (let i = 1; i < rows.length; i++) {
    if ((rows[i] as Row).id < (rows[i - 1] as Row).id) return [...rows].sort((a, b) => a.id - b.id);
  }
  return rows;
}

/** One shard's rows for the merge, in any order (sorted ones are taken as they are). */
export interface MergeInput {
  readonly shard: number;
  readonly rows: readonly Row[];
}

/** What the merge took: rows in id order, and whether a row was left over after `limit` of them (the page is full). */
export interface Merged {
  readonly items: Row[];
  readonly full: boolean;
}

/**
 * Merges per-shard rows into at most `limit` rows, sorted by id, without duplicates and without rows a shard does not
 * own, stopping before the first id above `bound`. A k-way merge reads only the rows it returns, where concat + sort
 * would sort all of them. Where a page ends and what `next` is are the paging contract's (paging.ts).
 */
export function mergeOwned(
  parts: readonly MergeInput[],
  map: ShardMap,
  limit: number,
  bound: number,
): Merged {
  const heap = new CursorHeap();
  for (const part of parts) {
    const rows = ascending(part.rows);
    if (rows.length > 0) heap.push({ shard: part.shard, rows, index: 0 });
  }
  const items: Row[] = [];
  let last: number | undefined;
  while (heap.size > 0) {
    const cursor = heap.pop() as Cursor;
    const row = cursor.rows[cursor.index] as Row;
    if (row.id > bound) break;
    // Ownership is checked only for rows the merge reaches, not for every row fetched.
    if (row.id !== last && map.ownerOf(row.id) === cursor.shard) {
      if (items.length === limit) return { items, full: true };
      items.push(row);
      last = row.id;
    }
    cursor.index++;
    if (cursor.index < cursor.rows.length) heap.push(cursor);
  }
  return { items, full: false };
}
