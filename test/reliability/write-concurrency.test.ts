/**
 * Concurrent writes: 20 clients over real HTTP, each making a seeded random mix of POST, PUT and DELETE, on a few
 * "hot" ids that all of them fight over (one or two per shard, one starting absent) and on one "cold" id of its
 * own. Afterwards the table must be exactly what the confirmed answers imply:
 *
 * - cold ids (one writer each): replaying that client's answered writes in order gives the final row;
 * - hot ids: the answered writes have an order that respects real time, in which each answer is the one that
 *   write would get, ending in the final row (linearizability, see `test/helpers/reliability-linearizability.ts`);
 * - every row is stored once, on its owning shard only (read straight from each shard's database), and the API
 *   reads the same rows.
 *
 * No fault is injected, so every write must be confirmed or refused (201/200/204, 404, 409): never a 5xx.
 */
import pg from "pg";
import { afterAll, beforeAll, expect, it } from "vitest";
import type { LocalRuntime } from "../../local/runtime.js";
import { httpClient } from "../helpers/api-client.js";
import { DEFAULT_MAP, SEED } from "../helpers/fixtures.js";
import { prng } from "../helpers/prng.js";
import { linearize, type RowState, type WriteOp } from "../helpers/reliability-linearizability.js";
import { recordedWrite, snapshot, startRuntime, watchProcess } from "../helpers/reliability-runtime.js";

const CLIENTS = 20;
const OPS_PER_CLIENT = 40;
const HOT = [5, 15, 25, 35] as const;
/** Starts absent (deleted before the run), so creation races are exercised from the first operation. */
const HOT_ABSENT = 35;
/** One id per client, none of them hot. */
const COLD = [...SEED.keys()].filter((id) => !(HOT as readonly number[]).includes(id)).slice(0, CLIENTS);
const SEED_VALUE = Number(process.env.WRITES_SEED ?? 424_242);

let runtime: LocalRuntime;
let client: ReturnType<typeof httpClient>;
let watch: ReturnType<typeof watchProcess>;

beforeAll(async () => {
  watch = watchProcess();
  runtime = await startRuntime("writes");
  client = httpClient(runtime.url, CLIENTS);
  const deleted = await client.call("DELETE", `/data/${HOT_ABSENT}`);
  expect(deleted.status).toBe(204);
});

afterAll(async () => {
  watch?.stop();
  client?.close();
  await runtime?.stop();
});

interface Recorded extends WriteOp {
  readonly id: number;
  readonly client: number;
}

async function runClient(c: number, random: () => number, log: Recorded[]): Promise<void> {
  for (let i = 0; i < OPS_PER_CLIENT; i++) {
    const id = random() < 0.6 ? (HOT[Math.floor(random() * HOT.length)] as number) : (COLD[c] as number);
    const pick = random();
    const method = pick < 0.35 ? "POST" : pick < 0.7 ? "PUT" : "DELETE";
    const { op } = await recordedWrite(client, method, id, `c${c}-op${i}`);
    log.push({ ...op, id, client: c });
  }
}

/** Every row of every shard's database, read directly: where each row is really stored. */
async function storedRows(): Promise<{ shard: number; id: number; name: string | null }[]> {
  const out: { shard: number; id: number; name: string | null }[] = [];
  for (const shard of runtime.shards) {
    const db = new pg.Client({ ...runtime.postgres, database: shard.database });
    await db.connect();
    try {
      const { rows } = await db.query<{ id: number; name: string | null }>(
        "SELECT id, name FROM data_1 ORDER BY id",
      );
      for (const r of rows) out.push({ shard: shard.id, id: r.id, name: r.name });
    } finally {
      await db.end();
    }
  }
  return out;
}

