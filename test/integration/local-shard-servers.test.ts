/**
 * A runtime with one PostgreSQL server per shard (`serverPerShard`, what `npm start` runs): each shard is its own
 * failure domain, as each is its own Aurora cluster in AWS, with its own database, roles and fence; `GET
 * /_local/shards` hands the reshard tool every shard's admin coordinates; and a shard that owns nothing yet starts and
 * serves beside the others.
 */
import { readFile } from "node:fs/promises";
import { request as httpRequest } from "node:http";
import { connect } from "node:net";
import { join } from "node:path";
import { Logger } from "@aws-lambda-powertools/logger";
import { ExecuteStatementCommand, RDSDataClient } from "@aws-sdk/client-rds-data";
import pg from "pg";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { createShardMap, DEFAULT_SHARD_RANGES } from "../../functions/core/shard-map.js";
import { localArns } from "../../local/arns.js";
import { type LocalRuntime, type LocalShard, startLocalRuntime } from "../../local/runtime.js";
import type { LocalAdminTarget } from "../../local/shards-route.js";
import { BREAKER_OFF, get, request } from "../helpers/api-client.js";
import { ALL_IDS } from "../helpers/fixtures.js";
import { eventually } from "../helpers/wait.js";

/** The default map plus shard 4, which owns nothing yet (a new shard waiting for its first assign or move). */
const MAP = createShardMap([...DEFAULT_SHARD_RANGES, { id: 4, ranges: [] }]);

let runtime: LocalRuntime;
const progress: [number, number][] = [];

beforeAll(async () => {
  runtime = await startLocalRuntime({
    serverPerShard: true,
    map: MAP,
    prefix: `servers_${process.pid}`,
    shardTimeoutMs: 1000,
    // No circuit breaker: every read below calls every shard, so each answer says what the shard itself did.
    env: BREAKER_OFF,
    logger: new Logger({ serviceName: "local-shard-servers", logLevel: "ERROR" }),
    onSeedProgress: (loaded, total) => progress.push([loaded, total]),
  });
});

afterAll(async () => {
  await runtime?.stop();
});

const shard = (id: number) => runtime.shards.find((s) => s.id === id) as LocalShard;

/** A query as PostgreSQL's superuser on the shard's own server, in its database (or `database`). */
async function superuserQuery<T extends pg.QueryResultRow>(
  s: LocalShard,
  sql: string,
  database = s.database,
): Promise<T[]> {
  const client = new pg.Client({ ...s.postgres, database });
  await client.connect();
  try {
    return (await client.query<T>(sql)).rows;
  } finally {
    await client.end();
  }
}

/** One statement through the shard's local Data API endpoint, with the function's or the owner's secret. */
async function dataApi(s: LocalShard, secret: "function" | "owner", sql: string) {
  const client = new RDSDataClient({
    endpoint: s.endpoint.url,
    region: "us-east-1",
    credentials: { accessKeyId: "local", secretAccessKey: "local" },
    maxAttempts: 1,
  });
  try {
    const arns = localArns(s.id);
    const answer = await client.send(
      new ExecuteStatementCommand({
        resourceArn: arns.resourceArn,
        secretArn: secret === "owner" ? arns.secretArn : arns.functionSecretArn,
        sql,
        formatRecordsAs: "JSON",
      }),
    );
    return JSON.parse(answer.formattedRecords ?? "[]") as Record<string, unknown>[];
  } finally {
    client.destroy();
  }
}

function portIsOpen(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect({ host: "127.0.0.1", port });
    socket.once("connect", () => {
      socket.destroy();
      resolve(true);
    });
    socket.once("error", () => resolve(false));
  });
}

interface ShardReport {
  shard: number;
  status: string;
}

/** GET /data over every id: the rows' ids and each shard's report. */
async function readAll(): Promise<{ ids: number[]; reports: Map<number, string>; partial: boolean }> {
  const answer = await get(runtime.url, "/data?limit=1000");
  expect(answer.status, answer.raw).toBe(200);
  return {
    ids: (answer.body.items as { id: number }[]).map((r) => r.id),
    reports: new Map((answer.body.shards as ShardReport[]).map((r) => [r.shard, r.status])),
    partial: answer.body.partial as boolean,
  };
}

