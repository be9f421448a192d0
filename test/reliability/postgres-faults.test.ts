/**
 * Real database faults, not injected ones: PostgreSQL backends terminated under running statements, and the whole
 * server restarted while 50 clients read. A dead connection fails only its own call, as a Data API error the
 * function reports as that shard's `error`; the process never dies of an unhandled `error` event; and the runtime
 * heals by itself once the database is back.
 */

import { Logger } from "@aws-lambda-powertools/logger";
import { ExecuteStatementCommand } from "@aws-sdk/client-rds-data";
import pg from "pg";
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, inject, it } from "vitest";
import { type PostgresServer, startPostgres } from "../../local/postgres.js";
import { type LocalRuntime, startLocalRuntime } from "../../local/runtime.js";
import { type Answer, httpClient } from "../helpers/api-client.js";
import { dataApiClient } from "../helpers/data-api.js";
import { startRuntime } from "../helpers/reliability-runtime.js";
import { eventually } from "../helpers/wait.js";

const READERS = 50;

/** Uncaught exceptions (an `error` event nobody listens to ends up here) and unhandled rejections. */
let crashes: unknown[];
const onCrash = (error: unknown) => crashes.push(error);

beforeEach(() => {
  crashes = [];
  process.on("uncaughtException", onCrash);
  process.on("unhandledRejection", onCrash);
});

afterEach(() => {
  process.off("uncaughtException", onCrash);
  process.off("unhandledRejection", onCrash);
});

/** `READERS` clients reading `GET /data` in a loop until `stop()`; resolves with every answer. */
function readUnderLoad(runtime: LocalRuntime) {
  const client = httpClient(runtime.url, READERS);
  let running = true;
  const loops = Array.from({ length: READERS }, async () => {
    const answers: Answer[] = [];
    while (running) answers.push(await client.call("GET", "/data?limit=1000"));
    return answers;
  });
  return {
    async stop(): Promise<Answer[]> {
      running = false;
      const answers = (await Promise.all(loops)).flat();
      client.close();
      return answers;
    },
  };
}

const shardStatuses = (answers: Answer[]) =>
  answers.flatMap((a) =>
    (a.body.shards as { status: string; error?: string }[]).map((s) => s.error ?? s.status),
  );

async function allShardsOk(runtime: LocalRuntime): Promise<boolean> {
  const response = await fetch(`${runtime.url}/data?limit=1000`);
  const body = (await response.json()) as { items: unknown[]; shards: { status: string }[] };
  return body.shards.every((s) => s.status === "ok") && body.items.length === 60;
}

describe("backends terminated under running statements (pg_terminate_backend)", () => {
  let runtime: LocalRuntime;
  let admin: pg.Client;
  const prefix = `rel_pgterm_${process.pid}`;

  beforeAll(async () => {
    runtime = await startRuntime("pgterm");
    admin = new pg.Client({ ...inject("postgres"), database: "postgres" });
    await admin.connect();
  });

  afterAll(async () => {
    await admin?.end();
    await runtime?.stop();
  });

  it("fails the running call with a Data API error, and the endpoint serves the next call", async () => {
    const shard = runtime.shards[0];
    if (!shard) throw new Error("no shard");
    const client = dataApiClient(shard.endpoint.url);
    const cluster = {
      resourceArn: shard.resourceArn,
      secretArn: JSON.parse(runtime.env.SHARDS ?? "[]")[0].secretArn,
    };
    const sleeping = client
      .send(new ExecuteStatementCommand({ ...cluster, sql: "SELECT pg_sleep(30)" }))
      .catch((e: unknown) => e);
    const killed = await eventually(async () => {
      const { rows } = await admin.query(
        "SELECT pg_terminate_backend(pid) AS done FROM pg_stat_activity WHERE datname = $1 AND query LIKE 'SELECT pg_sleep%'",
        [shard.database],
      );
      return rows.length > 0;
    });
    expect(killed).toBe(true);
    const error = await sleeping;
    expect((error as Error).name).toBe("DatabaseErrorException");
    expect((error as Error).message).toMatch(
      /terminating connection due to administrator command; SQLState: 57P01/,
    );
    const next = await client.send(new ExecuteStatementCommand({ ...cluster, sql: "SELECT 1" }));
    expect(next.records).toEqual([[{ longValue: 1 }]]);
    client.destroy();
    expect(crashes).toEqual([]);
  });

  it(`survives its backends being terminated again and again while ${READERS} clients read, and heals`, async () => {
    const load = readUnderLoad(runtime);
    for (let round = 0; round < 8; round++) {
      await new Promise((resolve) => setTimeout(resolve, 100));
      await admin.query(
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = 'local-data-api' AND datname LIKE $1",
        [`${prefix}%`],
      );
    }
    const answers = await load.stop();
    expect(crashes).toEqual([]);
    expect(answers.every((a) => a.status === 200)).toBe(true);
    const statuses = shardStatuses(answers);
    // Every shard outcome is ok, a timeout, or a named error: nothing else, and nothing thrown.
    expect(statuses.filter((s) => s !== "ok" && !/Exception$|^E[A-Z]+$|^timeout$/.test(s))).toEqual([]);
    expect(await eventually(() => allShardsOk(runtime), 10_000)).toBe(true);
  });
});

describe("PostgreSQL restarted under load", () => {
  let server: PostgresServer;
  let runtime: LocalRuntime;

  afterAll(async () => {
    await runtime?.stop();
    await server?.stop();
  });

  it(`keeps serving ${READERS} readers through a restart (shards report errors meanwhile) and heals after`, async () => {
    server = await startPostgres();
    runtime = await startLocalRuntime({
      postgres: server,
      prefix: "rel_restart",
      logger: new Logger({ serviceName: "reliability", logLevel: "ERROR" }),
    });
    const load = readUnderLoad(runtime);
    await new Promise((resolve) => setTimeout(resolve, 1000));
    const began = performance.now();
    // Down for half a second: a restart of a few milliseconds could fall between two calls on a busy machine and
    // fail none of them, and this test is about the calls it fails.
    await server.restart({ downMs: 500 });
    const restartMs = Math.round(performance.now() - began);
    await new Promise((resolve) => setTimeout(resolve, 1000));
    const answers = await load.stop();
    expect(crashes).toEqual([]);
    expect(answers.every((a) => a.status === 200)).toBe(true);
    const failures = shardStatuses(answers).filter((s) => s !== "ok");
    expect(failures.length).toBeGreaterThan(0);
    const counts = new Map<string, number>();
    for (const f of failures) counts.set(f, (counts.get(f) ?? 0) + 1);
    console.log(`PostgreSQL restart took ${restartMs} ms; ${answers.length} answers; failed shard calls:`, [
      ...counts,
    ]);
    expect(failures.every((s) => /Exception$|^E[A-Z]+$|^timeout$/.test(s))).toBe(true);
    expect(await eventually(() => allShardsOk(runtime), 10_000)).toBe(true);
  });
});
