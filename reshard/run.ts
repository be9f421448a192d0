/**
 * The commands, once the command line is parsed and the targets known: status, an operation (planned, printed with
 * --dry-run or run), resume and abort. Each returns the exit code: 0 done, 1 refused or failed (the message says
 * why, and for a failed step what to run next).
 */
import type { IdRange } from "../functions/core/shard-map.js";
import { quoteIdent } from "../functions/core/sql-identifier.js";
import { assertNever } from "./assert.js";
import { countRows, TABLE } from "./batches.js";
import type { RunContext, StepHooks } from "./context.js";
import { ShardCallError } from "./errors.js";
import { abortable, abortPlan, runPlan } from "./execute.js";
import { type Fence, parseFence, READ_FENCE_SQL } from "./fence-state.js";
import { describeSpec, planLines, statusLines, summaryLine } from "./output.js";
import { type OpSpec, type Plan, planOperation } from "./plan.js";
import { ShardAdmin } from "./shard-admin.js";
import { ABORTING, newOperationId, openRows, type Unfinished, unfinished } from "./state.js";
import type { ShardTarget } from "./targets.js";

export type Command =
  | { readonly name: "status" }
  | { readonly name: "resume" }
  | { readonly name: "abort" }
  | {
      readonly name: "operation";
      readonly spec: OpSpec;
      readonly dryRun: boolean;
      readonly batch: number;
      readonly pauseMs: number;
      readonly nice: number;
    };

export interface RunOptions {
  readonly out: (line: string) => void;
  readonly err: (line: string) => void;
  readonly shardTimeoutMs: number;
  readonly pollMs?: number;
  readonly streamStartMs?: number;
  readonly hooks?: StepHooks;
}

/** A command's context: `changing` is set once a failure would leave an operation part-way (the hint says so). */
interface CommandContext extends RunContext {
  changing: boolean;
}

const changing = (ctx: CommandContext) => {
  ctx.changing = true;
};

async function readFences(ctx: RunContext): Promise<Fence[]> {
  return Promise.all(
    [...ctx.shards.values()].map(async (shard) => {
      const fence = parseFence(await shard.one(READ_FENCE_SQL), `shard ${shard.id}`);
      if (fence.shard !== shard.id) {
        throw new ShardCallError(
          shard.id,
          `its database holds the fence of shard ${fence.shard}: check the targets`,
        );
      }
      return fence;
    }),
  );
}

async function status(ctx: CommandContext): Promise<number> {
  const admins = [...ctx.shards.values()];
  const [fences, rows, open] = await Promise.all([
    readFences(ctx),
    Promise.all(
      admins.map(async (s) => Number((await s.one(`SELECT count(*) AS n FROM ${quoteIdent(TABLE)}`)).n)),
    ),
    openRows(admins).then(unfinished),
  ]);
  let progress: string | undefined;
  if (open?.plan.spec.kind === "move" && open.step === "copy") {
    const { from, to, range } = open.plan.spec;
    const [total, copied] = await Promise.all([
      countRows(ctx.shards.get(from) as ShardAdmin, range as IdRange),
      countRows(ctx.shards.get(to) as ShardAdmin, range as IdRange),
    ]);
    progress = `copy: ${copied.toLocaleString("en-US")} / ${total.toLocaleString("en-US")} rows copied so far`;
  }
  const shards = fences.map((fence, i) => ({ fence, rows: rows[i] ?? 0 }));
  for (const line of statusLines(shards, open, progress)) ctx.out(line);
  return 0;
}

/** For a finished move's summary: the rows of the range its target holds. */
async function movedRows(ctx: RunContext, plan: Plan): Promise<{ rows?: number }> {
  const spec = plan.spec;
  if (spec.kind !== "move") return {};
  return { rows: await countRows(ctx.shards.get(spec.to) as ShardAdmin, spec.range) };
}

const refusedBecauseOpen = (open: Unfinished) =>
  `operation ${open.plan.id} (${describeSpec(open.plan.spec)}) is unfinished in step ${open.step}: run resume${
    abortable(open.plan, open.step) ? " or abort" : ""
  } first`;