describe("one PostgreSQL server per shard", () => {
  it("runs every shard on its own postmaster: a separate process, port and data directory", async () => {
    const servers = runtime.shards.map((s) => s.server);
    expect(servers.every((s) => s !== undefined)).toBe(true);
    const ports = runtime.shards.map((s) => s.postgres.port);
    expect(new Set(ports).size).toBe(MAP.shards.length);
    expect(new Set(servers.map((s) => s?.dataDir)).size).toBe(MAP.shards.length);
    // The postmaster's pid is the first line of postmaster.pid in its data directory.
    const pids = await Promise.all(
      servers.map(async (s) =>
        Number((await readFile(join(s?.dataDir ?? "", "data", "postmaster.pid"), "utf8")).split("\n")[0]),
      ),
    );
    expect(new Set(pids).size).toBe(MAP.shards.length);
    for (const pid of pids) expect(() => process.kill(pid, 0)).not.toThrow();
    // Each server answers on its own port from its own data directory, and holds its own shard's database only.
    for (const s of runtime.shards) {
      const [where] = await superuserQuery<{ port: number; dir: string }>(
        s,
        "SELECT inet_server_port() AS port, current_setting('data_directory') AS dir",
      );
      expect(where).toEqual({ port: s.postgres.port, dir: join(s.server?.dataDir ?? "", "data") });
      const databases = await superuserQuery<{ datname: string }>(
        s,
        `SELECT datname FROM pg_database WHERE datname LIKE 'servers\\_%' ORDER BY datname`,
        "postgres",
      );
      expect(databases.map((d) => d.datname)).toEqual([s.database]);
    }
  });

  it("reports the seed's progress summed over the servers that load it at once", () => {
    expect(progress.at(-1)).toEqual([60, 60]);
    for (let k = 1; k < progress.length; k++) {
      expect((progress[k] as [number, number])[0]).toBeGreaterThanOrEqual(
        (progress[k - 1] as [number, number])[0],
      );
    }
  });

  it("fails only that shard through the API while one shard's server is down, and a restart heals it", async () => {
    const before = await readAll();
    for (const id of [1, 2, 3]) expect(before.reports.get(id), `shard ${id}`).toBe("ok");
    expect(before.ids).toEqual(ALL_IDS);

    const victim = shard(2);
    const restarted = victim.server?.restart({ downMs: 4000 });
    try {
      expect(await eventually(async () => !(await portIsOpen(victim.postgres.port)), 10_000)).toBe(true);
      const during = await readAll();
      expect(during.partial).toBe(true);
      expect(["error", "timeout"]).toContain(during.reports.get(2));
      for (const id of [1, 3]) expect(during.reports.get(id), `shard ${id}`).toBe("ok");
      // Every row of the other shards, none of shard 2's.
      expect(during.ids).toEqual(ALL_IDS.filter((id) => MAP.ownerOf(id) !== 2));
    } finally {
      await restarted;
    }
    // The endpoint reconnects by itself once its server is back.
    const healed = await eventually(
      async () => {
        const after = await readAll();
        return !after.partial && after.ids.length === ALL_IDS.length;
      },
      15_000,
      200,
    );
    expect(healed).toBe(true);
  }, 60_000);

  it("gives every shard the fence of the map it started with, on its own server", async () => {
    const fences = await Promise.all(
      runtime.shards.map(async (s) =>
        superuserQuery(s, "SELECT shard, version, owned::text, unowned::text FROM sharding.fence"),
      ),
    );
    const unowned = "{[-2147483648,1),[61,2147483648)}";
    expect(fences).toEqual([
      [{ shard: 1, version: "1", owned: "{[1,11),[31,41)}", unowned }],
      [{ shard: 2, version: "1", owned: "{[11,21),[41,51)}", unowned }],
      [{ shard: 3, version: "1", owned: "{[21,31),[51,61)}", unowned }],
      [{ shard: 4, version: "1", owned: "{}", unowned }],
    ]);
  });

  it("lets the function's role read the fence but neither call sharding.set_fence nor UPDATE sharding.fence", async () => {
    for (const s of runtime.shards) {
      expect(await dataApi(s, "function", "SELECT version::int AS version FROM sharding.fence")).toEqual([
        { version: 1 },
      ]);
      await expect(
        dataApi(s, "function", "SELECT sharding.set_fence(2, '{}', '{}', '{}', '{}'::jsonb)"),
      ).rejects.toThrow(/permission denied for function set_fence/);
      await expect(dataApi(s, "function", "UPDATE sharding.fence SET version = 2")).rejects.toThrow(
        /permission denied for table fence/,
      );
      // The owner's ("master") secret, the reshard tool's, may: here it writes the same fence again.
      const same =
        "SELECT sharding.set_fence(version, owned::text, frozen::text, unowned::text, map) AS v FROM sharding.fence";
      expect(await dataApi(s, "owner", same)).toEqual([{ v: 1 }]);
    }
  });
});

