/**
 * Online resharding (issue 19): what a move of 1,000,000 rows costs the API while it serves, and what the fence costs
 * on the happy path. Its own runtime with one PostgreSQL server per shard (`serverPerShard`, as `npm start` runs):
 * shard 1 owns [1, 2R], shards 2 and 3 own 100,000 ids each above it, shard 4 owns nothing; every id is seeded
 * (R = BENCH_RESHARD_ROWS, default 1,000,000). The reshard tool runs in a process of its own (`reshard-tool-child.ts`
 * runs `runCommand`, as `npm run reshard` does, with its defaults: 250 ms polls, the default pacing): an
 * operator never runs it inside the API's process. It moves [R+1, 2R] from 1 to 4, back, and to 4 again
 * (BENCH_RESHARD_RUNS, default 3): one run per move, for the spread; its step hooks, answered here, mark the phases.
 * Before each run every shard is vacuumed and checkpointed, so the baseline is not the previous cleanup's aftermath.
 *
 * - A steady open loop (BENCH_RESHARD_RATE, default 100 req/s, in its own process) runs through every move: point
 *   reads, writes (PUT) and pages (`limit=20` after a random id), over every id (the moving range is 45 % of them).
 *   Latency counts from each request's scheduled arrival. Phases by arrival: `before` (the BENCH_RESHARD_BEFORE_S
 *   seconds before the move, default 60), `copy` (prepare + copy), `switch` (freeze to open), `cleanup`.
 * - Copy rate: rows moved / time from the end of `prepare` to the end of `copy` (snapshot, batches, subscription
 *   streaming). What bounds it: CPU of the source's and the target's server processes (/proc, per process), of the
 *   API's process (it also serves the local Data API the tool calls), the machine's busy cores, the WAL the target
 *   wrote; and on the target's server afterwards, the same rows through plain COPY into a table with its primary key,
 *   and without it plus the index build.
 * - Fencing, function side: the fence's own CPU per statement (the fenced statement against the same statement built
 *   without the fence, each through the real SDK client answering from memory), times the statements per request,
 *   over the function's CPU per request (a process holding only `composeApp`, against the runtime's endpoints).
 * - Fencing, database side (info): a loop of the fenced against the unfenced point read and update on shard 2.
 * - What the machine did: a watcher process (`machine-watch-child.ts`) records steal, iowait, PSI and the busiest
 *   processes every 100 ms; each slowest request of a phase is listed with them. The API's process records its
 *   event-loop utilization, CPU, timer gaps and GCs; the load's process its timer gaps. BENCH_RESHARD_SAMPLES=FILE
 *   also writes every request and the machine's record to FILE.
 */
import { fork } from "node:child_process";
import { writeFile } from "node:fs/promises";
import { loadavg } from "node:os";
import { fileURLToPath } from "node:url";
import { Logger } from "@aws-lambda-powertools/logger";
import type { SqlParameter } from "@aws-sdk/client-rds-data";
import pg from "pg";
import type { ShardConfig } from "../../functions/core/config.js";
import { execute } from "../../functions/core/data-api.js";
import { fenceRefusal } from "../../functions/core/fence.js";
import { createShardMap, type IdRange } from "../../functions/core/shard-map.js";
import { long, type Statement, selectOne, selectRange } from "../../functions/core/sql.js";
import { quoteIdent } from "../../functions/core/sql-identifier.js";
import { sqlTimestamp } from "../../functions/core/write-deadline.js";
import { updateRow, type WriteTimes } from "../../functions/core/write-sql.js";
import { type LocalRuntime, type LocalShard, startLocalRuntime } from "../../local/runtime.js";
import type { StepHooks } from "../../reshard/context.js";
import type { RequestSpec } from "../lib/http.js";
import {
  machineCpu,
  type ProcessTicksTable,
  postmasterOf,
  processCpuBetween,
  serverCpuBetween,
} from "../lib/proc-cpu.js";
import { type Figure, machine, overRuns, type ScenarioResult, spread, writeResults } from "../lib/report.js";
import { cannedClient } from "../lib/sdk-canned.js";
import { median, quantile, round } from "../lib/stats.js";
import { watchTimerGaps } from "../lib/timer-gaps.js";
import type { MachineRecord, MachineSample } from "../machine-watch-child.js";
import type { FunctionCpuJob, FunctionCpuResult } from "../reshard-function-child.js";
import type { ReshardLoadJob, ReshardLoadRecord, ReshardLoadReply } from "../reshard-load-child.js";
import type { ReshardToolJob, ReshardToolMessage } from "../reshard-tool-child.js";

type Log = (message: string) => void;

const TABLE = "data_1";
const SHARD_TIMEOUT_MS = 2000;
const now = () => performance.timeOrigin + performance.now();
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

function intFromEnv(name: string, fallback: number, min: number): number {
  const raw = process.env[name];
  if (raw === undefined || raw === "") return fallback;
  const value = Number(raw);
  if (!Number.isInteger(value) || value < min)
    throw new Error(`${name}: expected an integer >= ${min}, got ${raw}`);
  return value;
}

export function reshardSettings() {
  return {
    rows: intFromEnv("BENCH_RESHARD_ROWS", 1_000_000, 10_000),
    runs: intFromEnv("BENCH_RESHARD_RUNS", 3, 1),
    rate: intFromEnv("BENCH_RESHARD_RATE", 100, 5),
    // As long as a paced copy of 1,000,000 rows (about 65 s): a p99 of 1,500 requests is set by one stall of the
    // machine, one of 6,500 by several, so a shorter baseline made the ratio a coin toss between two stalls.
    beforeMs: intFromEnv("BENCH_RESHARD_BEFORE_S", 60, 3) * 1000,
    afterMs: 5000,
    /** More options for the tool's `move` (BENCH_RESHARD_TOOL_ARGS, split on spaces: `--nice 2 --batch 500`). */
    toolArgs: (process.env.BENCH_RESHARD_TOOL_ARGS ?? "").split(" ").filter((a) => a !== ""),
    /** Others' ids: shards 2 and 3 own this many each, above shard 1's. */
    others: 100_000,
  };
}

/** A small deterministic generator, so every run sends the same requests. */
function lcg(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (Math.imul(state, 1_664_525) + 1_013_904_223) >>> 0;
    return state / 2 ** 32;
  };
}

type Kind = "read" | "write" | "list";
interface LoadSpec extends RequestSpec {
  readonly kind: Kind;
  readonly id: number;
}

/** The load's requests: 35 % point reads, 35 % writes, 30 % pages of 20 after a random id; ids uniform over all. */
function loadSpecs(maxId: number, count: number): LoadSpec[] {
  const random = lcg(19);
  return Array.from({ length: count }, (_, i): LoadSpec => {
    const id = 1 + Math.floor(random() * maxId);
    const r = random();
    if (r < 0.35) return { kind: "read", id, path: `/data/${id}` };
    if (r < 0.7) {
      return {
        kind: "write",
        id,
        method: "PUT",
        path: `/data/${id}`,
        body: JSON.stringify({ name: `bench ${i}` }),
        headers: { "content-type": "application/json" },
      };
    }
    return { kind: "list", id, path: `/data?limit=20&after=${id - 1}` };
  });
}

