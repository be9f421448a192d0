/**
 * PostgreSQL result rows (text format) as the Data API returns them: `records` of the `Field` union,
 * `formattedRecords` JSON, and `columnMetadata`.
 */
import type { FieldDef } from "pg";
import { DataApiError } from "./errors.js";
import {
  isCaseSensitive,
  isSigned,
  type PgTypeInfo,
  precisionOf,
  scaleOf,
  typeInfo,
  type ValueKind,
} from "./types.js";

export type DecimalReturnType = "STRING" | "DOUBLE_OR_LONG";
export type LongReturnType = "LONG" | "STRING";

export interface ResultOptions {
  readonly decimalReturnType: DecimalReturnType;
  readonly longReturnType: LongReturnType;
}

/** Non-finite doubles travel as strings in Smithy JSON. */
type Double = number | "NaN" | "Infinity" | "-Infinity";

export type ArrayValue =
  | { booleanValues: (boolean | null)[] }
  | { longValues: (bigint | null)[] }
  | { doubleValues: (Double | null)[] }
  | { stringValues: (string | null)[] };

export type Field =
  | { isNull: true }
  | { booleanValue: boolean }
  | { longValue: bigint }
  | { doubleValue: Double }
  | { stringValue: string }
  | { blobValue: string }
  | { arrayValue: ArrayValue };

export interface ColumnMetadata {
  arrayBaseColumnType: number;
  isAutoIncrement: boolean;
  isCaseSensitive: boolean;
  isCurrency: boolean;
  isSigned: boolean;
  label: string;
  name: string;
  nullable: number;
  precision: number;
  scale: number;
  schemaName: string;
  tableName: string;
  type: number;
  typeName: string;
}

/** What the catalog says about a result column that comes straight from a table column. */
export interface BaseColumn {
  readonly tableName: string;
  readonly notNull: boolean;
  readonly autoIncrement: boolean;
}

/** A result column with the type it is converted by. */
export interface Column {
  readonly def: FieldDef;
  readonly type: PgTypeInfo;
}

export function unsupportedType(typeName: string): DataApiError {
  return new DataApiError(
    "UnsupportedResultException",
    `The result contains the unsupported data type ${typeName}.`,
  );
}

/**
 * Resolves every column's type, or throws `UnsupportedResultException` naming the first type the Data API cannot
 * return (`typeName` looks up its name).
 */
export async function resolveColumns(
  fields: readonly FieldDef[],
  typeName: (oid: number) => Promise<string>,
): Promise<Column[]> {
  const columns: Column[] = [];
  for (const def of fields) {
    const type = typeInfo(def.dataTypeID);
    if (!type) throw unsupportedType(await typeName(def.dataTypeID));
    columns.push({ def, type });
  }
  return columns;
}

/** `12:34:56.789123` -> `12:34:56.789`: the Data API keeps at most milliseconds. */
function truncateFraction(text: string): string {
  return text.replace(/(\.\d{3})\d+/, "$1");
}

const pad = (n: number, width = 2) => String(n).padStart(width, "0");

/** Offset text (`+05`, `-03:30`, `+00:00:12`) in seconds east of UTC. */
function offsetSeconds(sign: string, hours: string, minutes = "0", seconds = "0"): number {
  const total = Number(hours) * 3600 + Number(minutes) * 60 + Number(seconds);
  return sign === "-" ? -total : total;
}

/**
 * A `timestamptz` as the Data API returns it: in UTC, without an offset. The endpoint's sessions run in UTC, so
 * PostgreSQL already writes `+00`; other offsets (a session that changed its time zone) are converted.
 */
function formatTimestamptz(text: string): string {
  const m =
    /^(\d{4,})-(\d\d)-(\d\d) (\d\d):(\d\d):(\d\d)(\.\d+)?([+-])(\d\d)(?::(\d\d))?(?::(\d\d))?( BC)?$/.exec(
      text,
    );
  if (!m) return truncateFraction(text);
  const [, y, mo, d, h, mi, s, fraction = "", sign = "+", oh = "0", om, os, bc = ""] = m;
  const shift = offsetSeconds(sign, oh, om, os);
  if (shift === 0) return truncateFraction(`${y}-${mo}-${d} ${h}:${mi}:${s}${fraction}${bc}`);
  const date = new Date(0);
  date.setUTCFullYear(Number(y), Number(mo) - 1, Number(d));
  date.setUTCHours(Number(h), Number(mi), Number(s) - shift, 0);
  const utc =
    `${pad(date.getUTCFullYear(), 4)}-${pad(date.getUTCMonth() + 1)}-${pad(date.getUTCDate())} ` +
    `${pad(date.getUTCHours())}:${pad(date.getUTCMinutes())}:${pad(date.getUTCSeconds())}`;
  return truncateFraction(`${utc}${fraction}${bc}`);
}

