/**
 * Planning `move RANGE from A to B`: the fence writes of freeze, switch-target, switch-source, open and publish, and
 * the source's fence as it was, which an abort writes back.
 */

import {
  type Base,
  type Current,
  fenceOf,
  publishWrites,
  rangeText,
  refuse,
  values,
  withoutRange,
  withRange,
} from "./plan-current.js";
import type { OpSpec, Plan } from "./plan-types.js";
import { covers, describeIds, subtract, union } from "./ranges.js";

export function planMove(current: Current, spec: Extract<OpSpec, { kind: "move" }>, base: Base): Plan {
  if (spec.from === spec.to) refuse(`shard ${spec.from} is both source and target: a move needs two shards`);
  const source = fenceOf(current, spec.from);
  const target = fenceOf(current, spec.to);
  const range = [spec.range];
  if (!covers(source.owned, range)) {
    refuse(
      `shard ${spec.from} does not own all of ${rangeText(spec.range)} (it owns ${describeIds(source.owned)}; ${describeIds(subtract(range, source.owned))} is not its)`,
    );
  }
  const after = withRange(withoutRange(current.shards, spec.from, spec.range), spec.to, spec.range);
  const { version, id } = base;
  const frozenSource = values(source, { frozen: union(source.frozen, range) });
  const switchedTarget = values(target, {
    version,
    map: after,
    owned: union(target.owned, range),
    frozen: union(target.frozen, range),
  });
  const r = rangeText(spec.range);
  return {
    ...base,
    before: current.shards,
    after,
    involved: [spec.from, spec.to],
    steps: [
      {
        name: "prepare",
        does: `publication reshard_${id} on shard ${spec.from}`,
        writes: [],
      },
      {
        name: "copy",
        does: `slot (shard ${spec.from}), copy ${r} to shard ${spec.to} in batches, subscription (shard ${spec.to}) reshard_${id}`,
        writes: [],
      },
      {
        name: "freeze",
        does: `shard ${spec.from} freezes ${r} (writes wait), marker ${id}`,
        writes: [{ shard: spec.from, fence: frozenSource, marker: id }],
      },
      {
        name: "catchup",
        does: `wait for the marker on shard ${spec.to}`,
        writes: [],
      },
      {
        name: "switch-target",
        does: `shard ${spec.to} owns ${r}, frozen; map version ${version}`,
        writes: [{ shard: spec.to, fence: switchedTarget }],
      },
      {
        name: "switch-source",
        does: `shard ${spec.from} no longer owns ${r}; map version ${version}`,
        writes: [
          {
            shard: spec.from,
            fence: values(source, {
              version,
              map: after,
              owned: subtract(source.owned, range),
              frozen: subtract(source.frozen, range),
            }),
          },
        ],
      },
      {
        name: "open",
        does: `shard ${spec.to} opens ${r} for writes`,
        writes: [{ shard: spec.to, fence: { ...switchedTarget, frozen: target.frozen } }],
      },
      {
        name: "publish",
        does: `every other shard: map version ${version}`,
        writes: publishWrites(current, [spec.from, spec.to], version, after),
      },
      {
        name: "cleanup",
        does: `drop subscription, slot, publication; shard ${spec.from} deletes its rows of ${r}`,
        writes: [],
      },
    ],
    abortWrites: [{ shard: spec.from, fence: values(source, {}) }],
  };
}
