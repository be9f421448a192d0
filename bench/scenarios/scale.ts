/**
 * Scale: the API over a big table and many shards (issue 10).
 *
 * - deep vs first page: `GET /data?limit=100` against `…&after=<5/6 of the ids>` over BENCH_SCALE_ROWS rows (default
 *   3,000,000: ids 1..N in 30 blocks, round-robin over 3 shards, 10 ranges each), interleaved; the p50 ratio, per
 *   round of 50 pairs (PASS only if every round meets the goal).
 * - full walk with `limit=1000` following `next`, and the same walk over one unsharded database (one shard owning
 *   every range) in the same run: total time, rows/s, their ratio, and page latency by depth (first, middle, last
 *   thousand pages).
 * - shard count 3, 6, 12, 24 at the same data (BENCH_SCALE_SHARD_ROWS, default 240,000 ids in 240 blocks,
 *   round-robin): p50, p99 and CPU per request of this process (API server, app, SDK clients and the local Data API
 *   endpoints; PostgreSQL runs apart), CPU per shard call, growth per added shard, and rows fetched from the shards
 *   per row returned.
 *
 * Writes `bench/results/scale.json`, `scale-depth.svg` and `scale-shards.svg`. Seeding and walks print progress.
 */
import { writeFile } from "node:fs/promises";
import { fileURLToPath } from "node:url";
import { Logger } from "@aws-lambda-powertools/logger";
import { createShardMap, type ShardMap } from "../../functions/core/shard-map.js";
import type { PostgresServer } from "../../local/postgres.js";
import { type LocalRuntime, startLocalRuntime } from "../../local/runtime.js";
import type { ListBody } from "../lib/context.js";
import { dropDatabases } from "../lib/databases.js";
import { keepAliveAgent, send } from "../lib/http.js";
import { runLoadProcess } from "../lib/load-process.js";
import { type Figure, overRuns, type ScenarioResult, spread, writeResults } from "../lib/report.js";
import { median, quantile, round, roundSummary, summarize } from "../lib/stats.js";
import { chart } from "../lib/svg.js";

const RESULTS_DIR = new URL("../results/", import.meta.url);

function intFromEnv(name: string, fallback: number, min: number): number {
  const raw = process.env[name];
  if (raw === undefined || raw === "") return fallback;
  const value = Number(raw);
  if (!Number.isInteger(value) || value < min)
    throw new Error(`${name}: expected an integer >= ${min}, got ${raw}`);
  return value;
}

/** Sizes, configurable so the scenario can be tried small on a busy machine. */
export function scaleSettings() {
  return {
    rows: intFromEnv("BENCH_SCALE_ROWS", 3_000_000, 3000),
    shardRows: intFromEnv("BENCH_SCALE_SHARD_ROWS", 240_000, 2400),
    pairs: intFromEnv("BENCH_SCALE_PAIRS", 200, 20),
    walkLimit: 1000,
    /** A walk that takes longer than this stops and is reported incomplete (the O(n²) walk took 21 minutes). */
    walkMaxMs: intFromEnv("BENCH_SCALE_WALK_MAX_S", 600, 10) * 1000,
    shardCounts: [3, 6, 12, 24] as const,
    loadMs: intFromEnv("BENCH_SCALE_LOAD_MS", 4000, 500),
  };
}

/** `blocks` equal blocks of ids 1..rows, round-robin over `shards` shards (the last block takes the remainder). */
export function roundRobinMap(rows: number, blocks: number, shards: number): ShardMap {
  const size = Math.floor(rows / blocks);
  const raw = Array.from({ length: shards }, (_, i) => ({ id: i + 1, ranges: [] as [number, number][] }));
  for (let b = 0; b < blocks; b++) {
    const end = b === blocks - 1 ? rows : (b + 1) * size;
    raw[b % shards]?.ranges.push([b * size + 1, end]);
  }
  return createShardMap(raw);
}

/** The same ids, every range owned by one shard: the unsharded baseline. */
function unshardedMap(map: ShardMap): ShardMap {
  return createShardMap([{ id: 1, ranges: map.shards.flatMap((s) => s.ranges) }]);
}

