/**
 * The load generator in its own process (forked by `bench/lib/load-process.ts`), so the client's CPU does not share
 * the event loop with the API server and the local Data API endpoints it measures. Receives one job over IPC, runs
 * it, sends the result back and exits.
 */
import { closedLoop, keepAliveAgent, openLoop, type RequestSpec } from "./lib/http.js";
import type { LoadJob, LoadReply } from "./lib/load-process.js";

/**
 * Resolves once the reply has been handed to the IPC channel. Disconnecting before then could drop it (a closed
 * loop's latencies make a message of several hundred kilobytes), which is how the parent once lost a result.
 */
function reply(message: LoadReply): Promise<void> {
  return new Promise((resolve) => {
    if (!process.send) resolve();
    else process.send(message, undefined, {}, () => resolve());
  });
}

// The bench stopped (Ctrl+C, SIGTERM) or died: stop loading its server at once, and never send to a closed channel.
process.once("disconnect", () => process.exit(0));

process.once("message", async (job: LoadJob) => {
  const agent = keepAliveAgent(job.kind === "closed" ? job.concurrency : job.maxInFlight);
  const specs: RequestSpec[] = job.paths.map((path) => ({ path }));
  const next = (i: number) => specs[i % specs.length] as RequestSpec;
  let message: LoadReply;
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
    message = { ok: true, result: { ...result, warmup: warm.sent } };
  } catch (error) {
    message = { ok: false, error: (error as Error)?.stack ?? String(error) };
  }
  agent.destroy();
  await reply(message);
  // With the channel closed nothing keeps this process alive: it exits on its own, after the reply left.
  process.disconnect?.();
});
