import type { Field } from "@aws-sdk/client-rds-data";
import { describe, expect, it } from "vitest";
import { MalformedResultError } from "../../functions/core/errors.js";
import { parseRows, quoteIdent, selectOne, selectRange } from "../../functions/core/sql.js";

describe("selectRange", () => {
  it("binds every range bound and the limit as long parameters, never inlining a value", () => {
    const st = selectRange(
      "data_1",
      [
        [5, 10],
        [31, 33],
      ],
      101,
    );
    expect(st.sql).toBe(
      'SELECT id, name FROM "data_1" WHERE (id BETWEEN :lo0 AND :hi0 OR id BETWEEN :lo1 AND :hi1) ORDER BY id LIMIT :limit',
    );
    expect(st.parameters).toEqual([
      { name: "lo0", value: { longValue: 5 } },
      { name: "hi0", value: { longValue: 10 } },
      { name: "lo1", value: { longValue: 31 } },
      { name: "hi1", value: { longValue: 33 } },
      { name: "limit", value: { longValue: 101 } },
    ]);
    expect(st.sql).not.toMatch(/\d{2}/);
  });
});

describe("selectOne", () => {
  it("binds the id as a parameter", () => {
    expect(selectOne("data_1", 42)).toEqual({
      sql: 'SELECT id, name FROM "data_1" WHERE id = :id',
      parameters: [{ name: "id", value: { longValue: 42 } }],
    });
  });
});

describe("quoteIdent", () => {
  it("quotes an identifier and doubles any quote inside it", () => {
    expect(quoteIdent("data_1")).toBe('"data_1"');
    expect(quoteIdent('a"b')).toBe('"a""b"');
  });
});

describe("parseRows", () => {
  it("turns (longValue, stringValue) records into rows, keeping their order", () => {
    expect(
      parseRows([
        [{ longValue: 3 }, { stringValue: "Test 3" }],
        [{ longValue: 1 }, { stringValue: "" }],
      ]),
    ).toEqual([
      { id: 3, name: "Test 3" },
      { id: 1, name: "" },
    ]);
  });

  it("reads a NULL name as null", () => {
    expect(parseRows([[{ longValue: 7 }, { isNull: true }]])).toEqual([{ id: 7, name: null }]);
  });

  it("reads an empty result as no rows", () => {
    expect(parseRows([])).toEqual([]);
  });

  it("rejects a result without records", () => {
    expect(() => parseRows(undefined)).toThrow(new MalformedResultError("result has no records"));
    expect(() => parseRows({} as unknown as Field[][])).toThrow(MalformedResultError);
  });

  it.each([
    ["an id given as a string", [{ stringValue: "1" }, { stringValue: "x" }]],
    ["a fractional id", [{ doubleValue: 1.5 }, { stringValue: "x" }]],
    ["a NULL id", [{ isNull: true }, { stringValue: "x" }]],
    ["a name given as a number", [{ longValue: 1 }, { longValue: 2 }]],
    ["a missing name", [{ longValue: 1 }]],
    ["an empty record", []],
    ["a null record", null],
    ["a record that is an object", { id: 1, name: "x" }],
    ["a record that is a number", 5],
    ["a name field whose stringValue is not a string", [{ longValue: 1 }, { stringValue: 5 }]],
    ["an id field whose longValue is not an integer", [{ longValue: 1.5 }, { stringValue: "x" }]],
    ["an id field whose longValue is a string", [{ longValue: "1" }, { stringValue: "x" }]],
  ])("rejects a record with %s as a MalformedResultError naming the record", (_what, record) => {
    const records = [[{ longValue: 1 }, { stringValue: "ok" }], record] as unknown as Field[][];
    expect(() => parseRows(records)).toThrow(new MalformedResultError("record 1 is not an (id, name) pair"));
  });
});
