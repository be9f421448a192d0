/**
 * What a move's steps do besides writing fences (those are in the plan): prepare the publication, copy the rows and
 * start the replication, wait for the freeze's marker, take the replication down and delete the source's rows; and
 * the abort.
 */
import { FENCE_SCHEMA } from "../functions/core/fence.js";
import type { IdRange } from "../functions/core/shard-map.js";
import { deleteRange, type Pacing, sleep } from "./batches.js";
import { type RunContext, shardOf } from "./context.js";
import { copyRange, startOver } from "./copy.js";
import { RefusedError, StepTimeoutError } from "./errors.js";
import { writeFence } from "./fence-state.js";
import type { OpSpec, Plan } from "./plan.js";
import {
  createPublication,
  createSubscription,
  dropReplication,
  replicationName,
  subscriptionExists,
  waitStreaming,
} from "./replication.js";
import { type ShardAdmin, str } from "./shard-admin.js";
import { replicationLogin } from "./targets.js";

type MoveSpec = Extract<OpSpec, { kind: "move" }>;

const pacing = ({ batch, pauseMs, nice }: Plan): Pacing => ({ batch, pauseMs, nice });

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

/** The publication on the source; the login the target's subscription will use is checked now, before any copy. */
export async function prepare(ctx: RunContext, plan: Plan): Promise<void> {
  const { spec, range, source, name } = parts(ctx, plan);
  await loginOf(ctx, spec.from);
  await createPublication(source, name, plan.id, range);
}

async function loginOf(ctx: RunContext, shard: number) {
  const targetOf = ctx.targets.get(shard);
  if (!targetOf) throw new RefusedError(`shard ${shard} is not among the targets`);
  return replicationLogin(targetOf);
}

/**
 * Copies the range (copy.ts), then creates the subscription that streams the source's changes from the copy's
 * snapshot on, and waits until it streams. A subscription that exists says a copy finished: a re-run only waits.
 * Otherwise the copy starts over, whatever an earlier try left.
 */
export async function copy(ctx: RunContext, plan: Plan): Promise<void> {
  const { spec, range, source, target, name } = parts(ctx, plan);
  if (!(await subscriptionExists(target, name))) {
    const login = await loginOf(ctx, spec.from);
    const opts = { ...pacing(plan), log: ctx.err };
    const left = await startOver(source, target, name, range, opts);
    if (left > 0) ctx.err(`copy: deleted ${left} rows of ${range[0]}-${range[1]} left on shard ${spec.to}`);
    await copyRange(source, target, name, range, opts);
    await createSubscription(target, name, login);
  }
  if (!(await waitStreaming(source, name, ctx.streamStartMs))) {
    throw new StepTimeoutError(
      `copy: the subscription on shard ${spec.to} has not connected to shard ${spec.from} in ${ctx.streamStartMs} ms; see shard ${spec.to}'s PostgreSQL log, then resume or abort`,
    );
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
    ...pacing(plan),
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
    ...pacing(plan),
    progress: { label: "abort: delete copy", write: ctx.err },
  });
  await deleteMarkers(plan, [source, target]);
}
