/**
 * The load generator in its own process (forked by `bench/lib/load-process.ts`), so the client's CPU does not share
 * the event loop with the API server and the local Data API endpoints it measures. Receives one job over IPC, runs
 * it, sends the result back and exits.
 */
import { closedLoop, keepAliveAgent, openLoop, type RequestSpec } from "./lib/http.js";
import type { LoadJob } from "./lib/load-process.js";

// The bench stopped (Ctrl+C, SIGTERM) or died: stop loading its server at once, and never send to a closed channel.
process.once("disconnect", () => process.exit(0));

process.once("message", async (job: LoadJob) => {
  const agent = keepAliveAgent(job.kind === "closed" ? job.concurrency : job.maxInFlight);
  const specs: RequestSpec[] = job.paths.map((path) => ({ path }));
  const next = (i: number) => specs[i % specs.length] as RequestSpec;
  try {
    // A short warm-up opens the keep-alive sockets, so the measured loop does not pay for connecting.
    const warm = await closedLoop({
      base: job.base,
      agent,
      concurrency: job.kind === "closed" ? job.concurrency : 4,
      durationMs: 1000,
      maxRequests: job.warmup,
      next,
    });
    const result =
      job.kind === "closed"
        ? await closedLoop({ ...job, agent, next })
        : await openLoop({ ...job, agent, next });
    process.send?.({ ok: true, result: { ...result, warmup: warm.sent } });
  } catch (error) {
    process.send?.({ ok: false, error: String(error) });
  } finally {
    agent.destroy();
    process.disconnect?.();
  }
});
