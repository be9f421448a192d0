/**
 * The shard fence's schema, one source for the CDK stack's schema step and the local runtime, so both create exactly
 * the same objects (docs/architecture.md, "Growing the map online"). Every statement here is ONE statement (the Data
 * API runs one per call) and idempotent, so a stack update runs it again harmlessly.
 *
 * In each shard database, schema `sharding`:
 * - `fence`, one row: this shard's id; the map `version` it last applied; the ids it `owned` at this moment; the
 *   owned ids `frozen` for writes (a move's switch); the ids no shard owns (`unowned`) as this shard last learnt them;
 *   and the whole `map` at `version`, which callers read when the shard refuses them.
 * - `admit_read(owned, unowned)`: raises SF001 unless the shard owns every id of `owned` and vouches that every id of
 *   `unowned` has no owner. STABLE, so it reads the fence with the calling statement's snapshot: the rows a read
 *   returns and the ownership it was checked against are one moment's.
 * - `admit_write(id)`: raises SF001 unless the shard owns `id`, SF002 when `id` is frozen. It takes a shared advisory
 *   lock for the rest of the write's transaction before it reads the fence (with a fresh snapshot: VOLATILE), and
 *   `set_fence` takes the same lock exclusively: a change of the fence waits for every write that was admitted under
 *   the old fence to commit or roll back, and every write after it sees the new one. That is what makes "freeze, then
 *   read the WAL position" safe: no write admitted before the freeze commits after it.
 * - `set_fence(...)`: the reshard tool's one way to change the fence (never granted to the function's role).
 * - `operation`: the reshard tool's durable state (one row per operation, on every shard it involves).
 * - `move_marker`: written in the same transaction as a move's freeze and replicated with the moving rows; when the
 *   target has it, the target has every write the source committed before the freeze (logical replication applies
 *   transactions in commit order).
 */
import {
  DEADLINE_STATE,
  FENCE_SCHEMA,
  FROZEN_STATE,
  multirange,
  STALE_MAP_STATE,
} from "../functions/core/fence.js";
import { MAX_ID, MIN_ID, type ShardMap } from "../functions/core/shard-map.js";
import { quoteIdent } from "../functions/core/sql-identifier.js";

const S = FENCE_SCHEMA;

/** The key of the advisory lock between writes (shared) and fence changes (exclusive): "SHARDFNC" in ASCII. */
export const FENCE_LOCK_KEY = 0x5348415244464e43n;

/** The ids of `[MIN_ID, MAX_ID]` that no shard of `map` owns, as a multirange literal. */
export function unownedLiteral(map: ShardMap): string {
  return multirange(map.unownedIn(MIN_ID, MAX_ID));
}

/** The map as the fence stores it (`{"shards": [{"id": 1, "ranges": [[1, 10], …]}, …]}`). */
export function storedMapJson(map: ShardMap): string {
  return JSON.stringify({ shards: map.shards.map((s) => ({ id: s.id, ranges: s.ranges })) });
}

/** An SQL string literal of our own text. */
const literal = (text: string) => `'${text.replaceAll("'", "''")}'`;

/** Dollar-quotes a body that never contains the tag (the bodies below are ours). */
const body = (tag: string, text: string) => `$${tag}$${text}$${tag}$`;

const ADMIT_READ = `CREATE OR REPLACE FUNCTION ${S}.admit_read(owned_ask text, unowned_ask text DEFAULT '{}')
RETURNS boolean LANGUAGE plpgsql STABLE AS ${body(
  "f",
  `
DECLARE f ${S}.fence;
BEGIN
  SELECT * INTO f FROM ${S}.fence;
  IF NOT FOUND THEN
    RAISE EXCEPTION 'shard fence: this database has no fence' USING ERRCODE = '${STALE_MAP_STATE}';
  END IF;
  IF NOT f.owned @> owned_ask::int8multirange THEN
    RAISE EXCEPTION 'shard fence: shard % does not own all of %; map version %', f.shard, owned_ask, f.version
      USING ERRCODE = '${STALE_MAP_STATE}';
  END IF;
  IF NOT f.unowned @> unowned_ask::int8multirange THEN
    RAISE EXCEPTION 'shard fence: ids of % are owned; map version %', unowned_ask, f.version
      USING ERRCODE = '${STALE_MAP_STATE}';
  END IF;
  RETURN true;