/** A `timetz` in UTC without its offset, as the Data API returns every zoned type. */
function formatTimetz(text: string): string {
  const m = /^(\d\d):(\d\d):(\d\d)(\.\d+)?([+-])(\d\d)(?::(\d\d))?(?::(\d\d))?$/.exec(text);
  if (!m) return truncateFraction(text);
  const [, h, mi, s, fraction = "", sign = "+", oh = "0", om, os] = m;
  const day = 86_400;
  const local = Number(h) * 3600 + Number(mi) * 60 + Number(s) - offsetSeconds(sign, oh, om, os);
  const seconds = ((local % day) + day) % day;
  return truncateFraction(
    `${pad(Math.floor(seconds / 3600))}:${pad(Math.floor((seconds % 3600) / 60))}:${pad(seconds % 60)}${fraction}`,
  );
}

function toDouble(text: string): Double {
  if (text === "NaN" || text === "Infinity" || text === "-Infinity") return text;
  return Number(text);
}

/** `\x48656c6c6f` (bytea hex output) as base64. */
function byteaToBase64(text: string): string {
  const bytes = text.startsWith("\\x") ? Buffer.from(text.slice(2), "hex") : Buffer.from(text);
  return bytes.toString("base64");
}

/** A scalar as the string the Data API puts in `stringValue` for its kind. */
function formatText(kind: ValueKind, text: string): string {
  switch (kind) {
    case "time":
    case "timestamp":
      return truncateFraction(text);
    case "timetz":
      return formatTimetz(text);
    case "timestamptz":
      return formatTimestamptz(text);
    default:
      return text;
  }
}

/**
 * Parses a one-dimensional PostgreSQL array literal (`{1,NULL,"a b"}`, optionally `[0:1]={...}`) into its elements.
 * @throws DataApiError (UnsupportedResultException) for a multidimensional array, which the Data API refuses.
 */
export function parseArrayLiteral(text: string): (string | null)[] {
  let i = text.startsWith("[") ? text.indexOf("=") + 1 : 0;
  if (text[i] !== "{") {
    throw new DataApiError("UnsupportedResultException", "The result contains an unreadable array.");
  }
  i++;
  const elements: (string | null)[] = [];
  if (text[i] === "}") return elements;
  while (i < text.length) {
    const c = text[i];
    if (c === "{") {
      throw new DataApiError("UnsupportedResultException", "The result contains a multidimensional array.");
    }
    if (c === '"') {
      let value = "";
      i++;
      while (i < text.length && text[i] !== '"') {
        if (text[i] === "\\") i++;
        value += text[i] ?? "";
        i++;
      }
      elements.push(value);
      i++;
    } else {
      let end = i;
      while (end < text.length && text[end] !== "," && text[end] !== "}") end++;
      const token = text.slice(i, end).trim();
      elements.push(token.toUpperCase() === "NULL" ? null : token);
      i = end;
    }
    if (text[i] === ",") i++;
    else break;
  }
  return elements;
}

function arrayValue(element: PgTypeInfo, items: (string | null)[], options: ResultOptions): ArrayValue {
  const each = <T>(convert: (text: string) => T) =>
    items.map((item) => (item === null ? null : convert(item)));
  switch (element.kind) {
    case "bool":
      return { booleanValues: each((t) => t === "t") };
    case "long":
      return options.longReturnType === "STRING"
        ? { stringValues: each((t) => t) }
        : { longValues: each(BigInt) };
    case "double":
      return { doubleValues: each(toDouble) };
    default:
      return { stringValues: each((t) => formatText(element.kind, t)) };
  }
}

