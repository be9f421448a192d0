/**
 * Named `:param` placeholders and typed parameter values, as the Data API takes them, turned into PostgreSQL's
 * `$n` placeholders and bind values.
 *
 * Each value is bound with the type the Data API gives it (its JDBC driver binds a `stringValue` as VARCHAR, a
 * `longValue` as BIGINT, ...), written as a cast on the placeholder: `:id` with a `longValue` becomes `($1::int8)`.
 * That keeps AWS's strictness locally: a `stringValue` compared with a UUID column fails here as it fails there,
 * until the caller adds `typeHint: "UUID"`. Only `isNull` is bound untyped, so a NULL fits any column.
 */
import { badRequest } from "./errors.js";

/** `typeHint` values and the PostgreSQL type a hinted `stringValue` is bound as. */
const TYPE_HINTS = {
  DATE: "date",
  TIME: "time",
  TIMESTAMP: "timestamp",
  DECIMAL: "numeric",
  UUID: "uuid",
  JSON: "json",
} as const;

type TypeHint = keyof typeof TYPE_HINTS;

/**
 * The formats AWS accepts for hinted date and time strings (it parses them before they reach the database, so
 * PostgreSQL's wider choice of input formats, ISO `T` separators and offsets included, is refused).
 */
const HINT_FORMATS: Partial<Record<TypeHint, { pattern: RegExp; format: string }>> = {
  DATE: { pattern: /^\d{4}-\d{2}-\d{2}$/, format: "YYYY-MM-DD" },
  TIME: { pattern: /^\d{2}:\d{2}:\d{2}(\.\d{1,9})?$/, format: "HH:MM:SS[.FFF]" },
  TIMESTAMP: {
    pattern: /^\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}(\.\d{1,9})?$/,
    format: "YYYY-MM-DD HH:MM:SS[.FFF]",
  },
};

/** A parameter ready to bind: its value for `pg` and the cast its placeholder gets (none for NULL). */
export interface BoundParameter {
  readonly value: unknown;
  readonly cast: string | undefined;
}

const INT64_MIN = -(2n ** 63n);
const INT64_MAX = 2n ** 63n - 1n;

const FIELD_MEMBERS = [
  "isNull",
  "booleanValue",
  "longValue",
  "doubleValue",
  "stringValue",
  "blobValue",
  "arrayValue",
] as const;

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

function bindOne(
  name: string,
  field: Record<string, unknown>,
  typeHint: TypeHint | undefined,
): BoundParameter {
  const set = FIELD_MEMBERS.filter((member) => field[member] !== undefined && field[member] !== null);
  if (set.length === 0) throw badRequest(`Parameter "${name}" has value with no field set`);
  if (set.length > 1) throw badRequest(`Parameter "${name}" has value with more than one field set`);
  const member = set[0] as (typeof FIELD_MEMBERS)[number];
  const raw = field[member];
  const hinted = typeHint === undefined ? undefined : TYPE_HINTS[typeHint];
  const invalid = (expected: string) =>
    badRequest(
      `Parameter "${name}": ${member} must be ${expected}, got ${typeof raw === "bigint" ? raw : JSON.stringify(raw)}`,
    );
  switch (member) {
    case "isNull":
      if (raw !== true && raw !== false) throw invalid("a boolean");
      // isNull:false carries no value at all; AWS treats the field as set, so bind NULL as well.
      return { value: null, cast: hinted };
    case "booleanValue":
      if (typeof raw !== "boolean") throw invalid("a boolean");
      return { value: raw, cast: "bool" };
    case "longValue":
      // A bigint: the request JSON is parsed so integers beyond 2^53 keep every digit (requests.ts).
      if (typeof raw === "bigint") {
        if (raw < INT64_MIN || raw > INT64_MAX) throw invalid("a 64-bit integer");
        return { value: raw.toString(), cast: "int8" };
      }
      if (typeof raw !== "number" || !Number.isInteger(raw)) throw invalid("an integer");
      return { value: String(raw), cast: "int8" };
    case "doubleValue":
      if (typeof raw === "number") return { value: raw, cast: "float8" };
      if (typeof raw === "bigint") return { value: Number(raw), cast: "float8" };
      // Smithy JSON writes non-finite doubles as strings.
      if (raw === "NaN" || raw === "Infinity" || raw === "-Infinity") return { value: raw, cast: "float8" };
      throw invalid("a number");
    case "stringValue": {
      if (typeof raw !== "string") throw invalid("a string");
      const format = typeHint === undefined ? undefined : HINT_FORMATS[typeHint];
      if (format && !format.pattern.test(raw)) {
        throw badRequest(
          `Parameter "${name}": ${JSON.stringify(raw)} is not a valid ${typeHint} value, expected ${format.format}`,
        );
      }
      return { value: raw, cast: hinted ?? "varchar" };
    }
    case "blobValue":
      if (typeof raw !== "string" || !/^[A-Za-z0-9+/]*={0,2}$/.test(raw)) throw invalid("base64 text");
      return { value: Buffer.from(raw, "base64"), cast: "bytea" };
    case "arrayValue":
      throw badRequest("Array parameters are not supported.");
  }
}

/**
 * Validates a request's `parameters` (a list of `{name, value, typeHint?}`) and returns them by name.
 * @throws DataApiError (BadRequestException) naming the offending parameter.
 */
