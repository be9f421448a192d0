import { describe, expect, it } from "vitest";
import { MalformedResultError } from "../../functions/core/errors.js";
import {
  checkUnowned,
  parseRows,
  RANGES_SCANNED_ALONE,
  selectOne,
  selectRange,
} from "../../functions/core/sql.js";

const ADMIT = "(SELECT sharding.admit_read(:owned, :unowned))";

import { quoteIdent } from "../../functions/core/sql-identifier.js";

describe("selectRange", () => {
  it("reads one range with the range as the index bounds, binding every value", () => {
    const st = selectRange("data_1", [[5, 10]], 101);
    expect(st.sql).toBe(
      `SELECT id, name FROM "data_1" WHERE id BETWEEN :lo0 AND :hi0 AND ${ADMIT} ORDER BY id LIMIT :limit`,
    );
    expect(st.parameters).toEqual([
      { name: "limit", value: { longValue: 101 } },
      { name: "owned", value: { stringValue: "{[5,10]}" } },
      { name: "unowned", value: { stringValue: "{}" } },
      { name: "lo0", value: { longValue: 5 } },
      { name: "hi0", value: { longValue: 10 } },
    ]);
  });

  it("gives each range its own bounded, ordered subquery and merges them, never inlining a value", () => {
    const st = selectRange(
      "data_1",
      [
        [5, 10],
        [31, 33],
      ],
      101,
    );
    const scan = (i: number) =>
      `(SELECT id, name FROM "data_1" WHERE id BETWEEN :lo${i} AND :hi${i} ORDER BY id LIMIT :limit)`;
    expect(st.sql).toBe(
      `SELECT id, name FROM (${scan(0)} UNION ALL ${scan(1)}) AS ranges WHERE ${ADMIT} ORDER BY id LIMIT :limit`,
    );
    expect(st.parameters).toEqual([
      { name: "limit", value: { longValue: 101 } },
      { name: "owned", value: { stringValue: "{[5,10],[31,33]}" } },
      { name: "unowned", value: { stringValue: "{}" } },
      { name: "lo0", value: { longValue: 5 } },
      { name: "hi0", value: { longValue: 10 } },
      { name: "lo1", value: { longValue: 31 } },
      { name: "hi1", value: { longValue: 33 } },
    ]);
    expect(st.sql).not.toMatch(/\d{2}/);
  });

  it("asks the shard to vouch for the ids no shard owns that the caller's bounds include", () => {
    const st = selectRange("data_1", [[55, 60]], 11, [[61, 100]]);
    const value = (name: string) => st.parameters.find((p) => p.name === name)?.value;
    expect(value("owned")).toEqual({ stringValue: "{[55,60]}" });
    expect(value("unowned")).toEqual({ stringValue: "{[61,100]}" });
  });

  it("keeps the statement the same size past RANGES_SCANNED_ALONE ranges: the rest share one exactly filtered subquery", () => {
    const ranges = Array.from({ length: 500 }, (_, i) => [i * 100 + 1, i * 100 + 50] as const);
    const st = selectRange("data_1", ranges, 101);
    const alone = RANGES_SCANNED_ALONE - 1;
    expect(st.sql.match(/UNION ALL/g)).toHaveLength(alone);
    expect(st.sql).toContain(
      "WHERE id BETWEEN :restLo AND :restHi AND (SELECT CAST(:rest AS int8multirange)) @> CAST(id AS bigint)",
    );
    expect(st.sql).not.toMatch(/\d{2}/);
    const value = (name: string) => st.parameters.find((p) => p.name === name)?.value;
    expect(value(`lo${alone}`)).toBeUndefined();
    expect(value("restLo")).toEqual({ longValue: alone * 100 + 1 });
    expect(value("restHi")).toEqual({ longValue: 499 * 100 + 50 });
    const rest = ranges.slice(alone).map(([a, b]) => `[${a},${b}]`);
    expect(value("rest")).toEqual({ stringValue: `{${rest.join(",")}}` });
    expect(selectRange("data_1", ranges.slice(0, 1000), 101).sql.length).toBe(st.sql.length);
  });
});

describe("selectOne", () => {
  it("binds the id as a parameter", () => {
    expect(selectOne("data_1", 42)).toEqual({
      sql: `SELECT id, name FROM "data_1" WHERE id = :id AND ${ADMIT}`,
      parameters: [
        { name: "id", value: { longValue: 42 } },
        { name: "owned", value: { stringValue: "{[42,42]}" } },
        { name: "unowned", value: { stringValue: "{}" } },
      ],
      formatRecordsAs: "JSON",
    });
  });
});

describe("checkUnowned", () => {
  it("only asks the fence to vouch that no shard owns the ids", () => {
    expect(checkUnowned([[61, 61]])).toEqual({
      sql: `SELECT ${ADMIT} AS ok`,
      parameters: [
        { name: "owned", value: { stringValue: "{}" } },
        { name: "unowned", value: { stringValue: "{[61,61]}" } },
      ],
      formatRecordsAs: "JSON",
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
  const json = (value: unknown) => JSON.stringify(value);

  it("turns formattedRecords into rows, keeping their order", () => {
    expect(
      parseRows(
        json([
          { id: 3, name: "Test 3" },
          { id: 1, name: "" },
        ]),
      ),
    ).toEqual([
      { id: 3, name: "Test 3" },
      { id: 1, name: "" },
    ]);
  });

  it("reads a NULL name as null", () => {
    expect(parseRows(json([{ id: 7, name: null }]))).toEqual([{ id: 7, name: null }]);
  });

  it("reads an empty result as no rows", () => {
    expect(parseRows("[]")).toEqual([]);
  });

  it("keeps only the id and name of a record with more keys", () => {
    expect(parseRows(json([{ id: 1, name: "x", extra: true }]))).toEqual([{ id: 1, name: "x" }]);
  });

  it("rejects a result without formattedRecords", () => {
    expect(() => parseRows(undefined)).toThrow(new MalformedResultError("result has no formattedRecords"));
    expect(() => parseRows({} as unknown as string)).toThrow(MalformedResultError);
  });

  it("rejects formattedRecords that are not JSON, or not a list", () => {
    expect(() => parseRows("[{")).toThrow(new MalformedResultError("formattedRecords is not JSON"));
    expect(() => parseRows(json({ id: 1, name: "x" }))).toThrow(
      new MalformedResultError("formattedRecords is not a list"),
    );
  });

  it.each([
    ["an id given as a string", { id: "1", name: "x" }],
    ["a fractional id", { id: 1.5, name: "x" }],
    ["a NULL id", { id: null, name: "x" }],
    ["a missing id", { name: "x" }],
    ["a name given as a number", { id: 1, name: 2 }],
    ["a missing name", { id: 1 }],
    ["a name that is an object", { id: 1, name: { stringValue: "x" } }],
    ["an empty record", {}],
    ["a null record", null],
    ["a record that is a list", [1, "x"]],
    ["a record that is a number", 5],
  ])("rejects a record with %s as a MalformedResultError naming the record", (_what, record) => {
    expect(() => parseRows(json([{ id: 1, name: "ok" }, record]))).toThrow(
      new MalformedResultError("record 1 is not an (id, name) pair"),
    );
  });
});
