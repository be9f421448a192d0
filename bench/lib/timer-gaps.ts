/**
 * A process's own stalls: a 10 ms timer, and every gap between two of its ticks over 60 ms (start, ms since the
 * epoch; how much longer than 10 ms it was). While a process's event loop is held, or the machine gives it no CPU,
 * its timers fire late; the benchmark's processes each keep one to say whose stall a slow request was.
 */
export interface TimerGap {
  readonly at: number;
  readonly ms: number;
}

const TICK_MS = 10;
const GAP_MS = 60;

export function watchTimerGaps(): { readonly gaps: readonly TimerGap[]; stop(): void } {
  const now = () => performance.timeOrigin + performance.now();
  const gaps: TimerGap[] = [];
  let last = now();
  const timer = setInterval(() => {
    const t = now();
    if (t - last > TICK_MS + GAP_MS) gaps.push({ at: last, ms: t - last - TICK_MS });
    last = t;
  }, TICK_MS);
  timer.unref();
  return { gaps, stop: () => clearInterval(timer) };
}
