/** Planning `assign RANGE to shard D`: ids no shard owns, taken frozen, published, opened (no rows move). */

import {
  type Base,
  type Current,
  fenceOf,
  ids,
  publishWrites,
  rangeText,
  refuse,
  values,
  withRange,
} from "./plan-current.js";
import type { OpSpec, Plan } from "./plan-types.js";
import { covers, describeIds, overlaps, subtract, union } from "./ranges.js";

export function planAssign(current: Current, spec: Extract<OpSpec, { kind: "assign" }>, base: Base): Plan {
  const target = fenceOf(current, spec.shard);
  const range = [spec.range];
  for (const f of current.fences.values()) {
    if (!covers(f.unowned, range)) {
      const owner = current.shards.find((s) => overlaps(s.ranges, range));
      refuse(
        `${rangeText(spec.range)} is not unowned: ${owner ? `shard ${owner.id} owns ${describeIds(subtract(range, subtract(range, owner.ranges)))}` : `shard ${f.shard}'s fence does not list it as unowned`}`,
      );
    }
  }
  const after = withRange(current.shards, spec.shard, spec.range);
  const { version } = base;
  const taken = values(target, {
    version,
    map: after,
    owned: union(target.owned, range),
    frozen: union(target.frozen, range),
    unowned: subtract(target.unowned, range),
  });
  return {
    ...base,
    before: current.shards,
    after,
    involved: ids(current),
    steps: [
      {
        name: "check",
        does: `check ${rangeText(spec.range)} is unowned; delete leftovers on shard ${spec.shard}`,
        writes: [],
      },
      {
        name: "take",
        does: `shard ${spec.shard} owns ${rangeText(spec.range)}, frozen`,
        writes: [{ shard: spec.shard, fence: taken }],
      },
      {
        name: "publish",
        does: `every other shard: map version ${version}, ${rangeText(spec.range)} no longer unowned`,
        writes: publishWrites(current, [spec.shard], version, after, (f) => ({
          unowned: subtract(f.unowned, range),
        })),
      },
      {
        name: "open",
        does: `shard ${spec.shard} opens ${rangeText(spec.range)} for writes`,
        writes: [{ shard: spec.shard, fence: { ...taken, frozen: target.frozen } }],
      },
    ],
  };
}