/** Superuser SQL on a shard's own server and database. */
async function withPg<T>(shard: LocalShard, fn: (c: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ ...shard.postgres, database: shard.database });
  await client.connect();
  try {
    return await fn(client);
  } finally {
    await client.end();
  }
}

const walLsn = (shard: LocalShard) =>
  withPg(shard, async (c) => String((await c.query("SELECT pg_current_wal_insert_lsn() AS l")).rows[0]?.l));
/**
 * Every shard's table vacuumed and a checkpoint taken before a run's `before` window: the previous move's cleanup
 * left up to R dead rows, whose autovacuum (and the checkpoint after it) otherwise lands in the next baseline (runs 2
 * and 3 once measured a p99 of 235 and 257 ms before their move against 26 ms in run 1) and flatters the ratios.
 */
const settle = (runtime: LocalRuntime) =>
  Promise.all(
    runtime.shards.map((s) =>
      withPg(s, async (c) => {
        await c.query(`VACUUM (ANALYZE) ${quoteIdent(TABLE)}`);
        await c.query("CHECKPOINT");
      }),
    ),
  );
const walBytes = (shard: LocalShard, from: string, to: string) =>
  withPg(shard, async (c) =>
    Number((await c.query("SELECT pg_wal_lsn_diff($2, $1) AS d", [from, to])).rows[0]?.d),
  );

// ---------------------------------------------------------------------------------------------------------------
// The load process

interface LoadHandle {
  stop(): Promise<ReshardLoadRecord>;
}

function startLoad(job: ReshardLoadJob): Promise<LoadHandle> {
  return new Promise((resolveStart, rejectStart) => {
    const child = fork(new URL("../reshard-load-child.ts", import.meta.url), [], {
      execArgv: ["--import", "tsx"],
      stdio: ["ignore", "inherit", "inherit", "ipc"],
    });
    let reply: ReshardLoadReply | undefined;
    const closed = new Promise<void>((resolve) => child.once("close", () => resolve()));
    const limit = setTimeout(() => child.kill("SIGKILL"), job.maxMs + 60_000);
    child.on("message", (msg: unknown) => {
      if (msg === "ready") {
        child.send(job);
        resolveStart({
          stop: async () => {
            if (child.connected) child.send("stop");
            await closed;
            clearTimeout(limit);
            if (reply?.ok) return reply.record;
            throw new Error(`load process: ${reply ? reply.error : "ended without a result"}`);
          },
        });
      } else reply = msg as ReshardLoadReply;
    });
    child.once("error", (e) => {
      clearTimeout(limit);
      rejectStart(e);
    });
  });
}

interface MachineWatch {
  /** Every process's CPU ticks and title now. */
  table(): Promise<ProcessTicksTable>;
  stop(): Promise<MachineRecord>;
}

/** The machine's watcher (`machine-watch-child.ts`), in a process of its own that does nothing else. */
function startMachineWatch(): Promise<MachineWatch> {
  return new Promise((resolveStart, rejectStart) => {
    const child = fork(new URL("../machine-watch-child.ts", import.meta.url), [], {
      execArgv: ["--import", "tsx"],
      stdio: ["ignore", "inherit", "inherit", "ipc"],
    });
    let record: MachineRecord | undefined;
    const tables: ((t: ProcessTicksTable) => void)[] = [];
    const closed = new Promise<void>((resolve) => child.once("close", () => resolve()));
    child.on("message", (msg: unknown) => {
      if (msg !== "ready") {
        const m = msg as { record?: MachineRecord; table?: ProcessTicksTable };
        if (m.record) record = m.record;
        if (m.table) tables.shift()?.(m.table);
        return;
      }
      resolveStart({
        table: () =>
          new Promise((resolve) => {
            tables.push(resolve);
            child.send("table");
          }),
        stop: async () => {
          if (child.connected) child.send("stop");
          const limit = setTimeout(() => child.kill("SIGKILL"), 30_000);
          await closed;
          clearTimeout(limit);
          return record ?? { gaps: [], samples: [] };
        },
      });
    });
    child.once("error", rejectStart);
  });
}

const gapsWithin = (gaps: readonly { at: number; ms: number }[], from: number, to: number) =>
  gaps
    .filter((g) => g.at >= from && g.at < to)
    .map((g) => `+${round((g.at - from) / 1000, 2)} s ${round(g.ms)} ms`);

// ---------------------------------------------------------------------------------------------------------------
// The reshard tool, in a process of its own as an operator runs it

interface ToolOptions {
  readonly out: (line: string) => void;
  readonly err: (line: string) => void;
  readonly hooks: Required<StepHooks>;
}

/** One run of the reshard tool: its command's exit code. */
interface ToolRun {
  /** The tool's process, for its CPU. */
  readonly pid: number;
  readonly run: (argv: readonly string[], options: ToolOptions) => Promise<number>;
}

/**
 * Starts the reshard tool's process and its endpoints (see `reshard-tool-child.ts`), resolving once it is ready; its
 * `run` then runs one command there, the step hooks here (each step waits for them), and ends the process.
 */
function startTool(targets: Extract<ReshardToolJob, { kind: "setup" }>["targets"]): Promise<ToolRun> {
  return new Promise((resolveReady, rejectReady) => {
    const child = fork(new URL("../reshard-tool-child.ts", import.meta.url), [], {
      execArgv: ["--import", "tsx"],
      stdio: ["ignore", "inherit", "inherit", "ipc"],
    });
    let options: ToolOptions | undefined;
    let outcome: { code: number } | { error: string } | undefined;
    const limit = setTimeout(() => child.kill("SIGKILL"), 30 * 60_000);
    const closed = new Promise<number | null>((resolve) =>
      child.once("close", (code) => {
        clearTimeout(limit);
        resolve(code);
      }),
    );
    child.on("message", (m: ReshardToolMessage) => {
      switch (m.kind) {
        case "ready":
          resolveReady({
            pid: child.pid ?? 0,
            run: async (argv, runOptions) => {
              options = runOptions;
              child.send({ kind: "run", argv } satisfies ReshardToolJob);
              const code = await closed;
              if (outcome && "code" in outcome) return outcome.code;
              throw new Error(`reshard tool process: ${outcome?.error ?? `exit ${code}`}`);
            },
          });
          break;
        case "out":
        case "err":
          options?.[m.kind](m.line);
          break;
        case "before":
        case "after": {
          const hook = m.kind === "before" ? options?.hooks.beforeStep : options?.hooks.afterStep;
          void Promise.resolve(hook?.(m.step)).then(() => child.connected && child.send("ack"));
          break;
        }
        case "done":
          outcome = { code: m.code };
          child.kill();
          break;
        case "failed":
          outcome = { error: m.error };
          child.kill();
      }
    });
    void closed.then((code) =>
      rejectReady(new Error(`reshard tool process ended before it was ready: exit ${code}`)),
    );
    child.send({ kind: "setup", targets } satisfies ReshardToolJob);
  });
}

