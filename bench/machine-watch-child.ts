/**
 * What the whole machine did while a benchmark ran (forked by `scenarios/reshard.ts`): a process with nothing else to
 * do keeps a 10 ms timer and records every gap over 60 ms (if this idle process could not run, nothing could: the
 * machine itself stalled), and every 100 ms reads Linux's /proc/stat (CPU time by kind, `steal` being time the
 * hypervisor gave our virtual CPUs to someone else), /proc/pressure (PSI: time tasks waited for CPU, IO, memory) and
 * the CPU ticks of every process, keeping the three busiest. A latency spike that every shard shares can then be put
 * beside what the machine did at that moment. Off Linux it records only the timer gaps. It also answers the parent's
 * CPU accounting (every process's ticks and title on demand), so the API's process never walks /proc itself: that
 * walk, every 250 ms during the copy only, was work on the API's event loop that the baseline did not have.
 */
import { readdirSync, readFileSync } from "node:fs";
import { parseCpuLine, parseProcStat } from "./lib/proc-cpu.js";
import { type TimerGap, watchTimerGaps } from "./lib/timer-gaps.js";

export interface MachineSample {
  /** Start of the interval, ms since the epoch, and its length in ms. */
  readonly at: number;
  readonly ms: number;
  /** CPU time of the whole machine in the interval, ms summed over cores, by /proc/stat's kinds. */
  readonly cpu: { user: number; system: number; iowait: number; steal: number; idle: number };
  /** PSI stall time in the interval, ms: `some` = at least one task waited, `full` = all non-idle tasks waited. */
  readonly psi: { cpuSome: number; ioSome: number; ioFull: number; memSome: number };
  /** The three processes that used the most CPU in the interval: `pid title ms` (the title cut to 60 characters). */
  readonly top: readonly string[];
}

/** Every process the watcher has seen, with its last CPU ticks (a process that exited keeps its last value). */
export interface ProcessTable {
  readonly processes: readonly { pid: number; ppid: number; ticks: number; title: string }[];
}

export interface MachineRecord {
  readonly gaps: readonly TimerGap[];
  readonly samples: readonly MachineSample[];
}

const now = () => performance.timeOrigin + performance.now();
/** USER_HZ of /proc's tick counts. */
const TICK_MS = 10;

function read(path: string): string | undefined {
  try {
    return readFileSync(path, "utf8");
  } catch {
    return undefined;
  }
}

function cpuTicks() {
  const text = read("/proc/stat");
  if (!text) return undefined;
  const f = parseCpuLine(text);
  const at = (i: number) => f[i] ?? 0;
  return { user: at(0) + at(1), system: at(2) + at(5) + at(6), idle: at(3), iowait: at(4), steal: at(7) };
}

/** Cumulative PSI totals, µs. */
function psiTotals() {
  const total = (kind: string, line: 0 | 1) => {
    const text = read(`/proc/pressure/${kind}`)?.split("\n")[line] ?? "";
    return Number(/total=(\d+)/.exec(text)?.[1] ?? 0);
  };
  return {
    cpuSome: total("cpu", 0),
    ioSome: total("io", 0),
    ioFull: total("io", 1),
    memSome: total("memory", 0),
  };
}

interface ProcessTicks {
  name: string;
  ppid: number;
  ticks: number;
}

function processTicks(): Map<number, ProcessTicks> {
  const out = new Map<number, ProcessTicks>();
  let pids: string[];
  try {
    pids = readdirSync("/proc").filter((d) => /^\d+$/.test(d));
  } catch {
    return out;
  }
  for (const pid of pids) {
    const text = read(`/proc/${pid}/stat`);
    if (text) out.set(Number(pid), parseProcStat(text));
  }
  return out;
}

/** A process's title (PostgreSQL names each of its processes there: `postgres: walsender …`). */
const titleOf = (pid: number) => read(`/proc/${pid}/cmdline`)?.replaceAll("\0", " ").trim() ?? "?";

function watch(): { stop(): MachineRecord; table(): ProcessTable } {
  const seen = new Map<number, { ppid: number; ticks: number; title: string }>();
  const remember = (procs: Map<number, ProcessTicks>) => {
    for (const [pid, p] of procs) {
      const known = seen.get(pid);
      if (known) known.ticks = p.ticks;
      else seen.set(pid, { ppid: p.ppid, ticks: p.ticks, title: titleOf(pid) });
    }
  };
  const samples: MachineSample[] = [];
  const timer = watchTimerGaps();
  let prev = { t: now(), cpu: cpuTicks(), psi: psiTotals(), procs: processTicks() };
  remember(prev.procs);
  const sampler = setInterval(() => {
    const next = { t: now(), cpu: cpuTicks(), psi: psiTotals(), procs: processTicks() };
    remember(next.procs);
    const a = prev.cpu;
    const b = next.cpu;
    const cpu =
      a && b
        ? {
            user: (b.user - a.user) * TICK_MS,
            system: (b.system - a.system) * TICK_MS,
            iowait: (b.iowait - a.iowait) * TICK_MS,
            steal: (b.steal - a.steal) * TICK_MS,
            idle: (b.idle - a.idle) * TICK_MS,
          }
        : { user: 0, system: 0, iowait: 0, steal: 0, idle: 0 };
    const psi = {
      cpuSome: (next.psi.cpuSome - prev.psi.cpuSome) / 1000,
      ioSome: (next.psi.ioSome - prev.psi.ioSome) / 1000,
      ioFull: (next.psi.ioFull - prev.psi.ioFull) / 1000,
      memSome: (next.psi.memSome - prev.psi.memSome) / 1000,
    };
    const top = [...next.procs]
      .map(([pid, p]) => ({
        pid,
        name: p.name,
        ms: (p.ticks - (prev.procs.get(pid)?.ticks ?? p.ticks)) * TICK_MS,
      }))
      .filter((p) => p.ms > 0)
      .sort((x, y) => y.ms - x.ms)
      .slice(0, 3)
      .map((p) => `${p.pid} ${(seen.get(p.pid)?.title ?? p.name).slice(0, 60)} ${p.ms}`);
    samples.push({ at: prev.t, ms: next.t - prev.t, cpu, psi, top });
    prev = next;
  }, 100);
  return {
    stop() {
      timer.stop();
      clearInterval(sampler);
      return { gaps: timer.gaps, samples };
    },
    table() {
      remember(processTicks());
      return { processes: [...seen].map(([pid, p]) => ({ pid, ...p })) };
    },
  };
}

process.once("disconnect", () => process.exit(0));
const running = watch();
// `"table"`: the process table now (the parent's CPU accounting, taken here so the API's process does not read
// /proc); `"stop"`: the record, then this process ends.
process.on("message", (msg: unknown) => {
  if (msg === "table") process.send?.({ table: running.table() });
  else if (msg === "stop")
    process.send?.({ record: running.stop() }, undefined, {}, () => process.disconnect?.());
});
process.send?.("ready");
