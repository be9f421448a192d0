/**
 * Handler CPU, in process (no I/O): what the function spends between the shards' answers and the response body.
 *
 * - merge + serialize: `mergePages` over 3 x 1000 rows (the largest page, `limit=1000`) and `json(200, …)` (the
 *   route's own `JSON.stringify`), per call.
 * - k-way merge vs concat + sort at 3 x 10k rows: the same contract (ownership filter, order, dedupe, limit; no
 *   shard page is `truncated` here, so the page bound of capped calls does not come into play), two implementations.
 *
 * The machine is shared, so A and B are timed in alternating rounds and the figure is the median of the rounds'
 * ratios: a burst of load from elsewhere hits both sides of a round alike.
 */
import type { Field } from "@aws-sdk/client-rds-data";
import { MAX_ROWS_PER_CALL, mergePages, type ShardRows } from "../../functions/core/paging.js";
import type { Row } from "../../functions/core/row.js";
import type { ShardMap } from "../../functions/core/shard-map.js";
import { parseRows } from "../../functions/core/sql.js";
import { json } from "../../functions/http/response.js";
import type { ScenarioResult } from "../lib/report.js";
import { concatSortMerge, syntheticPages } from "../lib/rows.js";
import { cannedClient, formattedBody, recordsBody, selectCommand } from "../lib/sdk-canned.js";
import { median, round } from "../lib/stats.js";

type MergeFn = (parts: readonly ShardRows[], map: ShardMap, limit: number) => unknown;

const ROUNDS = 15;
const PER_ROUND = 25;

/** Per-call times (ms) of `fn`, `n` calls. */
function times(fn: () => unknown, n: number): number[] {
  const out: number[] = [];
  for (let i = 0; i < n; i++) {
    const t = performance.now();
    fn();
    out.push(performance.now() - t);
  }
  return out;
}

/** Median per-call time of each function, and the median over rounds of `time(fns[k]) / time(fns[0])`. */
function compare(fns: readonly (() => unknown)[]) {
  for (const fn of fns) times(fn, 100); // warm-up: let V8 optimize every candidate first
  const all = fns.map(() => [] as number[]);
  const ratios = fns.map(() => [] as number[]);
  for (let r = 0; r < ROUNDS; r++) {
    const medians = fns.map((fn, k) => {
      const t = times(fn, PER_ROUND);
      all[k]?.push(...t);
      return median(t);
    });
    medians.forEach((m, k) => {
      ratios[k]?.push(m / (medians[0] as number));
    });
  }
  return { medianMs: all.map((t) => median(t)), ratioToFirst: ratios.map((r) => median(r)) };
}

function page(merge: MergeFn, parts: readonly ShardRows[], map: ShardMap, limit: number) {
  const merged = merge(parts, map, limit) as { items: unknown[]; next: number | null };
  // What the route serializes: the list result with its per-shard reports.
  const shards = parts.map((p) => ({ shard: p.shard, status: "ok", count: p.rows.length, ms: 12 }));
  return json(200, { items: merged.items, next: merged.next, partial: false, shards }).body ?? "";
}

/** The Field-union `records` read into rows, as the function did before it asked for JSON: the baseline. */
function rowsFromRecords(records: Field[][] | undefined): Row[] {
  return (records ?? []).map(([id, name]) => ({
    id: id?.longValue ?? Number.NaN,
    name: name?.isNull ? null : (name?.stringValue ?? null),
  }));
}

/**
 * The SDK's CPU per shard call plus turning its answer into rows: the function's `formatRecordsAs: "JSON"` (one
 * string, read by `parseRows`) against the default Field-union `records`. No network: canned responses.
 */
async function sdkDecode(rows: number) {
  const records = cannedClient(recordsBody(rows));
  const formatted = cannedClient(formattedBody(rows));
  const viaRecords = async () => rowsFromRecords((await records.send(selectCommand(false))).records);
  const viaJson = async () => parseRows((await formatted.send(selectCommand(true))).formattedRecords);
  if (JSON.stringify(await viaRecords()) !== JSON.stringify(await viaJson()))
    throw new Error("formats differ");
  const r: number[] = [];
  const j: number[] = [];
  for (let i = 0; i < 240; i++) {
    let t = performance.now();
    await viaRecords();
    if (i >= 40) r.push(performance.now() - t);
    t = performance.now();
    await viaJson();
    if (i >= 40) j.push(performance.now() - t);
  }
  records.destroy();
  formatted.destroy();
  return { recordsMs: median(r), jsonMs: median(j) };
}

