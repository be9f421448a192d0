/**
 * Progress of a long step (a move's copy, a cleanup), as one line per second on stderr:
 * `copy: 120,000 / 200,000 rows (60%), 48,000 rows/s, 2 s left`.
 */

const count = (n: number) => Math.round(n).toLocaleString("en-US");

/** `45 s`, `3 min 05 s`, `1 h 02 min`. */
export function formatDuration(ms: number): string {
  const s = Math.max(0, Math.round(ms / 1000));
  if (s < 60) return `${s} s`;
  if (s < 3600) return `${Math.floor(s / 60)} min ${String(s % 60).padStart(2, "0")} s`;
  return `${Math.floor(s / 3600)} h ${String(Math.floor((s % 3600) / 60)).padStart(2, "0")} min`;
}

/** The line for `done` of `total` rows after `elapsedMs`, `startDone` being where the count stood at the start. */
export function progressLine(
  label: string,
  done: number,
  total: number,
  elapsedMs: number,
  startDone = 0,
): string {
  const pct = total > 0 ? Math.min(100, Math.floor((done / total) * 100)) : 100;
  // Never negative: a count may dip (an estimate replaced by a committed count).
  const rate = elapsedMs > 0 ? Math.max(0, ((done - startDone) * 1000) / elapsedMs) : 0;
  const left =
    done >= total
      ? "done"
      : rate > 0
        ? `${formatDuration(((total - done) / rate) * 1000)} left`
        : "time left unknown";
  return `${label}: ${count(done)} / ${count(total)} rows (${pct}%), ${count(rate)} rows/s, ${left}`;
}

export class Progress {
  readonly #started: number;
  #lastPrinted = Number.NEGATIVE_INFINITY;
  /** A "done" line was printed: the closing forced update would only repeat it. */
  #printedDone = false;
  /**
   * The count the rate is measured from: 0 for a count that starts with the step (rows deleted), else the first
   * count seen (a resumed copy starts with rows already there, which were not copied at this rate).
   */
  #startDone: number | undefined;

  constructor(
    readonly label: string,
    readonly write: (line: string) => void,
    opts: { everyMs?: number; now?: () => number; startDone?: number } = {},
  ) {
    this.everyMs = opts.everyMs ?? 1000;
    this.now = opts.now ?? (() => performance.now());
    this.#startDone = opts.startDone;
    this.#started = this.now();
  }

  readonly everyMs: number;
  readonly now: () => number;

  /** Prints a line unless one was printed less than `everyMs` ago (`force`: always, for the last one). */
  update(done: number, total: number, force = false): void {
    this.#startDone ??= done;
    const at = this.now();
    if (!force && at - this.#lastPrinted < this.everyMs) return;
    if (this.#printedDone && done >= total) return;
    this.#printedDone = done >= total;
    this.#lastPrinted = at;
    this.write(progressLine(this.label, done, total, at - this.#started, this.#startDone));
  }
}
