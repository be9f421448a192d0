/** What every step runs with: the shards, where to print, the bounds of its waits and the test hooks. */
import type { ShardAdmin } from "./shard-admin.js";
import type { ShardTarget } from "./targets.js";

/**
 * Called around each step (after the step is recorded, and after it is done). Tests throw from them to stand for a
 * tool killed at that point; the operation's rows are then left exactly as a killed tool leaves them.
 */
export interface StepHooks {
  readonly beforeStep?: (step: string) => void | Promise<void>;
  readonly afterStep?: (step: string) => void | Promise<void>;
}

export interface RunContext {
  readonly shards: ReadonlyMap<number, ShardAdmin>;
  readonly targets: ReadonlyMap<number, ShardTarget>;
  /** Results: the status table, the plan, the summary. */
  readonly out: (line: string) => void;
  /** Progress and notes while a step runs. */
  readonly err: (line: string) => void;
  /** The function's per-call shard timeout: a move's catch-up waits at most five times this for its marker. */
  readonly shardTimeoutMs: number;
  /** How often a wait looks again. */
  readonly pollMs: number;
  /** A subscription that has not begun streaming this long after the copy fails the step (it cannot connect). */
  readonly streamStartMs: number;
  readonly hooks?: StepHooks;
}

export function shardOf(ctx: RunContext, id: number): ShardAdmin {
  const shard = ctx.shards.get(id);
  if (!shard) throw new Error(`shard ${id} is not among the targets`);
  return shard;
}
