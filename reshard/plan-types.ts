/**
 * The planner's types, apart from its code so that the planner (plan.ts), its operations (plan-*.ts) and the fence
 * reader (fence-state.ts) all import them from here, none from another: one-way imports.
 */
import type { IdRange, ShardRanges } from "../functions/core/shard-map.js";

/** Everything `set_fence` writes: a fence is always written whole. */
export interface FenceValues {
  readonly version: number;
  readonly owned: readonly IdRange[];
  readonly frozen: readonly IdRange[];
  readonly unowned: readonly IdRange[];
  readonly map: readonly ShardRanges[];
}

export interface Fence extends FenceValues {
  readonly shard: number;
}

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
  /** Rows per batch copied or deleted, and the pause after each (see `Pacing`). */
  readonly batch: number;
  readonly pauseMs: number;
  readonly nice?: number;
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
  readonly nice: number;
}

/** What an operation with nothing to do says (`add-shard` of a shard already in the map). */
export interface NoOp {
  readonly noop: string;
}
