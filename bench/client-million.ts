/**
 * The "done when" at full size: walks 1,000,000 rows with `client.rows()` against a local runtime while one
 * shard flaps (hung, then healthy, on a timer), and checks that every row came exactly once and in order (or that
 * the walk failed naming what it could not read). Three shards hold the ids 1..1,000,000 in blocks of 10,000, so the
 * flapping shard's rows run through the whole walk. Prints one line of JSON.
 *
 *   npx tsx bench/client-million.ts [rows] [pageSize]
 */
import { Logger } from "@aws-lambda-powertools/logger";
import { createClient, IncompleteReadError } from "../client/index.js";
import { createShardMap } from "../functions/core/shard-map.js";
import { startLocalRuntime } from "../local/runtime.js";

const ROWS = Number(process.argv[2] ?? 1_000_000);
const PAGE = Number(process.argv[3] ?? 1000);
const BLOCK = 10_000;
const HUNG_MS = 1_000;
const UP_MS = 2_000;

const blocks = Math.ceil(ROWS / BLOCK);
const map = createShardMap(
  [1, 2, 3].map((id) => ({
    id,
    ranges: Array.from({ length: blocks }, (_, b) => b)
      .filter((b) => b % 3 === id - 1)
      .map((b) => [b * BLOCK + 1, Math.min((b + 1) * BLOCK, ROWS)] as [number, number]),
  })),
);

const started = performance.now();
const runtime = await startLocalRuntime({
  map,
  seed: "all",
  shardTimeoutMs: 500,
  logger: new Logger({ logLevel: "ERROR" }),
});
const seededS = (performance.now() - started) / 1000;
let flips = 0;
let timer: ReturnType<typeof setTimeout> | undefined;
const flap = (hung: boolean) => {
  flips++;
  void runtime.setFault(2, hung ? { mode: "hang" } : undefined);
  timer = setTimeout(() => flap(!hung), hung ? HUNG_MS : UP_MS);
};
let partialPages = 0;
let retries = 0;
const client = createClient({
  baseUrl: runtime.url,
  onEvent: (e) => {
    if (e.type === "partial") partialPages++;
    if (e.type === "retry") retries++;
  },
});
let count = 0;
let last = 0;
let inOrder = true;
let failure: string | undefined;
const t0 = performance.now();
flap(true);
try {
  for await (const row of client.rows({ pageSize: PAGE })) {
    if (row.id !== last + 1) inOrder = false;
    last = row.id;
    count++;
  }
} catch (error) {
  failure = error instanceof IncompleteReadError ? error.message : String(error);
} finally {
  clearTimeout(timer);
}
const walkS = (performance.now() - t0) / 1000;
await runtime.stop();
console.log(
  JSON.stringify({
    rows: ROWS,
    pageSize: PAGE,
    yielded: count,
    everyRowOnceInOrder: inOrder && count === ROWS && failure === undefined,
    failure,
    partialPagesReRead: partialPages,
    transportRetries: retries,
    flips,
    flapping: `shard 2 hung ${HUNG_MS} ms / up ${UP_MS} ms, shard timeout 500 ms, breaker on (defaults)`,
    seedSeconds: Math.round(seededS),
    walkSeconds: Math.round(walkS * 10) / 10,
    rowsPerSecond: Math.round(count / walkS),
  }),
);
