/**
 * What the endpoint knows about PostgreSQL types: which `Field` member carries each one, and the JDBC metadata the
 * Data API reports for it (the service runs on PgJDBC, so `columnMetadata` is PgJDBC's `ResultSetMetaData`).
 */

/** How a value of the type travels in a `Field`. */
export type ValueKind =
  | "bool"
  | "long"
  | "double"
  | "decimal"
  | "string"
  | "blob"
  | "time"
  | "timetz"
  | "timestamp"
  | "timestamptz"
  | "array";

export interface PgTypeInfo {
  readonly name: string;
  readonly kind: ValueKind;
  /** `java.sql.Types` code, as PgJDBC maps the type. */
  readonly jdbc: number;
  /** For arrays: the element type's OID. */
  readonly element?: number;
}

/** `java.sql.Types` codes. */
export const JDBC = {
  BIT: -7,
  BIGINT: -5,
  BINARY: -2,
  CHAR: 1,
  NUMERIC: 2,
  INTEGER: 4,
  SMALLINT: 5,
  REAL: 7,
  DOUBLE: 8,
  VARCHAR: 12,
  DATE: 91,
  TIME: 92,
  TIMESTAMP: 93,
  OTHER: 1111,
  ARRAY: 2003,
} as const;

const scalar = (name: string, kind: ValueKind, jdbc: number): PgTypeInfo => ({ name, kind, jdbc });
const array = (name: string, element: number): PgTypeInfo => ({
  name,
  kind: "array",
  jdbc: JDBC.ARRAY,
  element,
});

/**
 * The built-in types the Data API returns (its documented PostgreSQL scalar and array types). Built-in types missing
 * here (interval, money, xml, geometric types, ...) make the call fail with `UnsupportedResultException`, as on AWS.
 */
export const PG_TYPES: ReadonlyMap<number, PgTypeInfo> = new Map([
  [16, scalar("bool", "bool", JDBC.BIT)],
  [17, scalar("bytea", "blob", JDBC.BINARY)],
  [18, scalar("char", "string", JDBC.CHAR)],
  [19, scalar("name", "string", JDBC.VARCHAR)],
  [20, scalar("int8", "long", JDBC.BIGINT)],
  [21, scalar("int2", "long", JDBC.SMALLINT)],
  [23, scalar("int4", "long", JDBC.INTEGER)],
  [25, scalar("text", "string", JDBC.VARCHAR)],
  [26, scalar("oid", "long", JDBC.BIGINT)],
  [114, scalar("json", "string", JDBC.OTHER)],
  [650, scalar("cidr", "string", JDBC.OTHER)],
  [700, scalar("float4", "double", JDBC.REAL)],
  [701, scalar("float8", "double", JDBC.DOUBLE)],
  [869, scalar("inet", "string", JDBC.OTHER)],
  [1042, scalar("bpchar", "string", JDBC.CHAR)],
  [1043, scalar("varchar", "string", JDBC.VARCHAR)],
  [1082, scalar("date", "string", JDBC.DATE)],
  [1083, scalar("time", "time", JDBC.TIME)],
  [1114, scalar("timestamp", "timestamp", JDBC.TIMESTAMP)],
  [1184, scalar("timestamptz", "timestamptz", JDBC.TIMESTAMP)],
  [1266, scalar("timetz", "timetz", JDBC.TIME)],
  [1700, scalar("numeric", "decimal", JDBC.NUMERIC)],
  [2950, scalar("uuid", "string", JDBC.OTHER)],
  [3802, scalar("jsonb", "string", JDBC.OTHER)],
  [1000, array("_bool", 16)],
  [1002, array("_char", 18)],
  [1003, array("_name", 19)],
  [1005, array("_int2", 21)],
  [1007, array("_int4", 23)],
  [1009, array("_text", 25)],
  [1014, array("_bpchar", 1042)],
  [1015, array("_varchar", 1043)],
  [1016, array("_int8", 20)],
  [1021, array("_float4", 700)],
  [1022, array("_float8", 701)],
  [1115, array("_timestamp", 1114)],
  [1182, array("_date", 1082)],
  [1183, array("_time", 1083)],
  [1185, array("_timestamptz", 1184)],
  [1231, array("_numeric", 1700)],
  [199, array("_json", 114)],
  [2951, array("_uuid", 2950)],
  [3807, array("_jsonb", 3802)],
]);

/** OIDs from here up are user-defined (enums, domains, extension types such as pgvector's): returned as text. */
export const FIRST_USER_OID = 16384;

export function typeInfo(oid: number): PgTypeInfo | undefined {
  if (oid >= FIRST_USER_OID) return { name: String(oid), kind: "string", jdbc: JDBC.OTHER };
  return PG_TYPES.get(oid);
}

/** PgJDBC reports this precision for types without a length. */
const UNKNOWN_LENGTH = 2_147_483_647;

/** Fractional-second digits plus the point, as PgJDBC sizes time values for a given type modifier. */
function secondFraction(typmod: number): number {
  if (typmod === -1) return 7;
  if (typmod === 0) return 0;
  if (typmod === 1) return 3;
  return typmod + 1;
}

/** `ResultSetMetaData.getPrecision`, as PgJDBC computes it. */
export function precisionOf(oid: number, typmod: number): number {
  switch (oid) {
    case 21:
      return 5;
    case 23:
    case 26:
      return 10;
    case 20:
      return 19;
    case 700:
      return 8;
    case 701:
      return 17;
    case 1700:
      return typmod === -1 ? 0 : ((typmod - 4) & 0xffff0000) >> 16;
    case 16:
    case 18:
      return 1;
    case 1042:
    case 1043:
      return typmod === -1 ? UNKNOWN_LENGTH : typmod - 4;
    case 1082:
      return 13;
    case 1083:
      return 8 + secondFraction(typmod);
    case 1266:
      return 8 + secondFraction(typmod) + 6;
    case 1114:
      return 13 + 1 + 8 + secondFraction(typmod);
    case 1184:
      return 13 + 1 + 8 + secondFraction(typmod) + 6;
    default:
      return UNKNOWN_LENGTH;
  }
}

/** `ResultSetMetaData.getScale`, as PgJDBC computes it. */
export function scaleOf(oid: number, typmod: number): number {
  switch (oid) {
    case 700:
      return 8;
    case 701:
      return 17;
    case 1700:
      return typmod === -1 ? 0 : (typmod - 4) & 0xffff;
    case 1083:
    case 1266:
    case 1114:
    case 1184:
      return typmod === -1 ? 6 : typmod;
    default:
      return 0;
  }
}

const SIGNED = new Set([20, 21, 23, 700, 701, 1700]);
const CASE_INSENSITIVE = new Set([16, 20, 21, 23, 26, 700, 701, 1082, 1083, 1114, 1184, 1266, 1700]);

export const isSigned = (oid: number) => SIGNED.has(oid);
export const isCaseSensitive = (oid: number) => !CASE_INSENSITIVE.has(oid);
