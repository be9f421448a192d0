/**
 * CPU time of a PostgreSQL server's processes and of the whole machine, from Linux's /proc (elsewhere: nothing, and
 * the figures that need it say so). A server's processes are its postmaster's children; each is named by the title
 * PostgreSQL gives it (`postgres: walsender …`, `postgres: logical replication worker for subscription 1 sync 2`), so
 * a copy's CPU can be split into the source's walsender, the target's table-sync worker and the rest.
 */
import { readFile } from "node:fs/promises";

/** Clock ticks per second of /proc's times (USER_HZ: 100 on every Linux this runs on). */
const HZ = 100;

/** One process's /proc/PID/stat: its command name, parent and CPU ticks (user + system). */
export function parseProcStat(text: string): { name: string; ppid: number; ticks: number } {
  // The command may hold spaces and parentheses: the fields start after the last ')'.
  const fields = text.slice(text.lastIndexOf(")") + 2).split(" ");
  return {
    name: text.slice(text.indexOf("(") + 1, text.lastIndexOf(")")),
    ppid: Number(fields[1]),
    ticks: Number(fields[11]) + Number(fields[12]),
  };
}

/** /proc/stat's first line: the whole machine's CPU ticks by kind (user, nice, system, idle, iowait, irq, softirq, steal, …). */
export function parseCpuLine(text: string): number[] {
  return (text.split("\n")[0] ?? "").trim().split(/\s+/).slice(1).map(Number);
}

async function statOf(pid: number): Promise<{ ppid: number; ticks: number } | undefined> {
  try {
    return parseProcStat(await readFile(`/proc/${pid}/stat`, "utf8"));
  } catch {
    return undefined;
  }
}

/** What a process does, from its title: the categories the copy's profile is reported in. */
export function category(title: string): string {
  if (/logical replication (tablesync )?worker .*sync \d+/.test(title)) return "table-sync worker";
  if (/logical replication (apply )?worker/.test(title)) return "apply worker";
  if (title.includes("walsender")) return "walsender";
  if (title.includes("autovacuum")) return "autovacuum";
  if (/checkpointer|walwriter|background writer|wal writer/.test(title)) return "wal/checkpoint";
  if (/launcher|stats|logger|archiver/.test(title)) return "other background";
  return "client backends";
}

/** Every process seen (pid, parent, last CPU ticks, title), as `machine-watch-child.ts` answers it. */
export interface ProcessTicksTable {
  readonly processes: readonly { pid: number; ppid: number; ticks: number; title: string }[];
}

/**
 * CPU seconds of the given servers' processes between two process tables, per `server / category`: a process that
 * started after the first table counts from 0, one that exited keeps the last ticks the watcher saw.
 */
export function serverCpuBetween(
  first: ProcessTicksTable,
  last: ProcessTicksTable,
  postmasters: ReadonlyMap<string, number>,
): Record<string, number> {
  const before = new Map(first.processes.map((p) => [p.pid, p.ticks]));
  const byPostmaster = new Map([...postmasters].map(([name, pid]) => [pid, name]));
  const out: Record<string, number> = {};
  for (const p of last.processes) {
    const server = byPostmaster.get(p.ppid);
    if (!server) continue;
    const key = `${server} ${category(p.title)}`;
    out[key] = (out[key] ?? 0) + (p.ticks - (before.get(p.pid) ?? 0)) / HZ;
  }
  return out;
}

/** CPU seconds of one process between two process tables (NaN when the second never saw it). */
export function processCpuBetween(first: ProcessTicksTable, last: ProcessTicksTable, pid: number): number {
  const end = last.processes.find((p) => p.pid === pid);
  if (!end) return Number.NaN;
  return (end.ticks - (first.processes.find((p) => p.pid === pid)?.ticks ?? 0)) / HZ;
}

/** Busy and total CPU time of the whole machine (all cores), in seconds, from /proc/stat. */
export async function machineCpu(): Promise<{ busy: number; total: number } | undefined> {
  try {
    const v = parseCpuLine(await readFile("/proc/stat", "utf8"));
    const total = v.reduce((a, b) => a + b, 0);
    const idle = (v[3] ?? 0) + (v[4] ?? 0);
    return { busy: (total - idle) / HZ, total: total / HZ };
  } catch {
    return undefined;
  }
}

/** The postmaster's pid of a server, as the parent of one of its backends. */
export async function postmasterOf(backendPid: number): Promise<number | undefined> {
  return (await statOf(backendPid))?.ppid;
}
