/**
 * Memory under a hung shard, in its own process (`node --expose-gc --import tsx bench/memory-child.ts`, forked by
 * `bench/scenarios/memory.ts`): a local runtime with a 50 ms shard timeout and shard 2 hung, driven in-process
 * over HTTP, RSS and heap read after a forced GC before and after 10k requests. Every hung call leaves an aborted
 * request, a destroyed socket, a cleared timer and a settled promise behind: if any of them were retained, RSS
 * would grow with the request count.
 */
import { Logger } from "@aws-lambda-powertools/logger";
import type { PostgresConnection } from "../local/postgres.js";
import { startLocalRuntime } from "../local/runtime.js";
import { closedLoop, keepAliveAgent } from "./lib/http.js";

const REQUESTS = Number(process.env.BENCH_MEMORY_REQUESTS ?? 10_000);
// Long enough for the heap to reach the size it keeps under this load: on Node.js 24, V8 and the allocator grow RSS by
// some 40 MB over the first few thousand requests (heapUsed stays flat), then RSS stays flat; a 1000-request warm-up
// counted that one-off growth as if the calls had leaked it.
const WARMUP = 5000;
const CONCURRENCY = 50;
const CHECKPOINTS = 5;
const TIMEOUT_MS = 50;

const gc = (globalThis as { gc?: () => void }).gc;

async function settle() {
  // Let closed sockets and aborted requests finish their callbacks, then collect twice (weak refs, finalizers).
  await new Promise((r) => setTimeout(r, 200));
  gc?.();
  await new Promise((r) => setImmediate(r));
  gc?.();
  const m = process.memoryUsage();
  return { rss: m.rss, heapUsed: m.heapUsed, external: m.external };
}

async function main() {
  if (!gc) throw new Error("run with --expose-gc");
  const postgres = JSON.parse(process.env.BENCH_POSTGRES ?? "") as PostgresConnection;
  const runtime = await startLocalRuntime({
    postgres,
    prefix: `bench_mem_${process.pid}`,
    shardTimeoutMs: TIMEOUT_MS,
    faults: new Map([[2, { mode: "hang" as const }]]),
    logger: new Logger({ logLevel: "ERROR" }),
    // Every request must abandon a call to the hung shard: that is what could leak. An open circuit breaker would
    // skip the shard instead (10k requests, a handful of calls).
    env: { BREAKER_FAILURE_THRESHOLD: "0" },
  });
  const agent = keepAliveAgent(CONCURRENCY);
  try {
    const wrong: string[] = [];
    const run = (n: number) =>
      closedLoop({
        base: runtime.url,
        agent,
        concurrency: CONCURRENCY,
        durationMs: 60_000,
        maxRequests: n,
        timeoutMs: 5000,
        next: () => ({ path: "/data" }),
        check: (r) => {
          if (r.status !== 200 && wrong.length < 10) wrong.push(`status ${r.status}`);
        },
      });
    await run(WARMUP);
    const before = await settle();
    const checkpoints: { requests: number; rss: number; heapUsed: number }[] = [];
    const latencies: number[] = [];
    let errors = 0;
    const started = performance.now();
    for (let k = 1; k <= CHECKPOINTS; k++) {
      const r = await run(REQUESTS / CHECKPOINTS);
      latencies.push(...r.latencies);
      errors += r.errors;
      const m = await settle();
      checkpoints.push({ requests: (k * REQUESTS) / CHECKPOINTS, rss: m.rss, heapUsed: m.heapUsed });
    }
    const elapsedMs = performance.now() - started;
    const after = await settle();
    const hung = runtime.shards.find((s) => s.id === 2)?.endpoint;
    // Every hung call was aborted by its client, so the endpoint should see every connection close soon after.
    const pendingAtEnd = hung?.pending;
    const waitStarted = performance.now();
    while ((hung?.pending ?? 0) > 0 && performance.now() - waitStarted < 5000) {
      await new Promise((r) => setTimeout(r, 50));
    }
    const pendingClearedMs = (hung?.pending ?? 0) === 0 ? Math.round(performance.now() - waitStarted) : null;
    const resources = process.getActiveResourcesInfo().reduce<Record<string, number>>((acc, r) => {
      acc[r] = (acc[r] ?? 0) + 1;
      return acc;
    }, {});
    process.send?.({
      ok: true,
      result: {
        requests: REQUESTS,
        answered: latencies.length,
        errors,
        wrong,
        elapsedMs,
        maxLatencyMs: Math.max(...latencies),
        before,
        after,
        checkpoints,
        hungEndpoint: {
          requests: hung?.requests,
          pendingAtEnd,
          pendingAfterWait: hung?.pending,
          pendingClearedMs,
        },
        resources,
      },
    });
  } finally {
    agent.destroy();
    await runtime.stop();
  }
}

main().then(
  () => process.disconnect?.(),
  (error: unknown) => {
    process.send?.({ ok: false, error: String((error as Error)?.stack ?? error) });
    process.disconnect?.();
    process.exitCode = 1;
  },
);