/** GET `path` (`/_local/shards` by default) with any Host header (fetch cannot set one). */
function getWithHost(host: string, path = "/_local/shards"): Promise<{ status: number; body: string }> {
  const url = new URL(`${runtime.url}${path}`);
  return new Promise((resolve, reject) => {
    const req = httpRequest(
      { host: url.hostname, port: url.port, path: url.pathname, headers: { host } },
      (res) => {
        let body = "";
        res.on("data", (c: Buffer) => {
          body += c.toString("utf8");
        });
        res.on("end", () => resolve({ status: res.statusCode ?? 0, body }));
      },
    );
    req.on("error", reject);
    req.end();
  });
}

describe("GET /_local/shards", () => {
  it("answers every shard's endpoint, ARNs with the owner's secret, database and its own server's coordinates", async () => {
    const answer = await get(runtime.url, "/_local/shards");
    expect(answer.status).toBe(200);
    expect(answer.headers.get("access-control-allow-origin")).toBeNull();
    expect(answer.headers.get("cache-control")).toBe("no-store");
    expect(answer.body).toEqual({ shards: runtime.adminTargets });
    expect(runtime.adminTargets).toEqual(
      runtime.shards.map((s) => ({
        id: s.id,
        endpoint: s.endpoint.url,
        resourceArn: localArns(s.id).resourceArn,
        secretArn: localArns(s.id).secretArn,
        database: s.database,
        replication: {
          host: "127.0.0.1",
          port: s.postgres.port,
          user: expect.stringMatching(/_owner$/),
          password: expect.stringMatching(/^[0-9a-f]{24}$/),
          dbname: s.database,
        },
      })),
    );
  });

  it("gives coordinates that sign in as the owner role, without superuser but with REPLICATION, on the shard's own server", async () => {
    for (const target of runtime.adminTargets) {
      const { host, port, user, password, dbname } = target.replication;
      const client = new pg.Client({ host, port, user, password, database: dbname });
      await client.connect();
      try {
        const { rows } = await client.query(
          "SELECT current_user AS me, current_database() AS db, inet_server_port() AS port, rolsuper, rolreplication FROM pg_roles WHERE rolname = current_user",
        );
        expect(rows).toEqual([{ me: user, db: dbname, port, rolsuper: false, rolreplication: true }]);
      } finally {
        await client.end();
      }
      // The endpoint with the owner's secret runs statements as that same role.
      const s = shard(target.id);
      expect(await dataApi(s, "owner", "SELECT current_user AS me")).toEqual([{ me: user }]);
    }
  });

  it("gives coordinates another shard's server subscribes with: logical replication copies rows across servers", async () => {
    const [from, to] = [runtime.adminTargets[0], runtime.adminTargets[3]] as [
      LocalAdminTarget,
      LocalAdminTarget,
    ];
    const asOwner = async (target: LocalAdminTarget, statements: string[]) => {
      const { host, port, user, password, dbname } = target.replication;
      const client = new pg.Client({ host, port, user, password, database: dbname });
      await client.connect();
      try {
        const out = [];
        for (const sql of statements) out.push((await client.query(sql)).rows);
        return out;
      } finally {
        await client.end();
      }
    };
    const r = from.replication;
    const conninfo = `host=${r.host} port=${r.port} user=${r.user} password=${r.password} dbname=${r.dbname}`;
    await asOwner(from, [
      "CREATE TABLE probe_copy (id int PRIMARY KEY)",
      "INSERT INTO probe_copy SELECT generate_series(1, 5)",
      "CREATE PUBLICATION probe_copy FOR TABLE probe_copy",
    ]);
    await asOwner(to, [
      "CREATE TABLE probe_copy (id int PRIMARY KEY)",
      `CREATE SUBSCRIPTION probe_copy CONNECTION '${conninfo}' PUBLICATION probe_copy`,
    ]);
    try {
      const copied = await eventually(
        async () => {
          const [rows] = await asOwner(to, ["SELECT count(*)::int AS n FROM probe_copy"]);
          return (rows?.[0] as { n: number } | undefined)?.n === 5;
        },
        15_000,
        100,
      );
      expect(copied).toBe(true);
    } finally {
      await asOwner(to, ["DROP SUBSCRIPTION probe_copy", "DROP TABLE probe_copy"]);
      await asOwner(from, ["DROP PUBLICATION probe_copy", "DROP TABLE probe_copy"]);
    }
  }, 30_000);

  it("refuses a request addressed to a host name other than this machine's, and one from another site", async () => {
    const rebound = await getWithHost("evil.example:3000");
    expect(rebound.status).toBe(403);
    expect(JSON.parse(rebound.body)).toMatchObject({ error: { code: "host_refused" } });
    expect(rebound.body).not.toContain("password");
    expect((await getWithHost("localhost")).status).toBe(200);
    expect((await getWithHost(`[::1]:${new URL(runtime.url).port}`)).status).toBe(200);

    const crossSite = await request(runtime.url, "/_local/shards", {
      headers: { origin: "https://evil.example", "sec-fetch-site": "cross-site" },
    });
    expect(crossSite.status).toBe(403);
    expect(crossSite.body).toMatchObject({ error: { code: "cross_site_refused" } });
    // The faults route has the same guard.
    expect((await getWithHost("evil.example", "/_local/faults")).status).toBe(403);
    expect((await request(runtime.url, "/_local/shards", { method: "POST", body: {} })).status).toBe(405);
  });
});