async function operation(ctx: CommandContext, cmd: Extract<Command, { name: "operation" }>): Promise<number> {
  const admins = [...ctx.shards.values()];
  const open = unfinished(await openRows(admins));
  if (open) {
    ctx.err(`reshard: ${refusedBecauseOpen(open)}`);
    return 1;
  }
  const fences = await readFences(ctx);
  const plan = planOperation(fences, cmd.spec, {
    id: newOperationId(cmd.spec.kind),
    batch: cmd.batch,
    pauseMs: cmd.pauseMs,
    nice: cmd.nice,
  });
  if ("noop" in plan) {
    ctx.out(plan.noop);
    return 0;
  }
  if (cmd.dryRun) {
    for (const line of planLines(plan)) ctx.out(line);
    ctx.out("dry run: nothing was changed");
    return 0;
  }
  const started = performance.now();
  changing(ctx);
  await runPlan(ctx, plan);
  ctx.out(summaryLine(plan, performance.now() - started, await movedRows(ctx, plan)));
  return 0;
}

async function resume(ctx: CommandContext): Promise<number> {
  const open = unfinished(await openRows([...ctx.shards.values()]));
  if (!open) {
    ctx.out("no operation to resume");
    return 0;
  }
  const started = performance.now();
  changing(ctx);
  if (open.step === ABORTING) {
    await abortPlan(ctx, open.plan);
    ctx.out(`aborted: ${describeSpec(open.plan.spec)} (operation ${open.plan.id})`);
    return 0;
  }
  ctx.err(`resuming ${open.plan.id} (${describeSpec(open.plan.spec)}) at step ${open.step}`);
  await runPlan(ctx, open.plan, open.step);
  ctx.out(
    summaryLine(open.plan, performance.now() - started, {
      resumed: true,
      ...(await movedRows(ctx, open.plan)),
    }),
  );
  return 0;
}

async function abort(ctx: CommandContext): Promise<number> {
  const open = unfinished(await openRows([...ctx.shards.values()]));
  if (!open) {
    ctx.out("no operation to abort");
    return 0;
  }
  if (!abortable(open.plan, open.step)) {
    ctx.err(
      `reshard: operation ${open.plan.id} (${describeSpec(open.plan.spec)}) is in step ${open.step}, past the point where it can be undone: run resume`,
    );
    return 1;
  }
  changing(ctx);
  await abortPlan(ctx, open.plan);
  ctx.out(`aborted: ${describeSpec(open.plan.spec)} (operation ${open.plan.id}, was in step ${open.step})`);
  return 0;
}

/** Runs one command against the targets; every error is reported on `err` as one line, exit code 1. */
export async function runCommand(
  cmd: Command,
  targets: readonly ShardTarget[],
  opts: RunOptions,
): Promise<number> {
  const shards = new Map(targets.map((t) => [t.id, new ShardAdmin(t)]));
  const ctx: CommandContext = {
    shards,
    targets: new Map(targets.map((t) => [t.id, t])),
    out: opts.out,
    err: opts.err,
    shardTimeoutMs: opts.shardTimeoutMs,
    pollMs: opts.pollMs ?? 250,
    streamStartMs: opts.streamStartMs ?? 60_000,
    ...(opts.hooks ? { hooks: opts.hooks } : {}),
    changing: false,
  };
  try {
    switch (cmd.name) {
      case "status":
        return await status(ctx);
      case "operation":
        return await operation(ctx, cmd);
      case "resume":
        return await resume(ctx);
      case "abort":
        return await abort(ctx);
      default:
        return assertNever(cmd);
    }
  } catch (err) {
    const e = err as Error;
    opts.err(`reshard: ${e.name}: ${e.message}`);
    if (ctx.changing)
      opts.err("reshard: the operation stopped part-way: `status` shows where, `resume` continues it");
    return 1;
  } finally {
    for (const shard of shards.values()) shard.close();
  }
}
