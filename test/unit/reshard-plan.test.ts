/**
 * The reshard planner (reshard/plan.ts), pure: from the shards' fences and one operation, the new map, every fence
 * each step writes, and the refusals that leave everything as it was.
 */
import { describe, expect, it } from "vitest";
import {
  createShardMap,
  DEFAULT_SHARD_RANGES,
  MAX_ID,
  MIN_ID,
  type ShardRanges,
} from "../../functions/core/shard-map.js";
import { parseArgs, parseRange } from "../../reshard/cli.js";
import { RefusedError, UsageError } from "../../reshard/errors.js";
import type { Fence } from "../../reshard/fence-state.js";
import { type FenceWrite, type OpSpec, type Plan, planOperation, STEPS } from "../../reshard/plan.js";
import { Progress, progressLine } from "../../reshard/progress.js";
import { parseMultirange, subtract, toLiteral } from "../../reshard/ranges.js";
import { conninfo, libpqValue } from "../../reshard/replication.js";
import { newOperationId } from "../../reshard/state.js";
import { parseTargets } from "../../reshard/targets.js";

const FOUR: ShardRanges[] = [...DEFAULT_SHARD_RANGES, { id: 4, ranges: [] }];

/** Every shard's fence for `shards` at `version`, as the runtime or a finished operation leaves them. */
function fencesOf(shards: readonly ShardRanges[], version = 1): Fence[] {
  const map = createShardMap(shards, "test", version);
  return map.shards.map((s) => ({
    shard: s.id,
    version,
    owned: s.ranges,
    frozen: [],
    unowned: map.unownedIn(MIN_ID, MAX_ID),
    map: map.shards,
  }));
}

const OPTS = { id: "op_test", batch: 5000, pauseMs: 20, nice: 1 };

function plan(spec: OpSpec, fences = fencesOf(FOUR)): Plan {
  const out = planOperation(fences, spec, OPTS);
  if ("noop" in out) throw new Error(out.noop);
  return out;
}

const step = (p: Plan, name: string) => p.steps.find((s) => s.name === name);
const writesOf = (p: Plan, name: string): readonly FenceWrite[] => step(p, name)?.writes ?? [];
const rangesOf = (shards: readonly ShardRanges[], id: number) => shards.find((s) => s.id === id)?.ranges;
const refusal =
  (spec: OpSpec, fences = fencesOf(FOUR)) =>
  () =>
    planOperation(fences, spec, OPTS);

describe("assign", () => {
  const p = plan({ kind: "assign", shard: 4, range: [61, 100] });

  it("gives the range to the shard in a map one version up, every other shard's ranges unchanged", () => {
    expect(p.fromVersion).toBe(1);
    expect(p.version).toBe(2);
    expect(rangesOf(p.after, 4)).toEqual([[61, 100]]);
    expect(rangesOf(p.after, 1)).toEqual(rangesOf(p.before, 1));
    expect(p.steps.map((s) => s.name)).toEqual(STEPS.assign);
    expect(p.involved).toEqual([1, 2, 3, 4]);
  });

  it("takes the range frozen on the shard, publishes it as owned to the others, then opens it", () => {
    const [take] = writesOf(p, "take");
    expect(take?.shard).toBe(4);
    expect(take?.fence.owned).toEqual([[61, 100]]);
    expect(take?.fence.frozen).toEqual([[61, 100]]);
    expect(take?.fence.unowned).toEqual(subtract([[MIN_ID, MAX_ID]], [[1, 100]]));
    expect(take?.fence.version).toBe(2);
    const publish = writesOf(p, "publish");
    expect(publish.map((w) => w.shard)).toEqual([1, 2, 3]);
    for (const w of publish) {
      expect(w.fence.unowned).toEqual(subtract([[MIN_ID, MAX_ID]], [[1, 100]]));
      expect(w.fence.owned).toEqual(rangesOf(p.before, w.shard));
      expect(w.fence.frozen).toEqual([]);
      expect(w.fence.map).toEqual(p.after);
    }
    const [open] = writesOf(p, "open");
    expect(open?.fence).toEqual({ ...take?.fence, frozen: [] });
    expect(writesOf(p, "check")).toEqual([]);
  });

  it("refuses a range that a shard owns, even in part, and names the owner", () => {
    expect(refusal({ kind: "assign", shard: 4, range: [55, 70] })).toThrow(RefusedError);
    expect(refusal({ kind: "assign", shard: 4, range: [55, 70] })).toThrow(
      /55-70 is not unowned: shard 3 owns 55-60/,
    );
  });

  it("refuses an unknown shard", () => {
    expect(refusal({ kind: "assign", shard: 9, range: [61, 70] })).toThrow(/there is no shard 9/);
  });

  it("refuses a range that some shard's fence does not list as unowned", () => {
    const fences = fencesOf(FOUR).map((f) =>
      f.shard === 2 ? { ...f, unowned: subtract(f.unowned, [[65, 65]]) } : f,
    );
    expect(refusal({ kind: "assign", shard: 4, range: [61, 70] }, fences)).toThrow(
      /shard 2's fence does not list it as unowned/,
    );
  });
});

