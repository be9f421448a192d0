import { describe, expect, it } from "vitest";
import { ConfigError } from "../../functions/core/errors.js";
import {
  createShardMap,
  DEFAULT_SHARD_RANGES,
  MAX_ID,
  MIN_ID,
  parseShardMap,
  type ShardMap,
} from "../../functions/core/shard-map.js";
import { BOUNDARY_OWNERS } from "../helpers/fixtures.js";

const defaultMap = (): ShardMap => createShardMap(DEFAULT_SHARD_RANGES);

describe("the default shard map", () => {
  it("is the default map of docs/architecture.md: shard 1 holds 1–10 and 31–40, shard 2 11–20 and 41–50, shard 3 21–30 and 51–60", () => {
    expect(DEFAULT_SHARD_RANGES).toEqual([
      {
        id: 1,
        ranges: [
          [1, 10],
          [31, 40],
        ],
      },
      {
        id: 2,
        ranges: [
          [11, 20],
          [41, 50],
        ],
      },
      {
        id: 3,
        ranges: [
          [21, 30],
          [51, 60],
        ],
      },
    ]);
  });

  it("passes its own validation and keeps each shard's ranges", () => {
    const map = defaultMap();
    expect(map.shards.map((s) => s.id)).toEqual([1, 2, 3]);
    expect(map.rangesOf(2)).toEqual([
      [11, 20],
      [41, 50],
    ]);
  });

  it("assigns every id from 1 to 60 exactly once, in order", () => {
    const ids = [...defaultMap().ids()];
    expect(ids.map((x) => x.id)).toEqual(Array.from({ length: 60 }, (_, i) => i + 1));
    expect(ids.filter((x) => x.shard === 1).map((x) => x.id)).toEqual([
      1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 31, 32, 33, 34, 35, 36, 37, 38, 39, 40,
    ]);
  });
});

describe("ShardMap.ownerOf", () => {
  const map = defaultMap();

  it.each<readonly [number, number | undefined]>([[0, undefined], ...BOUNDARY_OWNERS, [61, undefined]])(
    "maps id %i to shard %s at a range boundary",
    (id, shard) => {
      expect(map.ownerOf(id)).toBe(shard);
    },
  );

  it.each([-1, -10, MIN_ID, MAX_ID, 1000, 2 ** 40])("finds no owner for id %i outside the map", (id) => {
    expect(map.ownerOf(id)).toBeUndefined();
  });

  it("finds the owner on a map with many ranges and gaps, like a linear scan would", () => {
    const shards = [1, 2, 3, 4].map((id) => ({
      id,
      ranges: Array.from({ length: 25 }, (_, k): [number, number] => {
        const start = (k * 4 + (id - 1)) * 10;
        return [start, start + 6];
      }),
    }));
    const many = createShardMap(shards);
    for (let id = -5; id < 1010; id++) {
      const expected = shards.find((s) => s.ranges.some(([a, b]) => id >= a && id <= b))?.id;
      expect(many.ownerOf(id), `id ${id}`).toBe(expected);
    }
  });
});

describe("ShardMap.rangesOf", () => {
  it("is undefined for a shard id that is not in the map", () => {
    expect(defaultMap().rangesOf(4)).toBeUndefined();
  });

  it("returns a shard's ranges sorted by start even when configured out of order", () => {
    const map = createShardMap([
      {
        id: 7,
        ranges: [
          [50, 60],
          [1, 5],
        ],
      },
    ]);
    expect(map.rangesOf(7)).toEqual([
      [1, 5],
      [50, 60],
    ]);
  });
});

describe("ShardMap.clip", () => {
  const map = defaultMap();

  it("returns all of a shard's ranges for unbounded limits", () => {
    expect(map.clip(1, MIN_ID, MAX_ID)).toEqual([
      [1, 10],
      [31, 40],
    ]);
  });

  it("cuts ranges down to the bounds", () => {
    expect(map.clip(1, 5, 35)).toEqual([
      [5, 10],
      [31, 35],
    ]);
    expect(map.clip(2, 15, 15)).toEqual([[15, 15]]);
  });

  it("keeps a range touched at one end by the bounds", () => {
    expect(map.clip(1, 10, 31)).toEqual([
      [10, 10],
      [31, 31],
    ]);
  });

  it("drops ranges that miss the bounds entirely", () => {
    expect(map.clip(1, 11, 30)).toEqual([]);
    expect(map.clip(3, 61, 100)).toEqual([]);
    expect(map.clip(2, 45, 44)).toEqual([]);
  });

  it("is empty for a shard that is not in the map", () => {
    expect(map.clip(9, MIN_ID, MAX_ID)).toEqual([]);
  });
});

