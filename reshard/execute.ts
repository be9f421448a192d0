/**
 * Runs a plan step by step: record the step on every involved shard, then do it (its work, then its fence writes,
 * each one `set_fence` on one shard), then the next; `done` at the end. Also the abort of an operation that may
 * still be undone. Which steps may be aborted is decided here too, so `abort` and a failed catch-up agree.
 */
import { assertNever } from "./assert.js";
import { deleteRange } from "./batches.js";
import { type RunContext, shardOf } from "./context.js";
import { RefusedError, StepTimeoutError } from "./errors.js";
import { writeFence } from "./fence-state.js";
import * as move from "./move.js";
import { LAST_ABORTABLE_MOVE_STEP, type Plan, STEPS } from "./plan.js";
import { ABORTED, ABORTING, DONE, recordStep } from "./state.js";

/** A step's own work besides its fence writes; false when a move's catch-up timed out. */
async function work(ctx: RunContext, plan: Plan, step: string): Promise<boolean> {
  const spec = plan.spec;
  switch (spec.kind) {
    case "assign":
      if (step === "check") {
        const left = await deleteRange(shardOf(ctx, spec.shard), spec.range, plan);
        if (left > 0) ctx.err(`check: deleted ${left} leftover rows on shard ${spec.shard}`);
      }
      return true;
    case "move":
      if (step === "prepare") await move.prepare(ctx, plan);
      else if (step === "copy") await move.copy(ctx, plan);
      else if (step === "catchup") return move.catchup(ctx, plan);
      else if (step === "cleanup") await move.cleanup(ctx, plan);
      return true;
    case "split":
    case "merge":
    case "add-shard":
      return true;
    default:
      return assertNever(spec);
  }
}

/** Runs `plan` from `fromStep` (its first step when unset) to `done`. */
export async function runPlan(ctx: RunContext, plan: Plan, fromStep?: string): Promise<void> {
  const start = fromStep === undefined ? 0 : plan.steps.findIndex((s) => s.name === fromStep);
  if (start < 0) throw new RefusedError(`operation ${plan.id} has no step ${fromStep}`);
  for (const step of plan.steps.slice(start)) {
    await recordStep(ctx.shards, plan, step.name);
    await ctx.hooks?.beforeStep?.(step.name);
    ctx.err(`${plan.id}: ${step.name}: ${step.does}`);
    if (!(await work(ctx, plan, step.name))) {
      await abortPlan(ctx, plan);
      throw new StepTimeoutError(
        `catchup: the freeze's marker did not reach shard ${(plan.spec as { to: number }).to} within ${ctx.shardTimeoutMs * 5} ms: the move was aborted`,
      );
    }
    for (const write of step.writes) await writeFence(shardOf(ctx, write.shard), write);
    await ctx.hooks?.afterStep?.(step.name);
  }
  await recordStep(ctx.shards, plan, DONE);
}

/** Whether an operation in `step` may still be aborted (else only `resume`, forward). */
export function abortable(plan: Plan, step: string): boolean {
  if (step === ABORTING) return true;
  const steps = STEPS[plan.spec.kind];
  if (plan.spec.kind === "move") return steps.indexOf(step) <= steps.indexOf(LAST_ABORTABLE_MOVE_STEP);
  // An assign changes nothing before `take`; split, merge and add-shard only reshape the map: finish them.
  return plan.spec.kind === "assign" && step === "check";
}

/** Undoes the operation (it must be abortable) and records `aborted`. */
export async function abortPlan(ctx: RunContext, plan: Plan): Promise<void> {
  await recordStep(ctx.shards, plan, ABORTING);
  ctx.err(`${plan.id}: abort`);
  if (plan.spec.kind === "move") await move.undo(ctx, plan);
  await recordStep(ctx.shards, plan, ABORTED);
}