// ---------------------------------------------------------------------------------------------------------------
// Function CPU per request (a process with only the function) and the fence's own CPU per statement (in process)

function runFunctionChild(job: FunctionCpuJob): Promise<FunctionCpuResult> {
  return new Promise((resolve, reject) => {
    const child = fork(new URL("../reshard-function-child.ts", import.meta.url), [], {
      execArgv: ["--import", "tsx"],
      stdio: ["ignore", "inherit", "inherit", "ipc"],
    });
    let result: FunctionCpuResult | undefined;
    let error: string | undefined;
    const limit = setTimeout(() => child.kill("SIGKILL"), 180_000);
    child.once("message", (m: { ok: boolean; result?: FunctionCpuResult; error?: string }) => {
      if (m.ok) result = m.result;
      else error = m.error;
    });
    child.once("close", (code) => {
      clearTimeout(limit);
      if (result) resolve(result);
      else reject(new Error(`function process: ${error ?? `exit ${code}`}`));
    });
    child.send(job);
  });
}

const ADMIT_READ_SQL = " AND (SELECT sharding.admit_read(:owned, :unowned))";
const ADMIT_WRITE_SQL = " AND sharding.admit_write(:id)";

/**
 * The statements as a build without the fence would make them: the same SQL minus the admission, without the two
 * multirange parameters. Checked against the real builders (below), so they cannot drift apart unnoticed.
 */
const unfenced = {
  read: (id: number): Statement => ({
    sql: `SELECT id, name FROM ${quoteIdent(TABLE)} WHERE id = :id`,
    parameters: [long("id", id)],
    formatRecordsAs: "JSON",
  }),
  list: ([lo, hi]: IdRange, limit: number): Statement => ({
    sql: `SELECT id, name FROM ${quoteIdent(TABLE)} WHERE id BETWEEN :lo0 AND :hi0 ORDER BY id LIMIT :limit`,
    parameters: [long("limit", limit), long("lo0", lo), long("hi0", hi)],
    formatRecordsAs: "JSON",
  }),
  // The write keeps its deadlines (start and commit): they are the write outcome contract, not the fence.
  write: (id: number, name: string, times: WriteTimes): Statement => ({
    sql: `WITH admitted AS (SELECT statement_timestamp() <= (:deadline AT TIME ZONE 'UTC') AND set_config('sharding.commit_by', :commitBy, true) <> '' AS in_time), written AS (UPDATE ${quoteIdent(TABLE)} SET name = :name WHERE id = :id AND (SELECT in_time FROM admitted) RETURNING 1) SELECT in_time, (SELECT count(*) FROM written)::int AS changed FROM admitted`,
    parameters: [
      long("id", id),
      { name: "name", value: { stringValue: name } },
      { name: "deadline", value: { stringValue: sqlTimestamp(times.deadlineMs) }, typeHint: "TIMESTAMP" },
      { name: "commitBy", value: { stringValue: `${sqlTimestamp(times.commitByMs)}+00` } },
    ],
    formatRecordsAs: "JSON",
  }),
};

const FAR: WriteTimes = { deadlineMs: 1e12, commitByMs: 1e12 + 500 };

const withoutFenceParams = (p: readonly SqlParameter[]) =>
  p.filter((x) => x.name !== "owned" && x.name !== "unowned");

function checkUnfenced(): void {
  const pairs: [Statement, Statement, string][] = [
    [selectOne(TABLE, 7), unfenced.read(7), ADMIT_READ_SQL],
    [
      selectRange(TABLE, [[5, 900]], 21, [[1000, 2_147_483_647]]),
      unfenced.list([5, 900], 21),
      ADMIT_READ_SQL,
    ],
    [updateRow(TABLE, 7, "x", FAR), unfenced.write(7, "x", FAR), ADMIT_WRITE_SQL],
  ];
  for (const [fenced, plain, clause] of pairs) {
    const same =
      fenced.sql.replace(clause, "") === plain.sql &&
      JSON.stringify(withoutFenceParams(fenced.parameters)) === JSON.stringify(plain.parameters);
    if (!same) throw new Error(`the unfenced twin differs from the real statement: ${fenced.sql}`);
  }
}

/** What `fenced()` of functions/core/shard-access.ts does: the refusal check every shard call goes through. */
async function fencedCall<T>(call: Promise<T>): Promise<T> {
  try {
    return await call;
  } catch (err) {
    if (fenceRefusal(err)) throw new Error("refused");
    throw err;
  }
}

/**
 * The fence's CPU per statement on the function's side: building the statement (with its multirange literals) and
 * sending it through the real RDSDataClient (serialize, sign, parse a canned answer, no network), fenced vs
 * unfenced, in alternating rounds; CPU time of this process per call.
 */
async function fenceCpu() {
  checkUnfenced();
  const shard: ShardConfig = {
    id: 2,
    ranges: [[1, 10]],
    resourceArn: "arn:aws:rds:us-east-1:000000000000:cluster:bench",
    secretArn: "arn:aws:secretsmanager:us-east-1:000000000000:secret:bench",
    database: "bench",
  };
  const rowsBody = (n: number) =>
    Buffer.from(
      JSON.stringify({
        numberOfRecordsUpdated: 0,
        formattedRecords: JSON.stringify(
          Array.from({ length: n }, (_, i) => ({ id: i + 1, name: `Test ${i}` })),
        ),
      }),
    );
  const writeBody = Buffer.from(
    JSON.stringify({ numberOfRecordsUpdated: 0, formattedRecords: '[{"in_time":true,"changed":1}]' }),
  );
  const clients = {
    read: cannedClient(rowsBody(1)),
    list: cannedClient(rowsBody(21)),
    write: cannedClient(writeBody),
  };
  const signal = new AbortController().signal;
  const deadline = (): WriteTimes => ({ deadlineMs: Date.now() + 1200, commitByMs: Date.now() + 1700 });
  const unowned: IdRange[] = [[2_200_001, 2_147_483_647]];
  let i = 0;
  const calls = {
    read: {
      fenced: () => fencedCall(execute(clients.read, shard, selectOne(TABLE, ++i), signal)),
      plain: () => execute(clients.read, shard, unfenced.read(++i), signal),
    },
    list: {
      fenced: () =>
        fencedCall(execute(clients.list, shard, selectRange(TABLE, [[++i, 1_000_000]], 21, unowned), signal)),
      plain: () => execute(clients.list, shard, unfenced.list([++i, 1_000_000], 21), signal),
    },
    write: {
      fenced: () =>
        fencedCall(execute(clients.write, shard, updateRow(TABLE, ++i, "bench", deadline()), signal)),
      plain: () => execute(clients.write, shard, unfenced.write(++i, "bench", deadline()), signal),
    },
  };
  // Per call, the two alternating (A, B, A, B…) so both meet the same moment of this shared machine; the median per
  // side is robust to a call preempted by another process (what the CPU time of a batch could not tell apart).
  const timeOne = async (fn: () => Promise<unknown>) => {
    const t = performance.now();
    await fn();
    return (performance.now() - t) * 1000;
  };
  const out: Record<Kind, { fencedUs: number[]; plainUs: number[]; deltaUs: number[] }> = {
    read: { fencedUs: [], plainUs: [], deltaUs: [] },
    list: { fencedUs: [], plainUs: [], deltaUs: [] },
    write: { fencedUs: [], plainUs: [], deltaUs: [] },
  };
  for (const kind of ["read", "list", "write"] as const) {
    for (let k = 0; k < 300; k++) {
      await calls[kind].fenced();
      await calls[kind].plain();
    }
  }
  for (let r = 0; r < 15; r++) {
    for (const kind of ["read", "list", "write"] as const) {
      const f: number[] = [];
      const p: number[] = [];
      for (let k = 0; k < 200; k++) {
        if (k % 2 === 0) {
          f.push(await timeOne(calls[kind].fenced));
          p.push(await timeOne(calls[kind].plain));
        } else {
          p.push(await timeOne(calls[kind].plain));
          f.push(await timeOne(calls[kind].fenced));
        }
      }
      const o = out[kind];
      o.fencedUs.push(median(f));
      o.plainUs.push(median(p));
      o.deltaUs.push(median(f) - median(p));
    }
  }
  for (const c of Object.values(clients)) c.destroy();
  return out;
}

