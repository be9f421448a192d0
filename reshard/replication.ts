/**
 * The logical replication that carries a move's changes once its copy is made: on the source a publication of the
 * range's rows (and of this move's marker row) and a slot; on the target a subscription to them. The slot is created
 * on its own (`pg_create_logical_replication_slot`) and the subscription told not to create one: creating a slot
 * waits for every running transaction of the server, the CREATE SUBSCRIPTION's own included when source and target
 * share one PostgreSQL server (locally, and the test suite), and it is how Citus does it.
 */
import { FENCE_SCHEMA } from "../functions/core/fence.js";
import type { IdRange } from "../functions/core/shard-map.js";
import { quoteIdent } from "../functions/core/sql-identifier.js";
import { TABLE } from "./batches.js";
import { ShardCallError } from "./errors.js";
import { type ShardAdmin, str } from "./shard-admin.js";
import type { ReplicationLogin } from "./targets.js";

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** The publication, slot and subscription of one move share this name. Operation ids are `[a-z0-9_]`. */
export function replicationName(opId: string): string {
  if (!/^[a-z0-9_]{1,50}$/.test(opId))
    throw new Error(`operation id ${JSON.stringify(opId)} is not a valid name part`);
  return `reshard_${opId}`;
}

/** A libpq connection value: single-quoted, with quotes and backslashes escaped by a backslash. */
export const libpqValue = (value: string) => `'${value.replaceAll("\\", "\\\\").replaceAll("'", "\\'")}'`;

/** The libpq connection string of a login. */
export function conninfo(login: ReplicationLogin): string {
  const parts: [string, string][] = [
    ["host", login.host],
    ["port", String(login.port)],
    ["dbname", login.dbname],
    ["user", login.user],
    ["password", login.password],
    ...(login.sslmode === undefined ? [] : ([["sslmode", login.sslmode]] as [string, string][])),
  ];
  return parts.map(([k, v]) => `${k}=${libpqValue(v)}`).join(" ");
}

/** An SQL string literal (standard_conforming_strings is on: only quotes are doubled). */
const sqlLiteral = (value: string) => `'${value.replaceAll("'", "''")}'`;

const exists = async (shard: ShardAdmin, sql: string, name: string) =>
  (await shard.query(sql, [str("name", name)])).length > 0;

const PUBLICATION_EXISTS = "SELECT 1 FROM pg_publication WHERE pubname = :name";
const SUBSCRIPTION_EXISTS = `SELECT oid::int8 AS oid FROM pg_subscription WHERE subname = :name
  AND subdbid = (SELECT oid FROM pg_database WHERE datname = current_database())`;

export async function subscriptionExists(target: ShardAdmin, name: string): Promise<boolean> {
  return exists(target, SUBSCRIPTION_EXISTS, name);
}

/**
 * On the source: the publication of the range's rows and of this move's marker (only its own: every move's marker
 * row goes to its own target). It is created before the slot: the slot decodes changes with the catalog of their
 * time, and a publication younger than its slot is unknown there. Only inserts, updates and deletes: row filters do
 * not apply to TRUNCATE.
 */
export async function createPublication(
  source: ShardAdmin,
  name: string,
  opId: string,
  [lo, hi]: IdRange,
): Promise<void> {
  if (await exists(source, PUBLICATION_EXISTS, name)) return;
  await source.run(
    `CREATE PUBLICATION ${quoteIdent(name)} FOR TABLE ${quoteIdent(TABLE)} WHERE (id >= ${Number(lo)} AND id <= ${Number(hi)}),
     ${FENCE_SCHEMA}.move_marker WHERE (id = ${sqlLiteral(opId)}) WITH (publish = 'insert, update, delete')`,
  );
}

/** On the source: the slot (a new one; the copy drops any older one first). */
export async function createSlot(source: ShardAdmin, name: string): Promise<void> {
  await source.run("SELECT pg_create_logical_replication_slot(:name, 'pgoutput') IS NOT NULL AS created", [
    str("name", name),
  ]);
}

