import { describe, expect, it } from "vitest";
import { pauseAfter } from "../../reshard/batches.js";
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

describe("pacing", () => {
  it("pauses after a batch at least pause-ms, and nice times as long as the batch took", () => {
    expect(pauseAfter({ batch: 1000, pauseMs: 20, nice: 1 }, 50)).toBe(50);
    expect(pauseAfter({ batch: 1000, pauseMs: 20, nice: 1 }, 5)).toBe(20);
    expect(pauseAfter({ batch: 1000, pauseMs: 0, nice: 2.5 }, 40)).toBe(100);
    expect(pauseAfter({ batch: 1000, pauseMs: 0, nice: 0 }, 40)).toBe(0);
    // A plan stored by a tool before --nice: its fixed pause, as it ran then.
    expect(pauseAfter({ batch: 5000, pauseMs: 20 }, 300)).toBe(20);
  });
});