export async function cpu({ log }: { log: (m: string) => void }): Promise<ScenarioResult> {
  // merge + serialize, 3 x 1000 rows, limit 1000
  const small = syntheticPages(1000, "blocks");
  const expected = page(mergePages, small.parts, small.map, 1000);
  if (page(concatSortMerge, small.parts, small.map, 1000) !== expected) throw new Error("baseline differs");
  const serialize = compare([
    () => page(mergePages, small.parts, small.map, 1000),
    () => page(concatSortMerge, small.parts, small.map, 1000),
  ]);
  const [mergeSerMs, baselineSerMs] = serialize.medianMs as [number, number];

  // k-way vs concat + sort, 3 x 10k rows, limit 10k, in both layouts
  const big = Object.fromEntries(
    (["blocks", "interleaved"] as const).map((layout) => {
      const { map, parts } = syntheticPages(10_000, layout);
      const limit = 10_000;
      if (
        JSON.stringify(concatSortMerge(parts, map, limit)) !== JSON.stringify(mergePages(parts, map, limit))
      ) {
        throw new Error("concat + sort differs from mergePages");
      }
      const c = compare([() => mergePages(parts, map, limit), () => concatSortMerge(parts, map, limit)]);
      const [kway, concat] = c.medianMs as [number, number];
      // speed-up of k-way over concat+sort = time(concat) / time(k-way), per round
      return [layout, { kwayMs: kway, concatSortMs: concat, speedup: c.ratioToFirst[1] as number }];
    }),
  ) as Record<"blocks" | "interleaved", { kwayMs: number; concatSortMs: number; speedup: number }>;

  const decode = await sdkDecode(MAX_ROWS_PER_CALL);
  const decodeSmall = await sdkDecode(21);
  log(
    `cpu: merge+serialize ${round(mergeSerMs, 3)} ms; k-way x${round(big.blocks.speedup)} (blocks), x${round(big.interleaved.speedup)} (interleaved)`,
  );
  const worst = Math.min(big.blocks.speedup, big.interleaved.speedup);
  return {
    figures: [
      {
        id: "cpu.mergeSerialize",
        figure: "handler CPU: mergePages + JSON.stringify, 3 x 1000 rows, median",
        measured: `${round(mergeSerMs, 3)} ms`,
        value: mergeSerMs,
        goal: "<= 1.5 ms",
        pass: mergeSerMs <= 1.5,
        baseline: `concat+sort + stringify ${round(baselineSerMs, 3)} ms`,
      },
      {
        id: "cpu.kwaySpeedup",
        figure: "k-way mergePages vs concat+sort, 3 x 10k rows (worse of 2 layouts)",
        measured: `${round(worst, 2)}x faster`,
        value: worst,
        goal: ">= 2x",
        pass: worst >= 2,
        baseline: `blocks: ${round(big.blocks.kwayMs, 2)} vs ${round(big.blocks.concatSortMs, 2)} ms (x${round(big.blocks.speedup, 2)}); interleaved: ${round(big.interleaved.kwayMs, 2)} vs ${round(big.interleaved.concatSortMs, 2)} ms (x${round(big.interleaved.speedup, 2)})`,
      },
      {
        id: "cpu.sdkDecode",
        figure: `SDK CPU per shard call, ${MAX_ROWS_PER_CALL} rows (the cap): formatRecordsAs JSON (used) vs records`,
        measured: `${round(decode.jsonMs, 2)} ms vs ${round(decode.recordsMs, 2)} ms`,
        value: decode.recordsMs / decode.jsonMs,
        goal: "info",
        pass: null,
        baseline: `21 rows: ${round(decodeSmall.jsonMs, 2)} vs ${round(decodeSmall.recordsMs, 2)} ms (send/sign/parse, no network)`,
      },
    ],
    details: {
      sdkDecodeMs: {
        [`rows${MAX_ROWS_PER_CALL}`]: {
          records: round(decode.recordsMs, 3),
          formatJson: round(decode.jsonMs, 3),
        },
        rows21: { records: round(decodeSmall.recordsMs, 3), formatJson: round(decodeSmall.jsonMs, 3) },
      },
      rounds: ROUNDS,
      perRound: PER_ROUND,
      mergeSerializeMs: round(mergeSerMs, 4),
      concatSortSerializeMs: round(baselineSerMs, 4),
      bodyBytes: Buffer.byteLength(expected),
      kway: Object.fromEntries(
        Object.entries(big).map(([k, v]) => [
          k,
          Object.fromEntries(Object.entries(v).map(([kk, vv]) => [kk, round(vv, 4)])),
        ]),
      ),
    },
  };
}