END`,
)}`;

const ADMIT_WRITE = `CREATE OR REPLACE FUNCTION ${S}.admit_write(id bigint)
RETURNS boolean LANGUAGE plpgsql VOLATILE AS ${body(
  "f",
  `
DECLARE f ${S}.fence;
BEGIN
  PERFORM pg_advisory_xact_lock_shared(${FENCE_LOCK_KEY});
  SELECT * INTO f FROM ${S}.fence;
  IF NOT FOUND OR NOT f.owned @> id THEN
    RAISE EXCEPTION 'shard fence: shard % does not own id %; map version %', f.shard, id, f.version
      USING ERRCODE = '${STALE_MAP_STATE}';
  END IF;
  IF f.frozen @> id THEN
    RAISE EXCEPTION 'shard fence: id % is frozen while it moves; retry shortly', id
      USING ERRCODE = '${FROZEN_STATE}';
  END IF;
  RETURN true;
END`,
)}`;

/**
 * The one way to change a fence: under the exclusive lock, never to an older version, with `frozen` inside `owned`
 * and `owned` disjoint from `unowned` (the table's checks). With `marker`, also writes a move's marker row in the same
 * transaction. Returns the fence's version.
 */
const SET_FENCE = `CREATE OR REPLACE FUNCTION ${S}.set_fence(
  p_version bigint, p_owned text, p_frozen text, p_unowned text, p_map jsonb, p_marker text DEFAULT NULL)
RETURNS bigint LANGUAGE plpgsql VOLATILE AS ${body(
  "f",
  `
DECLARE current bigint;
BEGIN
  PERFORM pg_advisory_xact_lock(${FENCE_LOCK_KEY});
  SELECT version INTO current FROM ${S}.fence FOR UPDATE;
  IF current > p_version THEN
    RAISE EXCEPTION 'shard fence: version % is older than the fence''s %', p_version, current;
  END IF;
  UPDATE ${S}.fence SET version = p_version, owned = p_owned::int8multirange, frozen = p_frozen::int8multirange,
    unowned = p_unowned::int8multirange, map = p_map;
  IF p_marker IS NOT NULL THEN
    INSERT INTO ${S}.move_marker (id) VALUES (p_marker) ON CONFLICT (id) DO UPDATE SET at = now();
  END IF;
  RETURN p_version;
END`,
)}`;

/**
 * The write deadline, checked again at commit (docs/api.md, "What a 503 means for your write"). A write statement
 * sets `sharding.commit_by` for its own transaction (`set_config(..., true)`), the instant by which it must have
 * committed; this deferred constraint trigger runs at COMMIT and rolls the write back when that instant has passed.
 * So a write the function has given up on cannot commit later, whatever the session's `statement_timeout` or
 * `lock_timeout` are and however long it waited for a lock. Rows changed by anything else (the reshard tool's
 * cleanup, logical replication's apply, which runs with triggers of origin off) queue no event: the WHEN clause.
 */
const COMMIT_BY = `CREATE OR REPLACE FUNCTION ${S}.check_commit_by()
RETURNS trigger LANGUAGE plpgsql AS ${body(
  "f",
  `
BEGIN
  IF clock_timestamp() > current_setting('${S}.commit_by')::timestamptz THEN
    RAISE EXCEPTION 'write deadline passed before commit' USING ERRCODE = '${DEADLINE_STATE}';
  END IF;
  RETURN NULL;
END`,
)}`;