describe("move", () => {
  const p = plan({ kind: "move", range: [31, 40], from: 1, to: 4 });

  it("moves the range out of the source's map and into the target's, one version up", () => {
    expect(rangesOf(p.after, 1)).toEqual([[1, 10]]);
    expect(rangesOf(p.after, 4)).toEqual([[31, 40]]);
    expect(p.version).toBe(2);
    expect(p.involved).toEqual([1, 4]);
    expect(p.steps.map((s) => s.name)).toEqual(STEPS.move);
  });

  it("freezes on the source with the marker, switches the target then the source, opens, publishes to the rest", () => {
    const [freeze] = writesOf(p, "freeze");
    expect(freeze).toMatchObject({ shard: 1, marker: "op_test" });
    expect(freeze?.fence).toMatchObject({
      version: 1,
      owned: [
        [1, 10],
        [31, 40],
      ],
      frozen: [[31, 40]],
    });
    expect(freeze?.fence.map).toEqual(p.before);
    const [target] = writesOf(p, "switch-target");
    expect(target).toMatchObject({ shard: 4, fence: { version: 2, owned: [[31, 40]], frozen: [[31, 40]] } });
    const [source] = writesOf(p, "switch-source");
    expect(source).toMatchObject({ shard: 1, fence: { version: 2, owned: [[1, 10]], frozen: [] } });
    expect(source?.fence.map).toEqual(p.after);
    const [open] = writesOf(p, "open");
    expect(open).toMatchObject({ shard: 4, fence: { version: 2, owned: [[31, 40]], frozen: [] } });
    expect(writesOf(p, "publish").map((w) => w.shard)).toEqual([2, 3]);
    for (const w of writesOf(p, "publish"))
      expect(w.fence).toMatchObject({ version: 2, map: p.after, frozen: [] });
    // Nobody's unowned changes in a move.
    for (const s of p.steps)
      for (const w of s.writes) expect(w.fence.unowned).toEqual(fencesOf(FOUR)[0]?.unowned);
  });

  it("writes the source's fence as it was before the freeze when aborted", () => {
    const { shard: _, ...before } = fencesOf(FOUR)[0] as Fence;
    expect(p.abortWrites).toEqual([{ shard: 1, fence: before }]);
  });

  it("cuts a range out of the middle of a source range, keeping both ends", () => {
    const mid = plan({ kind: "move", range: [3, 5], from: 1, to: 2 });
    expect(rangesOf(mid.after, 1)).toEqual([
      [1, 2],
      [6, 10],
      [31, 40],
    ]);
    expect(rangesOf(mid.after, 2)).toEqual([
      [3, 5],
      [11, 20],
      [41, 50],
    ]);
  });

  it("moves a range that spans two adjacent ranges of the source", () => {
    const split = fencesOf([
      {
        id: 1,
        ranges: [
          [1, 5],
          [6, 10],
        ],
      },
      { id: 2, ranges: [] },
    ]);
    const p2 = plan({ kind: "move", range: [4, 7], from: 1, to: 2 }, split);
    expect(rangesOf(p2.after, 1)).toEqual([
      [1, 3],
      [8, 10],
    ]);
  });

  it("refuses a range the source does not own, and says which ids are not its", () => {
    expect(refusal({ kind: "move", range: [35, 45], from: 1, to: 4 })).toThrow(
      /shard 1 does not own all of 35-45.*41-45 is not its/,
    );
    expect(refusal({ kind: "move", range: [61, 70], from: 1, to: 4 })).toThrow(RefusedError);
  });

  it("refuses a move to the same shard and moves from or to unknown shards", () => {
    expect(refusal({ kind: "move", range: [31, 40], from: 1, to: 1 })).toThrow(/both source and target/);
    expect(refusal({ kind: "move", range: [31, 40], from: 7, to: 4 })).toThrow(/there is no shard 7/);
    expect(refusal({ kind: "move", range: [31, 40], from: 1, to: 8 })).toThrow(/there is no shard 8/);
  });
});