describe("createShardMap validation", () => {
  const bad = (input: unknown, field?: string) => () => createShardMap(input, field);

  it("rejects a value that is not an array, naming the field", () => {
    expect(bad({ id: 1 })).toThrow(ConfigError);
    expect(bad("shards")).toThrow("shards: expected an array of shards");
    expect(bad(null, "SHARDS")).toThrow("SHARDS: expected an array of shards");
  });

  it("rejects an empty array", () => {
    expect(bad([])).toThrow("shards: at least one shard is required");
  });

  it.each([null, 5, "shard", true])("rejects a shard that is not an object (%s)", (shard) => {
    expect(bad([{ id: 1, ranges: [[1, 2]] }, shard])).toThrow("shards[1]: expected an object");
  });

  it.each([
    [undefined, "undefined"],
    [0, "0"],
    [-1, "-1"],
    [1.5, "1.5"],
    ["1", '"1"'],
    [null, "null"],
  ])("rejects shard id %s", (id, shown) => {
    const message = `shards[0].id: expected a positive integer, got ${shown}`;
    expect(bad([{ id, ranges: [[1, 2]] }])).toThrow(message);
  });

  it("rejects a duplicate shard id", () => {
    expect(
      bad([
        { id: 1, ranges: [[1, 2]] },
        { id: 1, ranges: [[3, 4]] },
      ]),
    ).toThrow("shards[1].id: duplicate shard id 1");
  });

  it.each([
    ["missing", undefined],
    ["not an array", { start: 1, end: 2 }],
  ])("rejects %s ranges", (_what, ranges) => {
    const message = "shards[0].ranges: expected an array of [start, end] pairs";
    expect(bad([{ id: 1, ranges }])).toThrow(message);
  });

  it("accepts a shard that owns no range yet: a new shard waiting for its first assign or move", () => {
    const map = createShardMap([
      { id: 1, ranges: [[1, 10]] },
      { id: 4, ranges: [] },
    ]);
    expect(map.rangesOf(4)).toEqual([]);
    expect(map.ownerOf(5)).toBe(1);
    expect(map.clip(4, 1, 100)).toEqual([]);
  });

  it.each([
    ["a number", 5],
    ["a single bound", [1]],
    ["three bounds", [1, 2, 3]],
    ["an object", { 0: 1, 1: 2 }],
  ])("rejects a range that is not a pair (%s)", (_what, range) => {
    const message = "shards[0].ranges[1]: expected a [start, end] pair";
    expect(bad([{ id: 2, ranges: [[1, 2], range] }])).toThrow(message);
  });

  it.each([
    ["a fraction", [1.5, 3]],
    ["a string", ["1", 3]],
    ["null", [1, null]],
    ["NaN", [Number.NaN, 3]],
    ["above 2^31-1", [1, MAX_ID + 1]],
    ["below -2^31", [MIN_ID - 1, 0]],
  ])("rejects bounds that are not 32-bit integers (%s)", (_what, range) => {
    expect(bad([{ id: 1, ranges: [range] }])).toThrow("shards[0].ranges[0]: bounds must be 32-bit integers");
  });

  it("accepts the extreme 32-bit bounds", () => {
    const map = createShardMap([{ id: 1, ranges: [[MIN_ID, MAX_ID]] }]);
    expect(map.ownerOf(MIN_ID)).toBe(1);
    expect(map.ownerOf(MAX_ID)).toBe(1);
  });

  it("rejects a range whose start is greater than its end", () => {
    expect(bad([{ id: 3, ranges: [[12, 11]] }])).toThrow("shards[0].ranges[0]: start 12 > end 11");
  });

  it("accepts a range of a single id", () => {
    expect(createShardMap([{ id: 1, ranges: [[5, 5]] }]).ownerOf(5)).toBe(1);
  });

  it("rejects overlapping ranges within one shard", () => {
    expect(
      bad([
        {
          id: 1,
          ranges: [
            [1, 10],
            [10, 20],
          ],
        },
      ]),
    ).toThrow("shards: ranges overlap within shard 1: [1, 10] and [10, 20]");
  });

  it("rejects overlapping ranges between shards, naming both", () => {
    expect(
      bad(
        [
          { id: 1, ranges: [[1, 10]] },
          { id: 2, ranges: [[5, 15]] },
        ],
        "SHARDS",
      ),
    ).toThrow("SHARDS: ranges overlap between shards 1 and 2: [1, 10] and [5, 15]");
  });

  it("rejects a range nested inside another shard's range", () => {
    expect(
      bad([
        { id: 1, ranges: [[1, 100]] },
        { id: 2, ranges: [[40, 41]] },
      ]),
    ).toThrow("between shards 1 and 2");
  });

  it("accepts adjacent ranges that do not overlap", () => {
    const map = createShardMap([
      { id: 1, ranges: [[1, 10]] },
      { id: 2, ranges: [[11, 20]] },
    ]);
    expect([map.ownerOf(10), map.ownerOf(11)]).toEqual([1, 2]);
  });
});