function commitByTrigger(table: string): string {
  const name = `${S}_commit_by`;
  const create = `CREATE CONSTRAINT TRIGGER ${name} AFTER INSERT OR UPDATE OR DELETE ON ${quoteIdent(table)}
    DEFERRABLE INITIALLY DEFERRED FOR EACH ROW
    WHEN (coalesce(current_setting('${S}.commit_by', true), '') <> '')
    EXECUTE FUNCTION ${S}.check_commit_by()`;
  // A constraint trigger has no CREATE OR REPLACE: created once, when the table has none of that name.
  return `DO ${body(
    "t",
    `BEGIN IF NOT EXISTS (SELECT FROM pg_trigger WHERE tgname = '${name}' AND tgrelid = ${literal(quoteIdent(table))}::regclass)
    THEN EXECUTE ${body("c", create)}; END IF; END`,
  )}`;
}

/**
 * The fence's objects, as ONE idempotent statement: a DO block that runs each DDL (the Data API runs one statement per
 * call, and CREATE FUNCTION cannot share one with others), with the commit-time deadline check on `table`. Run as the
 * database's owner.
 */
export function fenceSchemaSql(table = "data_1"): string {
  const ddl = [
    `CREATE SCHEMA IF NOT EXISTS ${S}`,
    `CREATE TABLE IF NOT EXISTS ${S}.fence (
      singleton boolean PRIMARY KEY DEFAULT true CHECK (singleton),
      shard int NOT NULL,
      version bigint NOT NULL CHECK (version >= 0),
      owned int8multirange NOT NULL,
      frozen int8multirange NOT NULL DEFAULT '{}',
      unowned int8multirange NOT NULL,
      map jsonb NOT NULL,
      CHECK (owned @> frozen),
      CHECK (NOT (owned && unowned)))`,
    `CREATE TABLE IF NOT EXISTS ${S}.operation (
      id text PRIMARY KEY,
      kind text NOT NULL,
      spec jsonb NOT NULL,
      step text NOT NULL,
      started_at timestamptz NOT NULL DEFAULT now(),
      updated_at timestamptz NOT NULL DEFAULT now())`,
    `CREATE TABLE IF NOT EXISTS ${S}.move_marker (id text PRIMARY KEY, at timestamptz NOT NULL DEFAULT now())`,
    ADMIT_READ,
    ADMIT_WRITE,
    SET_FENCE,
    `REVOKE ALL ON FUNCTION ${S}.set_fence(bigint, text, text, text, jsonb, text) FROM PUBLIC`,
    COMMIT_BY,
    commitByTrigger(table),
  ];
  return `DO ${body("fence", `BEGIN\n${ddl.map((d) => `EXECUTE ${body("ddl", d)};`).join("\n")}\nEND`)}`;
}

/**
 * The fence of shard `shardId` as the map `map` (version 1 for a stack's or runtime's first map) describes it. Inserted
 * only where there is none: a fence is never reset by a deploy, so the shards keep what online changes made of the map.
 * Every value is a validated integer range or our own JSON, quoted as a literal.
 */
export function fenceInitSql(shardId: number, map: ShardMap): string {
  const owned = multirange(map.rangesOf(shardId) ?? []);
  return [
    `INSERT INTO ${S}.fence (shard, version, owned, unowned, map)`,
    `VALUES (${Number(shardId)}, ${Number(map.version)}, ${literal(owned)}, ${literal(unownedLiteral(map))},`,
    `${literal(storedMapJson(map))}) ON CONFLICT (singleton) DO NOTHING`,
  ].join(" ");
}

/** What the function's role may do with the fence: call the admissions and read the map (never change it). */
export function fenceGrantsSql(role: string): string[] {
  const r = quoteIdent(role);
  return [
    `GRANT USAGE ON SCHEMA ${S} TO ${r};`,
    `GRANT SELECT ON TABLE ${S}.fence TO ${r};`,
    `GRANT EXECUTE ON FUNCTION ${S}.admit_read(text, text), ${S}.admit_write(bigint) TO ${r};`,
  ];
}
