/**
 * Timeout: one shard accepts requests and never answers. Every `GET /data` must still answer, no sooner than the
 * 2000 ms shard timeout (the shard really was given its time) and no later than 40 ms after it, with ten requests
 * arriving together, in every one of three runs.
 */
import { type BenchContext, healAll, type ListBody } from "../lib/context.js";
import { closedLoop, send } from "../lib/http.js";
import { overRuns, type ScenarioResult, spread } from "../lib/report.js";
import { round, roundSummary, type Summary, summarize } from "../lib/stats.js";

export const TIMEOUT_MS = 2000;
const HUNG_SHARD = 2;
const REQUESTS = 30;
const CONCURRENCY = 10;
/**
 * Runs of the measured loop. One run's max is luck on this machine (2015 to 2078 ms over identical runs): the client,
 * the API and the three Data API endpoints share one event loop, so when ten timeouts fire together each answer waits
 * for the work of the requests the closed loop sends in their place (bench/README.md, "The timeout figure").
 */
const RUNS = 3;

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
    const runs: Summary[] = [];
    let errors = 0;
    let answeredAll = true;
    for (let i = 0; i < RUNS; i++) {
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
      errors += run.errors;
      answeredAll &&= run.latencies.length === REQUESTS;
      runs.push(summarize(run.latencies));
      const s = runs.at(-1) as Summary;
      log(`timeout run ${i + 1}/${RUNS}: p50 ${round(s.p50)} p99 ${round(s.p99)} max ${round(s.max)} ms`);
    }
    const answered = answeredAll && errors === 0 && wrong.length === 0;
    const maxes = runs.map((r) => r.max);
    const middle = [...runs].sort((a, b) => a.max - b.max)[Math.floor(RUNS / 2)] as Summary;
    const min = Math.min(...runs.map((r) => r.min));
    return {
      figures: [
        {
          id: "timeout.latency",
          figure: `timeout: hung shard, ${TIMEOUT_MS} ms timeout, max of each of ${RUNS} runs (${REQUESTS} req, ${CONCURRENCY} conc.)`,
          measured: spread(maxes, 1, " ms"),
          value: middle.max,
          goal: `min >= ${TIMEOUT_MS}, max <= ${TIMEOUT_MS + 40} in every run`,
          // PASS only if every run meets the goal; met in some runs and missed in others, it is info with its spread.
          ...(answered && min >= TIMEOUT_MS
            ? overRuns(maxes, (max) => max <= TIMEOUT_MS + 40)
            : { pass: false }),
          baseline: `min ${round(min, 1)} ms; middle run p50 ${round(middle.p50, 1)}; alone ${round(alone.ms, 1)} ms; shard ms reported ${Math.min(...reportedMs)}..${Math.max(...reportedMs)}`,
        },
      ],
      details: {
        runs: runs.map(roundSummary),
        aloneMs: round(alone.ms),
        errors,
        wrong,
        reportedMs,
      },
    };
  } finally {
    await healAll(runtime);
  }
}
