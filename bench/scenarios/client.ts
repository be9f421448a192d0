/**
 * The client (`client/`): its bundle size and its per-row overhead over raw `fetch`.
 *
 * - Bundle: `client/index.ts` bundled for the browser by esbuild (ESM, minified), bytes and gzip; and with the SigV4
 *   signer (`client/sigv4.ts`, which pulls in `@smithy/signature-v4`; the Node credential chain it imports lazily is
 *   left out, as a browser app passes credentials).
 * - Per-row overhead: the same 100,000 rows (three shards, blocks of 10,000 ids, pages of 1,000) walked with
 *   `client.rows()` and with a bare loop (`fetch`, `res.json()`, follow `next`). Against the runtime the server's
 *   time (about 45 µs a row here) and its noise swamp the client's, so the figure replays the recorded answers
 *   through a `fetch` that returns them from memory: both loops get the same `Response`s, and what differs is the
 *   client's own work (alternating, 21 runs each, difference of the medians over the rows). The walk against the
 *   runtime is reported beside it (3 runs each).
 *
 * Runs alone (`npx tsx bench/scenarios/client.ts`, starting its own PostgreSQL), or from bench/run.ts as
 * `client: ({ ctx, postgres }) => clientFigures({ postgres, log: ctx.log })`.
 */
import { fileURLToPath } from "node:url";
import { gzipSync } from "node:zlib";
import { Logger } from "@aws-lambda-powertools/logger";
import { build } from "esbuild";
import { createClient } from "../../client/index.js";
import { createShardMap } from "../../functions/core/shard-map.js";
import { type PostgresConnection, startPostgres } from "../../local/postgres.js";
import { startLocalRuntime } from "../../local/runtime.js";
import type { ScenarioResult } from "../lib/report.js";
import { median, round } from "../lib/stats.js";

const REPO_ROOT = fileURLToPath(new URL("../../", import.meta.url));
const ROWS = 100_000;
const BLOCK = 10_000;
const PAGE = 1_000;
const RUNS = 3;
const REPLAYS = 21;

/** Bytes of `entry` bundled for the browser, minified, and gzipped. */
async function browserBundle(contents: string): Promise<{ bytes: number; gzipBytes: number }> {
  const result = await build({
    stdin: { contents, resolveDir: REPO_ROOT, sourcefile: "entry.ts", loader: "ts" },
    absWorkingDir: REPO_ROOT,
    bundle: true,
    platform: "browser",
    format: "esm",
    target: "es2022",
    minify: true,
    write: false,
    external: ["@aws-sdk/credential-provider-node"],
    logLevel: "error",
  });
  const js = result.outputFiles[0]?.contents ?? new Uint8Array();
  return { bytes: js.length, gzipBytes: gzipSync(js).length };
}

/** Walks every row with a bare fetch loop; the rows seen. */
async function rawWalk(base: string, fetch = globalThis.fetch): Promise<number> {
  let rows = 0;
  let after: number | null = null;
  do {
    const res = await fetch(`${base}/data?limit=${PAGE}${after === null ? "" : `&after=${after}`}`);
    const page = (await res.json()) as { items: unknown[]; next: number | null; partial: boolean };
    if (page.partial) throw new Error("a partial page in the baseline walk");
    rows += page.items.length;
    after = page.next;
  } while (after !== null);
  return rows;
}

async function clientWalk(base: string, fetch?: typeof globalThis.fetch): Promise<number> {
  let rows = 0;
  for await (const _ of createClient({ baseUrl: base, ...(fetch ? { fetch } : {}) }).rows({ pageSize: PAGE }))
    rows++;
  return rows;
}

/** A fetch that records every answer's body by its query string, and one that replays them from memory. */
function recorder() {
  const bodies = new Map<string, string>();
  const record = (async (input: string | URL | Request, init?: RequestInit) => {
    const res = await globalThis.fetch(input, init);
    const text = await res.text();
    bodies.set(new URL(String(input)).search.replace(/&?from=\d+|&?to=\d+/g, ""), text);
    return new Response(text, { status: res.status, headers: res.headers });
  }) as typeof globalThis.fetch;
  const replay = (async (input: string | URL | Request) => {
    const body = bodies.get(new URL(String(input)).search);
    if (body === undefined) throw new Error(`nothing recorded for ${String(input)}`);
    return new Response(body, { status: 200, headers: { "content-type": "application/json" } });
  }) as typeof globalThis.fetch;
  return { record, replay };
}

