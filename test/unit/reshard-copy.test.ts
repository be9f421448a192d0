import { describe, expect, it } from "vitest";
import { joinArrays } from "../../reshard/copy.js";

describe("joinArrays (a move's copy joins the source's JSON chunks without parsing them)", () => {
  it("joins PostgreSQL's json_agg arrays into one array that parses to every element in order", () => {
    const chunks = ['[{"id":1,"name":"a"}, \n {"id":2,"name":"b, ]"}]', '[{"id":3,"name":null}]'];
    expect(JSON.parse(joinArrays(chunks))).toEqual([
      { id: 1, name: "a" },
      { id: 2, name: "b, ]" },
      { id: 3, name: null },
    ]);
  });

  it("keeps a single chunk as it is", () => {
    expect(JSON.parse(joinArrays(['[{"id":7,"name":"x"}]']))).toEqual([{ id: 7, name: "x" }]);
  });
});
