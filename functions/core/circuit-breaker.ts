import type { Clock } from "./shard-call.js";

/**
 * Failures that say the shard itself is unavailable: it did not answer in time, the connection failed, the cluster is
 * paused or resuming, or the service failed. A statement's own error (`BadRequestException`: bad SQL, a constraint)
 * or a malformed result says nothing about whether the shard is up, so it never counts.
 */
const UNAVAILABLE = new Set([
  // Our own deadline passed: the shard did not answer in time.
  "timeout",
  "DatabaseResumingException",
  "DatabaseUnavailableException",
  "DatabaseNotFoundException",
  "InternalServerErrorException",
  "ServiceUnavailableError",
  "StatementTimeoutException",
  "TimeoutError",
]);

/** Whether a failed call's error name means the shard is unavailable (see {@link UNAVAILABLE}). */
export function meansUnavailable(error: string): boolean {
  // System error codes (ECONNREFUSED, ECONNRESET, EHOSTUNREACH…): the network never reached a working shard.
  return UNAVAILABLE.has(error) || /^E[A-Z]+$/.test(error);
}

export interface BreakerSettings {
  /** Consecutive unavailability failures that open a shard's breaker; 0 turns breakers off. */
  readonly failureThreshold: number;
  /** How long an open breaker skips its shard before one request may probe it. */
  readonly cooldownMs: number;
  /**
   * How long the shard must have given no answer at all before failures may open its breaker (the function uses
   * the shard timeout). A shard that flaps between answering and hanging keeps answering some calls: their answers
   * arrive between the timeouts of the others, but the timeouts of calls sent during one bad moment all fire
   * together, one after another, and would count as consecutive. Asking for silence as well keeps a shard that
   * still answers from ever being skipped; a shard that really hangs has been silent for a whole timeout by the time
   * its first calls time out, so it opens as soon as the count is reached.
   */
  readonly quietMs: number;
}

export type BreakerState = "closed" | "open" | "half_open";

export interface BreakerChange {
  readonly shard: number;
  readonly from: BreakerState;
  readonly to: BreakerState;
  /** The failure that opened (or reopened) the breaker; absent when it closes. */
  readonly cause?: string;
}

/** What the breaker says about calling a shard now. */
export type Admission =
  | { readonly call: true; readonly probe: boolean }
  | { readonly call: false; readonly retryAfterMs: number; readonly lastFailure: string };

/** How a call the breaker admitted ended, as the breaker needs to know it. */
export type CallResult = { readonly ok: true } | { readonly ok: false; readonly failure: string };

/** One shard's breaker: its state and what it has counted so far. */
interface Breaker {
  state: BreakerState;
  failures: number;
  openedAt: number;
  lastFailure: string;
  /** When the shard last answered anything (a success or a statement's own error). */
  answeredAt: number;
}

/**
 * One circuit breaker per shard, kept in the process (each Lambda execution environment learns on its own; there is
 * no shared state to call, which would be one more thing that can hang).
 *
 * - closed: every call goes through; `failureThreshold` consecutive unavailability failures open it, once the shard
 *   has also given no answer for `quietMs`. Any answer from the shard resets the count, so one slow request or one
 *   failed statement never opens it.
 * - open: calls are not made (the caller reports the shard `unavailable` at once) until `cooldownMs` has passed.
 * - half-open: the first read after the cool-down is admitted as the probe, with the normal timeout; meanwhile other
 *   calls still skip the shard. Its success closes the breaker, its failure reopens it for another cool-down.
 *
 * A shard that answers is never skipped: any answer (a success or a statement's own error) from any call, even one
 * sent before the breaker opened, closes it.
 *
 * Hand-written rather than a library (cockatiel, opossum): it is some 80 lines, the function's bundle has no room to
 * spare, and the callers need what the libraries do not expose per call: the remaining cool-down (a write's
 * `retry-after`) and a probe that only reads may make.
 */
export class ShardBreakers {
  readonly #settings: BreakerSettings;
  readonly #now: Clock;
  readonly #onChange: ((change: BreakerChange) => void) | undefined;
  readonly #shards = new Map<number, Breaker>();

  constructor(settings: BreakerSettings, now: Clock, onChange?: (change: BreakerChange) => void) {
    this.#settings = settings;
    this.#now = now;
    this.#onChange = onChange;
  }

  #of(shard: number): Breaker {
    let s = this.#shards.get(shard);
    if (!s) {
      s = {
        state: "closed",
        failures: 0,
        openedAt: 0,
        lastFailure: "",
        answeredAt: Number.NEGATIVE_INFINITY,
      };
      this.#shards.set(shard, s);
    }
    return s;
  }

  #move(shard: number, s: Breaker, to: BreakerState, cause?: string): void {
    const from = s.state;
    if (from === to) return;
    s.state = to;
    this.#onChange?.({ shard, from, to, ...(cause === undefined ? {} : { cause }) });
  }

  /** The state of one shard's breaker (closed for a shard never called). */
  state(shard: number): BreakerState {
    return this.#shards.get(shard)?.state ?? "closed";
  }

  /**
   * Asks to call `shard`. Only reads may probe (`mayProbe`): a write is never the call that finds out whether a
   * shard is back, because a write sent to a shard that then hangs has an unknown outcome.
   */
  admit(shard: number, mayProbe: boolean): Admission {
    const s = this.#shards.get(shard);
    if (!s || s.state === "closed") return { call: true, probe: false };
    const waited = this.#now() - s.openedAt;
    if (s.state === "open" && waited >= this.#settings.cooldownMs && mayProbe) {
      this.#move(shard, s, "half_open");
      return { call: true, probe: true };
    }
    return {
      call: false,
      retryAfterMs: Math.max(0, Math.ceil(this.#settings.cooldownMs - waited)),
      lastFailure: s.lastFailure,
    };
  }

  /** Records how an admitted call ended. */
  record(shard: number, result: CallResult): void {
    if (this.#settings.failureThreshold === 0) return;
    const s = this.#of(shard);
    // A statement's own error is an answer too: the shard is up.
    if (result.ok || !meansUnavailable(result.failure)) {
      s.failures = 0;
      s.answeredAt = this.#now();
      this.#move(shard, s, "closed");
      return;
    }
    s.lastFailure = result.failure;
    s.failures++;
    const silent = this.#now() - s.answeredAt >= this.#settings.quietMs;
    const tripped = s.state === "closed" && s.failures >= this.#settings.failureThreshold && silent;
    if (s.state === "half_open" || tripped) {
      s.openedAt = this.#now();
      this.#move(shard, s, "open", result.failure);
    }
  }
}
