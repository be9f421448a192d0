import { describe, expect, it } from "vitest";
import { MAX_ID, MIN_ID } from "../../functions/core/shard-map.js";
import { ClientError } from "../../functions/http/errors.js";
import {
  createBodySchema,
  idParamSchema,
  listQuerySchema,
  parse,
  replaceBodySchema,
} from "../../functions/http/validation.js";

/** The message of the 400 `parse` throws for `input`. */
function message(schema: Parameters<typeof parse>[0], input: unknown): string {
  try {
    parse(schema, input, "invalid_request");
  } catch (err) {
    if (err instanceof ClientError && err.status === 400 && err.code === "invalid_request")
      return err.message;
    throw err;
  }
  throw new Error("expected a 400");
}

// The messages themselves are asserted through the app (app.test.ts); these pin which one wins when several apply.
describe("validation: the first failing check names the request's problem", () => {
  it("reads the query with defaults, and one below the lowest id as a cursor", () => {
    expect(parse(listQuerySchema, {}, "q")).toEqual({ limit: 100 });
    expect(parse(listQuerySchema, { after: String(MIN_ID - 1), from: "3", to: "3" }, "q")).toEqual({
      limit: 100,
      after: MIN_ID - 1,
      from: 3,
      to: 3,
    });
  });

  it("checks the query's fields in order (limit, after, from, to), then unknown ones, then from <= to", () => {
    const all = { foo: "1", to: "x", from: "x", after: "x", limit: "x" };
    expect(message(listQuerySchema, all)).toBe("limit: must be an integer");
    expect(message(listQuerySchema, { ...all, limit: "5" })).toBe("after: must be an integer");
    expect(message(listQuerySchema, { ...all, limit: "5", after: "1" })).toBe("from: must be an integer");
    expect(message(listQuerySchema, { foo: "1", to: "x", from: "9" })).toBe("to: must be an integer");
    expect(message(listQuerySchema, { foo: "1", to: "1", from: "9" })).toBe("unknown query parameter: foo");
    expect(message(listQuerySchema, { to: "1", from: "9" })).toBe("from: must not be greater than to");
  });

  it("checks an integer string's form before its range", () => {
    expect(message(idParamSchema, "1e3")).toBe("id: must be an integer");
    expect(message(idParamSchema, "99999999999")).toBe("id: must be an integer");
    expect(message(idParamSchema, "2147483648")).toBe(`id: must be between ${MIN_ID} and ${MAX_ID}`);
    expect(message(listQuerySchema, { limit: "0" })).toBe("limit: must be between 1 and 1000");
  });

  it("checks a body's fields in order (id, then name), a missing one as required, then unknown fields", () => {
    expect(message(createBodySchema, { extra: 1 })).toBe("id: required");
    expect(message(createBodySchema, { extra: 1, name: 5, id: "5" })).toBe("id: must be an integer");
    expect(message(createBodySchema, { extra: 1, id: 5 })).toBe("name: required");
    expect(message(createBodySchema, { extra: 1, id: 5, name: "" })).toBe("name: must not be empty");
    expect(message(createBodySchema, { extra: 1, id: 5, name: "x" })).toBe("unknown field: extra");
    expect(message(replaceBodySchema, { extra: 1 })).toBe("name: required");
    expect(message(replaceBodySchema, { id: 1.5, name: "x" })).toBe("id: must be an integer");
    expect(parse(replaceBodySchema, { name: "x" }, "b")).toEqual({ name: "x" });
  });

  it("checks a name's type, emptiness, length, then what can be stored", () => {
    expect(message(createBodySchema, { id: 1, name: null })).toBe("name: must be a string");
    expect(message(createBodySchema, { id: 1, name: " \t" })).toBe("name: must not be empty");
    expect(message(createBodySchema, { id: 1, name: "\u0000".repeat(256) })).toBe(
      "name: must be at most 255 characters",
    );
    expect(message(createBodySchema, { id: 1, name: "a\u0000" })).toBe(
      "name: must be valid text without NUL characters",
    );
  });
});
