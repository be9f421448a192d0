/**
 * The operation's durable state: one `sharding.operation` row on every shard it involves, holding the whole plan
 * (`spec`) and the step it is in. The step is recorded on every involved shard BEFORE the step runs, so a tool that
 * dies anywhere leaves rows that say which step to re-run; each step is written to be re-run.
 */
import { randomBytes } from "node:crypto";
import { FENCE_SCHEMA } from "../functions/core/fence.js";
import { RefusedError } from "./errors.js";
import { type OpKind, type Plan, STEPS } from "./plan.js";
import { type ShardAdmin, str } from "./shard-admin.js";

export const DONE = "done";
export const ABORTED = "aborted";
/** The step an abort records first: a tool that dies while aborting finishes the abort when resumed. */
export const ABORTING = "abort";

/** `move_20260102T030405_a1b2c3`: sortable by start, unique, and a valid part of a PostgreSQL name. */
export function newOperationId(
  kind: OpKind,
  now = new Date(),
  random = randomBytes(3).toString("hex"),
): string {
  const stamp = now
    .toISOString()
    .replace(/[-:]/g, "")
    .replace(/\.\d+Z$/, "")
    .toLowerCase();
  return `${kind.replace("-", "_")}_${stamp}_${random}`;
}

/** One shard's row of an operation that is not done or aborted. */
export interface OpenRow {
  readonly shard: number;
  readonly id: string;
  readonly step: string;
  readonly plan: Plan;
  readonly updatedAt: string;
}

export async function openRows(shards: readonly ShardAdmin[]): Promise<OpenRow[]> {
  const all = await Promise.all(
    shards.map(async (shard) => {
      const rows = await shard.query(
        `SELECT id, step, spec::text AS spec, updated_at::text AS updated_at FROM ${FENCE_SCHEMA}.operation
          WHERE step NOT IN ('${DONE}', '${ABORTED}') ORDER BY started_at`,
      );
      return rows.map(
        (r): OpenRow => ({
          shard: shard.id,
          id: String(r.id),
          step: String(r.step),
          plan: JSON.parse(String(r.spec)) as Plan,
          updatedAt: String(r.updated_at),
        }),
      );
    }),
  );
  return all.flat();
}

/** An unfinished operation: its plan and the step to continue from (the furthest any shard recorded). */
export interface Unfinished {
  readonly plan: Plan;
  readonly step: string;
  readonly rows: readonly OpenRow[];
}

const stepIndex = (plan: Plan, step: string) =>
  step === ABORTING ? Number.MAX_SAFE_INTEGER : STEPS[plan.spec.kind].indexOf(step);

export function unfinished(rows: readonly OpenRow[]): Unfinished | undefined {
  const first = rows[0];
  if (!first) return undefined;
  const ids = [...new Set(rows.map((r) => r.id))];
  if (ids.length > 1)
    throw new RefusedError(`several operations are unfinished (${ids.join(", ")}): resolve them by hand`);
  // A step is recorded on one shard after the other: the furthest recorded one may have started, and every step
  // before it has finished (a step is recorded only once the one before it is done).
  const furthest = rows.reduce((a, b) =>
    stepIndex(first.plan, b.step) > stepIndex(first.plan, a.step) ? b : a,
  );
  return { plan: first.plan, step: furthest.step, rows };
}

/** Records `step` for the operation on every shard it involves (creating the row where it is missing). */
export async function recordStep(
  shards: ReadonlyMap<number, ShardAdmin>,
  plan: Plan,
  step: string,
): Promise<void> {
  for (const id of plan.involved) {
    const shard = shards.get(id);
    if (!shard) throw new RefusedError(`shard ${id} of operation ${plan.id} is not among the targets`);
    await shard.run(
      `INSERT INTO ${FENCE_SCHEMA}.operation (id, kind, spec, step) VALUES (:id, :kind, CAST(:spec AS jsonb), :step)
       ON CONFLICT (id) DO UPDATE SET step = EXCLUDED.step, updated_at = now()`,
      [str("id", plan.id), str("kind", plan.spec.kind), str("spec", JSON.stringify(plan)), str("step", step)],
    );
  }
}