function isIntegral(def: FieldDef, text: string): boolean {
  const typmod = def.dataTypeModifier;
  // DOUBLE_OR_LONG picks by the column's scale; a NUMERIC without one is judged by its value.
  return typmod === -1 ? /^-?\d+$/.test(text) : scaleOf(def.dataTypeID, typmod) === 0;
}

/** One value as a `Field`. */
export function toField(column: Column, text: string | null, options: ResultOptions): Field {
  if (text === null) return { isNull: true };
  const { type, def } = column;
  switch (type.kind) {
    case "bool":
      return { booleanValue: text === "t" };
    case "long":
      return options.longReturnType === "STRING" ? { stringValue: text } : { longValue: BigInt(text) };
    case "double":
      return { doubleValue: toDouble(text) };
    case "decimal":
      if (options.decimalReturnType === "STRING" || text === "NaN") return { stringValue: text };
      return isIntegral(def, text)
        ? { longValue: BigInt(text.replace(/\.0*$/, "")) }
        : { doubleValue: Number(text) };
    case "blob":
      return { blobValue: byteaToBase64(text) };
    case "array": {
      const element: PgTypeInfo = typeInfo(type.element ?? 25) ?? { name: "text", kind: "string", jdbc: 12 };
      return { arrayValue: arrayValue(element, parseArrayLiteral(text), options) };
    }
    default:
      return { stringValue: formatText(type.kind, text) };
  }
}

/** One value as it appears in `formattedRecords`. */
function toJsonValue(field: Field): unknown {
  if ("isNull" in field) return null;
  if ("booleanValue" in field) return field.booleanValue;
  if ("longValue" in field) return field.longValue;
  if ("doubleValue" in field) return field.doubleValue;
  if ("stringValue" in field) return field.stringValue;
  if ("blobValue" in field) return field.blobValue;
  return Object.values(field.arrayValue)[0];
}

export function toRecords(
  columns: readonly Column[],
  rows: readonly (string | null)[][],
  options: ResultOptions,
) {
  return rows.map((row) => columns.map((column, i) => toField(column, row[i] ?? null, options)));
}

/**
 * `formattedRecords`: one JSON object per row keyed by column label. When two columns share a label the later one
 * wins, which is what a JSON object can hold.
 */
export function toJsonRecords(
  columns: readonly Column[],
  rows: readonly (string | null)[][],
  options: ResultOptions,
): Record<string, unknown>[] {
  return rows.map((row) => {
    const record: Record<string, unknown> = {};
    for (const [i, column] of columns.entries()) {
      record[column.def.name] = toJsonValue(toField(column, row[i] ?? null, options));
    }
    return record;
  });
}

const SERIAL_TYPE_NAMES: Record<string, string> = { int2: "smallserial", int4: "serial", int8: "bigserial" };

/** `columnMetadata`, as PgJDBC's `ResultSetMetaData` describes the columns (`typeNames` from `pg_type`). */
export function toColumnMetadata(
  columns: readonly Column[],
  typeNames: ReadonlyMap<number, string>,
  baseColumns: ReadonlyMap<string, BaseColumn>,
): ColumnMetadata[] {
  return columns.map(({ def }) => {
    const oid = def.dataTypeID;
    const typmod = def.dataTypeModifier;
    const base = def.tableID === 0 ? undefined : baseColumns.get(`${def.tableID}:${def.columnID}`);
    let typeName = typeNames.get(oid) ?? typeInfo(oid)?.name ?? String(oid);
    // PgJDBC names an auto-increment integer column after its serial pseudo-type.
    if (base?.autoIncrement) typeName = SERIAL_TYPE_NAMES[typeName] ?? typeName;
    return {
      arrayBaseColumnType: 0,
      isAutoIncrement: base?.autoIncrement ?? false,
      isCaseSensitive: isCaseSensitive(oid),
      isCurrency: oid === 790,
      isSigned: isSigned(oid),
      label: def.name,
      name: def.name,
      // columnNoNulls 0, columnNullable 1, columnNullableUnknown 2 (an expression, not a table column).
      nullable: base === undefined ? 2 : base.notNull ? 0 : 1,
      precision: precisionOf(oid, typmod),
      scale: scaleOf(oid, typmod),
      schemaName: "",
      tableName: base?.tableName ?? "",
      type: typeInfo(oid)?.jdbc ?? 1111,
      typeName,
    };
  });
}
