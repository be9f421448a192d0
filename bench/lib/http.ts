/**
 * A bounded HTTP load generator on `node:http` with a keep-alive agent: closed loop (N workers back to back) and
 * open loop (a fixed arrival rate, latency measured from the scheduled start so a stall is not hidden by
 * coordinated omission). Every loop is bounded in count and in time, and every request has its own timeout.
 */
import { Agent, request } from "node:http";

export interface RequestSpec {
  readonly method?: string;
  readonly path: string;
  readonly body?: string;
  readonly headers?: Record<string, string>;
}

export interface HttpResult {
  readonly status: number;
  readonly body: string;
  /** Wall time from just before the request was written until the whole body had arrived. */
  readonly ms: number;
}

export function keepAliveAgent(maxSockets: number): Agent {
  return new Agent({ keepAlive: true, maxSockets, maxFreeSockets: maxSockets });
}

/** One request; rejects on a network error or when it takes longer than `timeoutMs`. */
export function send(agent: Agent, base: string, spec: RequestSpec, timeoutMs = 10_000): Promise<HttpResult> {
  return new Promise((resolve, reject) => {
    const url = new URL(spec.path, base);
    const started = performance.now();
    const headers: Record<string, string> = { ...spec.headers };
    if (spec.body !== undefined) headers["content-length"] = String(Buffer.byteLength(spec.body));
    const req = request(
      {
        agent,
        host: url.hostname,
        port: url.port,
        path: `${url.pathname}${url.search}`,
        method: spec.method ?? "GET",
        headers,
        signal: AbortSignal.timeout(timeoutMs),
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on("data", (c: Buffer) => chunks.push(c));
        res.on("end", () =>
          resolve({
            status: res.statusCode ?? 0,
            body: Buffer.concat(chunks).toString("utf8"),
            ms: performance.now() - started,
          }),
        );
        res.on("error", reject);
      },
    );
    req.on("error", reject);
    req.end(spec.body);
  });
}

export interface LoopResult {
  /** Latency of every answered request, ms. */
  readonly latencies: number[];
  /** Count per HTTP status; network errors and timeouts are counted under 0. */
  readonly statuses: Record<string, number>;
  readonly errors: number;
  readonly elapsedMs: number;
  readonly sent: number;
}

function tally(statuses: Record<string, number>, status: number) {
  statuses[status] = (statuses[status] ?? 0) + 1;
}

/**
 * `concurrency` workers, each sending its next request as soon as the previous one answered, until `maxRequests`
 * were sent or `durationMs` has passed, whichever comes first.
 */
export async function closedLoop(opts: {
  base: string;
  agent: Agent;
  concurrency: number;
  durationMs: number;
  maxRequests: number;
  next: (i: number) => RequestSpec;
  check?: (result: HttpResult, spec: RequestSpec) => void;
  timeoutMs?: number;
}): Promise<LoopResult> {
  const latencies: number[] = [];
  const statuses: Record<string, number> = {};
  let errors = 0;
  let sent = 0;
  const started = performance.now();
  const until = started + opts.durationMs;
  const worker = async () => {
    while (sent < opts.maxRequests && performance.now() < until) {
      const spec = opts.next(sent++);
      try {
        const result = await send(opts.agent, opts.base, spec, opts.timeoutMs);
        latencies.push(result.ms);
        tally(statuses, result.status);
        opts.check?.(result, spec);
      } catch {
        errors++;
        tally(statuses, 0);
      }
    }
  };
  await Promise.all(Array.from({ length: opts.concurrency }, worker));
  return { latencies, statuses, errors, elapsedMs: performance.now() - started, sent };
}

/**
 * Requests arrive at `ratePerSec` for `durationMs` whatever the server does. Latency counts from the scheduled
 * arrival, so a stalled event loop shows up as latency instead of as fewer requests. At most `maxInFlight`
 * requests are open at once; arrivals beyond that are counted as `dropped` (a saturated server) and not sent.
 */
export async function openLoop(opts: {
  base: string;
  agent: Agent;
  ratePerSec: number;
  durationMs: number;
  maxInFlight: number;
  next: (i: number) => RequestSpec;
  check?: (result: HttpResult, spec: RequestSpec) => void;
  timeoutMs?: number;
}): Promise<LoopResult & { dropped: number; lateStartP99Ms: number }> {
  const latencies: number[] = [];
  const lateStarts: number[] = [];
  const statuses: Record<string, number> = {};
  const interval = 1000 / opts.ratePerSec;
  const total = Math.floor((opts.durationMs / 1000) * opts.ratePerSec);
  let errors = 0;
  let dropped = 0;
  let inFlight = 0;
  let scheduled = 0;
  const pending: Promise<void>[] = [];
  const started = performance.now();
  await new Promise<void>((resolve) => {
    const tick = () => {
      const now = performance.now();
      while (scheduled < total && started + scheduled * interval <= now) {
        const due = started + scheduled * interval;
        const spec = opts.next(scheduled++);
        if (inFlight >= opts.maxInFlight) {
          dropped++;
          continue;
        }
        inFlight++;
        lateStarts.push(now - due);
        pending.push(
          send(opts.agent, opts.base, spec, opts.timeoutMs)
            .then((r) => {
              latencies.push(performance.now() - due);
              tally(statuses, r.status);
              opts.check?.(r, spec);
            })
            .catch(() => {
              errors++;
              tally(statuses, 0);
            })
            .finally(() => {
              inFlight--;
            }),
        );
      }
      if (scheduled >= total) resolve();
      else setTimeout(tick, Math.max(0, started + scheduled * interval - performance.now()));
    };
    tick();
  });
  await Promise.all(pending);
  lateStarts.sort((a, b) => a - b);
  return {
    latencies,
    statuses,
    errors,
    dropped,
    sent: scheduled - dropped,
    elapsedMs: performance.now() - started,
    lateStartP99Ms: lateStarts[Math.max(0, Math.ceil(0.99 * lateStarts.length) - 1)] ?? 0,
  };
}
