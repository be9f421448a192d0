/**
 * One call to one shard: run under its own deadline ({@link callWithDeadline}), ended in a tagged {@link ShardOutcome},
 * and summed up for clients, logs and metrics as a {@link ShardReport}.
 */
import { ShardTimeoutError } from "./errors.js";
import type { ShardReport } from "./shard-report.js";

// Its callers read the report from here, next to `report` that makes it; it lives in shard-report.ts so that
// errors.ts can carry it without importing this file, which imports errors.ts.
export type { ShardReport };

export type Clock = () => number;

/**
 * What one shard call came to. Partial failure is data: every call ends in exactly one of these, and nothing
 * throws past the scatter-gather (the same idea as Elasticsearch's `_shards` section of a search response).
 */
export type ShardOutcome<T> =
  | { readonly shard: number; readonly status: "ok"; readonly value: T; readonly ms: number }
  | { readonly shard: number; readonly status: "timeout"; readonly ms: number }
  | { readonly shard: number; readonly status: "error"; readonly error: string; readonly ms: number }
  | { readonly shard: number; readonly status: "skipped" }
  /** Not called: its circuit breaker is open (circuit-breaker.ts); `lastFailure` is what opened it. */
  | {
      readonly shard: number;
      readonly status: "unavailable";
      readonly lastFailure: string;
      readonly retryAfterMs: number;
    };

/** A failure a client should know about: a shard that could hold matching rows and did not deliver them. */
export function isFailure(o: { readonly status: ShardOutcome<unknown>["status"] }): boolean {
  return o.status === "timeout" || o.status === "error" || o.status === "unavailable";
}

/**
 * The outcome as clients see it; `count` says how many rows (or changed rows) its value stands for. A timeout, an
 * error or a skipped shard is its own report: those outcomes hold exactly the report's fields, in its order.
 */
export function toShardReport<T>(o: ShardOutcome<T>, count: (value: T) => number): ShardReport {
  if (o.status === "ok") return { shard: o.shard, status: "ok", count: count(o.value), ms: o.ms };
  if (o.status !== "unavailable") return o;
  const { shard, lastFailure, retryAfterMs } = o;
  return { shard, status: "unavailable", reason: "circuit_open", lastFailure, retryAfterMs };
}

/**
 * A short, safe name for what went wrong: the SDK's exception name (`DatabaseResumingException`), or the system
 * error code for network failures (`ECONNREFUSED`). Never the message, which may hold internals.
 */
export function errorName(err: unknown): string {
  if (!(err instanceof Error)) return "UnknownError";
  const code = (err as { code?: unknown }).code;
  // The SDK's HTTP handler renames socket errors (ECONNRESET, EPIPE, ETIMEDOUT) to TimeoutError; the code says more,
  // and a reset connection must not read like our own deadline.
  const renamedSocketError =
    err.name === "TimeoutError" && typeof code === "string" && /^E[A-Z]+$/.test(code);
  const generic = err.name === "Error" || err.name === "TypeError" || renamedSocketError;
  const name = generic && typeof code === "string" ? code : err.name;
  return /^[A-Za-z][A-Za-z0-9_]{0,63}$/.test(name) ? name : "UnknownError";
}

/**
 * Runs one shard call under its own deadline and turns whatever happens into a tagged {@link ShardOutcome}.
 *
 * The abort signal is handed to the SDK so a timed-out request's socket is destroyed rather than left running; the
 * race makes the deadline hold even if something below ignores the signal. The timer is always cleared, so a fast
 * answer leaves no pending timer behind.
 *
 * The deadline is armed at once and the call is sent on the next turn of the event loop. Sending (serialize, sign,
 * write) costs about half a millisecond of CPU per call, and it runs inside the deadline either way; sending at once
 * would also run it before any other request that arrived in the same instant could even arm its deadline, so in a
 * process serving many requests together (the local server under a burst) the last one's answer would come later by
 * the sum of everyone's sending. Deferred, every request's deadline starts when it arrives.
 */
export async function callWithDeadline<T>(
  shard: number,
  timeoutMs: number,
  run: (signal: AbortSignal) => Promise<T>,
  now: Clock = performance.now.bind(performance),
): Promise<ShardOutcome<T>> {
  const controller = new AbortController();
  const start = now();
  const elapsed = () => Math.round(now() - start);
  let timer: ReturnType<typeof setTimeout> | undefined;
  const deadline = new Promise<typeof TIMED_OUT>((resolve) => {
    timer = setTimeout(() => {
      controller.abort(new ShardTimeoutError(shard, timeoutMs));
      resolve(TIMED_OUT);
    }, timeoutMs);
  });
  try {
    const sent = nextTurn().then(() => {
      // Its deadline passed before the loop got to it (a stalled process): never send it, a write least of all.
      if (controller.signal.aborted) throw controller.signal.reason;
      return run(controller.signal);
    });
    const result = await Promise.race([sent.then((value) => ({ value })), deadline]);
    if (result === TIMED_OUT) return { shard, status: "timeout", ms: elapsed() };
    return { shard, status: "ok", value: result.value, ms: elapsed() };
  } catch (err) {
    // A rejection caused by our own abort cannot land here: the deadline settles the race first.
    return { shard, status: "error", error: errorName(err), ms: elapsed() };
  } finally {
    clearTimeout(timer);
  }
}

const TIMED_OUT = Symbol("timed out");

const nextTurn = () => new Promise<void>((resolve) => setImmediate(resolve));
