import type { SqlParameter } from "@aws-sdk/client-rds-data";
import { MalformedResultError } from "./errors.js";
import { FENCE_SCHEMA, multirange } from "./fence.js";
import type { Row } from "./row.js";
import type { IdRange } from "./shard-map.js";
import { quoteIdent } from "./sql-identifier.js";

/** A statement ready for `ExecuteStatement`: SQL with named placeholders and their typed values. */
export interface Statement {
  readonly sql: string;
  readonly parameters: SqlParameter[];
  /**
   * Set on queries: rows come back as one JSON string (`formattedRecords`) instead of a list of `Field` unions. The
   * SDK deserializes one string instead of two objects per row: 12 % less CPU per call at 21 rows, two thirds less
   * at 250 (`npm run bench`, "SDK CPU per shard call").
   */
  readonly formatRecordsAs?: "JSON";
}

export const long = (name: string, value: number): SqlParameter => ({ name, value: { longValue: value } });
export const text = (name: string, value: string): SqlParameter => ({ name, value: { stringValue: value } });

/**
 * How many of a shard's ranges get a subquery of their own. The ranges after them share one subquery on their hull,
 * so the statement (and PostgreSQL's planning of it) stays the same size however many ranges the shard has: with an
 * OR of 1,000 ranges, planning alone took 13-40 ms (`bench/sql-shapes.ts`).
 */
export const RANGES_SCANNED_ALONE = 8;

/**
 * Reads up to `limit` rows with ids inside `ranges` (already clipped to the shard's own ranges, the query's bounds and
 * the cursor, sorted and disjoint), in id order. Every value is a bound parameter.
 *
 * A page costs the same at any depth because every scan starts at its range's lower bound (`Index Cond`), never at the
 * shard's lowest id: each range gets its own `ORDER BY id LIMIT` subquery and PostgreSQL merges them (Merge Append),
 * reading at most `limit` index entries per range. One `WHERE (id BETWEEN … OR …)` instead walked the primary key
 * from the lowest id and filtered (130 ms and 800,000 rows removed for a deep page of a 3,000,000-row table), and one
 * hull `id BETWEEN :lo AND :hi` with the OR as a filter scans every id of other shards that the table holds between
 * two of its ranges (200,000 rows removed for a cursor just before a gap). Measurements: `bench/sql-shapes.ts`.
 *
 * Ranges past {@link RANGES_SCANNED_ALONE} share one subquery bounded by their hull and filtered by their exact
 * ranges, passed as one `int8multirange` literal evaluated once (an InitPlan): the statement never answers for an id
 * outside `ranges`, which is what keeps a shard from answering for ids it does not own, as Vitess filters by keyrange.
 */
export function selectRange(
  table: string,
  ranges: readonly IdRange[],
  limit: number,
  unowned: readonly IdRange[] = [],
): Statement {
  const from = `SELECT id, name FROM ${quoteIdent(table)}`;
  const parameters: SqlParameter[] = [long("limit", limit), ...fenceParams(ranges, unowned)];
  const scans: string[] = [];
  const alone = ranges.length <= RANGES_SCANNED_ALONE ? ranges.length : RANGES_SCANNED_ALONE - 1;
  for (let i = 0; i < alone; i++) {
    const [start, end] = ranges[i] as IdRange;
    parameters.push(long(`lo${i}`, start), long(`hi${i}`, end));
    scans.push(`${from} WHERE id BETWEEN :lo${i} AND :hi${i} ORDER BY id LIMIT :limit`);
  }
  const rest = ranges.slice(alone);
  const first = rest[0];
  const last = rest.at(-1);
  if (first !== undefined && last !== undefined) {
    parameters.push(
      long("restLo", first[0]),
      long("restHi", last[1]),
      text("rest", `{${rest.map(([start, end]) => `[${start},${end}]`).join(",")}}`),
    );
    scans.push(
      `${from} WHERE id BETWEEN :restLo AND :restHi AND (SELECT CAST(:rest AS int8multirange)) @> CAST(id AS bigint) ORDER BY id LIMIT :limit`,
    );
  }
  // One range needs no merge; PostgreSQL plans the subquery form the same way, but the plain form reads better in logs.
  // The fence is one InitPlan, evaluated once before any scan as every scan's one-time filter.
  const sql =
    scans.length === 1
      ? (scans[0] as string).replace(" ORDER BY", ` AND ${ADMIT_READ} ORDER BY`)
      : `SELECT id, name FROM (${scans.map((s) => `(${s})`).join(" UNION ALL ")}) AS ranges WHERE ${ADMIT_READ} ORDER BY id LIMIT :limit`;
  return { sql, parameters, formatRecordsAs: "JSON" };
}

/**
 * The shard fence's check (functions/core/fence.ts) as every read carries it: the shard must own all of `owned` (what
 * the caller asks it for) and vouch that no shard owns `unowned`, or the statement fails with SF001 and returns
 * nothing. Evaluated once per statement (an InitPlan), with the statement's own snapshot.
 */
const ADMIT_READ = `(SELECT ${FENCE_SCHEMA}.admit_read(:owned, :unowned))`;

function fenceParams(owned: readonly IdRange[], unowned: readonly IdRange[]): SqlParameter[] {
  return [text("owned", multirange(owned)), text("unowned", multirange(unowned))];
}

export function selectOne(table: string, id: number): Statement {
  return {
    sql: `SELECT id, name FROM ${quoteIdent(table)} WHERE id = :id AND ${ADMIT_READ}`,
    parameters: [long("id", id), ...fenceParams([[id, id]], [])],
    formatRecordsAs: "JSON",
  };
}

/**
 * Only the fence's check: the shard vouches that no shard owns `unowned` (a request for ids outside the caller's map
 * asks one shard before it answers that they are absent). One row `{"ok": true}`, or SF001.
 */
export function checkUnowned(unowned: readonly IdRange[]): Statement {
  return { sql: `SELECT ${ADMIT_READ} AS ok`, parameters: fenceParams([], unowned), formatRecordsAs: "JSON" };
}

/**
 * Turns a query's `formattedRecords` (`[{"id":1,"name":"Test 1"}, …]`) into rows, rejecting anything of another
 * shape: checked at run time, not trusted from the types, so a bad answer is a MalformedResultError, not a TypeError
 * or a row with a number for a name.
 */
export function parseRows(formattedRecords: string | undefined): Row[] {
  if (typeof formattedRecords !== "string") throw new MalformedResultError("result has no formattedRecords");
  let records: unknown;
  try {
    records = JSON.parse(formattedRecords);
  } catch {
    throw new MalformedResultError("formattedRecords is not JSON");
  }
  if (!Array.isArray(records)) throw new MalformedResultError("formattedRecords is not a list");
  // Checked where they lie and returned as they are: a copy of every row cost a third of the parse (`npm run bench`
  // shard CPU: 98 vs 64 µs for 101 rows), on every shard call, for rows most of which the merge never reaches.
  for (let i = 0; i < records.length; i++) {
    const record: unknown = records[i];
    if (!isRow(record)) throw new MalformedResultError(`record ${i} is not an (id, name) pair`);
    // Only the two columns reach clients, whatever else a record holds.
    if (keyCount(record) !== 2) records[i] = { id: record.id, name: record.name };
  }
  return records as Row[];
}

function isRow(record: unknown): record is Row {
  if (typeof record !== "object" || record === null) return false;
  const { id, name } = record as Record<string, unknown>;
  return Number.isInteger(id) && (name === null || typeof name === "string");
}

function keyCount(record: object): number {
  let n = 0;
  for (const key in record) if (Object.hasOwn(record, key)) n++;
  return n;
}
