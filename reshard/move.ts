/**
 * What a move's steps do besides writing fences (those are in the plan): prepare the replication, wait for the
 * copy, wait for the freeze's marker and take the replication down, delete the source's rows; and the abort.
 */
import { FENCE_SCHEMA } from "../functions/core/fence.js";
import type { IdRange } from "../functions/core/shard-map.js";
import { countRows, deleteRange } from "./batches.js";
import { type RunContext, shardOf } from "./context.js";
import { RefusedError, StepTimeoutError } from "./errors.js";
import { writeFence } from "./fence-state.js";
import type { OpSpec, Plan } from "./plan.js";
import { Progress } from "./progress.js";
import {
  copiedRows,
  copyState,
  createSourceSide,
  createSubscription,
  dropReplication,
  replicationName,
  subscriptionExists,
} from "./replication.js";
import { type ShardAdmin, str } from "./shard-admin.js";
import { replicationLogin } from "./targets.js";

type MoveSpec = Extract<OpSpec, { kind: "move" }>;

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

function parts(ctx: RunContext, plan: Plan) {
  const spec = plan.spec as MoveSpec;
  return {
    spec,
    range: spec.range as IdRange,
    source: shardOf(ctx, spec.from),
    target: shardOf(ctx, spec.to),
    name: replicationName(plan.id),
  };
}

/**
 * The target's leftovers of the range are deleted only while there is no subscription: once it exists, the rows
 * on the target are the copy's, and a re-run must not delete them.
 */
export async function prepare(ctx: RunContext, plan: Plan): Promise<void> {
  const { spec, range, source, target, name } = parts(ctx, plan);
  if (await subscriptionExists(target, name)) return;
  const targetOf = ctx.targets.get(spec.from);
  if (!targetOf) throw new RefusedError(`shard ${spec.from} is not among the targets`);
  const login = await replicationLogin(targetOf);
  const left = await deleteRange(target, range, { batch: plan.batch, pauseMs: plan.pauseMs });
  if (left > 0)
    ctx.err(`prepare: deleted ${left} leftover rows of ${range[0]}-${range[1]} on shard ${spec.to}`);
  await createSourceSide(source, name, plan.id, range);
  await createSubscription(target, name, login);
}

/** Waits until every table of the subscription has finished its initial copy, printing rows copied. */
export async function copy(ctx: RunContext, plan: Plan): Promise<void> {
  const { range, source, target, name } = parts(ctx, plan);
  const total = await countRows(source, range);
  const progress = new Progress("copy", ctx.err);
  // The count dips for a moment between the end of the initial copy and its commit: show the best seen.
  let best = -1;
  let gainedAt = performance.now();
  for (;;) {
    const [state, copied] = await Promise.all([copyState(target, name), copiedRows(target, range)]);
    if (state.tables === 0) {
      throw new RefusedError(`shard ${target.id} has no subscription ${name}: abort the move`);
    }
    const done = state.ready === state.tables;
    if (done) {
      // Committed rows only: the copy's own progress row may linger for a moment after its commit (counted twice).
      const copiedAll = await countRows(target, range);
      progress.update(copiedAll, Math.max(total, copiedAll), true);
      return;
    }
    const shown = Math.max(copied, best, 0);
    progress.update(shown, Math.max(total, shown), false);
    if (copied > best) {
      best = copied;
      gainedAt = performance.now();
    } else if (performance.now() - gainedAt > ctx.copyStallMs) {
      throw new StepTimeoutError(
        `copy: no row arrived on shard ${target.id} for ${ctx.copyStallMs} ms (${copied} of ${total}); see the PostgreSQL log, then resume or abort`,
      );
    }
    await sleep(ctx.pollMs);
  }
}

async function hasMarker(ctx: RunContext, plan: Plan): Promise<boolean> {
  const { target } = parts(ctx, plan);
  const rows = await target.query(`SELECT 1 FROM ${FENCE_SCHEMA}.move_marker WHERE id = :id`, [
    str("id", plan.id),
  ]);
  return rows.length > 0;
}

/** How often the catch-up looks for the marker: the range is frozen meanwhile, so every poll is write pause. */
const MARKER_POLL_MS = 10;

/**
 * Waits for the freeze's marker on the target: logical replication applies the source's transactions in commit
 * order, so once it is there the target has every write the source committed before the freeze. Returns false when
 * the marker did not come within five shard timeouts (the caller aborts). The replication is taken down later, at
 * cleanup, not here: the range is frozen until `open`, and dropping a subscription waits for the source's walsender
 * to let go of its slot (hundreds of milliseconds), while nothing more can reach the target (the source's rows of
 * the range do not change until cleanup deletes them).
 */
export async function catchup(ctx: RunContext, plan: Plan): Promise<boolean> {
  const { target, name } = parts(ctx, plan);
  const deadline = performance.now() + ctx.shardTimeoutMs * 5;
  while (!(await hasMarker(ctx, plan))) {
    if (!(await subscriptionExists(target, name))) {
      throw new RefusedError(
        `shard ${target.id} has neither the marker nor the subscription ${name}: abort the move`,
      );
    }
    if (performance.now() > deadline) return false;
    await sleep(Math.min(ctx.pollMs, MARKER_POLL_MS));
  }
  return true;
}

/**
 * Takes the replication down (its deletes must never reach the target), then deletes the range's rows on the source
 * (which no longer owns them), with progress.
 */
export async function cleanup(ctx: RunContext, plan: Plan): Promise<void> {
  const { range, source, target, name } = parts(ctx, plan);
  await dropReplication(source, target, name);
  await deleteRange(source, range, {
    batch: plan.batch,
    pauseMs: plan.pauseMs,
    progress: { label: "cleanup", write: ctx.err },
  });
  await deleteMarkers(plan, [source, target]);
}

/** The marker did its work at catch-up; left behind it would only pile up. */
async function deleteMarkers(plan: Plan, shards: readonly ShardAdmin[]) {
  for (const shard of shards) {
    await shard.run(`DELETE FROM ${FENCE_SCHEMA}.move_marker WHERE id = :id`, [str("id", plan.id)]);
  }
}

/**
 * Undoes a move that has not switched: the replication goes, the source's fence as it was before the freeze is
 * written back (writes resume there), and the target's copied rows of the range are deleted.
 */
export async function undo(ctx: RunContext, plan: Plan): Promise<void> {
  const { range, source, target, name } = parts(ctx, plan);
  await dropReplication(source, target, name);
  for (const write of plan.abortWrites ?? []) await writeFence(shardOf(ctx, write.shard), write);
  await deleteRange(target, range, {
    batch: plan.batch,
    pauseMs: plan.pauseMs,
    progress: { label: "abort: delete copy", write: ctx.err },
  });
  await deleteMarkers(plan, [source, target]);
}
