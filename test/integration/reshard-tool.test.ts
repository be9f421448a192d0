/**
 * The reshard tool (`npm run reshard`) against a real local runtime on the suite's PostgreSQL: four shards, the
 * fourth empty, shard 1 also holding 200,000 ids for the big move. Every operation is checked on what it leaves in
 * the shard databases (fences, rows, operation rows, replication objects); a tool "killed" after any step is
 * resumed and finishes correctly; abort undoes a move that has not switched.
 */
import { execFile } from "node:child_process";
import { mkdtemp, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { Logger } from "@aws-lambda-powertools/logger";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { createShardMap, DEFAULT_SHARD_RANGES, MAX_ID, MIN_ID } from "../../functions/core/shard-map.js";
import { type LocalRuntime, startLocalRuntime } from "../../local/runtime.js";
import { STEPS } from "../../reshard/plan.js";
import { subtract } from "../../reshard/ranges.js";
import { get, post } from "../helpers/api-client.js";
import {
  countIn,
  fenceOf,
  fences,
  idsIn,
  killAt,
  operationRows,
  replicationLeftovers,
  reshard,
  runtimeTargets,
  sql,
} from "../helpers/reshard-tool.js";

/** Shard 1's extra range for the big move. */
const BIG: readonly [number, number] = [1001, 201_000];
const MAP = createShardMap([
  { id: 1, ranges: [...(DEFAULT_SHARD_RANGES[0]?.ranges ?? []), BIG] },
  ...DEFAULT_SHARD_RANGES.slice(1),
  { id: 4, ranges: [] },
]);

let runtime: LocalRuntime;

beforeAll(async () => {
  runtime = await startLocalRuntime({
    postgres: inject("postgres"),
    prefix: `reshard_${process.pid}`,
    map: MAP,
    logger: new Logger({ serviceName: "reshard-test", logLevel: "ERROR" }),
  });
}, 120_000);

afterAll(async () => {
  await runtime?.stop();
});

const range = (lo: number, hi: number) => Array.from({ length: hi - lo + 1 }, (_, i) => lo + i);

/** Every shard at one version with one map, each fence owning its map ranges, nothing frozen, no move objects left. */
async function expectSettled(version: number) {
  const all = await fences(runtime);
  for (const f of all) {
    expect(f.version).toBe(version);
    expect(f.map).toEqual(all[0]?.map);
    expect(f.frozen).toEqual([]);
    const own = f.map.find((s) => s.id === f.shard)?.ranges ?? [];
    expect(subtract(f.owned, own)).toEqual([]);
    expect(subtract(own, f.owned)).toEqual([]);
  }
  expect(await replicationLeftovers(runtime)).toEqual([]);
  const rows = await operationRows(runtime);
  expect(rows.filter((r) => !r.endsWith(":done") && !r.endsWith(":aborted"))).toEqual([]);
}

describe("status", () => {
  it("prints every shard's version, owned and frozen ranges and rows, and that no operation is under way", async () => {
    const run = await reshard(runtime, ["status"]);
    expect(run.code).toBe(0);
    expect(run.out[0]).toMatch(/^shard\s+version\s+owned\s+frozen\s+unowned\s+rows$/);
    expect(run.out[1]).toMatch(/^1\s+1\s+1-10, 31-40, 1001-201000\s+-\s+\S.*\s200,020$/);
    expect(run.out[2]).toMatch(/^2\s+1\s+11-20, 41-50\s+-\s+.*\s20$/);
    expect(run.out[4]).toMatch(/^4\s+1\s+-\s+-\s+.*\s0$/);
    expect(run.out.at(-1)).toBe("no operation in progress");
  });
});

describe("--dry-run and refusals", () => {
  it("prints the plan of an assign and a move and changes nothing", async () => {
    const before = { fences: await fences(runtime), ops: await operationRows(runtime) };
    const assign = await reshard(runtime, ["assign", "--shard", "4", "--range", "61-100", "--dry-run"]);
    expect(assign.code).toBe(0);
    expect(assign.out).toContain("map version 1 -> 2");
    expect(assign.out.join("\n")).toMatch(
      /2\. take: .*\n {3}set_fence on shard 4: version 2, owned 61-100, frozen 61-100/,
    );
    expect(assign.out.at(-1)).toBe("dry run: nothing was changed");
    const move = await reshard(runtime, [
      "move",
      "--range",
      "31-40",
      "--from",
      "1",
      "--to",
      "4",
      "--dry-run",
    ]);
    expect(move.code).toBe(0);
    expect(move.out.join("\n")).toMatch(
      /3\. freeze: .*\n {3}set_fence on shard 1: version 1, owned 1-10, 31-40, 1001-201000, frozen 31-40.*marker move_/,
    );
    expect({ fences: await fences(runtime), ops: await operationRows(runtime) }).toEqual(before);
    expect(await replicationLeftovers(runtime)).toEqual([]);
  });

  it("refuses operations that do not fit the map, with exit code 1, and changes nothing", async () => {
    const before = await fences(runtime);
    const owned = await reshard(runtime, ["assign", "--shard", "4", "--range", "55-70"]);
    expect(owned.code).toBe(1);
    expect(owned.err.join("\n")).toMatch(/55-70 is not unowned: shard 3 owns 55-60/);
    const notSource = await reshard(runtime, ["move", "--range", "61-70", "--from", "1", "--to", "4"]);
    expect(notSource.code).toBe(1);
    expect(notSource.err.join("\n")).toMatch(/shard 1 does not own all of 61-70/);
    expect((await reshard(runtime, ["split", "--shard", "9", "--at", "3"])).err.join("\n")).toMatch(
      /no shard 9/,
    );
    expect((await reshard(runtime, ["add-shard", "--shard", "4"])).out).toEqual([
      "shard 4 is already in the map (version 1): nothing to do",
    ]);
    expect(await fences(runtime)).toEqual(before);
    expect(await operationRows(runtime)).toEqual([]);
  });
});

describe("assign", () => {
  it("gives 61-100 to the empty shard 4: its fence owns them, every other shard stops vouching for them", async () => {
    await sql(runtime, 4, "INSERT INTO data_1 (id, name) VALUES (65, 'leftover')");
    const run = await reshard(runtime, ["assign", "--shard", "4", "--range", "61-100"]);
    expect(run.err.filter((l) => l.startsWith("reshard:"))).toEqual([]);
    expect(run.code).toBe(0);
    expect(run.out.at(-1)).toMatch(
      /^done: assign 61-100 to shard 4 \(operation assign_\w+, map version 2, [\d.]+ s\)$/,
    );
    await expectSettled(2);
    const four = await fenceOf(runtime, 4);
    expect(four.owned).toEqual([[61, 100]]);
    expect(four.map.find((s) => s.id === 4)?.ranges).toEqual([[61, 100]]);
    for (const f of await fences(runtime))
      expect(f.unowned).toEqual(subtract([[MIN_ID, MAX_ID]], [[1, 100], BIG]));
    // The leftover went (step check), and the shard now admits a write of 70 that shard 1 refuses.
    expect(await idsIn(runtime, 4, 61, 100)).toEqual([]);
    await expect(sql(runtime, 1, "SELECT sharding.admit_write(70)")).rejects.toMatchObject({ code: "SF001" });
    expect((await operationRows(runtime)).filter((r) => r.includes(":assign_"))).toHaveLength(4);
    // Through the API, whose instance still has map version 1: shard 1 refuses its word that 70 is unowned, the
    // instance learns version 2 and writes to shard 4, all in one request.
    const created = await post(runtime.url, { id: 70, name: "seventy" });
    expect([created.status, created.body]).toEqual([201, { item: { id: 70, name: "seventy" }, shard: 4 }]);
    expect(await idsIn(runtime, 4, 61, 100)).toEqual([70]);
    const outside = await get(runtime.url, "/data/101");
    expect([outside.status, outside.body.error.code]).toEqual([404, "id_out_of_range"]);
  });
});

describe("move", () => {
  it("moves 31-40 with their rows from shard 1 to shard 4, with writes made during the copy", async () => {
    await sql(runtime, 1, "UPDATE data_1 SET name = 'before ' || id WHERE id BETWEEN 31 AND 40");
    const run = await reshard(runtime, ["move", "--range", "31-40", "--from", "1", "--to", "4"], {
      // Writes on the source while the subscription copies: they must reach the target before the switch.
      afterStep: async (step) => {
        if (step !== "prepare") return;
        await sql(
          runtime,
          1,
          "UPDATE data_1 SET name = 'during copy' WHERE id = 35 AND sharding.admit_write(35)",
        );
        await sql(runtime, 1, "DELETE FROM data_1 WHERE id = 36 AND sharding.admit_write(36)");
      },
    });
    expect(run.err.filter((l) => l.startsWith("reshard:"))).toEqual([]);
    expect(run.code).toBe(0);
    expect(run.out.at(-1)).toMatch(
      /^done: move 31-40 from shard 1 to shard 4 \(operation move_\w+, 9 rows, map version 3/,
    );
    await expectSettled(3);
    expect(await idsIn(runtime, 4, 31, 40)).toEqual([31, 32, 33, 34, 35, 37, 38, 39, 40]);
    expect(await idsIn(runtime, 1, 31, 40)).toEqual([]);
    const names = await sql<{ id: number; name: string }>(
      runtime,
      4,
      "SELECT id, name FROM data_1 WHERE id IN (31, 35) ORDER BY id",
    );
    expect(names).toEqual([
      { id: 31, name: "before 31" },
      { id: 35, name: "during copy" },
    ]);
    const [one, , , four] = await fences(runtime);
    expect(one?.owned).toEqual([[1, 10], BIG]);
    expect(four?.owned).toEqual([
      [31, 40],
      [61, 100],
    ]);
    expect(four?.map.find((s) => s.id === 1)?.ranges).toEqual([[1, 10], BIG]);
    // Shard 1 refuses the range now, shard 4 admits it.
    await expect(sql(runtime, 1, "SELECT sharding.admit_write(33)")).rejects.toMatchObject({ code: "SF001" });
    expect(await sql(runtime, 4, "SELECT sharding.admit_write(33) AS ok")).toEqual([{ ok: true }]);
    expect(await sql(runtime, 4, "SELECT count(*)::int AS n FROM sharding.move_marker")).toEqual([{ n: 0 }]);
  });

  it("refuses a second operation while one is unfinished, naming it and what to run", async () => {
    const killed = await reshard(runtime, ["move", "--range", "1-10", "--from", "1", "--to", "2"], {
      beforeStep: killAt("copy"),
    });
    expect(killed.code).toBe(1);
    expect(killed.err.join("\n")).toMatch(/Killed: killed at copy/);
    const other = await reshard(runtime, ["split", "--shard", "2", "--at", "15"]);
    expect(other.code).toBe(1);
    expect(other.err.join("\n")).toMatch(
      /operation move_\w+ \(move 1-10 from shard 1 to shard 2\) is unfinished in step copy: run resume or abort first/,
    );
    const status = await reshard(runtime, ["status"]);
    expect(status.out.join("\n")).toMatch(/operation move_\w+: move 1-10 from shard 1 to shard 2, step copy/);
    expect(status.out.join("\n")).toMatch(/copy: \d+ \/ 10 rows copied so far/);
    const aborted = await reshard(runtime, ["abort"]);
    expect(aborted.code).toBe(0);
  });

  it.each(["prepare", "copy", "freeze", "catchup"])(
    "abort of a move killed in step %s drops subscription, slot and publication, unfreezes the source and deletes the copy",
    async (step) => {
      const before = await fences(runtime);
      const killed = await reshard(runtime, ["move", "--range", "1-10", "--from", "1", "--to", "2"], {
        beforeStep: killAt(step),
      });
      expect(killed.code).toBe(1);
      if (step === "catchup") expect((await fenceOf(runtime, 1)).frozen).toEqual([[1, 10]]);
      const run = await reshard(runtime, ["abort"]);
      expect(run.code).toBe(0);
      expect(run.out.at(-1)).toMatch(
        new RegExp(
          `^aborted: move 1-10 from shard 1 to shard 2 \\(operation move_\\w+, was in step ${step}\\)$`,
        ),
      );
      expect(await fences(runtime)).toEqual(before);
      expect(await replicationLeftovers(runtime)).toEqual([]);
      expect(await idsIn(runtime, 2, 1, 10)).toEqual([]);
      expect(await idsIn(runtime, 1, 1, 10)).toEqual(range(1, 10));
      expect(
        (await operationRows(runtime)).filter((r) => r.endsWith(":abort") || r.includes(":copy")),
      ).toEqual([]);
      await expectSettled(3);
    },
    30_000,
  );

  it("aborts a move by itself when the freeze's marker does not reach the target within five shard timeouts", async () => {
    const before = await fences(runtime);
    const run = await reshard(
      runtime,
      ["move", "--range", "1-10", "--from", "1", "--to", "2", "--shard-timeout-ms", "100"],
      {
        // The copy is done; with the subscription disabled, nothing committed on the source reaches the target.
        beforeStep: async (step) => {
          if (step !== "freeze") return;
          const [sub] = await sql<{ subname: string }>(
            runtime,
            2,
            "SELECT subname FROM pg_subscription WHERE subname LIKE 'reshard_%'",
          );
          await sql(runtime, 2, `ALTER SUBSCRIPTION "${sub?.subname}" DISABLE`);
        },
      },
    );
    expect(run.code).toBe(1);
    expect(run.err.join("\n")).toMatch(
      /StepTimeout: catchup: the freeze's marker did not reach shard 2 within 500 ms: the move was aborted/,
    );
    expect(await fences(runtime)).toEqual(before);
    expect(await idsIn(runtime, 2, 1, 10)).toEqual([]);
    expect(await idsIn(runtime, 1, 1, 10)).toEqual(range(1, 10));
    await expectSettled(3);
  });

  it("refuses to abort once the target owns the range, and resume finishes the move", async () => {
    const killed = await reshard(runtime, ["move", "--range", "1-10", "--from", "1", "--to", "2"], {
      afterStep: killAt("switch-target"),
    });
    expect(killed.code).toBe(1);
    const abort = await reshard(runtime, ["abort"]);
    expect(abort.code).toBe(1);
    expect(abort.err.join("\n")).toMatch(
      /is in step switch-target, past the point where it can be undone: run resume/,
    );
    const resumed = await reshard(runtime, ["resume"]);
    expect(resumed.code).toBe(0);
    expect(resumed.out.at(-1)).toMatch(/^resumed, done: move 1-10 from shard 1 to shard 2/);
    await expectSettled(4);
    expect(await idsIn(runtime, 2, 1, 10)).toEqual(range(1, 10));
    expect(await idsIn(runtime, 1, 1, 10)).toEqual([]);
  });
});

describe("a tool killed after any step, then resumed", () => {
  // 1-10 is on shard 2 now: each case moves it to the other of shards 1 and 2, killed after one step and resumed.
  let owner = 2;
  let version = 4;

  it.each(STEPS.move)(
    "finishes a move killed after %s, re-running that step: rows, fences and replication all as after an uninterrupted move",
    async (step) => {
      const to = owner === 1 ? 2 : 1;
      await sql(runtime, owner, `UPDATE data_1 SET name = 'v${version} ' || id WHERE id BETWEEN 1 AND 10`);
      const killed = await reshard(
        runtime,
        ["move", "--range", "1-10", "--from", String(owner), "--to", String(to)],
        {
          afterStep: killAt(step),
        },
      );
      expect(killed.code).toBe(1);
      expect(killed.err.join("\n")).toMatch(/stopped part-way.*resume` continues it/s);
      const resumed = await reshard(runtime, ["resume"]);
      expect(resumed.err.filter((l) => l.startsWith("reshard:"))).toEqual([]);
      expect(resumed.code).toBe(0);
      version += 1;
      await expectSettled(version);
      expect(await idsIn(runtime, to, 1, 10)).toEqual(range(1, 10));
      expect(await idsIn(runtime, owner, 1, 10)).toEqual([]);
      const names = await sql<{ name: string }>(runtime, to, "SELECT name FROM data_1 WHERE id = 7");
      expect(names).toEqual([{ name: `v${version - 1} 7` }]);
      expect((await fenceOf(runtime, to)).owned.some(([lo, hi]) => lo <= 1 && hi >= 10)).toBe(true);
      owner = to;
    },
    30_000,
  );

  it.each(STEPS.assign)("finishes an assign killed after %s", async (step) => {
    const lo = 101 + STEPS.assign.indexOf(step) * 10;
    const killed = await reshard(runtime, ["assign", "--shard", "3", "--range", `${lo}-${lo + 9}`], {
      afterStep: killAt(step),
    });
    expect(killed.code).toBe(1);
    expect((await reshard(runtime, ["resume"])).code).toBe(0);
    const three = await fenceOf(runtime, 3);
    expect(subtract([[lo, lo + 9]], three.owned)).toEqual([]);
    await expectSettled(three.version);
  });

  it("finishes a split killed after it reshaped the shard, then a merge joins the ranges again", async () => {
    const killed = await reshard(runtime, ["split", "--shard", "3", "--at", "25"], {
      afterStep: killAt("reshape"),
    });
    expect(killed.code).toBe(1);
    expect((await reshard(runtime, ["resume"])).code).toBe(0);
    const split = await fenceOf(runtime, 3);
    expect(split.map.find((s) => s.id === 3)?.ranges.slice(0, 2)).toEqual([
      [21, 24],
      [25, 30],
    ]);
    await expectSettled(split.version);
    expect((await reshard(runtime, ["merge", "--shard", "3"])).code).toBe(0);
    const merged = await fenceOf(runtime, 3);
    expect(merged.map.find((s) => s.id === 3)?.ranges[0]).toEqual([21, 30]);
    expect(merged.owned).toEqual(split.owned);
    await expectSettled(split.version + 1);
  });
});

describe("a big move", () => {
  it("moves 200,000 rows from shard 1 to shard 3, printing rows, rows/s and time left for the copy and the cleanup", async () => {
    const run = await reshard(runtime, [
      "move",
      "--range",
      `${BIG[0]}-${BIG[1]}`,
      "--from",
      "1",
      "--to",
      "3",
      "--batch",
      "20000",
      "--pause-ms",
      "0",
    ]);
    expect(run.err.filter((l) => l.startsWith("reshard:"))).toEqual([]);
    expect(run.code).toBe(0);
    const copyLines = run.err.filter((l) => l.startsWith("copy:"));
    expect(
      copyLines.some((l) =>
        /^copy: [\d,]+ \/ 200,000 rows \(\d+%\), [\d,]+ rows\/s, (.+ left|done)$/.test(l),
      ),
      copyLines.join("\n"),
    ).toBe(true);
    expect(run.err.at(-1)).toMatch(/^cleanup: 200,000 \/ 200,000 rows \(100%\), [\d,]+ rows\/s, done$/);
    expect(run.out.at(-1)).toMatch(/200,000 rows/);
    expect(await countIn(runtime, 3, BIG[0], BIG[1])).toBe(200_000);
    expect(await countIn(runtime, 1, BIG[0], BIG[1])).toBe(0);
    const three = await fenceOf(runtime, 3);
    await expectSettled(three.version);
  }, 120_000);
});

describe("the command line", () => {
  const exec = promisify(execFile);
  const cli = async (args: string[]) => {
    try {
      const { stdout, stderr } = await exec(
        process.execPath,
        ["--import", "tsx", "reshard/cli.ts", ...args],
        { cwd: process.cwd() },
      );
      return { code: 0, stdout, stderr };
    } catch (e) {
      const err = e as { code: number; stdout: string; stderr: string };
      return { code: err.code, stdout: err.stdout, stderr: err.stderr };
    }
  };

  it("runs status from a --shards file, exit 0; a wrong argument is exit 2 and a refusal exit 1", async () => {
    const dir = await mkdtemp(join(tmpdir(), "reshard-"));
    const file = join(dir, "shards.json");
    await writeFile(file, JSON.stringify({ shards: runtimeTargets(runtime) }));
    const status = await cli(["status", "--shards", file]);
    expect(status.code).toBe(0);
    expect(status.stdout).toMatch(/^shard\s+version\s+owned/);
    expect(status.stdout).toMatch(/no operation in progress/);
    const usage = await cli(["move", "--range", "10-1", "--from", "1", "--to", "2", "--shards", file]);
    expect(usage.code).toBe(2);
    expect(usage.stderr).toMatch(/--range: 10 is above 1/);
    const refused = await cli(["move", "--range", "500-600", "--from", "1", "--to", "2", "--shards", file]);
    expect(refused.code).toBe(1);
    expect(refused.stderr).toMatch(/shard 1 does not own all of 500-600/);
    const missing = await cli(["status", "--shards", join(dir, "none.json")]);
    expect(missing.code).toBe(1);
    expect(missing.stderr).toMatch(/--shards .*none\.json: ENOENT/);
  }, 60_000);
});
