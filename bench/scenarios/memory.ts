/**
 * Memory: RSS growth over 10k `GET /data` with one shard hung (50 ms timeout so it runs in seconds), measured in a
 * child process started with `--expose-gc` (see `bench/memory-child.ts`) against the bench's PostgreSQL.
 */
import { fork } from "node:child_process";
import type { PostgresConnection } from "../../local/postgres.js";
import type { ScenarioResult } from "../lib/report.js";
import { round } from "../lib/stats.js";

interface MemorySample {
  rss: number;
  heapUsed: number;
}

interface ChildResult {
  requests: number;
  answered: number;
  errors: number;
  wrong: string[];
  elapsedMs: number;
  maxLatencyMs: number;
  before: MemorySample;
  after: MemorySample;
  checkpoints: (MemorySample & { requests: number })[];
  hungEndpoint: {
    requests: number;
    pendingAtEnd: number;
    pendingAfterWait: number;
    pendingClearedMs: number | null;
  };
  resources: Record<string, number>;
}

const MB = 1024 * 1024;

function runChild(postgres: PostgresConnection): Promise<ChildResult> {
  return new Promise((resolve, reject) => {
    const child = fork(new URL("../memory-child.ts", import.meta.url), [], {
      execArgv: ["--expose-gc", "--import", "tsx"],
      env: { ...process.env, BENCH_POSTGRES: JSON.stringify(postgres) },
      stdio: ["ignore", "inherit", "inherit", "ipc"],
    });
    const limit = setTimeout(() => child.kill("SIGKILL"), 120_000);
    let settled = false;
    child.once("message", (msg: { ok: boolean; result?: ChildResult; error?: string }) => {
      settled = true;
      if (msg.ok && msg.result) resolve(msg.result);
      else reject(new Error(`memory child failed: ${msg.error}`));
    });
    child.once("exit", (code) => {
      clearTimeout(limit);
      if (!settled) reject(new Error(`memory child exited with ${code} before answering`));
    });
  });
}

export async function memory({
  postgres,
  log,
}: {
  postgres: PostgresConnection;
  log: (m: string) => void;
}): Promise<ScenarioResult> {
  const r = await runChild(postgres);
  const growth = (r.after.rss - r.before.rss) / MB;
  const heapGrowth = (r.after.heapUsed - r.before.heapUsed) / MB;
  const mid = r.checkpoints[Math.floor(r.checkpoints.length / 2) - 1];
  const secondHalf = mid ? (r.after.rss - mid.rss) / MB : Number.NaN;
  const ok =
    r.answered === r.requests &&
    r.errors === 0 &&
    r.wrong.length === 0 &&
    r.hungEndpoint.pendingAfterWait === 0;
  log(`memory: RSS ${round(growth)} MB, heap ${round(heapGrowth)} MB over ${r.requests} requests`);
  return {
    figures: [
      {
        id: "memory.rssGrowth",
        figure: `memory: RSS growth over ${r.requests / 1000}k GET /data, shard 2 hung (50 ms timeout)`,
        measured: `${round(growth, 1)} MB`,
        value: growth,
        goal: "<= 30 MB",
        pass: ok && growth <= 30,
        baseline: `heapUsed ${heapGrowth >= 0 ? "+" : ""}${round(heapGrowth, 1)} MB; RSS in 2nd half ${secondHalf >= 0 ? "+" : ""}${round(secondHalf, 1)} MB; hung endpoint open requests after: ${r.hungEndpoint.pendingAtEnd}${r.hungEndpoint.pendingAtEnd ? ` (${r.hungEndpoint.pendingClearedMs === null ? "still open after 5 s" : `0 after ${r.hungEndpoint.pendingClearedMs} ms more`})` : ""}`,
      },
    ],
    details: {
      ...r,
      before: { rssMB: round(r.before.rss / MB), heapMB: round(r.before.heapUsed / MB) },
      after: { rssMB: round(r.after.rss / MB), heapMB: round(r.after.heapUsed / MB) },
      checkpoints: r.checkpoints.map((c) => ({
        requests: c.requests,
        rssMB: round(c.rss / MB),
        heapMB: round(c.heapUsed / MB),
      })),
      elapsedMs: round(r.elapsedMs),
      maxLatencyMs: round(r.maxLatencyMs),
    },
  };
}
