import type { SqlParameter } from "@aws-sdk/client-rds-data";
import { MalformedResultError } from "./errors.js";
import { FENCE_SCHEMA } from "./fence.js";
import { long, type Statement, text } from "./sql.js";
import { quoteIdent } from "./sql-identifier.js";
import { sqlTimestamp } from "./write-deadline.js";

/**
 * The write statements. Each one carries its own deadline (see `write-deadline.ts`) and reports, in its one result
 * row, whether it ran in time and how many rows it changed, all in ONE statement (the Data API runs one statement per
 * call, and nothing may happen between the check and the write):
 *
 *     WITH admitted AS (SELECT statement_timestamp() <= :deadline AS in_time),
 *          written AS (<the write, guarded by (SELECT in_time FROM admitted)> RETURNING 1)
 *     SELECT in_time, (SELECT count(*) FROM written) AS changed FROM admitted
 *
 * So "did nothing because it was late" (`in_time = false`) is never mistaken for "no such row" (404) or "duplicate
 * id" (409), which are `in_time = true, changed = 0`. `statement_timestamp()` is when the server received the
 * statement; the deadline is a typed TIMESTAMP parameter in UTC, converted explicitly so the session's TimeZone
 * cannot shift it.
 */
export interface WriteResult {
  readonly inTime: boolean;
  readonly changed: number;
}

/**
 * When a write must start and when it must have committed (write-deadline.ts): `deadlineMs`, checked as the statement
 * starts; `commitByMs`, checked again at COMMIT by the shard's deferred trigger (infra/fence-sql.ts), so a write that
 * started in time but waited (a lock, a session without timeouts) cannot commit after the function gave up on it.
 */
export interface WriteTimes {
  readonly deadlineMs: number;
  readonly commitByMs: number;
}

const timeParams = ({ deadlineMs, commitByMs }: WriteTimes): SqlParameter[] => [
  { name: "deadline", value: { stringValue: sqlTimestamp(deadlineMs) }, typeHint: "TIMESTAMP" },
  // Text for set_config, read back as timestamptz at commit: the explicit offset keeps the session's TimeZone out.
  { name: "commitBy", value: { stringValue: `${sqlTimestamp(commitByMs)}+00` } },
];

/**
 * In time, then admitted by the shard fence (fence.ts): `admit_write` refuses an id the shard does not own (SF001) or
 * one that is frozen while it moves (SF002), failing the whole statement, so a refused write provably did nothing.
 * Then the transaction's commit deadline is set for the fence's commit-time check. A late write is not admitted at
 * all (AND evaluates left to right in a target list and stops at false).
 */
const ADMITTED = `admitted AS (SELECT statement_timestamp() <= (:deadline AT TIME ZONE 'UTC') AND ${FENCE_SCHEMA}.admit_write(:id) AND set_config('${FENCE_SCHEMA}.commit_by', :commitBy, true) <> '' AS in_time)`;
const IN_TIME = "(SELECT in_time FROM admitted)";
/** The one result row: whether the write was admitted in time, and how many rows it changed. */
const RESULT_ROW = "SELECT in_time, (SELECT count(*) FROM written)::int AS changed FROM admitted";

function guarded(write: string, parameters: SqlParameter[], times: WriteTimes): Statement {
  return {
    sql: `WITH ${ADMITTED}, written AS (${write} RETURNING 1) ${RESULT_ROW}`,
    parameters: [...parameters, ...timeParams(times)],
    formatRecordsAs: "JSON",
  };
}

/** INSERT of a new row; an existing id is `changed = 0` (ON CONFLICT DO NOTHING), never an error. */
export function insertRow(table: string, id: number, name: string, times: WriteTimes): Statement {
  const write = `INSERT INTO ${quoteIdent(table)} (id, name) SELECT :id, :name WHERE ${IN_TIME} ON CONFLICT (id) DO NOTHING`;
  return guarded(write, [long("id", id), text("name", name)], times);
}

export function updateRow(table: string, id: number, name: string, times: WriteTimes): Statement {
  const write = `UPDATE ${quoteIdent(table)} SET name = :name WHERE id = :id AND ${IN_TIME}`;
  return guarded(write, [long("id", id), text("name", name)], times);
}

export function deleteRow(table: string, id: number, times: WriteTimes): Statement {
  const write = `DELETE FROM ${quoteIdent(table)} WHERE id = :id AND ${IN_TIME}`;
  return guarded(write, [long("id", id)], times);
}

/** Reads the one `{in_time, changed}` row; anything else is a MalformedResultError (the outcome is then unknown). */
export function parseWriteResult(formattedRecords: string | undefined): WriteResult {
  let rows: unknown;
  try {
    rows = JSON.parse(formattedRecords ?? "");
  } catch {
    throw new MalformedResultError("write result is not JSON");
  }
  const row = Array.isArray(rows) && rows.length === 1 ? (rows[0] as Record<string, unknown>) : undefined;
  if (!row || typeof row.in_time !== "boolean" || typeof row.changed !== "number") {
    throw new MalformedResultError("write result is not one {in_time, changed} row");
  }
  return { inTime: row.in_time, changed: row.changed };
}
