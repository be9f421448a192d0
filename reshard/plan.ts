/**
 * The planner: pure. From every shard's fence and one operation it computes the new map, every fence each step
 * writes (whole, as `set_fence` takes them) and the shards that hold the operation's row, or refuses with a message
 * that says why. The plan is stored in the operation's row, so a resumed tool re-runs a step with exactly the values
 * the first run used; `--dry-run` prints it and stops.
 */
import type { IdRange, ShardRanges } from "../functions/core/shard-map.js";
import type { Fence, FenceValues } from "./fence-state.js";
import { planAddShard } from "./plan-add-shard.js";
import { planAssign } from "./plan-assign.js";
import { currentState, refuse } from "./plan-current.js";
import { planMove } from "./plan-move.js";
import { planReshape } from "./plan-reshape.js";

export type OpSpec =
  | { readonly kind: "assign"; readonly shard: number; readonly range: IdRange }
  | { readonly kind: "split"; readonly shard: number; readonly at: number }
  | { readonly kind: "merge"; readonly shard: number }
  | { readonly kind: "add-shard"; readonly shard: number }
  | { readonly kind: "move"; readonly range: IdRange; readonly from: number; readonly to: number };

export type OpKind = OpSpec["kind"];

export interface FenceWrite {
  readonly shard: number;
  readonly fence: FenceValues;
  /** The move's marker, written with the freeze. */
  readonly marker?: string;
}

export interface PlanStep {
  readonly name: string;
  /** What the step does, for `--dry-run` and `status`. */
  readonly does: string;
  readonly writes: readonly FenceWrite[];
}

export interface Plan {
  readonly id: string;
  readonly spec: OpSpec;
  /** Rows per DELETE and the pause between two (leftovers and cleanup). */
  readonly batch: number;
  readonly pauseMs: number;
  readonly fromVersion: number;
  readonly version: number;
  readonly before: readonly ShardRanges[];
  readonly after: readonly ShardRanges[];
  /** The shards that hold the operation's row (`sharding.operation`). */
  readonly involved: readonly number[];
  readonly steps: readonly PlanStep[];
  /** A move's way back, up to `catchup`: the source's fence as it was before the freeze. */
  readonly abortWrites?: readonly FenceWrite[];
}

/** Steps in order, per kind: the names the operation's row records. */
export const STEPS: Readonly<Record<OpKind, readonly string[]>> = {
  assign: ["check", "take", "publish", "open"],
  split: ["reshape", "publish"],
  merge: ["reshape", "publish"],
  "add-shard": ["join", "publish"],
  move: [
    "prepare",
    "copy",
    "freeze",
    "catchup",
    "switch-target",
    "switch-source",
    "open",
    "publish",
    "cleanup",
  ],
};

/** The last step of a move that `abort` may undo: after it, the target owns the range. */
export const LAST_ABORTABLE_MOVE_STEP = "catchup";

export interface PlanOptions {
  readonly id: string;
  readonly batch: number;
  readonly pauseMs: number;
}

/** What an operation with nothing to do says (`add-shard` of a shard already in the map). */
export interface NoOp {
  readonly noop: string;
}

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