/** The fenced and unfenced point read and update on one shard, as the Data API sends them (unnamed statements). */
async function fenceDb(shard: LocalShard, lo: number, hi: number) {
  const fencedRead = `SELECT id, name FROM ${TABLE} WHERE id = $1::bigint AND (SELECT sharding.admit_read($2, $3))`;
  const plainRead = `SELECT id, name FROM ${TABLE} WHERE id = $1::bigint`;
  const write = (fence: boolean) =>
    `WITH admitted AS (SELECT statement_timestamp() <= ($3::timestamp AT TIME ZONE 'UTC')${fence ? " AND sharding.admit_write($1::bigint)" : ""} AS in_time), written AS (UPDATE ${TABLE} SET name = $2 WHERE id = $1::bigint AND (SELECT in_time FROM admitted) RETURNING 1) SELECT in_time, (SELECT count(*) FROM written)::int AS changed FROM admitted`;
  return withPg(shard, async (c) => {
    const random = lcg(7);
    const id = () => lo + Math.floor(random() * (hi - lo + 1));
    const later = () => sqlTimestamp(Date.now() + 60_000);
    const variants = {
      fencedRead: () => {
        const x = id();
        return c.query(fencedRead, [x, `{[${x},${x}]}`, "{}"]);
      },
      plainRead: () => c.query(plainRead, [id()]),
      fencedWrite: () => c.query(write(true), [id(), "bench db", later()]),
      plainWrite: () => c.query(write(false), [id(), "bench db", later()]),
    };
    const per = async (fn: () => Promise<unknown>, n: number) => {
      const t = performance.now();
      for (let k = 0; k < n; k++) await fn();
      return ((performance.now() - t) / n) * 1000;
    };
    for (const fn of Object.values(variants)) await per(fn, 100);
    const us: Record<keyof typeof variants, number[]> = {
      fencedRead: [],
      plainRead: [],
      fencedWrite: [],
      plainWrite: [],
    };
    for (let r = 0; r < 10; r++) {
      const order = (Object.keys(variants) as (keyof typeof variants)[]).sort(() => (r % 2 ? 1 : -1));
      for (const k of order) us[k].push(await per(variants[k], 150));
    }
    return us;
  });
}

// ---------------------------------------------------------------------------------------------------------------
// What bounds the copy: the same rows through plain COPY on the target's server

async function copyProbe(shard: LocalShard, [lo, hi]: IdRange) {
  return withPg(shard, async (c) => {
    const timed = async (sql: string) => {
      const t = performance.now();
      await c.query(sql);
      return performance.now() - t;
    };
    const lsn = async () => String((await c.query("SELECT pg_current_wal_insert_lsn() AS l")).rows[0]?.l);
    const wal = async (from: string) =>
      Number(
        (await c.query("SELECT pg_wal_lsn_diff(pg_current_wal_insert_lsn(), $1) AS d", [from])).rows[0]?.d,
      );
    await c.query("DROP TABLE IF EXISTS bench_probe_pk, bench_probe_nopk");
    // In the data directory: the server's own, removed with it.
    const dir = String((await c.query("SHOW data_directory")).rows[0]?.data_directory);
    const file = `'${`${dir}/bench_probe.copy`.replaceAll("'", "''")}'`;
    const copyOutMs = await timed(
      `COPY (SELECT id, name FROM ${TABLE} WHERE id >= ${lo} AND id <= ${hi}) TO ${file}`,
    );
    await c.query("CREATE TABLE bench_probe_pk (id INT PRIMARY KEY, name VARCHAR(255))");
    await c.query("CREATE TABLE bench_probe_nopk (id INT NOT NULL, name VARCHAR(255))");
    await c.query("CHECKPOINT");
    let at = await lsn();
    const copyInPkMs = await timed(`COPY bench_probe_pk FROM ${file}`);
    const walPk = await wal(at);
    at = await lsn();
    const copyInNoPkMs = await timed(`COPY bench_probe_nopk FROM ${file}`);
    const indexMs = await timed("ALTER TABLE bench_probe_nopk ADD PRIMARY KEY (id)");
    const walNoPk = await wal(at);
    await c.query("DROP TABLE bench_probe_pk, bench_probe_nopk");
    return { copyOutMs, copyInPkMs, copyInNoPkMs, indexMs, walPk, walNoPk };
  });
}

// ---------------------------------------------------------------------------------------------------------------
// One move, with its phases

interface MoveRun {
  from: number;
  to: number;
  code: number;
  /** Epoch ms of each step's start and end. */
  steps: Record<string, { start: number; end: number }>;
  beforeStart: number;
  afterEnd: number;
  copyCpu: Record<string, number>;
  copyNodeCpuS: number;
  /** The tool's process (with its own Data API endpoints) over the copy, CPU seconds. */
  copyToolCpuS: number;
  copyMachine: { busyCores: number; cores: number } | undefined;
  targetWalBytes: number;
  toolLines: string[];
  /** The tool's error lines of each failed attempt, before `resume`. */
  failures: string[];
}