describe("ShardMap.unownedIn and version", () => {
  const map = createShardMap(DEFAULT_SHARD_RANGES);

  it("lists the ids of the bounds that no shard owns, as sorted disjoint ranges", () => {
    expect(map.unownedIn(MIN_ID, MAX_ID)).toEqual([
      [MIN_ID, 0],
      [61, MAX_ID],
    ]);
    expect(map.unownedIn(1, 60)).toEqual([]);
    expect(map.unownedIn(55, 70)).toEqual([[61, 70]]);
    expect(map.unownedIn(-5, 3)).toEqual([[-5, 0]]);
    expect(map.unownedIn(100, 200)).toEqual([[100, 200]]);
  });

  it("finds the gaps between ranges too, and nothing for ids every range covers", () => {
    const gappy = createShardMap([
      { id: 1, ranges: [[1, 10]] },
      { id: 2, ranges: [[21, 30]] },
    ]);
    expect(gappy.unownedIn(1, 30)).toEqual([[11, 20]]);
    expect(gappy.unownedIn(5, 25)).toEqual([[11, 20]]);
    expect(gappy.unownedIn(21, 30)).toEqual([]);
  });

  it("starts at version 1 and keeps its ranges under another version", () => {
    expect(map.version).toBe(1);
    const later = map.withVersion(7);
    expect(later.version).toBe(7);
    expect(later.ownerOf(35)).toBe(1);
    expect(createShardMap(DEFAULT_SHARD_RANGES, "shards", 3).version).toBe(3);
  });
});

describe("parseShardMap", () => {
  const map = [{ id: 7, ranges: [[1, 5]], database: "x" }];

  it("reads JSON text and an already parsed value alike, and keeps the entries it built the map from", () => {
    for (const value of [JSON.stringify(map), map]) {
      const parsed = parseShardMap(value, "SHARD_MAP");
      expect(parsed.map.ownerOf(3)).toBe(7);
      expect(parsed.entries).toEqual(map);
    }
  });

  it("names the field when the text is not JSON, with the parse error as cause", () => {
    let thrown: unknown;
    try {
      parseShardMap("[{", "context shardMap");
    } catch (err) {
      thrown = err;
    }
    expect(thrown).toBeInstanceOf(ConfigError);
    expect((thrown as Error).message).toBe("context shardMap: not valid JSON");
    expect((thrown as Error).cause).toBeInstanceOf(SyntaxError);
  });

  it("names the field when the map is invalid", () => {
    expect(() => parseShardMap('[{"id":1,"ranges":[[5,1]]}]', "SHARD_MAP")).toThrow(
      "SHARD_MAP[0].ranges[0]: start 5 > end 1",
    );
    expect(() => parseShardMap('"[]"', "SHARDS")).toThrow("SHARDS: expected an array of shards");
  });
});