describe("a shard that owns nothing yet", () => {
  it("starts empty, serves its Data API endpoint, and every read of the API stays whole beside it", async () => {
    expect(shard(4)).toMatchObject({ ranges: [], rows: 0 });
    expect(await dataApi(shard(4), "function", "SELECT count(*)::int AS n FROM data_1")).toEqual([{ n: 0 }]);
    const read = await readAll();
    expect(read.partial).toBe(false);
    expect(read.ids).toEqual(ALL_IDS);
    for (const id of [1, 2, 3]) expect(read.reports.get(id)).toBe("ok");
    // It holds no ids, so a read has nothing to ask it: called (ok) or not (skipped), never a failure.
    expect(["ok", "skipped"]).toContain(read.reports.get(4));
  });

  it("takes faults like any other shard, and a read that needs none of its ids does not suffer them", async () => {
    await runtime.setFault(4, { mode: "down" });
    try {
      const listing = await get(runtime.url, "/_local/faults");
      expect(listing.body.faults).toContainEqual({ shard: 4, fault: "down", breaker: "closed" });
      await expect(dataApi(shard(4), "function", "SELECT 1")).rejects.toThrow(/ECONNREFUSED/);
      const read = await readAll();
      expect(read.partial).toBe(false);
      expect(read.ids).toEqual(ALL_IDS);
    } finally {
      await runtime.setFault(4, undefined);
    }
    expect(await dataApi(shard(4), "function", "SELECT 1 AS one")).toEqual([{ one: 1 }]);
  });
});

describe("a runtime on a shared server with its own TABLE_NAME", () => {
  it("serves its rows from that table (the roles are granted it, not data_1), every shard on the given server", async () => {
    const own = await startLocalRuntime({
      postgres: inject("postgres"),
      prefix: `servers_table_${process.pid}`,
      env: { TABLE_NAME: "items" },
      seed: 6,
      logger: new Logger({ serviceName: "local-shard-servers", logLevel: "ERROR" }),
    });
    try {
      const read = await get(own.url, "/data");
      expect(read.status).toBe(200);
      expect(read.body.items).toHaveLength(6);
      // Every shard on the one server it was given; no server of its own to restart.
      expect(
        own.shards.every((s) => s.postgres.port === inject("postgres").port && s.server === undefined),
      ).toBe(true);
      expect(own.adminTargets.map((t) => t.replication.port)).toEqual(
        own.shards.map(() => inject("postgres").port),
      );
    } finally {
      await own.stop();
    }
  });
});