async function move(
  runtime: LocalRuntime,
  range: IdRange,
  from: number,
  to: number,
  cfg: ReturnType<typeof reshardSettings>,
  postmasters: Map<number, number>,
  watcher: MachineWatch,
  log: Log,
): Promise<MoveRun> {
  await settle(runtime);
  const targets = { shards: runtime.adminTargets };
  const tool = await startTool(targets);
  const beforeStart = now();
  await sleep(cfg.beforeMs);
  const argv = [
    "move",
    "--range",
    `${range[0]}-${range[1]}`,
    "--from",
    String(from),
    "--to",
    String(to),
    ...cfg.toolArgs,
  ];
  const steps: MoveRun["steps"] = {};
  const toolLines: string[] = [];
  const target = runtime.shards.find((s) => s.id === to) as LocalShard;
  const servers = new Map([
    [`source`, postmasters.get(from) as number],
    [`target`, postmasters.get(to) as number],
  ]);
  let table0: ProcessTicksTable = { processes: [] };
  let walFrom = "";
  let node0 = process.cpuUsage();
  let machine0: Awaited<ReturnType<typeof machineCpu>>;
  let copyCpu: Record<string, number> = {};
  let copyNodeCpuS = 0;
  let copyToolCpuS = Number.NaN;
  let copyMachine: MoveRun["copyMachine"];
  let targetWalBytes = Number.NaN;
  let lastProgress = 0;
  const failures: string[] = [];
  const options: ToolOptions = {
    out: (l) => toolLines.push(`${round((now() - beforeStart) / 1000, 1)} s ${l}`),
    err: (l) => {
      toolLines.push(`${round((now() - beforeStart) / 1000, 1)} s ${l}`);
      if (now() - lastProgress > 5000 || !l.includes("rows/s")) {
        lastProgress = now();
        log(`reshard: ${l}`);
      }
    },
    hooks: {
      beforeStep: async (step) => {
        if (step === "prepare") {
          walFrom = await walLsn(target);
          table0 = await watcher.table();
          node0 = process.cpuUsage();
          machine0 = await machineCpu();
        }
        // A resumed step keeps its first start.
        steps[step] ??= { start: now(), end: Number.NaN };
      },
      afterStep: async (step) => {
        const s = steps[step];
        if (s) s.end = now();
        if (step === "copy") {
          const table1 = await watcher.table();
          copyCpu = serverCpuBetween(table0, table1, servers);
          copyToolCpuS = processCpuBetween(table0, table1, tool.pid);
          const n = process.cpuUsage(node0);
          copyNodeCpuS = (n.user + n.system) / 1e6;
          const m1 = await machineCpu();
          if (machine0 && m1) {
            const total = m1.total - machine0.total;
            const copyS = ((steps.copy?.end ?? 0) - (steps.prepare?.start ?? 0)) / 1000;
            copyMachine = {
              busyCores: (m1.busy - machine0.busy) / copyS,
              cores: total / copyS,
            };
          }
          targetWalBytes = await walBytes(target, walFrom, await walLsn(target));
        }
      },
    },
  };
  let code = await tool.run(argv, options);
  // What an operator does when a step failed: `resume` (at most twice); the failure is kept in the details.
  for (let k = 0; k < 2 && code !== 0; k++) {
    failures.push(toolLines.filter((l) => l.includes("reshard:")).join(" | "));
    log(`reshard: the move failed (${failures.at(-1)}); resuming`);
    code = await (await startTool(targets)).run(["resume"], options);
  }
  await sleep(cfg.afterMs);
  return {
    from,
    to,
    code,
    steps,
    beforeStart,
    afterEnd: now(),
    copyCpu,
    copyNodeCpuS,
    copyToolCpuS,
    copyMachine,
    targetWalBytes,
    toolLines,
    failures,
  };
}

// ---------------------------------------------------------------------------------------------------------------
// Cutting the load's record into phases

interface Sample {
  body?: string;
  at: number;
  ms: number;
  status: number;
  partial: number;
  spec: LoadSpec;
}

function samples(rec: ReshardLoadRecord, specs: readonly LoadSpec[]): Sample[] {
  return rec.at.map((at, k) => ({
    at,
    ms: rec.ms[k] as number,
    status: rec.status[k] as number,
    partial: rec.partial[k] as number,
    spec: specs[rec.spec[k] as number] as LoadSpec,
    ...(rec.bodies[k] === undefined ? {} : { body: rec.bodies[k] }),
  }));
}

function statusCounts(list: readonly Sample[]): Record<string, number> {
  const out: Record<string, number> = {};
  for (const s of list) {
    const key =
      s.status === -1 ? "dropped" : s.status === 200 && s.partial ? "200 partial" : String(s.status);
    out[key] = (out[key] ?? 0) + 1;
  }
  return out;
}

/**
 * Stalls of this process (the API and the local Data API endpoints run here): every gap of a 10 ms timer over
 * 60 ms, and every garbage collection over 50 ms, with when they happened. A stall every shard's requests share is
 * this process's, not a database's. And how busy its event loop was (utilization per 100 ms, Node's
 * `eventLoopUtilization`) and its CPU: one event loop near 1 queues every request behind the others.
 */
function watchStalls() {
  const gcs: { at: number; ms: number }[] = [];
  const gc = new PerformanceObserver((list) => {
    for (const e of list.getEntries()) {
      if (e.duration > 50) gcs.push({ at: performance.timeOrigin + e.startTime, ms: e.duration });
    }
  });
  gc.observe({ entryTypes: ["gc"] });
  const timer = watchTimerGaps();
  const busy: { at: number; elu: number; cpuMs: number }[] = [];
  let lastElu = performance.eventLoopUtilization();
  let lastCpu = process.cpuUsage();
  let lastAt = now();
  const sampler = setInterval(() => {
    const elu = performance.eventLoopUtilization(lastElu);
    const cpu = process.cpuUsage(lastCpu);
    busy.push({ at: lastAt, elu: elu.utilization, cpuMs: (cpu.user + cpu.system) / 1000 });
    lastElu = performance.eventLoopUtilization();
    lastCpu = process.cpuUsage();
    lastAt = now();
  }, 100);
  sampler.unref();
  return {
    stop() {
      timer.stop();
      clearInterval(sampler);
      gc.disconnect();
    },
    /** Mean event-loop utilization and CPU (cores) of this process in [from, to], and its share of busy 100 ms. */
    busy(from: number, to: number) {
      const xs = busy.filter((x) => x.at >= from && x.at < to);
      const mean = (f: (x: (typeof xs)[number]) => number) =>
        xs.reduce((a, x) => a + f(x), 0) / (xs.length || 1);
      return {
        elu: round(
          mean((x) => x.elu),
          3,
        ),
        cores: round(mean((x) => x.cpuMs) / 100, 3),
        over90: round(xs.filter((x) => x.elu > 0.9).length / (xs.length || 1), 3),
      };
    },
    within(from: number, to: number) {
      return { stalls: gapsWithin(timer.gaps, from, to), gcs: gapsWithin(gcs, from, to) };
    },
  };
}

