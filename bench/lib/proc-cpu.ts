/**
 * CPU time of a PostgreSQL server's processes and of the whole machine, from Linux's /proc (elsewhere: nothing, and
 * the figures that need it say so). A server's processes are its postmaster's children; each is named by the title
 * PostgreSQL gives it (`postgres: walsender …`, `postgres: logical replication worker for subscription 1 sync 2`), so
 * a copy's CPU can be split into the source's walsender, the target's table-sync worker and the rest.
 */
import { readdir, readFile } from "node:fs/promises";

/** Clock ticks per second of /proc's times (USER_HZ: 100 on every Linux this runs on). */
const HZ = 100;

async function statOf(pid: number): Promise<{ ppid: number; ticks: number } | undefined> {
  try {
    const text = await readFile(`/proc/${pid}/stat`, "utf8");
    // The command may hold spaces and parentheses: the fields start after the last ')'.
    const fields = text.slice(text.lastIndexOf(")") + 2).split(" ");
    return { ppid: Number(fields[1]), ticks: Number(fields[11]) + Number(fields[12]) };
  } catch {
    return undefined;
  }
}

async function titleOf(pid: number): Promise<string> {
  try {
    return (await readFile(`/proc/${pid}/cmdline`, "utf8")).replaceAll("\0", " ").trim();
  } catch {
    return "?";
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

/**
 * Samples the CPU ticks of every child of the given postmasters, keeping each process's last value (a table-sync
 * worker exits when its table is done), until `stop()`; then CPU seconds per server and category.
 */
export class ServerCpu {
  readonly #last = new Map<number, { server: string; category: string; first: number; ticks: number }>();
  readonly #titles = new Map<number, string>();
  #timer: NodeJS.Timeout | undefined;
  #busy = false;
  /** After the first sample, a new process counts from its start (0 ticks), not from when it was first seen. */
  #sampled = false;

  constructor(readonly postmasters: ReadonlyMap<string, number>) {}

  async sample(): Promise<void> {
    if (this.#busy) return;
    this.#busy = true;
    try {
      const pids = (await readdir("/proc")).filter((d) => /^\d+$/.test(d)).map(Number);
      const byPostmaster = new Map([...this.postmasters].map(([name, pid]) => [pid, name]));
      await Promise.all(
        pids.map(async (pid) => {
          const stat = await statOf(pid);
          const server = stat && byPostmaster.get(stat.ppid);
          if (!stat || !server) return;
          let title = this.#titles.get(pid);
          if (title === undefined) {
            title = await titleOf(pid);
            this.#titles.set(pid, title);
          }
          const seen = this.#last.get(pid);
          if (seen) seen.ticks = stat.ticks;
          else {
            const first = this.#sampled ? 0 : stat.ticks;
            this.#last.set(pid, { server, category: category(title), first, ticks: stat.ticks });
          }
        }),
      );
      this.#sampled = true;
    } finally {
      this.#busy = false;
    }
  }

  /** Samples now and every `everyMs`. Processes that exist at the first sample count from there. */
  async start(everyMs = 250): Promise<void> {
    await this.sample();
    this.#timer = setInterval(() => void this.sample(), everyMs);
  }

  /** CPU seconds since `start()`, per `server / category`. */
  async stop(): Promise<Record<string, number>> {
    clearInterval(this.#timer);
    await this.sample();
    const out: Record<string, number> = {};
    for (const p of this.#last.values()) {
      const key = `${p.server} ${p.category}`;
      out[key] = (out[key] ?? 0) + (p.ticks - p.first) / HZ;
    }
    return out;
  }
}

/** Busy and total CPU time of the whole machine (all cores), in seconds, from /proc/stat. */
export async function machineCpu(): Promise<{ busy: number; total: number } | undefined> {
  try {
    const line = (await readFile("/proc/stat", "utf8")).split("\n")[0] ?? "";
    const v = line.trim().split(/\s+/).slice(1).map(Number);
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
