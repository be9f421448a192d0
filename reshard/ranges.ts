/**
 * Sets of ids as sorted, disjoint, inclusive ranges (what an `int8multirange` holds), with the few set operations the
 * planner needs. Adjacent ranges are joined, as PostgreSQL's multiranges join them, so two sets that hold the same
 * ids always compare equal.
 */
import { multirange } from "../functions/core/fence.js";
import type { IdRange } from "../functions/core/shard-map.js";

export type IdSet = readonly IdRange[];

/** Sorted, disjoint, adjacent ranges joined. */
export function normalize(ranges: IdSet): IdRange[] {
  const sorted = [...ranges].sort((a, b) => a[0] - b[0]);
  const out: [number, number][] = [];
  for (const [start, end] of sorted) {
    const last = out.at(-1);
    if (last && start <= last[1] + 1) last[1] = Math.max(last[1], end);
    else out.push([start, end]);
  }
  return out;
}

export const union = (a: IdSet, b: IdSet): IdRange[] => normalize([...a, ...b]);

/** The ids of `a` that are not in `b`. */
export function subtract(a: IdSet, b: IdSet): IdRange[] {
  let rest = normalize(a);
  for (const [cutStart, cutEnd] of normalize(b)) {
    const next: IdRange[] = [];
    for (const [start, end] of rest) {
      if (cutEnd < start || cutStart > end) next.push([start, end]);
      else {
        if (start < cutStart) next.push([start, cutStart - 1]);
        if (end > cutEnd) next.push([cutEnd + 1, end]);
      }
    }
    rest = next;
  }
  return rest;
}

export const intersect = (a: IdSet, b: IdSet): IdRange[] => subtract(a, subtract(a, b));

/** Whether every id of `inner` is in `outer`. */
export const covers = (outer: IdSet, inner: IdSet): boolean => subtract(inner, outer).length === 0;

export const overlaps = (a: IdSet, b: IdSet): boolean => intersect(a, b).length > 0;

export const sameIds = (a: IdSet, b: IdSet): boolean => covers(a, b) && covers(b, a);

/** How many ids the set holds. */
export const idCount = (set: IdSet): number => normalize(set).reduce((n, [s, e]) => n + e - s + 1, 0);

/** The set as a multirange literal for `set_fence` (`{[1,10],[31,40]}`). */
export const toLiteral = (set: IdSet): string => multirange(normalize(set));

/** `1-10, 31-40` for people; `-` for none. */
export function describeIds(set: IdSet): string {
  const ranges = normalize(set);
  if (ranges.length === 0) return "-";
  return ranges.map(([s, e]) => (s === e ? `${s}` : `${s}-${e}`)).join(", ");
}

/**
 * A multirange as PostgreSQL prints it (`{[1,11),[31,41)}`: an integer multirange is canonical with exclusive upper
 * bounds), read back as inclusive ranges. Any bound style is accepted; an unbounded side is refused, since every
 * fence is bounded by the id type.
 */
export function parseMultirange(text: string): IdRange[] {
  const trimmed = text.trim();
  if (!trimmed.startsWith("{") || !trimmed.endsWith("}")) throw new Error(`not a multirange: ${text}`);
  const inner = trimmed.slice(1, -1).trim();
  if (inner === "") return [];
  const out: IdRange[] = [];
  for (const m of inner.matchAll(/([[(])\s*(-?\d+)\s*,\s*(-?\d+)\s*([\])])/g)) {
    const [, open, lo, hi, close] = m as unknown as [string, string, string, string, string];
    const start = Number(lo) + (open === "(" ? 1 : 0);
    const end = Number(hi) - (close === ")" ? 1 : 0);
    if (start <= end) out.push([start, end]);
  }
  const rebuilt = inner.replace(/([[(])\s*(-?\d+)\s*,\s*(-?\d+)\s*([\])])/g, "").replace(/[\s,]/g, "");
  if (rebuilt !== "") throw new Error(`not a bounded integer multirange: ${text}`);
  return normalize(out);
}