/**
 * The slowest requests of a phase, in time order, each with its arrival from the phase's start, its kind and id, and
 * what the machine did while it waited (`context`): spikes bunched at one moment (a lock, the subscription's start,
 * another process, the hypervisor) read differently from a spread.
 */
function slowest(
  list: readonly Sample[],
  from: number,
  context: (from: number, to: number) => string,
  n = 16,
) {
  return [...list]
    .filter((s) => s.status !== -1)
    .sort((a, b) => b.ms - a.ms)
    .slice(0, n)
    .sort((a, b) => a.at - b.at)
    .map(
      (s) =>
        `+${round((s.at - from) / 1000, 2)} s ${s.spec.kind} ${s.spec.id} ${round(s.ms)} ms${context(s.at, s.at + s.ms)}`,
    );
}

/**
 * What the machine did in [from, to]: stall time the watcher measured (steal, iowait, PSI waits, summed over the
 * 100 ms samples that overlap it), the busiest processes of its busiest sample, and any timer gap of the idle watcher
 * or of the load's process that overlaps it (the sums always, the rest when there is any).
 */
function machineContext(machine: MachineRecord, loadGaps: readonly { at: number; ms: number }[]) {
  return (from: number, to: number): string => {
    const overlaps = (x: { at: number; ms: number }) => x.at < to && x.at + x.ms > from;
    const hits = machine.samples.filter(overlaps);
    const sum = (f: (x: MachineSample) => number) => Math.round(hits.reduce((a, x) => a + f(x), 0));
    const busiest = [...hits].sort((a, b) => b.cpu.user + b.cpu.system - (a.cpu.user + a.cpu.system))[0];
    const gaps = (label: string, xs: readonly { at: number; ms: number }[]) =>
      xs.filter(overlaps).map((g) => ` ${label} gap ${round(g.ms)} ms`);
    return [
      ` | steal ${sum((x) => x.cpu.steal)} iowait ${sum((x) => x.cpu.iowait)} psi cpu ${sum((x) => x.psi.cpuSome)} io ${sum((x) => x.psi.ioSome)}/${sum((x) => x.psi.ioFull)} mem ${sum((x) => x.psi.memSome)} ms`,
      busiest ? ` top [${busiest.top.join(", ")}]` : "",
      ...gaps("watcher", machine.gaps),
      ...gaps("load", loadGaps),
    ].join("");
  };
}

function phaseStats(list: readonly Sample[]) {
  const ms = list.filter((s) => s.status !== -1).map((s) => s.ms);
  return {
    n: list.length,
    p50: quantile(ms, 0.5),
    p99: quantile(ms, 0.99),
    max: ms.length ? Math.max(...ms) : Number.NaN,
    statuses: statusCounts(list),
  };
}

const within = (list: readonly Sample[], from: number, to: number) =>
  list.filter((s) => s.at >= from && s.at < to);

/** The longest time between two successful completions of moving-range writes in [from, to]. */
function longestGap(writes: readonly Sample[], from: number, to: number): number {
  const done = writes
    .filter((s) => s.status === 200)
    .map((s) => s.at + s.ms)
    .filter((t) => t >= from && t <= to)
    .sort((a, b) => a - b);
  let gap = 0;
  for (let k = 1; k < done.length; k++) gap = Math.max(gap, (done[k] as number) - (done[k - 1] as number));
  return gap;
}

// ---------------------------------------------------------------------------------------------------------------

