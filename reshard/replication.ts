/**
 * The logical replication a move copies its range with: on the source a publication of the range's rows (and of
 * this move's marker row) and a slot; on the target a subscription to them. The slot is created on its own
 * (`pg_create_logical_replication_slot`) and the subscription told not to create one: creating a slot waits for
 * every running transaction of the server, the CREATE SUBSCRIPTION's own included when source and target share one
 * PostgreSQL server (locally, and the test suite), and it is how Citus does it. Every function here may be run again:
 * it checks what exists first.
 */
import { FENCE_SCHEMA } from "../functions/core/fence.js";
import type { IdRange } from "../functions/core/shard-map.js";
import { quoteIdent } from "../functions/core/sql-identifier.js";
import { TABLE } from "./batches.js";
import { ShardCallError } from "./errors.js";
import { long, type ShardAdmin, str } from "./shard-admin.js";
import type { ReplicationLogin } from "./targets.js";

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
const SLOT_EXISTS = "SELECT 1 FROM pg_replication_slots WHERE slot_name = :name";
const SUBSCRIPTION_EXISTS = `SELECT oid::int8 AS oid FROM pg_subscription WHERE subname = :name
  AND subdbid = (SELECT oid FROM pg_database WHERE datname = current_database())`;

export async function subscriptionExists(target: ShardAdmin, name: string): Promise<boolean> {
  return exists(target, SUBSCRIPTION_EXISTS, name);
}

/**
 * On the source: the publication of the range's rows and of this move's marker (only its own: an older marker the
 * target already holds would stop the initial copy on a duplicate key), then the slot. The publication comes first:
 * the slot decodes changes with the catalog of their time, and a publication younger than its slot is unknown there.
 * Only inserts, updates and deletes: row filters do not apply to TRUNCATE.
 */
export async function createSourceSide(
  source: ShardAdmin,
  name: string,
  opId: string,
  [lo, hi]: IdRange,
): Promise<void> {
  if (!(await exists(source, PUBLICATION_EXISTS, name))) {
    await source.run(
      `CREATE PUBLICATION ${quoteIdent(name)} FOR TABLE ${quoteIdent(TABLE)} WHERE (id >= ${Number(lo)} AND id <= ${Number(hi)}),
       ${FENCE_SCHEMA}.move_marker WHERE (id = ${sqlLiteral(opId)}) WITH (publish = 'insert, update, delete')`,
    );
  }
  if (!(await exists(source, SLOT_EXISTS, name))) {
    await source.run("SELECT pg_create_logical_replication_slot(:name, 'pgoutput') IS NOT NULL AS created", [
      str("name", name),
    ]);
  }
}

/** On the target: the subscription, copying the range's rows first, then streaming the source's changes. */
export async function createSubscription(
  target: ShardAdmin,
  name: string,
  login: ReplicationLogin,
): Promise<void> {
  if (await subscriptionExists(target, name)) return;
  const n = quoteIdent(name);
  await target.run(
    `CREATE SUBSCRIPTION ${n} CONNECTION ${sqlLiteral(conninfo(login))} PUBLICATION ${n}
     WITH (create_slot = false, slot_name = ${sqlLiteral(name)}, copy_data = true)`,
  );
}

/** Whether every table of the subscription has finished its initial copy (`r`), and how many there are. */
export async function copyState(
  target: ShardAdmin,
  name: string,
): Promise<{ tables: number; ready: number }> {
  const row = await target.one(
    `SELECT count(r.*) AS tables, count(r.*) FILTER (WHERE r.srsubstate = 'r') AS ready
       FROM pg_subscription s LEFT JOIN pg_subscription_rel r ON r.srsubid = s.oid
      WHERE s.subname = :name AND s.subdbid = (SELECT oid FROM pg_database WHERE datname = current_database())`,
    [str("name", name)],
  );
  return { tables: Number(row.tables), ready: Number(row.ready) };
}

/**
 * Rows of the range the target has: the committed ones, or those the initial copy has written so far, whichever is
 * more. That copy is one transaction (its rows become visible only when it commits), so without
 * `pg_stat_progress_copy` a big copy would show 0 rows until the end; and for a moment after its commit both count
 * the same rows, so they are not added. The copy worker runs as the subscription's owner, the tool's own role, so the
 * tool may see its progress.
 */
export async function copiedRows(target: ShardAdmin, [lo, hi]: IdRange): Promise<number> {
  const row = await target.one(
    `SELECT GREATEST((SELECT count(*) FROM ${quoteIdent(TABLE)} WHERE id BETWEEN :lo AND :hi),
          (SELECT coalesce(sum(tuples_processed), 0) FROM pg_stat_progress_copy
              WHERE datid = (SELECT oid FROM pg_database WHERE datname = current_database())
                AND relid = CAST(:table AS regclass) AND command = 'COPY FROM')) AS n`,
    [long("lo", lo), long("hi", hi), str("table", TABLE)],
  );
  return Number(row.n);
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * Drops a slot on the source, waiting while it is still active: the walsender of a subscription just disabled or
 * dropped takes a moment to exit. `pattern` drops every inactive slot whose name matches (the initial copy's slots).
 */
async function dropSlots(source: ShardAdmin, where: string, value: string, boundMs = 20_000): Promise<void> {
  const deadline = performance.now() + boundMs;
  for (;;) {
    const rows = await source.query(`SELECT slot_name, active FROM pg_replication_slots WHERE ${where}`, [
      str("value", value),
    ]);
    if (rows.length === 0) return;
    const inactive = rows.filter((r) => r.active === false).map((r) => String(r.slot_name));
    for (const slot of inactive) {
      await source.run(
        "SELECT pg_drop_replication_slot(slot_name) IS NULL AS dropped FROM pg_replication_slots WHERE slot_name = :slot AND NOT active",
        [str("slot", slot)],
      );
    }
    if (inactive.length === rows.length) continue;
    if (performance.now() > deadline) {
      throw new ShardCallError(
        source.id,
        `replication slot(s) ${rows.map((r) => r.slot_name).join(", ")} still active`,
      );
    }
    await sleep(100);
  }
}

/**
 * Drops the subscription on the target and everything it used on the source: the subscription is disabled and
 * detached from its slot first (so DROP SUBSCRIPTION does not reach out to drop it: this makes the drop the same
 * whatever state the source is in), then the slot, any slot left by an unfinished initial copy, and the publication.
 */
export async function dropReplication(source: ShardAdmin, target: ShardAdmin, name: string): Promise<void> {
  const found = await target.query(SUBSCRIPTION_EXISTS, [str("name", name)]);
  const n = quoteIdent(name);
  const oid = found[0]?.oid;
  if (oid !== undefined) {
    await target.run(`ALTER SUBSCRIPTION ${n} DISABLE`);
    await target.run(`ALTER SUBSCRIPTION ${n} SET (slot_name = NONE)`);
    await target.run(`DROP SUBSCRIPTION IF EXISTS ${n}`);
    // The initial copy's slots are named pg_<subscription oid>_sync_<table oid>_<system id>.
    await dropSlots(source, "slot_name LIKE :value", `pg\\_${Number(oid)}\\_sync\\_%`);
  }
  await dropSlots(source, "slot_name = :value", name);
  await source.run(`DROP PUBLICATION IF EXISTS ${n}`);
}
