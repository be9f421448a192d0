/**
 * The embedded PostgreSQL the local Data API runs on: independent servers, clean shutdown on every kind of exit,
 * and the seeded shard databases.
 */
import { type ChildProcess, execFile, spawn } from "node:child_process";
import { existsSync } from "node:fs";
import { tmpdir } from "node:os";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import pg from "pg";
import { describe, expect, inject, it } from "vitest";
import { ConfigError } from "../../functions/core/errors.js";
import { createShardMap, DEFAULT_SHARD_RANGES } from "../../functions/core/shard-map.js";
import { createShardDatabases, type PostgresConnection, startPostgres } from "../../local/postgres.js";
import { eventually } from "../helpers/wait.js";

const CHILD = fileURLToPath(new URL("../helpers/data-api-postgres-child.ts", import.meta.url));

/** `ps` lines of live processes whose command line mentions `text` (a data directory). */
async function processesMentioning(text: string): Promise<string[]> {
  const { stdout } = await promisify(execFile)("ps", ["-eo", "pid=,args="]);
  return stdout.split("\n").filter((line) => line.includes(text));
}

async function query<T extends pg.QueryResultRow>(
  connection: PostgresConnection,
  database: string,
  sql: string,
) {
  const client = new pg.Client({ ...connection, database });
  await client.connect();
  try {
    return (await client.query<T>(sql)).rows;
  } finally {
    await client.end();
  }
}

/** A Node process running PostgreSQL, as `npm start` would. */
async function startChild(): Promise<{ child: ChildProcess; dataDir: string; port: number }> {
  const child = spawn(process.execPath, ["--import", "tsx", CHILD], { stdio: ["ignore", "pipe", "ignore"] });
  const line = await new Promise<string>((resolve, reject) => {
    if (!child.stdout) throw new Error("no stdout");
    createInterface({ input: child.stdout }).once("line", resolve);
    child.once("exit", (code) => reject(new Error(`the child exited early with code ${code}`)));
  });
  return { child, ...(JSON.parse(line) as { dataDir: string; port: number }) };
}

async function isGone(dataDir: string): Promise<boolean> {
  return !existsSync(dataDir) && (await processesMentioning(dataDir)).length === 0;
}

describe("startPostgres", () => {
  it("starts two servers at once on different free ports, and stop() leaves no process or data behind", async () => {
    const servers = await Promise.all([startPostgres(), startPostgres()]);
    const [a, b] = servers;
    if (!a || !b) throw new Error("no servers");
    try {
      expect(a.port).not.toBe(b.port);
      expect(a.dataDir).not.toBe(b.dataDir);
      for (const server of servers) {
        expect(server.dataDir.startsWith(tmpdir())).toBe(true);
        const rows = await query<{ port: string }>(
          server,
          "postgres",
          "SELECT current_setting('port') AS port",
        );
        expect(rows).toEqual([{ port: String(server.port) }]);
        expect(await processesMentioning(server.dataDir)).not.toEqual([]);
      }
    } finally {
      await Promise.all(servers.map((server) => server.stop()));
    }
    for (const server of servers) {
      expect(await processesMentioning(server.dataDir)).toEqual([]);
      expect(existsSync(server.dataDir)).toBe(false);
    }
    // Stopping twice is harmless.
    await a.stop();
  });

  it("leaves no PostgreSQL behind when its Node process is killed with SIGKILL or SIGTERM", async () => {
    const children = await Promise.all([startChild(), startChild()]);
    const [killed, terminated] = children;
    if (!killed || !terminated) throw new Error("no children");
    for (const { dataDir } of children) {
      expect(existsSync(dataDir)).toBe(true);
      expect(await processesMentioning(dataDir)).not.toEqual([]);
    }
    // SIGKILL gives the process no chance at all: the watchdog cleans up. SIGTERM runs the exit hooks.
    killed.child.kill("SIGKILL");
    terminated.child.kill("SIGTERM");
    expect(await eventually(() => isGone(killed.dataDir), 15_000)).toBe(true);
    expect(await eventually(() => isGone(terminated.dataDir), 15_000)).toBe(true);
  });
});

describe("createShardDatabases", () => {
  const postgres = () => inject("postgres");
  const map = createShardMap(DEFAULT_SHARD_RANGES);

  it("creates one database per shard holding exactly the shard's ids, named Test N", async () => {
    const databases = await createShardDatabases(postgres(), map, { prefix: "dapi_pg_seed" });
    expect(databases).toEqual([
      { shard: 1, database: "dapi_pg_seed_shard1", rows: 20 },
      { shard: 2, database: "dapi_pg_seed_shard2", rows: 20 },
      { shard: 3, database: "dapi_pg_seed_shard3", rows: 20 },
    ]);
    for (const { shard, database } of databases) {
      const rows = await query<{ id: number; name: string }>(
        postgres(),
        database,
        "SELECT id, name FROM data_1 ORDER BY id",
      );
      const expected = [...map.ids()]
        .filter((owned) => owned.shard === shard)
        .map(({ id }) => ({ id, name: `Test ${id}` }));
      expect(rows).toEqual(expected);
      expect(rows).toHaveLength(20);
    }
  });

  it("recreates the databases fresh on every call", async () => {
    const [first] = await createShardDatabases(postgres(), map, { prefix: "dapi_pg_fresh" });
    if (!first) throw new Error("no database");
    await query(postgres(), first.database, "INSERT INTO data_1 VALUES (9999, 'stale')");
    await createShardDatabases(postgres(), map, { prefix: "dapi_pg_fresh" });
    const rows = await query<{ n: string }>(
      postgres(),
      first.database,
      "SELECT count(*) AS n FROM data_1 WHERE id = 9999",
    );
    expect(rows).toEqual([{ n: "0" }]);
  });

  it("creates an empty table of another name when asked not to seed", async () => {
    const [first] = await createShardDatabases(postgres(), map, {
      prefix: "dapi_pg_empty",
      tableName: "items",
      seed: false,
    });
    if (!first) throw new Error("no database");
    expect(await query(postgres(), first.database, "SELECT * FROM items")).toEqual([]);
  });

  it("refuses a table name or prefix that is not an SQL identifier", async () => {
    await expect(
      createShardDatabases(postgres(), map, { prefix: "dapi_pg_bad", tableName: "data; DROP" }),
    ).rejects.toThrow(ConfigError);
    await expect(createShardDatabases(postgres(), map, { prefix: "bad-prefix" })).rejects.toThrow(
      ConfigError,
    );
  });
});