export async function reshard({ log }: { log: Log }): Promise<ScenarioResult> {
  const cfg = reshardSettings();
  const loadavgAtStart = loadavg().map((l) => round(l, 2));
  const R = cfg.rows;
  const maxId = 2 * R + 2 * cfg.others;
  const moving: IdRange = [R + 1, 2 * R];
  const map = createShardMap([
    { id: 1, ranges: [[1, 2 * R]] },
    { id: 2, ranges: [[2 * R + 1, 2 * R + cfg.others]] },
    { id: 3, ranges: [[2 * R + cfg.others + 1, maxId]] },
    { id: 4, ranges: [] },
  ]);
  const began = performance.now();
  let lastSeedLog = 0;
  const runtime = await startLocalRuntime({
    serverPerShard: true,
    map,
    seed: "all",
    prefix: `bench_reshard_${process.pid}`,
    shardTimeoutMs: SHARD_TIMEOUT_MS,
    logger: new Logger({ logLevel: "ERROR" }),
    onSeedProgress: (loaded, total) => {
      if (loaded < total && performance.now() - lastSeedLog < 5000) return;
      lastSeedLog = performance.now();
      log(`reshard: seeding ${loaded.toLocaleString("en-US")} / ${total.toLocaleString("en-US")} rows`);
    },
  });
  let load: LoadHandle | undefined;
  try {
    const startS = round((performance.now() - began) / 1000, 1);
    log(`reshard: runtime with 4 servers ready in ${startS} s`);
    const shardOf = (id: number) => runtime.shards.find((s) => s.id === id) as LocalShard;
    const postmasters = new Map<number, number>();
    for (const s of runtime.shards) {
      // Read while the backend lives: once the client ends, its /proc entry is gone.
      const pm = await withPg(s, async (c) =>
        postmasterOf(Number((await c.query("SELECT pg_backend_pid() AS p")).rows[0]?.p)),
      );
      if (pm !== undefined) postmasters.set(s.id, pm);
    }
    log(`reshard: postmasters ${JSON.stringify([...postmasters])}`);

    // The fence's cost, on a quiet runtime before the load starts.
    log("reshard: fence cost, database side (shard 2)");
    const db = await fenceDb(shardOf(2), 2 * R + 1, 2 * R + cfg.others);
    log("reshard: fence cost, function side");
    const fence = await fenceCpu();
    const specs = loadSpecs(maxId, 6000);
    const kinds = (["read", "write", "list"] as const).map((kind) => ({
      kind,
      specs: specs.filter((s) => s.kind === kind).slice(0, 400) as RequestSpec[],
    }));
    log("reshard: the function's CPU per request (a process with only the function)");
    const fn = await runFunctionChild({ env: { ...runtime.env }, kinds, rounds: 5, perRound: 100 });

    // The moves, under a steady load.
    load = await startLoad({
      base: runtime.url,
      specs,
      ratePerSec: cfg.rate,
      maxInFlight: 256,
      timeoutMs: 10_000,
      maxMs: 40 * 60_000,
    });
    const loadStart = now();
    const stalls = watchStalls();
    const machineWatch = await startMachineWatch();
    await sleep(3000);
    const runs: MoveRun[] = [];
    for (let r = 0; r < cfg.runs; r++) {
      const [from, to] = r % 2 === 0 ? [1, 4] : [4, 1];
      log(`reshard: run ${r + 1} of ${cfg.runs}: move ${moving[0]}-${moving[1]} from ${from} to ${to}`);
      const run = await move(runtime, moving, from, to, cfg, postmasters, machineWatch, log);
      runs.push(run);
      if (run.code !== 0) throw new Error(`reshard move failed: ${run.toolLines.slice(-3).join(" | ")}`);
    }
    const record = await load.stop();
    stalls.stop();
    const machineRecord = await machineWatch.stop();
    load = undefined;
    const all = samples(record, specs);
    const context = machineContext(machineRecord, record.gaps);
    const samplesFile = process.env.BENCH_RESHARD_SAMPLES;
    if (samplesFile) {
      // Every request ([arrival ms since the epoch, latency ms, kind, id, status]), each run's step times and the
      // machine's record, for a closer look than the slowest lists give.
      const rows = all.map((s) => [s.at, s.ms, s.spec.kind, s.spec.id, s.status]);
      await writeFile(samplesFile, JSON.stringify({ requests: rows, runs, machine: machineRecord }));
      log(`reshard: wrote ${samplesFile}`);
    }
    const lastTarget = runs.at(-1)?.to ?? 4;
    log("reshard: copy probe (plain COPY on the target's server)");
    const probe = await copyProbe(shardOf(lastTarget), moving);

    // Per run
    const perRun = runs.map((run) => {
      const st = (name: string) => run.steps[name] as { start: number; end: number };
      const before = within(all, run.beforeStart, st("prepare").start);
      const copyPhase = within(all, st("prepare").start, st("copy").end);
      const switchFrom = st("freeze").start;
      const switchTo = st("open").end;
      const cleanupPhase = within(all, st("cleanup").start, st("cleanup").end);
      const movingWrites = all.filter(
        (s) => s.spec.kind === "write" && s.spec.id >= moving[0] && s.spec.id <= moving[1],
      );
      // Every moving-range write that arrived while the range was frozen, or just before (it may wait on the lock).
      const switchWrites = within(movingWrites, switchFrom - 500, switchTo);
      const sw = phaseStats(switchWrites);
      const copyS = (st("copy").end - st("prepare").end) / 1000;
      const cpuCores = Object.fromEntries(
        Object.entries(run.copyCpu).map(([k, v]) => [
          k,
          round(v / ((st("copy").end - st("prepare").start) / 1000), 2),
        ]),
      );
      const b = phaseStats(before);
      const c = phaseStats(copyPhase);
      const cl = phaseStats(cleanupPhase);
      return {
        move: `${run.from}->${run.to}`,
        toolFailures: run.failures,
        copyRowsPerS: R / copyS,
        copyS,
        prepareS: (st("prepare").end - st("prepare").start) / 1000,
        frozenMs: switchTo - switchFrom,
        frozenSteps: Object.fromEntries(
          ["freeze", "catchup", "switch-target", "switch-source", "open"].map((n) => [
            n,
            round(st(n).end - st(n).start),
          ]),
        ),
        cleanupS: (st("cleanup").end - st("cleanup").start) / 1000,
        before: b,
        copy: c,
        cleanup: cl,
        beforeSlowest: slowest(before, run.beforeStart, context),
        copySlowest: slowest(copyPhase, st("prepare").start, context),
        beforeApiProcessStalls: stalls.within(run.beforeStart, st("prepare").start),
        apiProcessBusy: {
          before: stalls.busy(run.beforeStart, st("prepare").start),
          copy: stalls.busy(st("prepare").start, st("copy").end),
          cleanup: stalls.busy(st("cleanup").start, st("cleanup").end),
        },
        copyApiProcessStalls: stalls.within(st("prepare").start, st("copy").end),
        cleanupSlowest: slowest(cleanupPhase, st("cleanup").start, context),
        machineGaps: {
          before: gapsWithin(machineRecord.gaps, run.beforeStart, st("prepare").start),
          copy: gapsWithin(machineRecord.gaps, st("prepare").start, st("copy").end),
        },
        loadProcessGaps: {
          before: gapsWithin(record.gaps, run.beforeStart, st("prepare").start),
          copy: gapsWithin(record.gaps, st("prepare").start, st("copy").end),
        },
        copyRatio: c.p99 / b.p99,
        cleanupRatio: cl.p99 / b.p99,
        switchWrites: sw,
        switchRefusals: switchWrites
          .filter((w) => w.status !== 200)
          .map((w) => ({ afterFreezeMs: round(w.at - switchFrom), ms: round(w.ms), body: w.body })),
        switchWriteGapMs: longestGap(movingWrites, switchFrom - 500, switchTo + 2500),
        copyCpuCores: cpuCores,
        copyNodeCores: round(run.copyNodeCpuS / ((st("copy").end - st("prepare").start) / 1000), 2),
        copyToolCores: round(run.copyToolCpuS / ((st("copy").end - st("prepare").start) / 1000), 2),
        copyMachine: run.copyMachine,
        targetWalMB: round(run.targetWalBytes / 2 ** 20, 1),
      };
    });

    // Fencing, function side
    const fnKinds = Object.fromEntries(fn.kinds.map((k) => [k.kind, k])) as Record<
      Kind,
      FunctionCpuResult["kinds"][number]
    >;
    const fenceShare = (["read", "write", "list"] as const).map((kind) => {
      const f = fence[kind];
      const calls = fnKinds[kind]?.calls ?? 1;
      const cpuMs = median(fnKinds[kind]?.cpuMs ?? []);
      const deltaUs = median(f.deltaUs);
      // Per round: that round's delta over the function's median CPU per request.
      const perRound = f.deltaUs.map((d) => (d * calls) / 1000 / cpuMs);
      return {
        kind,
        calls,
        cpuMs,
        deltaUs,
        share: (deltaUs * calls) / 1000 / cpuMs,
        perRound,
        fencedUs: median(f.fencedUs),
        plainUs: median(f.plainUs),
      };
    });
    const worstShare = fenceShare.reduce((a, b) => (b.share > a.share ? b : a));
    const dbUs = Object.fromEntries(Object.entries(db).map(([k, v]) => [k, median(v)])) as Record<
      keyof typeof db,
      number
    >;

    // Figures
    const rates = perRun.map((p) => p.copyRowsPerS);
    const switchMax = perRun.map((p) => p.switchWrites.max);
    const switchP99 = perRun.map((p) => p.switchWrites.p99);
    const switchRefused = perRun.map((p) => p.switchWrites.statuses["503"] ?? 0);
    const copyRatios = perRun.map((p) => p.copyRatio);
    const cleanupRatios = perRun.map((p) => p.cleanupRatio);
    const first = perRun[0];
    const cores = (p: (typeof perRun)[number]) =>
      Object.entries(p.copyCpuCores)
        .filter(([, v]) => v >= 0.05)
        .sort((a, b) => b[1] - a[1])
        .map(([k, v]) => `${k} ${v}`)
        .join(", ");
    const nRows = R.toLocaleString("en-US");
    const probeRate = (ms: number) => Math.round(R / (ms / 1000));
    const okSwitch = perRun.map(
      (p) => (p.switchWrites.statuses["503"] ?? 0) === 0 && p.switchWrites.max <= SHARD_TIMEOUT_MS,
    );
    const figures: Figure[] = [
      {
        id: "reshard.copyRate",
        figure: `reshard: rows copied per second, ${nRows} rows moved (serverPerShard, ${cfg.rate} req/s load)`,
        measured: spread(rates, 0, " rows/s"),
        value: median(rates),
        goal: "report",
        pass: null,
        baseline: `run 1: ${round(first?.copyS ?? Number.NaN, 1)} s; cores during copy: ${first ? cores(first) : ""}, the API's process (API + its local Data API) ${first?.copyNodeCores}, the tool's process (tool + its Data API endpoints) ${first?.copyToolCores}, machine ${round(first?.copyMachine?.busyCores ?? Number.NaN, 2)} of ${round(first?.copyMachine?.cores ?? Number.NaN, 1)} busy; target WAL ${first?.targetWalMB} MB; plain COPY on the target: into a table with its PK ${probeRate(probe.copyInPkMs)} rows/s, without ${probeRate(probe.copyInNoPkMs)} rows/s + index ${round(probe.indexMs / 1000, 1)} s; COPY out ${probeRate(probe.copyOutMs)} rows/s`,
      },
      {
        id: "reshard.switchWrites",
        figure: "reshard: writes to the moving range during the switch (freeze to open): longest / p99",
        measured: `longest ${spread(switchMax, 0, " ms")}; p99 ${spread(switchP99, 0, " ms")}`,
        value: Math.max(...switchMax),
        goal: `<= ${SHARD_TIMEOUT_MS} ms (shard timeout), none refused, every run`,
        ...overRuns(
          okSwitch.map((ok) => (ok ? 1 : 0)),
          (v) => v === 1,
        ),
        baseline: `frozen window (tool) ${spread(
          perRun.map((p) => p.frozenMs),
          0,
          " ms",
        )}; 503 per run ${switchRefused.join("/")}; writes per run ${perRun.map((p) => p.switchWrites.n).join("/")}; longest gap between successful writes ${spread(
          perRun.map((p) => p.switchWriteGapMs),
          0,
          " ms",
        )}`,
      },
      {
        id: "reshard.copyP99",
        figure: "reshard: API p99 (reads + writes, all ranges) during the copy / before the move",
        measured: spread(copyRatios, 2, "x"),
        value: median(copyRatios),
        goal: "<= 2x in every run",
        ...overRuns(copyRatios, (r) => r <= 2),
        baseline: `p99 before ${perRun.map((p) => round(p.before.p99, 1)).join("/")} ms, during copy ${perRun.map((p) => round(p.copy.p99, 1)).join("/")} ms`,
      },
      {
        id: "reshard.cleanupP99",
        figure: "reshard: API p99 (reads + writes, all ranges) during cleanup / before the move",
        measured: spread(cleanupRatios, 2, "x"),
        value: median(cleanupRatios),
        goal: "<= 2x in every run",
        ...overRuns(cleanupRatios, (r) => r <= 2),
        baseline: `p99 during cleanup ${perRun.map((p) => round(p.cleanup.p99, 1)).join("/")} ms; cleanup ${perRun.map((p) => round(p.cleanupS, 1)).join("/")} s`,
      },
      {
        id: "reshard.fenceCpu",
        figure: "reshard: fence's share of the function's CPU per request (happy path), worst kind",
        measured: `${round(worstShare.share * 100, 2)} % (${worstShare.kind})`,
        value: worstShare.share * 100,
        goal: "<= 3 % in every round",
        ...overRuns(
          fenceShare.flatMap((k) => k.perRound),
          (s) => s <= 0.03,
        ),
        baseline: fenceShare
          .map(
            (k) =>
              `${k.kind}: +${round(k.deltaUs, 1)} µs x ${round(k.calls, 2)} calls of ${round(k.cpuMs, 2)} ms (${round(k.share * 100, 2)} %)`,
          )
          .join("; "),
      },
      {
        id: "reshard.fenceDb",
        figure: "reshard: fence on the database, per statement (shard 2, unnamed statements, round trip)",
        measured: `read +${round(dbUs.fencedRead - dbUs.plainRead, 0)} µs, write +${round(dbUs.fencedWrite - dbUs.plainWrite, 0)} µs`,
        value: dbUs.fencedRead - dbUs.plainRead,
        goal: "info",
        pass: null,
        baseline: `read ${round(dbUs.fencedRead, 0)} vs ${round(dbUs.plainRead, 0)} µs, write ${round(dbUs.fencedWrite, 0)} vs ${round(dbUs.plainWrite, 0)} µs (fenced vs unfenced, median of 10 rounds)`,
      },
    ];
    log(
      `reshard: copy ${spread(rates, 0, " rows/s")}; switch longest ${switchMax.map((v) => round(v, 0)).join("/")} ms; copy p99 x${copyRatios.map((v) => round(v, 2)).join("/")}, cleanup x${cleanupRatios.map((v) => round(v, 2)).join("/")}`,
    );
    const details = {
      settings: cfg,
      startSeconds: startS,
      loadSeconds: round((now() - loadStart) / 1000, 1),
      loadStatuses: statusCounts(all),
      runs: perRun.map((p) => ({
        ...p,
        copyRowsPerS: Math.round(p.copyRowsPerS),
        copyRatio: round(p.copyRatio, 3),
        cleanupRatio: round(p.cleanupRatio, 3),
        switchWriteGapMs: round(p.switchWriteGapMs),
      })),
      toolLines: runs.map((r) => r.toolLines.filter((l) => !l.includes("rows/s") || l.includes("done"))),
      copyProbe: {
        ...Object.fromEntries(Object.entries(probe).map(([k, v]) => [k, round(v, 1)])),
        rowsPerS: {
          copyOut: probeRate(probe.copyOutMs),
          copyInPk: probeRate(probe.copyInPkMs),
          copyInNoPk: probeRate(probe.copyInNoPkMs),
          copyInNoPkPlusIndex: probeRate(probe.copyInNoPkMs + probe.indexMs),
        },
      },
      fenceFunction: fenceShare,
      functionCpu: fn.kinds,
      fenceDbUs: Object.fromEntries(Object.entries(db).map(([k, v]) => [k, v.map((x) => round(x, 1))])),
    };
    await writeResults(fileURLToPath(new URL("../results/reshard.json", import.meta.url)), {
      date: new Date().toISOString(),
      machine: { ...machine(), loadavgAtEnd: loadavg().map((l) => round(l, 2)), loadavgAtStart },
      figures,
      details,
    });
    log("reshard: wrote bench/results/reshard.json");
    return { figures, details };
  } finally {
    if (load) await load.stop().catch(() => undefined);
    await runtime.stop();
  }
}