/** Median milliseconds of `a` and `b`, run alternately `runs` times after one warm-up each. */
async function alternate(runs: number, a: () => Promise<number>, b: () => Promise<number>) {
  const aMs: number[] = [];
  const bMs: number[] = [];
  await a();
  await b();
  for (let i = 0; i < runs; i++) {
    for (const [walk, into] of [
      [a, aMs],
      [b, bMs],
    ] as const) {
      const t = performance.now();
      const rows = await walk();
      into.push(performance.now() - t);
      if (rows !== ROWS) throw new Error(`walked ${rows} rows, expected ${ROWS}`);
    }
  }
  return { aMs, bMs };
}

export async function clientFigures({
  postgres,
  log,
}: {
  postgres: PostgresConnection;
  log: (m: string) => void;
}): Promise<ScenarioResult> {
  const core = await browserBundle(`export * from "./client/index.ts";`);
  const signed = await browserBundle(`export * from "./client/index.ts"; export * from "./client/sigv4.ts";`);
  log(
    `client bundle: ${core.bytes} B (gzip ${core.gzipBytes}); with sigv4 ${signed.bytes} B (gzip ${signed.gzipBytes})`,
  );

  const blocks = ROWS / BLOCK;
  const map = createShardMap(
    [1, 2, 3].map((id) => ({
      id,
      ranges: Array.from({ length: blocks }, (_, b) => b)
        .filter((b) => b % 3 === id - 1)
        .map((b) => [b * BLOCK + 1, (b + 1) * BLOCK] as [number, number]),
    })),
  );
  const runtime = await startLocalRuntime({
    postgres,
    prefix: `bench_client_${process.pid}`,
    map,
    logger: new Logger({ logLevel: "ERROR" }),
  });
  const { record, replay } = recorder();
  let live: { aMs: number[]; bMs: number[] };
  try {
    await rawWalk(runtime.url, record);
    live = await alternate(
      RUNS,
      () => rawWalk(runtime.url),
      () => clientWalk(runtime.url),
    );
  } finally {
    await runtime.stop();
  }
  const replayed = await alternate(
    REPLAYS,
    () => rawWalk(runtime.url, replay),
    () => clientWalk(runtime.url, replay),
  );
  const rawMs = replayed.aMs;
  const clientMs = replayed.bMs;
  const overheadUs = ((median(clientMs) - median(rawMs)) * 1000) / ROWS;
  const liveUs = ((median(live.bMs) - median(live.aMs)) * 1000) / ROWS;
  log(
    `client walk, replayed: ${round(median(clientMs))} ms vs raw ${round(median(rawMs))} ms; live: ${round(median(live.bMs))} vs ${round(median(live.aMs))} ms (${ROWS} rows)`,
  );
  const kb = (b: number) => `${round(b / 1024, 1)} KiB`;
  return {
    figures: [
      {
        id: "client.bundle",
        figure: "client bundle (client/index.ts, esbuild, browser ESM, minified)",
        measured: `${kb(core.bytes)} (gzip ${kb(core.gzipBytes)})`,
        value: core.bytes,
        goal: "<= 20 KiB",
        pass: core.bytes <= 20 * 1024,
        baseline: `with client/sigv4.ts: ${kb(signed.bytes)} (gzip ${kb(signed.gzipBytes)})`,
      },
      {
        id: "client.perRowOverheadUs",
        figure: `client.rows() CPU overhead per row over raw fetch (${ROWS} rows replayed, pages of ${PAGE}, median of ${REPLAYS})`,
        measured: `${round(overheadUs, 3)} µs/row`,
        value: overheadUs,
        goal: "<= 1 µs/row",
        pass: overheadUs <= 1,
        baseline: `raw ${round(median(rawMs), 1)} ms, client ${round(median(clientMs), 1)} ms`,
      },
      {
        id: "client.liveWalk",
        figure: `client.rows() against the runtime, over raw fetch (${ROWS} rows, median of ${RUNS})`,
        measured: `${round(liveUs, 2)} µs/row (${round((median(live.bMs) / median(live.aMs) - 1) * 100, 1)} %)`,
        value: liveUs,
        goal: "info (the server's time and noise dominate)",
        pass: null,
        baseline: `raw ${round(median(live.aMs))} ms, client ${round(median(live.bMs))} ms`,
      },
    ],
    details: {
      core,
      signed,
      replayed: { rawMs: rawMs.map((v) => round(v)), clientMs: clientMs.map((v) => round(v)) },
      live: { rawMs: live.aMs.map((v) => round(v)), clientMs: live.bMs.map((v) => round(v)) },
    },
  };
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  const postgres = await startPostgres();
  try {
    const result = await clientFigures({ postgres, log: (m) => console.error(m) });
    for (const f of result.figures) console.log(`${f.figure}: ${f.measured} (goal ${f.goal}; ${f.baseline})`);
    console.log(JSON.stringify(result.details));
  } finally {
    await postgres.stop();
  }
}
