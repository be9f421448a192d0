/** Planning `split` and `merge`: the map's shape changes, ownership does not. */
import type { IdRange } from "../functions/core/shard-map.js";
import {
  type Base,
  type Current,
  fenceOf,
  ids,
  publishWrites,
  refuse,
  sortRanges,
  values,
} from "./plan-current.js";
import type { OpSpec, Plan } from "./plan-types.js";
import { describeIds } from "./ranges.js";

export /** The ranges after split (the range holding `at` cut before it) or merge (adjacent ranges joined). */
function reshaped(
  ranges: readonly IdRange[],
  spec: Extract<OpSpec, { kind: "split" | "merge" }>,
  shard: number,
): IdRange[] {
  if (spec.kind === "split") {
    const holding = ranges.find(([s, e]) => s <= spec.at && spec.at <= e);
    if (!holding)
      refuse(`shard ${shard} owns no range holding ${spec.at} (its ranges: ${describeIds(ranges)})`);
    const [start, end] = holding as IdRange;
    if (start === spec.at) refuse(`${spec.at} already starts a range of shard ${shard} (${start}-${end})`);
    return sortRanges([...ranges.filter((r) => r !== holding), [start, spec.at - 1], [spec.at, end]]);
  }
  const out: [number, number][] = [];
  for (const [s, e] of sortRanges(ranges)) {
    const last = out.at(-1);
    if (last && s === last[1] + 1) last[1] = e;
    else out.push([s, e]);
  }
  if (out.length === ranges.length)
    refuse(`shard ${shard} has no adjacent ranges to merge (its ranges: ${describeIds(ranges)})`);
  return out;
}

export function planReshape(
  current: Current,
  spec: Extract<OpSpec, { kind: "split" | "merge" }>,
  base: Base,
): Plan {
  const target = fenceOf(current, spec.shard);
  const own = current.shards.find((s) => s.id === spec.shard)?.ranges ?? [];
  const after = current.shards.map((s) =>
    s.id === spec.shard ? { id: s.id, ranges: reshaped(own, spec, s.id) } : s,
  );
  const { version } = base;
  const what = spec.kind === "split" ? `split at ${spec.at}` : "adjacent ranges merged";
  return {
    ...base,
    before: current.shards,
    after,
    involved: ids(current),
    steps: [
      {
        name: "reshape",
        does: `shard ${spec.shard}: map version ${version} (${what}), ownership unchanged`,
        writes: [{ shard: spec.shard, fence: values(target, { version, map: after }) }],
      },
      {
        name: "publish",
        does: `every other shard: map version ${version}`,
        writes: publishWrites(current, [spec.shard], version, after),
      },
    ],
  };
}
