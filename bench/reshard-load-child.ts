/**
 * The reshard scenario's load (forked by `scenarios/reshard.ts`): an open loop at a fixed rate over a list of
 * requests (reads and writes, every range), running until the parent sends `"stop"` (or `maxMs` passes), so the
 * parent can mark the move's phases while it runs. Every request is recorded with its scheduled arrival (epoch ms,
 * the parent's clock too), its latency counted from that arrival (no coordinated omission), its status and whether a
 * 200 list answer was `partial`; the parent cuts the record into phases by arrival time.
 */
import { keepAliveAgent, type RequestSpec, send } from "./lib/http.js";
import { type TimerGap, watchTimerGaps } from "./lib/timer-gaps.js";

export interface ReshardLoadJob {
  readonly base: string;
  readonly specs: readonly RequestSpec[];
  readonly ratePerSec: number;
  readonly maxInFlight: number;
  readonly timeoutMs: number;
  /** Stops by itself after this long, whatever the parent does. */
  readonly maxMs: number;
}

/** Parallel arrays, one entry per request scheduled (dropped ones too: status -1, latency NaN). */
export interface ReshardLoadRecord {
  /** Scheduled arrival, ms since the epoch. */
  readonly at: number[];
  readonly ms: number[];
  /** HTTP status; 0 a network error or timeout; -1 dropped (too many in flight). */
  readonly status: number[];
  /** Index into the job's specs. */
  readonly spec: number[];
  /** 1 when a 200 answer said `"partial":true`. */
  readonly partial: number[];
  /** The start of the body of every answer other than 200, by request index. */
  readonly bodies: Record<number, string>;
  /**
   * Gaps over 60 ms of a 10 ms timer in this process (start, ms since the epoch; length): while its event loop is
   * held, answers that arrived wait unread and their latency grows, so a spike of every shard at once may be ours.
   */
  readonly gaps: TimerGap[];
}

export type ReshardLoadReply =
  | { readonly ok: true; readonly record: ReshardLoadRecord }
  | { readonly ok: false; readonly error: string };

const now = () => performance.timeOrigin + performance.now();

async function run(job: ReshardLoadJob, stopped: () => boolean): Promise<ReshardLoadRecord> {
  const agent = keepAliveAgent(job.maxInFlight);
  const rec: ReshardLoadRecord = { at: [], ms: [], status: [], spec: [], partial: [], bodies: {}, gaps: [] };
  const beat = watchTimerGaps();
  const interval = 1000 / job.ratePerSec;
  const started = now();
  const pending = new Set<Promise<void>>();
  let inFlight = 0;
  let scheduled = 0;
  await new Promise<void>((resolve) => {
    const tick = () => {
      const t = now();
      while (started + scheduled * interval <= t) {
        const due = started + scheduled * interval;
        const i = scheduled++;
        const specIndex = i % job.specs.length;
        const k = rec.at.length;
        rec.at.push(due);
        rec.ms.push(Number.NaN);
        rec.status.push(-1);
        rec.spec.push(specIndex);
        rec.partial.push(0);
        if (inFlight >= job.maxInFlight) continue;
        inFlight++;
        const p = send(agent, job.base, job.specs[specIndex] as RequestSpec, job.timeoutMs)
          .then((r) => {
            rec.ms[k] = now() - due;
            rec.status[k] = r.status;
            if (r.status === 200 && r.body.includes('"partial":true')) rec.partial[k] = 1;
            if (r.status !== 200) rec.bodies[k] = r.body.slice(0, 200);
          })
          .catch(() => {
            rec.ms[k] = now() - due;
            rec.status[k] = 0;
          })
          .finally(() => {
            inFlight--;
            pending.delete(p);
          });
        pending.add(p);
      }
      if (stopped() || t - started > job.maxMs) resolve();
      else setTimeout(tick, Math.max(0, started + scheduled * interval - now()));
    };
    tick();
  });
  await Promise.all(pending);
  beat.stop();
  rec.gaps.push(...beat.gaps);
  agent.destroy();
  return rec;
}

function reply(message: ReshardLoadReply): Promise<void> {
  return new Promise((resolve) => {
    if (!process.send) resolve();
    else process.send(message, undefined, {}, () => resolve());
  });
}

process.once("disconnect", () => process.exit(0));

let stop = false;
process.on("message", (msg: unknown) => {
  if (msg === "stop") {
    stop = true;
    return;
  }
  if (typeof msg !== "object" || msg === null) return;
  const job = msg as ReshardLoadJob;
  run(job, () => stop).then(
    async (record) => {
      await reply({ ok: true, record });
      process.disconnect?.();
    },
    async (error: unknown) => {
      await reply({ ok: false, error: (error as Error)?.stack ?? String(error) });
      process.disconnect?.();
    },
  );
});
process.send?.("ready");
