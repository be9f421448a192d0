/**
 * Issue 22, finding 4: a signal during `npm start`'s startup leaks no PostgreSQL. SIGTERM, SIGINT or SIGKILL while
 * `initdb` runs, or between spawning a postmaster and its reporting ready, leaves no process, no port and no data
 * directory (with its superuser password file) behind: the watchdog and the shutdown list cover a server from the
 * moment it is spawned.
 *
 * Each run gets a fresh TMPDIR, so the test sees exactly the directories and processes of its own run.
 */
import { type ChildProcess, execFile, spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdir, readdir, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { afterAll, describe, expect, it } from "vitest";
import { eventually, sleep } from "../helpers/wait.js";

const run = promisify(execFile);
let scratch: string | undefined;
const running = new Set<ChildProcess>();

afterAll(async () => {
  for (const child of running) child.kill("SIGKILL");
  if (scratch) await rm(scratch, { recursive: true, force: true });
});

async function open755(path: string): Promise<string> {
  await mkdir(path, { mode: 0o755 });
  return path;
}

/** `[pid, args]` of the live processes whose parent is `parent`. */
async function childrenOf(parent: number): Promise<[number, string][]> {
  const { stdout } = await run("ps", ["-eo", "pid=,ppid=,args="]);
  return stdout
    .split("\n")
    .map((line) => /^\s*(\d+)\s+(\d+)\s+(.*)$/.exec(line))
    .filter((m): m is RegExpExecArray => m !== null && Number(m[2]) === parent)
    .map((m) => [Number(m[1]), m[3] as string]);
}

/** Live processes whose command line mentions `text`. */
async function processesMentioning(text: string): Promise<string[]> {
  const { stdout } = await run("ps", ["-eo", "pid=,args="]);
  return stdout.split("\n").filter((line) => line.includes(text));
}

/** Server directories left in `dir` (the binaries' copy, a cache kept on purpose, aside). */
async function serverDirs(dir: string): Promise<string[]> {
  return (await readdir(dir)).filter((n) => n.startsWith("sharded-pg-") && !n.startsWith("sharded-pg-bin-"));
}

/** One shard, so one server: the startup is the same, with less to wait for. */
const ONE_SHARD = JSON.stringify([{ id: 1, ranges: [[1, 10]] }]);

const PHASES = {
  initdb: (args: string) => /\binitdb\b.*--pgdata=/.test(args),
  postmaster: (args: string) => /\/postgres -D /.test(args),
} as const;

describe("a signal during npm start's startup", () => {
  it.each([
    ["SIGTERM", "postmaster"],
    ["SIGINT", "postmaster"],
    ["SIGKILL", "postmaster"],
    ["SIGTERM", "initdb"],
    ["SIGKILL", "initdb"],
  ] as const)(
    "%s while %s is starting leaves no PostgreSQL process and no data directory",
    async (signal, phase) => {
      // Created open to other users (mkdtemp's are not): as root, PostgreSQL runs as `postgres` and must reach in.
      scratch ??= await open755(join(tmpdir(), `local-startup-signals-${randomBytes(6).toString("hex")}`));
      const own = await open755(join(scratch, `run-${signal}-${phase}`));
      const child = spawn(process.execPath, ["--import", "tsx", "local/start.ts"], {
        env: {
          ...process.env,
          PORT: "0",
          TMPDIR: own,
          SEED: "none",
          LOG_LEVEL: "ERROR",
          SHARD_MAP: ONE_SHARD,
        },
        stdio: "ignore",
      });
      running.add(child);
      const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
      const pid = child.pid as number;
      // Bounded: 1,500 looks, 20 ms apart.
      let seen = false;
      for (let i = 0; i < 1500 && !seen && child.exitCode === null; i++) {
        seen = (await childrenOf(pid)).some(([, args]) => PHASES[phase](args));
        if (!seen) await sleep(20);
      }
      expect(seen).toBe(true);
      child.kill(signal);
      await exited;
      running.delete(child);
      const clean = await eventually(
        async () => (await processesMentioning(own)).length === 0 && (await serverDirs(own)).length === 0,
        20_000,
        100,
      );
      expect({ processes: await processesMentioning(own), dirs: await serverDirs(own) }).toEqual({
        processes: [],
        dirs: [],
      });
      expect(clean).toBe(true);
    },
    60_000,
  );
});