describe("split and merge", () => {
  it("split cuts the range holding the id before it; only the map's shape and version change", () => {
    const p = plan({ kind: "split", shard: 1, at: 6 });
    expect(rangesOf(p.after, 1)).toEqual([
      [1, 5],
      [6, 10],
      [31, 40],
    ]);
    const [reshape] = writesOf(p, "reshape");
    expect(reshape).toMatchObject({
      shard: 1,
      fence: {
        version: 2,
        owned: [
          [1, 10],
          [31, 40],
        ],
        frozen: [],
      },
    });
    expect(writesOf(p, "publish").map((w) => w.shard)).toEqual([2, 3, 4]);
  });

  it("split refuses an id no range of the shard holds, or one that already starts a range", () => {
    expect(refusal({ kind: "split", shard: 1, at: 15 })).toThrow(/owns no range holding 15/);
    expect(refusal({ kind: "split", shard: 1, at: 31 })).toThrow(/31 already starts a range/);
  });

  it("merge joins adjacent ranges, and refuses a shard without any", () => {
    const p = plan(
      { kind: "merge", shard: 1 },
      fencesOf(
        [
          {
            id: 1,
            ranges: [
              [1, 5],
              [6, 10],
              [31, 40],
            ],
          },
          { id: 2, ranges: [] },
        ],
        3,
      ),
    );
    expect(rangesOf(p.after, 1)).toEqual([
      [1, 10],
      [31, 40],
    ]);
    expect(p.version).toBe(4);
    expect(refusal({ kind: "merge", shard: 1 })).toThrow(/no adjacent ranges/);
  });
});

describe("add-shard", () => {
  it("is a no-op for a shard already in the map", () => {
    expect(planOperation(fencesOf(FOUR), { kind: "add-shard", shard: 4 }, OPTS)).toEqual({
      noop: "shard 4 is already in the map (version 1): nothing to do",
    });
  });

  it("writes the new shard's fence from the current map and publishes the map with it", () => {
    const old = fencesOf(DEFAULT_SHARD_RANGES, 3);
    // A new cluster's deploy wrote its fence at version 1 from its own (older) map.
    const fresh: Fence = { ...fencesOf(FOUR, 1)[3], shard: 4 } as Fence;
    const p = plan({ kind: "add-shard", shard: 4 }, [...old, fresh]);
    expect(p.version).toBe(4);
    expect(rangesOf(p.after, 4)).toEqual([]);
    const [join] = writesOf(p, "join");
    expect(join).toMatchObject({ shard: 4, fence: { version: 4, owned: [], frozen: [] } });
    expect(join?.fence.unowned).toEqual(old[0]?.unowned);
    expect(writesOf(p, "publish").map((w) => w.shard)).toEqual([1, 2, 3]);
    expect(p.involved).toEqual([1, 2, 3, 4]);
  });

  it("refuses a shard that is not among the targets, or whose fence owns ids", () => {
    expect(refusal({ kind: "add-shard", shard: 5 })).toThrow(/no shard 5 among the targets/);
    const owning: Fence = { ...(fencesOf(FOUR)[3] as Fence), owned: [[500, 600]] };
    expect(refusal({ kind: "add-shard", shard: 4 }, [...fencesOf(DEFAULT_SHARD_RANGES, 2), owning])).toThrow(
      /must own nothing/,
    );
  });
});

