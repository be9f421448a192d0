/** Planning `add-shard D`: a deployed, empty shard joins the map at the next version. */
import { MAX_ID, MIN_ID } from "../functions/core/shard-map.js";
import type { Fence, FenceValues } from "./fence-state.js";
import { type Base, type Current, ids, publishWrites, refuse, sortShards } from "./plan-current.js";
import type { NoOp, OpSpec, Plan } from "./plan-types.js";
import { describeIds, subtract } from "./ranges.js";

export function planAddShard(
  current: Current,
  fences: readonly Fence[],
  spec: Extract<OpSpec, { kind: "add-shard" }>,
  base: Base,
): Plan | NoOp {
  if (current.shards.some((s) => s.id === spec.shard)) {
    return { noop: `shard ${spec.shard} is already in the map (version ${current.version}): nothing to do` };
  }
  const added = fences.find((f) => f.shard === spec.shard) as Fence;
  if (added.owned.length > 0) {
    refuse(
      `shard ${spec.shard}'s fence owns ${describeIds(added.owned)}: a new shard must own nothing (deploy it with "ranges": [])`,
    );
  }
  const after = sortShards([...current.shards, { id: spec.shard, ranges: [] }]);
  const { version } = base;
  // The ids no shard owns, as the current map says (every known fence agrees on it).
  const unowned = subtract(
    [[MIN_ID, MAX_ID]],
    current.shards.flatMap((s) => s.ranges),
  );
  const joined: FenceValues = { version, owned: [], frozen: [], unowned, map: after };
  const withNew: Current = { ...current, fences: new Map([...current.fences, [spec.shard, added]]) };
  return {
    ...base,
    before: current.shards,
    after,
    involved: ids(withNew),
    steps: [
      {
        name: "join",
        does: `shard ${spec.shard}: owns nothing, map version ${version}`,
        writes: [{ shard: spec.shard, fence: joined }],
      },
      {
        name: "publish",
        does: `every other shard: map version ${version}`,
        writes: publishWrites(current, [spec.shard], version, after),
      },
    ],
  };
}
