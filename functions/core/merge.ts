import type { Row } from "./row.js";
import type { ShardMap } from "./shard-map.js";

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

/**
 * Merges per-shard pages into one page of at most `limit` rows, sorted by id, without duplicates and without rows a
 * shard does not own. A k-way merge reads only the rows it returns, where concat + sort would sort all of them.
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
  const heap = new CursorHeap();
  for (const part of parts) {
    const rows = ascending(part.rows);
    if (rows.length > 0) heap.push({ shard: part.shard, rows, index: 0 });
  }
  const items: Row[] = [];
  let last: number | undefined;
  let full = false;
  while (heap.size > 0) {
    const cursor = heap.pop() as Cursor;
    const row = cursor.rows[cursor.index] as Row;
    if (row.id > bound) break;
    // Ownership is checked only for rows the merge reaches, not for every row fetched.
    if (row.id !== last && map.ownerOf(row.id) === cursor.shard) {
      if (items.length === limit) {
        full = true;
        break;
      }
      items.push(row);
      last = row.id;
    }
    cursor.index++;
    if (cursor.index < cursor.rows.length) heap.push(cursor);
  }
  if (full || (items.length === limit && bound !== Infinity)) return { items, next: last ?? null };
  // Every row up to `bound` is on this page: the next one starts after it.
  return { items, next: bound === Infinity ? null : bound };
}