it(`${CLIENTS} clients x ${OPS_PER_CLIENT} writes on shared and own ids: the table is what the answers imply`, async () => {
  const random = prng(SEED_VALUE);
  // Each client's choices are drawn up front from the one seeded stream, so the plan does not depend on timing.
  const streams = Array.from({ length: CLIENTS }, () => {
    const draws = Array.from({ length: OPS_PER_CLIENT * 3 }, random);
    let k = 0;
    return () => draws[k++] as number;
  });
  const log: Recorded[] = [];
  await Promise.all(streams.map((stream, c) => runClient(c, stream, log)));
  expect(log).toHaveLength(CLIENTS * OPS_PER_CLIENT);

  // No fault is injected: every write is confirmed or refused for a reason of the data, never a 5xx.
  const allowed: Record<string, number[]> = { POST: [201, 409], PUT: [200, 404], DELETE: [204, 404] };
  const odd = log.filter((op) => !allowed[op.method]?.includes(op.status)).map((op) => op.label);
  expect(odd, `seed ${SEED_VALUE}`).toEqual([]);

  // Stored once, on the owning shard; and the API reads exactly what is stored.
  const stored = await storedRows();
  const misplaced = stored.filter((r) => DEFAULT_MAP.ownerOf(r.id) !== r.shard);
  expect(misplaced).toEqual([]);
  const ids = stored.map((r) => r.id);
  expect(new Set(ids).size).toBe(ids.length);
  const final = new Map(stored.map((r) => [r.id, r.name]));
  expect(await snapshot(client)).toEqual(final);

  const stateOf = (id: number): RowState =>
    final.has(id) ? { present: true, name: final.get(id) ?? null } : { present: false };
  const initialOf = (id: number): RowState =>
    id === HOT_ABSENT ? { present: false } : { present: true, name: SEED.get(id) ?? null };

  // Cold ids: one writer, so its answers in order must replay to the final row exactly.
  for (const [c, id] of COLD.entries()) {
    const own = log.filter((op) => op.id === id);
    expect(own.every((op) => op.client === c)).toBe(true);
    expect(linearize(own, initialOf(id), stateOf(id)), `cold id ${id}, seed ${SEED_VALUE}`).toBeDefined();
  }

  // Hot ids: some real-time-respecting order of the answered writes explains every answer and the final row.
  const contention: string[] = [];
  for (const id of HOT) {
    const ops = log.filter((op) => op.id === id);
    const order = linearize(ops, initialOf(id), stateOf(id));
    expect(
      order,
      `hot id ${id} (seed ${SEED_VALUE}): no order explains these answers and the final row ${JSON.stringify(stateOf(id))}:\n${ops
        .sort((a, b) => a.start - b.start)
        .map((op) => op.label)
        .join("\n")}`,
    ).toBeDefined();
    const succeeded = ops.filter((op) => op.status < 300).length;
    contention.push(`${id}: ${ops.length} writes, ${succeeded} applied`);
  }
  console.info(`write concurrency (seed ${SEED_VALUE}): ${contention.join("; ")}`);

  expect(watch.unhandled).toEqual([]);
  expect(watch.warnings).toEqual([]);
});

it("the checker is not vacuous: it rejects a lost write and a false success", () => {
  const t = (start: number, end: number) => ({ start, end });
  const created: WriteOp = { method: "POST", status: 201, name: "a", ...t(0, 1), label: "POST a" };
  const deleted: WriteOp = { method: "DELETE", status: 204, ...t(2, 3), label: "DELETE" };
  // Created, then deleted (in this order in real time): the row must be gone.
  expect(linearize([created, deleted], { present: false }, { present: false })).toBeDefined();
  expect(linearize([created, deleted], { present: false }, { present: true, name: "a" })).toBeUndefined();
  // Two creations that both claim success without a delete between them: impossible.
  const again: WriteOp = { ...created, name: "b", ...t(0.5, 1.5), label: "POST b" };
  expect(linearize([created, again], { present: false }, { present: true, name: "b" })).toBeUndefined();
  // Overlapping writes may land in either order, but one of them must be last.
  const putC: WriteOp = { method: "PUT", status: 200, name: "c", ...t(0.2, 2), label: "PUT c" };
  const putD: WriteOp = { method: "PUT", status: 200, name: "d", ...t(0, 1), label: "PUT d" };
  const seeded: RowState = { present: true, name: "x" };
  expect(linearize([putC, putD], seeded, { present: true, name: "c" })).toBeDefined();
  expect(linearize([putC, putD], seeded, { present: true, name: "d" })).toBeDefined();
  expect(linearize([putC, putD], seeded, { present: true, name: "x" })).toBeUndefined();
  // A write that ended before another began cannot be the last one.
  const later: WriteOp = { ...putD, ...t(3, 4), label: "PUT d later" };
  expect(linearize([putC, later], seeded, { present: true, name: "c" })).toBeUndefined();
});