describe("the current state", () => {
  it("refuses while shards are at different versions or hold frozen ids (an operation did not finish)", () => {
    const behind = fencesOf(FOUR).map((f) => (f.shard === 3 ? { ...f, version: 0 } : f));
    expect(refusal({ kind: "merge", shard: 1 }, behind)).toThrow(/shard 3 is at map version 0.*run resume/);
    const frozen = fencesOf(FOUR).map((f) => (f.shard === 1 ? { ...f, frozen: [[31, 40] as const] } : f));
    expect(refusal({ kind: "split", shard: 1, at: 5 }, frozen)).toThrow(/frozen ids \(31-40\)/);
  });

  it("refuses when a shard of the map is missing from the targets, or a fence disagrees with its map", () => {
    expect(refusal({ kind: "split", shard: 1, at: 5 }, fencesOf(FOUR).slice(0, 3))).toThrow(
      /map has shard 4, which is not among the targets/,
    );
    const wrong = fencesOf(FOUR).map((f) => (f.shard === 2 ? { ...f, owned: [[11, 20] as const] } : f));
    expect(refusal({ kind: "split", shard: 1, at: 5 }, wrong)).toThrow(
      /shard 2's fence owns 11-20 but the map gives it 11-20, 41-50/,
    );
  });
});

describe("ranges and names", () => {
  it("reads PostgreSQL's canonical multiranges back as inclusive ranges", () => {
    expect(parseMultirange("{[1,11),[31,41)}")).toEqual([
      [1, 10],
      [31, 40],
    ]);
    expect(parseMultirange("{}")).toEqual([]);
    expect(parseMultirange(`{[${MIN_ID},1),[61,${MAX_ID + 1})}`)).toEqual([
      [MIN_ID, 0],
      [61, MAX_ID],
    ]);
    expect(
      toLiteral([
        [31, 40],
        [1, 10],
        [11, 12],
      ]),
    ).toBe("{[1,12],[31,40]}");
    expect(() => parseMultirange("{[1,)}")).toThrow();
  });

  it("quotes libpq values with backslash escapes", () => {
    expect(libpqValue(`pa'ss\\word`)).toBe(`'pa\\'ss\\\\word'`);
    expect(conninfo({ host: "h", port: 5432, dbname: "d b", user: "u", password: "p'" })).toBe(
      `host='h' port='5432' dbname='d b' user='u' password='p\\''`,
    );
    expect(conninfo({ host: "h", port: 1, dbname: "d", user: "u", password: "p", sslmode: "require" })).toBe(
      "host='h' port='1' dbname='d' user='u' password='p' sslmode='require'",
    );
  });

  it("reads an sslmode for the subscription's connection and refuses one libpq does not know", () => {
    const shard = (replication: Record<string, unknown>) => ({
      shards: [
        {
          id: 1,
          resourceArn: "arn:aws:rds:us-east-1:123456789012:cluster:c",
          secretArn: "arn:aws:secretsmanager:us-east-1:123456789012:secret:s",
          database: "d",
          replication: { host: "h", port: 5432, dbname: "d", user: "u", password: "p", ...replication },
        },
      ],
    });
    expect(parseTargets(shard({ sslmode: "verify-full" }), "f")[0]?.replication.sslmode).toBe("verify-full");
    expect(() => parseTargets(shard({ sslmode: "sometimes" }), "f")).toThrow(
      "f: shards[0].replication.sslmode: expected one of disable, allow, prefer, require, verify-ca, verify-full",
    );
  });

  it("makes operation ids that are valid PostgreSQL name parts", () => {
    expect(newOperationId("add-shard", new Date("2026-01-02T03:04:05.678Z"), "a1b2c3")).toBe(
      "add_shard_20260102t030405_a1b2c3",
    );
  });
});

