/**
 * Running one `ExecuteStatement` or `BatchExecuteStatement` on a PostgreSQL connection and shaping its output.
 */
import type pg from "pg";
import { badRequest } from "./errors.js";
import {
  type BaseColumn,
  type Column,
  type ResultOptions,
  resolveColumns,
  toColumnMetadata,
  toJsonRecords,
  toRecords,
} from "./fields.js";
import { toJson } from "./json.js";
import { type BoundParameter, bindParameters, toPositional } from "./params.js";
import { RAW_TEXT } from "./pools.js";

/**
 * The result-set limits of the Data API's troubleshooting page
 * (https://docs.aws.amazon.com/AmazonRDS/latest/AuroraUserGuide/data-api.troubleshooting.html), each answered with
 * the error its heading names: "Packet for query is too large" ("The Data API size limit is 64 KB per row in the
 * result set returned by the database") and "Database response exceeded size limit" ("The Data API limit is 1 MiB
 * in the result set returned by the database"). Measured on the values as the database sends them (text); AWS does
 * not say how it counts (choice), and answers both as BadRequestException (choice: the page names no type).
 */
export const MAX_ROW_BYTES = 64 * 1024;
export const MAX_RESULT_BYTES = 1024 * 1024;
export const ROW_TOO_LARGE = "Packet for query is too large";
export const RESULT_TOO_LARGE = "Database response exceeded size limit";

function checkResultSize(rows: readonly (string | null)[][]): void {
  let total = 0;
  for (const row of rows) {
    let bytes = 0;
    for (const value of row) if (value !== null) bytes += Buffer.byteLength(value);
    if (bytes > MAX_ROW_BYTES) throw badRequest(ROW_TOO_LARGE);
    total += bytes;
    if (total > MAX_RESULT_BYTES) throw badRequest(RESULT_TOO_LARGE);
  }
}

/** Statements whose row count AWS reports in `numberOfRecordsUpdated`. */
const UPDATING_COMMANDS = new Set(["INSERT", "UPDATE", "DELETE", "MERGE", "COPY"]);

export interface StatementOptions {
  readonly includeResultMetadata: boolean;
  readonly formatRecordsAs: "NONE" | "JSON";
  readonly resultOptions: ResultOptions;
}

export interface ExecuteStatementOutput {
  numberOfRecordsUpdated: number;
  generatedFields: [];
  records?: unknown[][];
  columnMetadata?: unknown[];
  formattedRecords?: string;
}

/**
 * Runs `sql` with PostgreSQL's extended protocol even without parameters, so a string holding several statements
 * fails as it does on AWS instead of running them all.
 */
async function query(client: pg.ClientBase, sql: string, parameters: ReadonlyMap<string, BoundParameter>) {
  const { text, values } = toPositional(sql, parameters);
  const config = { text, values, rowMode: "array" as const, types: RAW_TEXT, queryMode: "extended" };
  return client.query(config as pg.QueryArrayConfig);
}

async function typeName(client: pg.ClientBase, oid: number): Promise<string> {
  const { rows } = await client.query<{ name: string }>("SELECT format_type($1::oid, NULL) AS name", [oid]);
  return rows[0]?.name ?? String(oid);
}

/** Catalog facts behind `columnMetadata`: type names, and nullability / auto-increment of table columns. */
async function columnMetadata(client: pg.ClientBase, columns: readonly Column[]) {
  const oids = [...new Set(columns.map((c) => c.def.dataTypeID))];
  const tables = [...new Set(columns.map((c) => c.def.tableID).filter((oid) => oid !== 0))];
  const typeNames = new Map<number, string>();
  const { rows: types } = await client.query<{ oid: string; typname: string }>(
    "SELECT oid::int8 AS oid, typname FROM pg_type WHERE oid = ANY($1::oid[])",
    [oids],
  );
  for (const row of types) typeNames.set(Number(row.oid), row.typname);
  const baseColumns = new Map<string, BaseColumn>();
  if (tables.length > 0) {
    const { rows } = await client.query<{
      table_oid: string;
      attnum: number;
      relname: string;
      attnotnull: boolean;
      auto_increment: boolean;
    }>(
      `SELECT a.attrelid::int8 AS table_oid, a.attnum, c.relname, a.attnotnull,
              (a.attidentity <> '' OR coalesce(pg_get_expr(d.adbin, d.adrelid), '') LIKE 'nextval(%') AS auto_increment
         FROM pg_attribute a
         JOIN pg_class c ON c.oid = a.attrelid
         LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
        WHERE a.attrelid = ANY($1::oid[]) AND a.attnum > 0`,
      [tables],
    );
    for (const row of rows) {
      baseColumns.set(`${row.table_oid}:${row.attnum}`, {
        tableName: row.relname,
        notNull: row.attnotnull,
        autoIncrement: row.auto_increment,
      });
    }
  }
  return toColumnMetadata(columns, typeNames, baseColumns);
}

export async function executeStatement(
  client: pg.ClientBase,
  sql: string,
  parameters: unknown,
  options: StatementOptions,
): Promise<ExecuteStatementOutput> {
  const result = await query(client, sql, bindParameters(parameters));
  const output: ExecuteStatementOutput = { numberOfRecordsUpdated: 0, generatedFields: [] };
  // No row description: a statement that returns no result set (DML without RETURNING, DDL, ...).
  if (result.fields.length === 0) {
    if (UPDATING_COMMANDS.has(result.command)) output.numberOfRecordsUpdated = result.rowCount ?? 0;
    return output;
  }
  const rows = result.rows as (string | null)[][];
  checkResultSize(rows);
  const columns = await resolveColumns(result.fields, (oid) => typeName(client, oid));
  if (options.formatRecordsAs === "JSON") {
    output.formattedRecords = toJson(toJsonRecords(columns, rows, options.resultOptions));
  } else {
    output.records = toRecords(columns, rows, options.resultOptions);
  }
  // "columnMetadata: ... This field is blank if the formatRecordsAs parameter is set to JSON" (ExecuteStatement API).
  if (options.includeResultMetadata && options.formatRecordsAs !== "JSON") {
    output.columnMetadata = await columnMetadata(client, columns);
  }
  return output;
}

/**
 * Runs `sql` once per parameter set: "The SQL statement is executed as many times as the number of parameter sets
 * provided. To execute a SQL statement with no parameters ... specify one or more empty parameter sets"
 * (BatchExecuteStatement, API reference), so without parameter sets nothing runs and `updateResults` is empty.
 * Outside a transaction the batch is atomic, as a JDBC batch on an auto-commit connection is: one failing set leaves
 * no set applied (choice: AWS does not say).
 */
export async function batchExecuteStatement(
  client: pg.ClientBase,
  sql: string,
  parameterSets: readonly unknown[],
  inTransaction: boolean,
): Promise<{ updateResults: { generatedFields: [] }[] }> {
  // Every set is validated before anything runs, so a malformed set cannot leave a half-applied batch behind.
  const bound = parameterSets.map((set) => bindParameters(set));
  if (bound.length === 0) return { updateResults: [] };
  if (!inTransaction) await client.query("BEGIN");
  try {
    for (const parameters of bound) await query(client, sql, parameters);
    if (!inTransaction) await client.query("COMMIT");
  } catch (error) {
    if (!inTransaction) await client.query("ROLLBACK").catch(() => undefined);
    throw error;
  }
  return { updateResults: bound.map(() => ({ generatedFields: [] })) };
}