/** A small deterministic generator, so every run asks for the same cursors. */
function lcg(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (Math.imul(state, 1_664_525) + 1_013_904_223) >>> 0;
    return state / 2 ** 32;
  };
}

type Log = (message: string) => void;

/** Seconds from start to ready (databases created and seeded, endpoints and API up), per runtime of the last run. */
const startSeconds: Record<string, number> = {};

async function withRuntime<T>(
  postgres: PostgresServer,
  prefix: string,
  map: ShardMap,
  log: Log,
  fn: (runtime: LocalRuntime) => Promise<T>,
): Promise<T> {
  const began = performance.now();
  let lastLog = 0;
  const runtime = await startLocalRuntime({
    postgres,
    prefix,
    map,
    seed: "all",
    logger: new Logger({ logLevel: "ERROR" }),
    // Cold connections to 24 endpoints on a busy machine can take seconds; a timeout is not what is measured here.
    env: { SHARD_TIMEOUT_MS: "10000" },
    onSeedProgress: (loaded, total) => {
      const now = performance.now();
      if (loaded < total && now - lastLog < 3000) return;
      lastLog = now;
      log(
        `scale: seeding ${prefix}: ${loaded.toLocaleString("en-US")} / ${total.toLocaleString("en-US")} rows`,
      );
    },
  });
  const seconds = round((performance.now() - began) / 1000, 1);
  startSeconds[`${map.shards.length} shards, ${runtime.shards.reduce((n, s) => n + s.rows, 0)} rows`] =
    seconds;
  log(`scale: ${prefix} ready (${map.shards.length} shards) in ${seconds} s`);
  try {
    return await fn(runtime);
  } finally {
    await runtime.stop();
    await dropDatabases(
      postgres,
      runtime.shards.map((s) => s.database),
    );
  }
}

async function getList(agent: ReturnType<typeof keepAliveAgent>, base: string, path: string) {
  const r = await send(agent, base, { path }, 30_000);
  if (r.status !== 200) throw new Error(`GET ${path}: ${r.status} ${r.body.slice(0, 200)}`);
  const body = JSON.parse(r.body) as ListBody;
  if (body.partial) throw new Error(`GET ${path}: partial ${JSON.stringify(body.shards)}`);
  return { ms: r.ms, body };
}

/** First page and a deep page, interleaved; per round of 50 pairs, the ratio of the p50s. */
async function deepVsFirst(runtime: LocalRuntime, rows: number, pairs: number, log: Log) {
  const agent = keepAliveAgent(1);
  const deepAfter = Math.floor((rows * 5) / 6);
  const first = `/data?limit=100`;
  const deep = `/data?limit=100&after=${deepAfter}`;
  try {
    for (let i = 0; i < 20; i++) {
      await getList(agent, runtime.url, first);
      await getList(agent, runtime.url, deep);
    }
    const f: number[] = [];
    const d: number[] = [];
    for (let i = 0; i < pairs; i++) {
      // Alternate which goes first, so neither always follows the other.
      const order = i % 2 === 0 ? [first, deep] : [deep, first];
      for (const path of order) {
        const { ms, body } = await getList(agent, runtime.url, path);
        if (body.items.length !== 100) throw new Error(`${path}: ${body.items.length} items`);
        (path === first ? f : d).push(ms);
      }
    }
    const perRound = 50;
    const ratios: number[] = [];
    for (let k = 0; k + perRound <= pairs; k += perRound) {
      ratios.push(median(d.slice(k, k + perRound)) / median(f.slice(k, k + perRound)));
    }
    log(`scale: first page p50 ${round(median(f))} ms, deep (after=${deepAfter}) p50 ${round(median(d))} ms`);
    return { deepAfter, first: summarize(f), deep: summarize(d), ratio: median(d) / median(f), ratios };
  } finally {
    agent.destroy();
  }
}

interface Walk {
  readonly pageMs: number[];
  readonly rows: number;
  readonly totalMs: number;
  readonly complete: boolean;
  /** Rows the shards returned per row the API returned. */
  readonly fetchedPerReturned: number;
}