describe("the command line", () => {
  it("parses every operation with its defaults", () => {
    expect(parseArgs(["move", "--range", "31-40", "--from", "1", "--to", "4"])).toEqual({
      command: {
        name: "operation",
        spec: { kind: "move", range: [31, 40], from: 1, to: 4 },
        dryRun: false,
        batch: 500,
        pauseMs: 20,
        nice: 1,
      },
      target: { local: "http://127.0.0.1:3000" },
      shardTimeoutMs: 2000,
    });
    expect(
      parseArgs(["assign", "--shard=4", "--range=61-100", "--dry-run", "--shards", "s.json"])?.command,
    ).toMatchObject({
      spec: { kind: "assign", shard: 4, range: [61, 100] },
      dryRun: true,
    });
    expect(parseArgs(["status", "--local"])?.target).toEqual({ local: "http://127.0.0.1:3000" });
    expect(parseArgs(["status", "--local", "http://127.0.0.1:4000"])?.target).toEqual({
      local: "http://127.0.0.1:4000",
    });
    expect(
      parseArgs(["move", "--range", "1-2", "--from", "1", "--to", "2", "--nice", "2.5"])?.command,
    ).toMatchObject({ nice: 2.5 });
    expect(parseArgs(["assign", "--shard", "4", "--range", "61-100", "--nice", "0"])?.command).toMatchObject({
      nice: 0,
    });
    expect(parseRange("-20--10")).toEqual([-20, -10]);
    expect(parseArgs(["--help"])).toBeUndefined();
  });

  it.each([
    [["frobnicate"], /unknown command "frobnicate"/],
    [["move", "--range", "40-31", "--from", "1", "--to", "4"], /--range: 40 is above 31/],
    [["move", "--range", "31-40", "--from", "1"], /move needs --to/],
    [["move", "--range", "31-40", "--from", "1", "--to", "1"], /both shard 1/],
    [["assign", "--shard", "0", "--range", "1-2"], /--shard: expected 1 to/],
    [["assign", "--shard", "x", "--range", "1-2"], /--shard: expected an integer/],
    [["assign", "--shard", "4", "--range", "1-3000000000"], /--range: expected/],
    [["split", "--shard", "1", "--at", "5", "--batch", "10"], /split takes no option --batch/],
    [["merge", "--shard", "1", "--shard", "2"], /--shard is given twice/],
    [["status", "--local", "x", "--shards", "f"], /give one target/],
    [["status", "extra"], /unexpected argument "extra"/],
    [["move", "--range", "1-2", "--from", "1", "--to", "2", "--batch", "0"], /--batch: expected 1 to 100000/],
    [["status", "--dry-run=yes"], /status takes no option --dry-run/],
    [["move", "--range", "1-2", "--from", "1", "--to", "2", "--nice", "-1"], /--nice: expected a number/],
    [["move", "--range", "1-2", "--from", "1", "--to", "2", "--nice", "101"], /--nice: expected 0 to 100/],
    [["split", "--shard", "1", "--at", "5", "--nice", "1"], /split takes no option --nice/],
  ])("refuses %j as a usage error", (argv, message) => {
    expect(() => parseArgs(argv)).toThrow(UsageError);
    expect(() => parseArgs(argv)).toThrow(message);
  });
});

describe("progress lines", () => {
  it("say rows, percent, rate and time left, and never a negative rate when a count dips", () => {
    expect(progressLine("copy", 50_000, 200_000, 1000)).toBe(
      "copy: 50,000 / 200,000 rows (25%), 50,000 rows/s, 3 s left",
    );
    // The first count seen was an estimate above the committed count that followed it.
    expect(progressLine("copy", 200_000, 200_000, 2000, 250_000)).toBe(
      "copy: 200,000 / 200,000 rows (100%), 0 rows/s, done",
    );
  });

  it("print a finished count once, however often it is reported", () => {
    const lines: string[] = [];
    let t = 0;
    const progress = new Progress("cleanup", (l) => lines.push(l), { now: () => (t += 2000), startDone: 0 });
    progress.update(10, 10);
    progress.update(10, 10, true);
    expect(lines).toEqual(["cleanup: 10 / 10 rows (100%), 5 rows/s, done"]);
  });
});