/**
 * Moves the slot's confirmed position to `lsn`: the subscription then streams only the transactions that commit
 * from there on. PostgreSQL moves a slot no further than the WAL flushed so far (`pg_replication_slot_advance`), so
 * this asks again until the slot is there; the WAL writer flushes within `wal_writer_delay` (200 ms by default).
 */
export async function advanceSlot(source: ShardAdmin, name: string, lsn: string, boundMs = 10_000) {
  const deadline = performance.now() + boundMs;
  for (;;) {
    const row = await source.one(
      `SELECT (end_lsn >= CAST(:lsn AS pg_lsn)) AS there
         FROM pg_replication_slot_advance(:name, CAST(:lsn AS pg_lsn))`,
      [str("name", name), str("lsn", lsn)],
    );
    if (row.there === true) return;
    if (performance.now() > deadline) {
      throw new ShardCallError(source.id, `replication slot ${name} did not reach ${lsn} in ${boundMs} ms`);
    }
    await sleep(20);
  }
}

/**
 * On the target: the subscription to the source's slot, streaming every change from the slot's position. The copy
 * before it is the tool's own (copy.ts), so the subscription copies nothing.
 */
export async function createSubscription(
  target: ShardAdmin,
  name: string,
  login: ReplicationLogin,
): Promise<void> {
  if (await subscriptionExists(target, name)) return;
  const n = quoteIdent(name);
  await target.run(
    `CREATE SUBSCRIPTION ${n} CONNECTION ${sqlLiteral(conninfo(login))} PUBLICATION ${n}
     WITH (create_slot = false, slot_name = ${sqlLiteral(name)}, copy_data = false)`,
  );
}

/**
 * Waits until the subscription's walsender holds the source's slot: a subscription that cannot connect (a wrong
 * login, no network path) is found here, before the range is frozen, rather than by a catch-up that never ends.
 */
export async function waitStreaming(source: ShardAdmin, name: string, boundMs: number): Promise<boolean> {
  const deadline = performance.now() + boundMs;
  for (;;) {
    const rows = await source.query("SELECT 1 FROM pg_replication_slots WHERE slot_name = :name AND active", [
      str("name", name),
    ]);
    if (rows.length > 0) return true;
    if (performance.now() > deadline) return false;
    await sleep(100);
  }
}

/**
 * Drops the slot `name` on the source if it is there, waiting while it is still active: the walsender of a
 * subscription just disabled or dropped takes a moment to exit.
 */
export async function dropSlot(source: ShardAdmin, name: string, boundMs = 20_000): Promise<void> {
  const deadline = performance.now() + boundMs;
  for (;;) {
    const rows = await source.query("SELECT active FROM pg_replication_slots WHERE slot_name = :name", [
      str("name", name),
    ]);
    if (rows.length === 0) return;
    if (rows[0]?.active === false) {
      await source.run(
        "SELECT pg_drop_replication_slot(slot_name) IS NULL AS dropped FROM pg_replication_slots WHERE slot_name = :name AND NOT active",
        [str("name", name)],
      );
      continue;
    }
    if (performance.now() > deadline) {
      throw new ShardCallError(source.id, `replication slot ${name} still active`);
    }
    await sleep(100);
  }
}

/**
 * Drops the subscription on the target and everything it used on the source: the subscription is disabled and
 * detached from its slot first (so DROP SUBSCRIPTION does not reach out to drop it: this makes the drop the same
 * whatever state the source is in), then the slot and the publication.
 */
export async function dropReplication(source: ShardAdmin, target: ShardAdmin, name: string): Promise<void> {
  const found = await target.query(SUBSCRIPTION_EXISTS, [str("name", name)]);
  const n = quoteIdent(name);
  if (found.length > 0) {
    await target.run(`ALTER SUBSCRIPTION ${n} DISABLE`);
    await target.run(`ALTER SUBSCRIPTION ${n} SET (slot_name = NONE)`);
    await target.run(`DROP SUBSCRIPTION IF EXISTS ${n}`);
  }
  await dropSlot(source, name);
  await source.run(`DROP PUBLICATION IF EXISTS ${n}`);
}
