import * as v from "valibot";
import { ClientError } from "../core/errors.js";
import { MAX_NAME_LENGTH } from "../core/row.js";
import { MAX_ID, MIN_ID } from "../core/shard-map.js";

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

export const listQuerySchema = v.pipe(
  v.strictObject(
    {
      limit: v.optional(intString("limit", LIMIT.min, LIMIT.max), String(LIMIT.default)),
      // One below the lowest id means "before every id": the `next` of a first page that read nothing (a shard failed).
      after: v.optional(intString("after", MIN_ID - 1, MAX_ID)),
      from: v.optional(idString("from")),
      to: v.optional(idString("to")),
    },
    (issue) => `unknown query parameter: ${String(issue.input)}`,
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
  v.check((s) => [...s].length <= MAX_NAME_LENGTH, `name: must be at most ${MAX_NAME_LENGTH} characters`),
  v.regex(STORABLE, "name: must be valid text without NUL characters"),
);

const idNumber = v.pipe(
  v.number("id: must be an integer"),
  v.integer("id: must be an integer"),
  v.minValue(MIN_ID, `id: must be between ${MIN_ID} and ${MAX_ID}`),
  v.maxValue(MAX_ID, `id: must be between ${MIN_ID} and ${MAX_ID}`),
);

const unknownField = (issue: v.BaseIssue<unknown>) => `unknown field: ${String(issue.input)}`;

export const createBodySchema = v.strictObject({ id: idNumber, name: nameSchema }, unknownField);

/** `id` may be repeated in the body (clients often send the whole row) but must then match the path. */
export const replaceBodySchema = v.strictObject({ id: v.optional(idNumber), name: nameSchema }, unknownField);

/** Parses `input` or throws a 400 naming the first offending field. */
export function parse<S extends v.GenericSchema>(
  schema: S,
  input: unknown,
  code = "invalid_request",
): v.InferOutput<S> {
  const result = v.safeParse(schema, input, { abortEarly: true });
  if (result.success) return result.output;
  const issue = result.issues[0];
  throw new ClientError(400, code, messageOf(issue));
}

function messageOf(issue: v.BaseIssue<unknown>): string {
  const path = v.getDotPath(issue);
  if (path && issue.received === "undefined") return `${path}: required`;
  // valibot's own messages (e.g. a missing key) do not name the field: prefix it from the path.
  if (path && !issue.message.startsWith(`${path}:`) && !issue.message.startsWith("unknown ")) {
    return `${path}: ${issue.message.replace(/^Invalid \w+: /, "")}`;
  }
  return issue.message;
}
