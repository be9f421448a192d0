/**
 * Timeout: one shard accepts requests and never answers. Every `GET /data` must still answer, no sooner than the
 * 2000 ms shard timeout (the shard really was given its time) and no later than 40 ms after it, with ten requests
 * arriving together.
 */
import { type BenchContext, healAll, type ListBody } from "../lib/context.js";
import { closedLoop, send } from "../lib/http.js";
import type { ScenarioResult } from "../lib/report.js";
import { round, roundSummary, summarize } from "../lib/stats.js";

export const TIMEOUT_MS = 2000;
const HUNG_SHARD = 2;
const REQUESTS = 30;
const CONCURRENCY = 10;

export async function timeout({ runtime, agent, log }: BenchContext): Promise<ScenarioResult> {
  // Warm-up while healthy, at the measured concurrency: it opens the client's keep-alive sockets to the API and the
  // SDK's to every shard, so the measured loop pays for the deadline and not for opening connections. (Calls to the
  // hung shard still open a new connection each: a timed-out call's socket is destroyed.)
  const warm = await closedLoop({
    base: runtime.url,
    agent,
    concurrency: CONCURRENCY,
    durationMs: 10_000,
    maxRequests: 3 * CONCURRENCY,
    next: () => ({ path: "/data" }),
  });
  if (warm.errors > 0) throw new Error(`timeout warm-up: ${warm.errors} requests failed`);
  await runtime.setFault(HUNG_SHARD, { mode: "hang" });
  try {
    // Baseline: one request alone, so nothing queues in front of it on the event loop.
    const alone = await send(agent, runtime.url, { path: "/data" }, TIMEOUT_MS + 5000);
    const wrong: string[] = [];
    const reportedMs: number[] = [];
    const run = await closedLoop({
      base: runtime.url,
      agent,
      concurrency: CONCURRENCY,
      durationMs: 60_000,
      maxRequests: REQUESTS,
      timeoutMs: TIMEOUT_MS + 5000,
      next: () => ({ path: "/data" }),
      check: (r) => {
        const body = JSON.parse(r.body) as ListBody;
        const hung = body.shards.find((s) => s.shard === HUNG_SHARD);
        if (r.status !== 200 || !body.partial || hung?.status !== "timeout") {
          wrong.push(`status ${r.status}, shard ${HUNG_SHARD}: ${JSON.stringify(hung)}`);
        }
        if (hung?.ms !== undefined) reportedMs.push(hung.ms);
      },
    });
    const s = summarize(run.latencies);
    log(`timeout: p50 ${round(s.p50)} p99 ${round(s.p99)} max ${round(s.max)} ms`);
    const answered = run.latencies.length === REQUESTS && run.errors === 0 && wrong.length === 0;
    return {
      figures: [
        {
          id: "timeout.latency",
          figure: `timeout: hung shard, ${TIMEOUT_MS} ms timeout, p50 / p99 / max (${REQUESTS} req, ${CONCURRENCY} conc.)`,
          measured: `${round(s.p50, 1)} / ${round(s.p99, 1)} / ${round(s.max, 1)} ms`,
          value: s.max,
          goal: `min >= ${TIMEOUT_MS}, max <= ${TIMEOUT_MS + 40}`,
          pass: answered && s.min >= TIMEOUT_MS && s.max <= TIMEOUT_MS + 40,
          baseline: `min ${round(s.min, 1)} ms; alone ${round(alone.ms, 1)} ms; shard ms reported ${Math.min(...reportedMs)}..${Math.max(...reportedMs)}`,
        },
      ],
      details: {
        ...roundSummary(s),
        aloneMs: round(alone.ms),
        statuses: run.statuses,
        errors: run.errors,
        wrong,
        reportedMs,
      },
    };
  } finally {
    await healAll(runtime);
  }
}
