/**
 * The planner: pure. From every shard's fence and one operation it computes the new map, every fence each step
 * writes (whole, as `set_fence` takes them) and the shards that hold the operation's row, or refuses with a message
 * that says why. The plan is stored in the operation's row, so a resumed tool re-runs a step with exactly the values
 * the first run used; `--dry-run` prints it and stops.
 */
import type { Fence } from "./fence-state.js";
import { planAddShard } from "./plan-add-shard.js";
import { planAssign } from "./plan-assign.js";
import { currentState, refuse } from "./plan-current.js";
import { planMove } from "./plan-move.js";
import { planReshape } from "./plan-reshape.js";
import type { NoOp, OpSpec, Plan, PlanOptions } from "./plan-types.js";

export {
  type FenceWrite,
  LAST_ABORTABLE_MOVE_STEP,
  type NoOp,
  type OpKind,
  type OpSpec,
  type Plan,
  type PlanOptions,
  type PlanStep,
  STEPS,
} from "./plan-types.js";

/** The plan of one operation, or a refusal (RefusedError) that changes nothing. */
export function planOperation(fences: readonly Fence[], spec: OpSpec, opts: PlanOptions): Plan | NoOp {
  const newShard = spec.kind === "add-shard" ? spec.shard : undefined;
  if (newShard !== undefined && !fences.some((f) => f.shard === newShard)) {
    refuse(
      `there is no shard ${newShard} among the targets: deploy it first (SHARD_MAP locally, cdk deploy in AWS)`,
    );
  }
  const current = currentState(fences, newShard);
  // Above every fence, the new shard's too: set_fence never goes back to an older version.
  const version = Math.max(...fences.map((f) => f.version)) + 1;
  const base = {
    id: opts.id,
    spec,
    batch: opts.batch,
    pauseMs: opts.pauseMs,
    nice: opts.nice,
    fromVersion: current.version,
    version,
  };
  switch (spec.kind) {
    case "assign":
      return planAssign(current, spec, base);
    case "split":
    case "merge":
      return planReshape(current, spec, base);
    case "add-shard":
      return planAddShard(current, fences, spec, base);
    case "move":
      return planMove(current, spec, base);
  }
}
