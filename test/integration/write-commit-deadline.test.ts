/**
 * A write the API gave up on never takes effect afterwards, whatever the session's settings (docs/api.md, "What a 503
 * means for your write"): the deadline is checked again at COMMIT by the shard (infra/fence-sql.ts), not only when the
 * statement starts. Shown with real PostgreSQL: the function's role loses its statement and lock timeouts, a lock is
 * held on the row past the write's deadline, and the write, which then runs to its commit, is rolled back there.
 */
import pg from "pg";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { type LocalRuntime, startLocalRuntime } from "../../local/runtime.js";
import { get, put } from "../helpers/api-client.js";
import { sleep } from "../helpers/wait.js";

let runtime: LocalRuntime;
let db: pg.Client;
let apiRole: string;

beforeAll(async () => {
  runtime = await startLocalRuntime({ postgres: inject("postgres"), prefix: `commit_by_${process.pid}` });
  const shard = runtime.shards[0];
  if (!shard) throw new Error("no shard 1");
  db = new pg.Client({ ...shard.postgres, database: shard.database });
  await db.connect();
  const { rows } = await db.query<{ rolname: string }>(
    "SELECT rolname FROM pg_roles WHERE rolname LIKE $1 || '%\\_api'",
    [`commit_by_${process.pid}`],
  );
  apiRole = rows[0]?.rolname ?? "";
  // A role whose timeouts someone cleared: nothing but the commit-time check bounds a write that waits for a lock.
  await db.query(`ALTER ROLE "${apiRole}" SET statement_timeout = 0`);
  await db.query(`ALTER ROLE "${apiRole}" SET lock_timeout = 0`);
  // Sessions the pool may already hold keep the old settings: end them, so every call runs without timeouts.
  await db.query("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = $1", [apiRole]);
});

afterAll(async () => {
  await db?.end();
  await runtime?.stop();
});

/** A PUT of `id` while another session holds the row's lock for `holdMs`, past the write's whole deadline. */
async function putBehindLock(id: number, name: string, holdMs: number) {
  const holder = new pg.Client({ ...runtime.shards[0]?.postgres, database: runtime.shards[0]?.database });
  await holder.connect();
  try {
    await holder.query("BEGIN");
    await holder.query("SELECT id FROM data_1 WHERE id = $1 FOR UPDATE", [id]);
    const answer = put(runtime.url, id, { name });
    await sleep(holdMs);
    await holder.query("COMMIT");
    return await answer;
  } finally {
    await holder.end();
  }
}

/** The row's name once every session that could still commit a write to it has ended. */
async function settledName(id: number): Promise<string> {
  for (let i = 0; i < 100; i++) {
    const { rows } = await db.query(
      "SELECT count(*)::int AS n FROM pg_stat_activity WHERE usename = $1 AND state = 'active'",
      [apiRole],
    );
    if (rows[0]?.n === 0) break;
    await sleep(50);
  }
  return (
    (await db.query<{ name: string }>("SELECT name FROM data_1 WHERE id = $1", [id])).rows[0]?.name ?? ""
  );
}

describe("the write deadline at commit", () => {
  it("rolls back a write that reached its commit after its deadline: the 503 stays true", async () => {
    const answer = await putBehindLock(5, "too late", 2600);
    expect(answer.status).toBe(503);
    expect(answer.body).toMatchObject({ error: { code: "shard_unavailable" }, outcome: "unknown" });
    expect(await settledName(5)).toBe("Test 5");
    expect((await get(runtime.url, "/data/5")).body.item).toEqual({ id: 5, name: "Test 5" });
  });

  it("is what keeps it out: without the shard's commit-time check the same write commits after its 503", async () => {
    await db.query("DROP TRIGGER sharding_commit_by ON data_1");
    const answer = await putBehindLock(6, "too late", 2600);
    expect([answer.status, answer.body.outcome]).toEqual([503, "unknown"]);
    expect(await settledName(6)).toBe("too late");
  });
});