export function bindParameters(parameters: unknown): Map<string, BoundParameter> {
  const bound = new Map<string, BoundParameter>();
  if (parameters === undefined || parameters === null) return bound;
  if (!Array.isArray(parameters)) throw badRequest("parameters must be a list of SqlParameter");
  for (const [index, parameter] of (parameters as unknown[]).entries()) {
    if (!isRecord(parameter)) throw badRequest(`parameters[${index}] must be an SqlParameter object`);
    const { name, value, typeHint } = parameter;
    // AWS's SqlParameter.name is any string (no pattern): kysely-data-api and drizzle-orm name theirs `0`, `1`, ...
    // Only names of letters, digits and `_` can be written as a `:name` placeholder; any other is simply unused.
    // (Choice, undocumented: a parameter without a name is refused, since no placeholder could refer to it.)
    if (typeof name !== "string") {
      throw badRequest(`parameters[${index}].name must be a string, got ${JSON.stringify(name)}`);
    }
    if (bound.has(name)) throw badRequest(`Parameter "${name}" is specified more than once`);
    if (!isRecord(value)) throw badRequest(`Parameter "${name}" has no value`);
    const hint = typeHint ?? undefined;
    if (hint !== undefined && !(typeof hint === "string" && Object.hasOwn(TYPE_HINTS, hint))) {
      const allowed = Object.keys(TYPE_HINTS).join(", ");
      throw badRequest(
        `Parameter "${name}": typeHint must be one of ${allowed}, got ${JSON.stringify(hint)}`,
      );
    }
    bound.set(name, bindOne(name, value, hint as TypeHint | undefined));
  }
  return bound;
}

const IDENTIFIER_PART = /[A-Za-z0-9_$]/;
/** `:name`, `:0`, `:p_1`: what a placeholder can name (digits first too, as kysely-data-api and drizzle write). */
const PLACEHOLDER_START = /[A-Za-z0-9_]/;
const PLACEHOLDER_NAME = /[A-Za-z0-9_]+/y;
const DOLLAR_TAG = /\$(?:[A-Za-z_][A-Za-z0-9_]*)?\$/y;

/** Index just past a quoted token opened at `start`; a doubled quote is an escaped quote. */
function skipQuoted(sql: string, start: number, quote: string, backslashEscapes: boolean): number {
  let i = start + 1;
  while (i < sql.length) {
    const c = sql[i];
    if (backslashEscapes && c === "\\") i += 2;
    else if (c === quote) {
      if (sql[i + 1] === quote) i += 2;
      else return i + 1;
    } else i++;
  }
  return sql.length;
}

/** Index just past a block comment opened at `start`; PostgreSQL block comments nest. */
function skipBlockComment(sql: string, start: number): number {
  let depth = 0;
  let i = start;
  while (i < sql.length) {
    if (sql.startsWith("/*", i)) {
      depth++;
      i += 2;
    } else if (sql.startsWith("*/", i)) {
      depth--;
      i += 2;
      if (depth === 0) return i;
    } else i++;
  }
  return sql.length;
}

/**
 * Rewrites the `:name` placeholders of `sql` with `replacement(name)`, leaving alone what looks like one but is not:
 * text inside string literals (standard, `E''` escape strings, dollar-quoted), quoted identifiers and comments, and
 * `::` casts. A name for which `replacement` returns `undefined` is left as written, so an array slice such as
 * `a[lo:hi]` survives unless the request really names a parameter `hi`.
 */
export function rewritePlaceholders(sql: string, replacement: (name: string) => string | undefined): string {
  let out = "";
  let i = 0;
  const previous = (at: number) => (at > 0 ? (sql[at - 1] ?? "") : "");
  while (i < sql.length) {
    const c = sql[i] as string;
    let end = -1;
    if (c === "'") {
      const escapeString = /[Ee]/.test(previous(i)) && !IDENTIFIER_PART.test(previous(i - 1));
      end = skipQuoted(sql, i, "'", escapeString);
    } else if (c === '"') {
      end = skipQuoted(sql, i, '"', false);
    } else if (c === "-" && sql[i + 1] === "-") {
      const newline = sql.indexOf("\n", i);
      end = newline === -1 ? sql.length : newline;
    } else if (c === "/" && sql[i + 1] === "*") {
      end = skipBlockComment(sql, i);
    } else if (c === "$" && !IDENTIFIER_PART.test(previous(i))) {
      DOLLAR_TAG.lastIndex = i;
      const tag = DOLLAR_TAG.exec(sql)?.[0];
      if (tag) {
        const close = sql.indexOf(tag, i + tag.length);
        end = close === -1 ? sql.length : close + tag.length;
      }
    } else if (c === ":") {
      if (sql[i + 1] === ":") {
        end = i + 2;
      } else if (PLACEHOLDER_START.test(sql[i + 1] ?? "")) {
        PLACEHOLDER_NAME.lastIndex = i + 1;
        const name = PLACEHOLDER_NAME.exec(sql)?.[0] as string;
        const rewritten = replacement(name);
        if (rewritten !== undefined) {
          out += rewritten;
          i += 1 + name.length;
          continue;
        }
        end = i + 1 + name.length;
      }
    }
    if (end === -1) end = i + 1;
    out += sql.slice(i, end);
    i = end;
  }
  return out;
}

/**
 * Translates `sql` with named placeholders into PostgreSQL text with `$n` placeholders and the values to bind.
 * A name used several times maps to one `$n`; parameters the statement does not use are not bound.
 */
export function toPositional(
  sql: string,
  parameters: ReadonlyMap<string, BoundParameter>,
): { text: string; values: unknown[] } {
  const positions = new Map<string, number>();
  const values: unknown[] = [];
  const text = rewritePlaceholders(sql, (name) => {
    const parameter = parameters.get(name);
    if (!parameter) return undefined;
    let position = positions.get(name);
    if (position === undefined) {
      values.push(parameter.value);
      position = values.length;
      positions.set(name, position);
    }
    return parameter.cast === undefined ? `$${position}` : `($${position}::${parameter.cast})`;
  });
  return { text, values };
}