/** One client walking the table with `limit` following `next`, a segment of pages at a time. */
class Walker {
  readonly pageMs: number[] = [];
  rows = 0;
  fetched = 0;
  spentMs = 0;
  done = false;
  #after: number | null = null;
  #lastId = Number.NEGATIVE_INFINITY;
  readonly #agent = keepAliveAgent(1);

  constructor(
    readonly runtime: LocalRuntime,
    readonly label: string,
    readonly limit: number,
  ) {}

  /** Walks up to `pages` pages; returns the time and rows of this segment. */
  async step(pages: number): Promise<{ ms: number; rows: number }> {
    const began = performance.now();
    const rowsBefore = this.rows;
    for (let i = 0; i < pages && !this.done; i++) {
      const after = this.#after;
      const path = `/data?limit=${this.limit}${after === null ? "" : `&after=${after}`}`;
      const { ms, body } = await getList(this.#agent, this.runtime.url, path);
      this.pageMs.push(ms);
      for (const item of body.items) {
        if (item.id <= this.#lastId)
          throw new Error(`${this.label} walk: id ${item.id} after ${this.#lastId}`);
        this.#lastId = item.id;
      }
      this.rows += body.items.length;
      for (const s of body.shards) this.fetched += s.count ?? 0;
      this.#after = body.next;
      if (body.next === null) this.done = true;
    }
    const ms = performance.now() - began;
    this.spentMs += ms;
    return { ms, rows: this.rows - rowsBefore };
  }

  result(): Walk {
    this.#agent.destroy();
    return {
      pageMs: this.pageMs,
      rows: this.rows,
      totalMs: this.spentMs,
      complete: this.done,
      fetchedPerReturned: this.rows ? this.fetched / this.rows : Number.NaN,
    };
  }
}

/** Pages per segment of the interleaved walks. */
const SEGMENT_PAGES = 100;

/**
 * Both walks at once, a segment of pages of one, then of the other, so a burst of load from elsewhere on this shared
 * machine hits both alike; each walk's time is the sum of its own segments. Also returns, per pair of segments, the
 * ratio of their time per row.
 */
async function walkBoth(a: Walker, b: Walker, maxMs: number, log: Log) {
  const ratios: number[] = [];
  let lastLog = performance.now();
  while (!(a.done && b.done) && a.spentMs < maxMs && b.spentMs < maxMs) {
    const sa = a.done ? undefined : await a.step(SEGMENT_PAGES);
    const sb = b.done ? undefined : await b.step(SEGMENT_PAGES);
    if (sa?.rows && sb?.rows) ratios.push(sa.ms / sa.rows / (sb.ms / sb.rows));
    if (performance.now() - lastLog > 5000) {
      lastLog = performance.now();
      const fmt = (w: Walker) =>
        `${w.label} ${w.rows.toLocaleString("en-US")} rows (${Math.round(w.rows / (w.spentMs / 1000))} rows/s)`;
      log(`scale: walks: ${fmt(a)}, ${fmt(b)}`);
    }
  }
  for (const w of [a, b]) {
    log(
      `scale: ${w.label} walk: ${w.rows} rows, ${w.pageMs.length} pages in ${round(w.spentMs / 1000, 1)} s`,
    );
  }
  return { a: a.result(), b: b.result(), segmentRatios: ratios };
}

/** p50 of the first, middle and last `window` pages (a thousand, or a third of a shorter walk). */
function byDepth(pageMs: readonly number[]) {
  const window = Math.max(1, Math.min(1000, Math.floor(pageMs.length / 3)));
  const mid = Math.floor((pageMs.length - window) / 2);
  const part = (from: number) => median(pageMs.slice(from, from + window));
  return {
    window,
    first: part(0),
    middle: part(mid),
    last: part(pageMs.length - window),
  };
}

/** p50 of each of `bins` consecutive groups of pages, at the group's middle page: the depth chart's points. */
function binned(pageMs: readonly number[], bins = 60): [number, number][] {
  const size = Math.max(1, Math.ceil(pageMs.length / bins));
  const out: [number, number][] = [];
  for (let i = 0; i < pageMs.length; i += size) {
    out.push([i + Math.floor(size / 2) + 1, median(pageMs.slice(i, i + size))]);
  }
  return out;
}

async function shardCount(postgres: PostgresServer, shards: number, rows: number, loadMs: number, log: Log) {
  const map = roundRobinMap(rows, 240, shards);
  return withRuntime(postgres, `bench_scale_s${shards}_${process.pid}`, map, log, async (runtime) => {
    const random = lcg(42);
    const paths = Array.from(
      { length: 500 },
      () => `/data?limit=100&after=${Math.floor(random() * (rows - 200))}`,
    );
    // Rows fetched per row returned, from real bodies, and warm connections to every endpoint.
    const agent = keepAliveAgent(1);
    let fetched = 0;
    let returned = 0;
    try {
      for (const path of paths.slice(0, 40)) {
        const { body } = await getList(agent, runtime.url, path);
        returned += body.items.length;
        for (const s of body.shards) fetched += s.count ?? 0;
      }
    } finally {
      agent.destroy();
    }
    const cpuBefore = process.cpuUsage();
    const load = await runLoadProcess({
      kind: "closed",
      base: runtime.url,
      paths,
      concurrency: 2,
      durationMs: loadMs,
      maxRequests: 5000,
      warmup: 20,
      timeoutMs: 30_000,
    });
    const cpu = process.cpuUsage(cpuBefore);
    const requests = load.sent + load.warmup;
    const cpuMsPerRequest = (cpu.user + cpu.system) / 1000 / requests;
    const s = summarize(load.latencies);
    const ok = load.errors === 0 && Object.keys(load.statuses).every((k) => k === "200");
    log(
      `scale: ${shards} shards: p50 ${round(s.p50)} ms, p99 ${round(s.p99)} ms, CPU ${round(cpuMsPerRequest)} ms/req`,
    );
    return {
      shards,
      ok,
      statuses: load.statuses,
      requests: load.sent,
      latency: roundSummary(s),
      cpuMsPerRequest: round(cpuMsPerRequest, 3),
      cpuMsPerShardCall: round(cpuMsPerRequest / shards, 3),
      fetchedPerReturned: round(fetched / returned, 2),
    };
  });
}

/** Least-squares slope of y over x. */
function slope(points: readonly (readonly [number, number])[]): number {
  const n = points.length;
  const mx = points.reduce((a, [x]) => a + x, 0) / n;
  const my = points.reduce((a, [, y]) => a + y, 0) / n;
  const num = points.reduce((a, [x, y]) => a + (x - mx) * (y - my), 0);
  const den = points.reduce((a, [x]) => a + (x - mx) ** 2, 0);
  return den ? num / den : Number.NaN;
}

export async function scale({
  postgres,
  log,
}: {
  postgres: PostgresServer;
  log: Log;
}): Promise<ScenarioResult> {
  const cfg = scaleSettings();
  const sharded = roundRobinMap(cfg.rows, 30, 3);
  const sizeNote = cfg.rows === 3_000_000 ? "" : ` (BENCH_SCALE_ROWS=${cfg.rows})`;
  const nRows = cfg.rows.toLocaleString("en-US");

  // Both tables up at once, so the two walks can be interleaved.
  const { pages, walks } = await withRuntime(postgres, `bench_scale_3_${process.pid}`, sharded, log, (rt) =>
    withRuntime(postgres, `bench_scale_1_${process.pid}`, unshardedMap(sharded), log, async (one) => ({
      pages: await deepVsFirst(rt, cfg.rows, cfg.pairs, log),
      walks: await walkBoth(
        new Walker(rt, "sharded", cfg.walkLimit),
        new Walker(one, "unsharded", cfg.walkLimit),
        cfg.walkMaxMs,
        log,
      ),
    })),
  );
  const { a: walk, b: unsharded } = walks;
  const counts = [];
  for (const n of cfg.shardCounts) counts.push(await shardCount(postgres, n, cfg.shardRows, cfg.loadMs, log));

  const rate = (w: Walk) => w.rows / (w.totalMs / 1000);
  // Compare walks by time per row, so an incomplete walk still gives a (flagged) ratio.
  const walkRatio = walk.totalMs / walk.rows / (unsharded.totalMs / unsharded.rows);
  const depth = byDepth(walk.pageMs);
  const depthBase = byDepth(unsharded.pageMs);
  const depthRatio = depth.last / depth.first;
  const cpuSlope = slope(counts.map((c) => [c.shards, c.cpuMsPerRequest] as const));
  const p50Slope = slope(counts.map((c) => [c.shards, c.latency.p50] as const));
  const c3 = counts.find((c) => c.shards === 3);
  const c24 = counts.find((c) => c.shards === 24);
  const deepVerdict = overRuns(pages.ratios, (r) => r <= 1.3);

  const figures: Figure[] = [
    {
      id: "scale.deepPage",
      figure: `deep vs first page, limit=100, ${nRows} rows / 3 shards: p50 ratio${sizeNote}`,
      measured: `${round(pages.ratio, 2)}x (${round(pages.deep.p50, 1)} vs ${round(pages.first.p50, 1)} ms)`,
      value: pages.ratio,
      goal: "<= 1.3 in every round",
      ...deepVerdict,
      baseline: `after=${pages.deepAfter}; ratio per round of 50 pairs: ${spread(pages.ratios, 2, "x")}`,
    },
    {
      id: "scale.walk",
      figure: `full walk, limit=1000 following next, ${nRows} rows / 3 shards vs unsharded${sizeNote}`,
      measured: `${round(walkRatio, 2)}x (${round(walk.totalMs / 1000, 1)} s, ${Math.round(rate(walk))} rows/s)`,
      value: walkRatio,
      goal: "<= 2.0",
      pass: walk.complete && unsharded.complete && walkRatio <= 2,
      baseline: `unsharded ${round(unsharded.totalMs / 1000, 1)} s, ${Math.round(rate(unsharded))} rows/s; interleaved by ${SEGMENT_PAGES} pages, ratio per segment ${spread(walks.segmentRatios, 2, "x")}; ${walk.pageMs.length} pages${walk.complete ? "" : ` (stopped after ${cfg.walkMaxMs / 1000} s, incomplete)`}`,
    },
    {
      id: "scale.depth",
      figure: `page latency by depth, sharded walk: last / first ${depth.window} pages, p50`,
      measured: `${round(depthRatio, 2)}x (${round(depth.first, 1)} / ${round(depth.middle, 1)} / ${round(depth.last, 1)} ms)`,
      value: depthRatio,
      goal: "<= 1.3",
      pass: depthRatio <= 1.3,
      baseline: `unsharded ${round(depthBase.first, 1)} / ${round(depthBase.middle, 1)} / ${round(depthBase.last, 1)} ms (first / middle / last)`,
    },
    {
      id: "scale.shardsLatency",
      figure: `GET /data?limit=100 by shard count (3/6/12/24), ${cfg.shardRows.toLocaleString("en-US")} rows: p50 / p99`,
      measured: `${counts.map((c) => `${round(c.latency.p50, 1)}/${round(c.latency.p99, 1)}`).join(", ")} ms`,
      value: p50Slope,
      goal: "report",
      pass: counts.every((c) => c.ok) ? null : false,
      baseline: `p50 +${round(p50Slope, 2)} ms per added shard`,
    },
    {
      id: "scale.shardsCpu",
      figure: "CPU per request by shard count (3/6/12/24): API + local Data API endpoints",
      measured: `${counts.map((c) => round(c.cpuMsPerRequest, 1)).join(", ")} ms`,
      value: cpuSlope,
      goal: "report",
      pass: null,
      baseline: `+${round(cpuSlope, 2)} ms per added shard; per shard call ${counts.map((c) => round(c.cpuMsPerShardCall, 2)).join(", ")} ms`,
    },
    {
      id: "scale.fetchedPerReturned",
      figure: "rows fetched from shards per row returned, limit=100: 3 vs 24 shards",
      measured: `${c3?.fetchedPerReturned} vs ${c24?.fetchedPerReturned}`,
      value: c24?.fetchedPerReturned ?? Number.NaN,
      goal: "report",
      pass: null,
      baseline: `walk at limit=1000: ${round(walk.fetchedPerReturned, 2)} (3 shards), ${round(unsharded.fetchedPerReturned, 2)} (unsharded)`,
    },
  ];

  const details = {
    settings: cfg,
    deepVsFirst: {
      deepAfter: pages.deepAfter,
      first: roundSummary(pages.first),
      deep: roundSummary(pages.deep),
      ratio: round(pages.ratio, 3),
      roundRatios: pages.ratios.map((r) => round(r, 3)),
    },
    walk: walkDetails(walk, depth),
    unshardedWalk: walkDetails(unsharded, depthBase),
    walkRatio: round(walkRatio, 3),
    walkSegmentRatios: walks.segmentRatios.map((r) => round(r, 3)),
    shardCounts: counts,
    perAddedShard: { p50Ms: round(p50Slope, 3), cpuMs: round(cpuSlope, 3) },
    startSeconds,
  };
  await writeCharts(walk, unsharded, counts, cfg.rows);
  await writeResults(fileURLToPath(new URL("scale.json", RESULTS_DIR)), {
    date: new Date().toISOString(),
    figures,
    details,
  });
  log("scale: wrote bench/results/scale.json, scale-depth.svg, scale-shards.svg");
  return { figures, details };
}

function walkDetails(w: Walk, depth: ReturnType<typeof byDepth>) {
  return {
    rows: w.rows,
    pages: w.pageMs.length,
    complete: w.complete,
    seconds: round(w.totalMs / 1000, 2),
    rowsPerSecond: Math.round(w.rows / (w.totalMs / 1000)),
    fetchedPerReturned: round(w.fetchedPerReturned, 3),
    pageMs: roundSummary(summarize(w.pageMs)),
    p99PageMs: round(quantile(w.pageMs, 0.99)),
    depthP50Ms: {
      window: depth.window,
      first: round(depth.first),
      middle: round(depth.middle),
      last: round(depth.last),
    },
  };
}

async function writeCharts(
  walk: Walk,
  unsharded: Walk,
  counts: readonly { shards: number; latency: { p50: number; p99: number }; cpuMsPerRequest: number }[],
  rows: number,
): Promise<void> {
  const depth = chart(
    [
      {
        title: `Page latency by depth, walk of ${rows.toLocaleString("en-US")} rows, limit=1000`,
        xLabel: "page number",
        yLabel: "p50 latency per group of pages (ms)",
        series: [
          { name: "3 shards", points: binned(walk.pageMs) },
          { name: "unsharded (1 shard, every range)", points: binned(unsharded.pageMs) },
        ],
      },
    ],
    `npm run bench -- scale, ${new Date().toISOString().slice(0, 10)}; local runtime on a shared 2-core VM (noisy)`,
  );
  const xTicks = counts.map((c) => c.shards);
  const shards = chart(
    [
      {
        title: "GET /data?limit=100 latency by shard count",
        xLabel: "shards",
        yLabel: "ms",
        xTicks,
        series: [
          { name: "p50", points: counts.map((c) => [c.shards, c.latency.p50]), dots: true },
          { name: "p99", points: counts.map((c) => [c.shards, c.latency.p99]), dots: true },
        ],
      },
      {
        title: "CPU per request by shard count",
        xLabel: "shards",
        yLabel: "ms of CPU per request (API + local endpoints)",
        xTicks,
        series: [
          { name: "CPU per request", points: counts.map((c) => [c.shards, c.cpuMsPerRequest]), dots: true },
        ],
      },
    ],
    `npm run bench -- scale, ${new Date().toISOString().slice(0, 10)}; same data at every shard count; noisy shared VM`,
  );
  await writeFile(fileURLToPath(new URL("scale-depth.svg", RESULTS_DIR)), depth);
  await writeFile(fileURLToPath(new URL("scale-shards.svg", RESULTS_DIR)), shards);
}
