import * as v from "valibot";
import { MAX_NAME_LENGTH } from "../core/row.js";
import { MAX_ID, MIN_ID } from "../core/shard-map.js";
import { ClientError } from "./errors.js";

/**
 * What the API reads from a request, as valibot schemas: each check carries the message the API documents, in the
 * order the checks run, and {@link parse} answers with the first one that fails. Valibot rather than checks by hand:
 * a new field or rule is one line, next to the ones like it. Its bytes in the bundle are not what a cold start pays
 * for; its import time is (bench: `bundle.importRatio`).
 */

export const LIMIT = { min: 1, max: 1000, default: 100 } as const;

/** A strict decimal integer in a query string or path: no signs but `-`, no spaces, no exponent, no fractions. */
const intString = (field: string, min: number, max: number) =>
  v.pipe(
    v.string(`${field}: must be an integer`),
    v.regex(/^-?\d{1,10}$/, `${field}: must be an integer`),
    v.transform(Number),
    v.minValue(min, `${field}: must be between ${min} and ${max}`),
    v.maxValue(max, `${field}: must be between ${min} and ${max}`),
  );

const idString = (field: string) => intString(field, MIN_ID, MAX_ID);

/**
 * The message of a strict object's own issues, which are about its keys: a required key that is missing (valibot
 * reports it with no input) is `<key>: required`; a key the object does not list is refused by name.
 */
const keyMessage =
  (refusal: string) =>
  (issue: v.BaseIssue<unknown>): string =>
    issue.input === undefined ? `${v.getDotPath(issue)}: required` : `${refusal}: ${String(issue.input)}`;

export const listQuerySchema = v.pipe(
  v.strictObject(
    {
      limit: v.optional(intString("limit", LIMIT.min, LIMIT.max), String(LIMIT.default)),
      // One below the lowest id means "before every id": the `next` of a first page that read nothing (a shard failed).
      after: v.optional(intString("after", MIN_ID - 1, MAX_ID)),
      from: v.optional(idString("from")),
      to: v.optional(idString("to")),
    },
    keyMessage("unknown query parameter"),
  ),
  v.check(
    (q) => q.from === undefined || q.to === undefined || q.from <= q.to,
    "from: must not be greater than to",
  ),
);

export const idParamSchema = idString("id");

/** Lone UTF-16 surrogates cannot be stored as UTF-8 text; NUL is rejected by PostgreSQL. */
const STORABLE = /^(?:[^\0\uD800-\uDFFF]|[\uD800-\uDBFF][\uDC00-\uDFFF])*$/u;

const nameSchema = v.pipe(
  v.string("name: must be a string"),
  v.check((s) => s.trim().length > 0, "name: must not be empty"),
  // Characters (code points), as the column's VARCHAR(255) counts them: not UTF-16 units, not bytes.
  v.check((s) => [...s].length <= MAX_NAME_LENGTH, `name: must be at most ${MAX_NAME_LENGTH} characters`),
  v.regex(STORABLE, "name: must be valid text without NUL characters"),
);

const idNumber = v.pipe(
  v.number("id: must be an integer"),
  v.integer("id: must be an integer"),
  v.minValue(MIN_ID, `id: must be between ${MIN_ID} and ${MAX_ID}`),
  v.maxValue(MAX_ID, `id: must be between ${MIN_ID} and ${MAX_ID}`),
);

export const createBodySchema = v.strictObject(
  { id: idNumber, name: nameSchema },
  keyMessage("unknown field"),
);

/** `id` may be repeated in the body (clients often send the whole row) but must then match the path. */
export const replaceBodySchema = v.strictObject(
  { id: v.optional(idNumber), name: nameSchema },
  keyMessage("unknown field"),
);

/** Parses `input` or throws a 400 with the message of the first check that failed (`abortEarly`: no other runs). */
export function parse<S extends v.GenericSchema>(schema: S, input: unknown, code: string): v.InferOutput<S> {
  const result = v.safeParse(schema, input, { abortEarly: true });
  if (result.success) return result.output;
  throw new ClientError(400, code, result.issues[0].message);
}
