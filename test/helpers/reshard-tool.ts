/**
 * Fixtures for the reshard tool's integration tests: the tool run in-process against a local runtime (its targets
 * as `GET /_local/shards` gives them), and direct SQL on the shard databases as the
 * server's superuser to see what the tool did: fences, rows, operation rows and replication objects.
 */
import pg from "pg";
import type { LocalRuntime } from "../../local/runtime.js";
import { parseArgs } from "../../reshard/cli.js";
import type { StepHooks } from "../../reshard/context.js";
import { type Fence, parseFence, READ_FENCE_SQL } from "../../reshard/fence-state.js";
import { runCommand } from "../../reshard/run.js";
import { parseTargets, type ShardTarget } from "../../reshard/targets.js";

/** The runtime's shards as the tool's targets, as `GET /_local/shards` answers them (`runtime.adminTargets`). */
export function runtimeTargets(runtime: LocalRuntime): ShardTarget[] {
  return parseTargets({ shards: runtime.adminTargets }, "the local runtime");
}

export interface ToolRun {
  readonly code: number;
  readonly out: string[];
  readonly err: string[];
}

/** `npm run reshard -- …argv`, in-process, against the runtime; `hooks` stand for a tool killed between steps. */
export async function reshard(
  runtime: LocalRuntime,
  argv: readonly string[],
  hooks?: StepHooks,
): Promise<ToolRun> {
  const parsed = parseArgs(argv);
  if (!parsed) throw new Error("no command");
  const out: string[] = [];
  const err: string[] = [];
  const code = await runCommand(parsed.command, runtimeTargets(runtime), {
    out: (l) => out.push(l),
    err: (l) => err.push(l),
    shardTimeoutMs: parsed.shardTimeoutMs,
    pollMs: 50,
    ...(hooks ? { hooks } : {}),
  });
  return { code, out, err };
}

/** A hook that "kills" the tool at one step. */
export class Killed extends Error {
  override name = "Killed";
}
export const killAt = (step: string) => (at: string) => {
  if (at === step) throw new Killed(`killed at ${step}`);
};

/** Superuser SQL on one shard's database. */
export async function sql<T extends pg.QueryResultRow = Record<string, unknown>>(
  runtime: LocalRuntime,
  shard: number,
  text: string,
  values: unknown[] = [],
): Promise<T[]> {
  const target = runtime.shards.find((s) => s.id === shard);
  if (!target) throw new Error(`no shard ${shard}`);
  // The shard's own server (one per shard with serverPerShard, else the runtime's one).
  const client = new pg.Client({ ...target.postgres, database: target.database });
  await client.connect();
  try {
    return (await client.query<T>(text, values)).rows;
  } finally {
    await client.end();
  }
}

export async function fenceOf(runtime: LocalRuntime, shard: number): Promise<Fence> {
  const [row] = await sql(runtime, shard, READ_FENCE_SQL);
  return parseFence({ ...row, version: Number(row?.version) }, `shard ${shard}`);
}

export async function fences(runtime: LocalRuntime): Promise<Fence[]> {
  return Promise.all(runtime.shards.map((s) => fenceOf(runtime, s.id)));
}

/** Ids of `[lo, hi]` on a shard, ascending. */
export async function idsIn(runtime: LocalRuntime, shard: number, lo: number, hi: number): Promise<number[]> {
  const rows = await sql<{ id: number }>(
    runtime,
    shard,
    "SELECT id FROM data_1 WHERE id BETWEEN $1 AND $2 ORDER BY id",
    [lo, hi],
  );
  return rows.map((r) => r.id);
}

export async function countIn(runtime: LocalRuntime, shard: number, lo: number, hi: number): Promise<number> {
  const [row] = await sql<{ n: string }>(
    runtime,
    shard,
    "SELECT count(*) AS n FROM data_1 WHERE id BETWEEN $1 AND $2",
    [lo, hi],
  );
  return Number(row?.n);
}

/** Every operation row on every shard, as `shard:id:step`. */
export async function operationRows(runtime: LocalRuntime): Promise<string[]> {
  const all = await Promise.all(
    runtime.shards.map(async (s) =>
      (
        await sql<{ id: string; step: string }>(
          runtime,
          s.id,
          "SELECT id, step FROM sharding.operation ORDER BY id",
        )
      ).map((r) => `${s.id}:${r.id}:${r.step}`),
    ),
  );
  return all.flat();
}

/**
 * The tool's replication objects left anywhere on the runtime's databases: subscriptions, slots (the tool's and an
 * initial copy's) and publications. Empty when no move is under way.
 */
export async function replicationLeftovers(runtime: LocalRuntime): Promise<string[]> {
  const databases = runtime.shards.map((s) => s.database);
  const [first] = runtime.shards;
  if (!first) return [];
  const subs = await sql<{ subname: string }>(
    runtime,
    first.id,
    "SELECT s.subname FROM pg_subscription s JOIN pg_database d ON d.oid = s.subdbid WHERE d.datname = ANY($1)",
    [databases],
  );
  const slots = await sql<{ slot_name: string }>(
    runtime,
    first.id,
    "SELECT slot_name FROM pg_replication_slots WHERE database = ANY($1)",
    [databases],
  );
  const pubs = await Promise.all(
    runtime.shards.map(async (s) =>
      (await sql<{ pubname: string }>(runtime, s.id, "SELECT pubname FROM pg_publication")).map(
        (p) => `publication ${p.pubname} on shard ${s.id}`,
      ),
    ),
  );
  return [
    ...subs.map((s) => `subscription ${s.subname}`),
    ...slots.map((s) => `slot ${s.slot_name}`),
    ...pubs.flat(),
  ];
}
