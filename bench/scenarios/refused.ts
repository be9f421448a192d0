/**
 * Refused shard: a shard whose Data API endpoint is not listening (`down`) should cost next to nothing beyond a
 * healthy request: the connection is refused at once. Measured as the difference of medians over ~200 sequential
 * requests each. The SDK retries a refused connection (a transient error) after a random backoff, as long as its
 * retry quota lasts, so the spread (p90) and the first requests are reported as well.
 */
import { type BenchContext, healAll, type ListBody } from "../lib/context.js";
import { send } from "../lib/http.js";
import type { ScenarioResult } from "../lib/report.js";
import { median, quantile, round } from "../lib/stats.js";

const DOWN_SHARD = 3;
const REQUESTS = 200;
const WARMUP = 20;
/** How many refused calls the SDK's retry quota pays a retry for (500 tokens, 14 per retry) before it stops. */
const FIRST = 30;

async function sample(ctx: BenchContext, n: number, check?: (body: ListBody) => void): Promise<number[]> {
  const out: number[] = [];
  for (let i = 0; i < n; i++) {
    const r = await send(ctx.agent, ctx.runtime.url, { path: "/data" });
    if (r.status !== 200) throw new Error(`GET /data answered ${r.status}`);
    check?.(JSON.parse(r.body) as ListBody);
    out.push(r.ms);
  }
  return out;
}

export async function refused(ctx: BenchContext): Promise<ScenarioResult> {
  const { runtime, log } = ctx;
  await sample(ctx, WARMUP);
  const healthy = await sample(ctx, REQUESTS);
  await runtime.setFault(DOWN_SHARD, { mode: "down" });
  try {
    const errors: Record<string, number> = {};
    const shardMs: number[] = [];
    const down = await sample(ctx, REQUESTS, (body) => {
      const s = body.shards.find((x) => x.shard === DOWN_SHARD);
      const key = `${s?.status}:${s?.error ?? ""}`;
      errors[key] = (errors[key] ?? 0) + 1;
      if (s?.ms !== undefined) shardMs.push(s.ms);
    });
    const extra = median(down) - median(healthy);
    const firstExtra = median(down.slice(0, FIRST)) - median(healthy);
    log(`refused: healthy ${round(median(healthy))} ms, down ${round(median(down))} ms`);
    return {
      figures: [
        {
          id: "refused.extra",
          figure: `refused shard (down): extra time vs healthy, median of ${REQUESTS}`,
          measured: `${round(extra, 2)} ms`,
          value: extra,
          goal: "<= 20 ms",
          pass: extra <= 20,
          baseline: `healthy p50 ${round(median(healthy), 2)} ms; down p50 ${round(median(down), 2)} / p90 ${round(quantile(down, 0.9), 1)} ms; first ${FIRST}: +${round(firstExtra, 1)} ms`,
        },
      ],
      details: {
        healthyMs: {
          p50: round(median(healthy)),
          p90: round(quantile(healthy, 0.9)),
          max: round(Math.max(...healthy)),
        },
        downMs: { p50: round(median(down)), p90: round(quantile(down, 0.9)), max: round(Math.max(...down)) },
        firstRequestsExtraMs: round(firstExtra),
        downShardReports: errors,
        downShardMs: { p50: median(shardMs), p90: quantile(shardMs, 0.9), max: Math.max(...shardMs) },
        downSeriesMs: down.map((v) => round(v, 1)),
      },
    };
  } finally {
    await healAll(runtime);
  }
}
