import { MAX_NAME_LENGTH } from "../core/row.js";
import { MAX_ID, MIN_ID } from "../core/shard-map.js";
import { ClientError } from "./errors.js";

export const LIMIT = { min: 1, max: 1000, default: 100 } as const;

/**
 * A validator: returns the parsed value or throws an {@link Invalid} whose message names the field. Hand-written
 * rather than valibot (measured: 5.5 KiB of the function's bundle, the margin of the bundle budget) for the two
 * objects and five fields the API reads; each message is the one the API documents.
 */
export type Schema<T> = (input: unknown) => T;

class Invalid extends Error {
  override name = "Invalid";
}

const fail = (message: string): never => {
  throw new Invalid(message);
};

/** A strict decimal integer in a query string or path: no signs but `-`, no spaces, no exponent, no fractions. */
const intString =
  (field: string, min: number, max: number): Schema<number> =>
  (input) => {
    if (typeof input !== "string" || !/^-?\d{1,10}$/.test(input)) fail(`${field}: must be an integer`);
    const value = Number(input);
    if (value < min || value > max) fail(`${field}: must be between ${min} and ${max}`);
    return value;
  };

const idString = (field: string) => intString(field, MIN_ID, MAX_ID);

/**
 * An object with exactly these fields: each is validated in order (a missing required one is `<field>: required`),
 * then any field not listed is refused, as the API has always answered.
 */
function strictObject<T extends Record<string, unknown>>(
  fields: { [K in keyof T]: { schema: Schema<T[K]>; optional?: true; fallback?: string } },
  unknown: (key: string) => string,
): Schema<T> {
  return (input) => {
    const record = input as Record<string, unknown>;
    const out: Record<string, unknown> = {};
    for (const [key, field] of Object.entries(fields) as [string, (typeof fields)[keyof T]][]) {
      const present = Object.hasOwn(record, key) && record[key] !== undefined;
      if (present) out[key] = field.schema(record[key]);
      else if (field.fallback !== undefined) out[key] = field.schema(field.fallback);
      else if (!field.optional) fail(`${key}: required`);
    }
    for (const key of Object.keys(record)) if (!Object.hasOwn(fields, key)) fail(unknown(key));
    return out as T;
  };
}

const list = strictObject<{ limit: number; after?: number; from?: number; to?: number }>(
  {
    limit: { schema: intString("limit", LIMIT.min, LIMIT.max), fallback: String(LIMIT.default) },
    // One below the lowest id means "before every id": the `next` of a first page that read nothing (a shard failed).
    after: { schema: intString("after", MIN_ID - 1, MAX_ID), optional: true },
    from: { schema: idString("from"), optional: true },
    to: { schema: idString("to"), optional: true },
  },
  (key) => `unknown query parameter: ${key}`,
);

export const listQuerySchema: Schema<{ limit: number; after?: number; from?: number; to?: number }> = (
  input,
) => {
  const q = list(input);
  if (q.from !== undefined && q.to !== undefined && q.from > q.to) fail("from: must not be greater than to");
  return q;
};

export const idParamSchema = idString("id");

/** Lone UTF-16 surrogates cannot be stored as UTF-8 text; NUL is rejected by PostgreSQL. */
const STORABLE = /^(?:[^\0\uD800-\uDFFF]|[\uD800-\uDBFF][\uDC00-\uDFFF])*$/u;

const nameSchema: Schema<string> = (input) => {
  if (typeof input !== "string") return fail("name: must be a string");
  if (input.trim().length === 0) fail("name: must not be empty");
  if ([...input].length > MAX_NAME_LENGTH) fail(`name: must be at most ${MAX_NAME_LENGTH} characters`);
  if (!STORABLE.test(input)) fail("name: must be valid text without NUL characters");
  return input;
};

const idNumber: Schema<number> = (input) => {
  if (typeof input !== "number" || !Number.isInteger(input)) fail("id: must be an integer");
  const id = input as number;
  if (id < MIN_ID || id > MAX_ID) fail(`id: must be between ${MIN_ID} and ${MAX_ID}`);
  return id;
};

const unknownField = (key: string) => `unknown field: ${key}`;

export const createBodySchema = strictObject<{ id: number; name: string }>(
  { id: { schema: idNumber }, name: { schema: nameSchema } },
  unknownField,
);

/** `id` may be repeated in the body (clients often send the whole row) but must then match the path. */
export const replaceBodySchema = strictObject<{ id?: number; name: string }>(
  { id: { schema: idNumber, optional: true }, name: { schema: nameSchema } },
  unknownField,
);

/** Parses `input` or throws a 400 naming the first offending field. */
export function parse<T>(schema: Schema<T>, input: unknown, code: string): T {
  try {
    return schema(input);
  } catch (err) {
    if (err instanceof Invalid) throw new ClientError(400, code, err.message);
    throw err;
  }
}
