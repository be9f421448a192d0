/**
 * Issue 22, finding 1: a call outside a transaction leaves nothing behind on the pooled connection for the next
 * caller (AWS: calls without a transactionId are committed automatically; only a transaction ties calls to one
 * session). Through the real `RDSDataClient`, with a secret whose role has its own timeouts, as the function's has.
 *
 * Each test checks, with `pg_backend_pid()`, that the next call really ran on the same pooled connection: sequential
 * calls reuse the one idle connection, so the test cannot pass by landing on a fresh one.
 */

import type { RDSDataClient } from "@aws-sdk/client-rds-data";
import { ExecuteStatementCommand, type ExecuteStatementCommandInput } from "@aws-sdk/client-rds-data";
import pg from "pg";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { createShardMap, DEFAULT_SHARD_RANGES } from "../../functions/core/shard-map.js";
import { clusterArn, EXAMPLE_ARN_SCOPE, secretArn } from "../../local/arns.js";
import { type DataApiEndpoint, startDataApiEndpoint } from "../../local/data-api/index.js";
import { createShardDatabases, type PostgresConnection } from "../../local/postgres.js";
import { dataApiClient } from "../helpers/data-api.js";

const PREFIX = "dapi_session";
const ROLE = `${PREFIX}_fn`;
const ROLE_PASSWORD = "session-test-password";

let postgres: PostgresConnection;
let database: string;
let endpoint: DataApiEndpoint;
let client: RDSDataClient;
const cluster = {
  resourceArn: clusterArn("dapi-session", EXAMPLE_ARN_SCOPE),
  secretArn: secretArn("dapi-session-fn-AbCdEf", EXAMPLE_ARN_SCOPE),
};

function execute(sql: string, input: Partial<ExecuteStatementCommandInput> = {}) {
  return client.send(new ExecuteStatementCommand({ ...cluster, sql, ...input }));
}

async function one(sql: string): Promise<string | number | boolean | undefined> {
  const out = await execute(sql);
  const field = out.records?.[0]?.[0];
  return field?.stringValue ?? field?.longValue ?? field?.booleanValue;
}

/** A session of its own, straight to PostgreSQL: what any other caller sees. */
async function otherSession<T>(fn: (c: pg.Client) => Promise<T>): Promise<T> {
  const c = new pg.Client({ ...postgres, database });
  await c.connect();
  try {
    return await fn(c);
  } finally {
    await c.end();
  }
}

beforeAll(async () => {
  postgres = inject("postgres");
  const map = createShardMap(DEFAULT_SHARD_RANGES);
  const [created] = await createShardDatabases(postgres, map, { prefix: PREFIX, shards: [1] });
  if (!created) throw new Error("no database");
  database = created.database;
  const admin = new pg.Client({ ...postgres, database });
  await admin.connect();
  try {
    await admin.query(`DROP ROLE IF EXISTS ${ROLE}`).catch(() => undefined);
    await admin.query(`CREATE ROLE ${ROLE} LOGIN PASSWORD '${ROLE_PASSWORD}'`).catch(() => undefined);
    // As the function's role in AWS: its own statement and lock timeouts.
    await admin.query(`ALTER ROLE ${ROLE} SET statement_timeout = '4321ms'`);
    await admin.query(`ALTER ROLE ${ROLE} SET lock_timeout = '1234ms'`);
    await admin.query(`GRANT ALL ON data_1 TO ${ROLE}`);
  } finally {
    await admin.end();
  }
  endpoint = await startDataApiEndpoint({
    postgres,
    clusters: [
      {
        ...cluster,
        secrets: [{ secretArn: cluster.secretArn, user: ROLE, password: ROLE_PASSWORD }],
        database,
      },
    ],
  });
  client = dataApiClient(endpoint.url);
});

afterAll(async () => {
  client?.destroy();
  await endpoint?.stop();
});

describe("a call outside a transaction leaves nothing on the pooled connection", () => {
  it("a plain BEGIN opens no transaction: the next plain INSERT is committed, visible to every other session", async () => {
    const pid = await one("SELECT pg_backend_pid()");
    await execute("BEGIN");
    const inserted = await execute(
      "INSERT INTO data_1 (id, name) VALUES (9001, 'after begin') RETURNING pg_backend_pid()",
    );
    expect(inserted.records?.[0]?.[0]?.longValue).toBe(pid);
    const seen = await otherSession((c) => c.query("SELECT name FROM data_1 WHERE id = 9001"));
    expect(seen.rows).toEqual([{ name: "after begin" }]);
    // And nothing is left open on the connection: the backend is idle, not idle in transaction.
    const state = await otherSession((c) =>
      c.query("SELECT state FROM pg_stat_activity WHERE pid = $1", [pid]),
    );
    expect(state.rows).toEqual([{ state: "idle" }]);
  });

  it("a plain SET of lock_timeout and statement_timeout does not reach the next call: the role's own values do", async () => {
    const pid = await one("SELECT pg_backend_pid()");
    await execute("SET lock_timeout = 0");
    await execute("SET statement_timeout = 0");
    await execute("SELECT set_config('idle_in_transaction_session_timeout', '0', false)");
    expect(await one("SHOW lock_timeout")).toBe("1234ms");
    expect(await one("SHOW statement_timeout")).toBe("4321ms");
    expect(await one("SELECT pg_backend_pid()")).toBe(pid);
  });

  it("keeps the endpoint's own session settings (time zone UTC) after the reset", async () => {
    await execute("SET TIME ZONE 'Asia/Tokyo'");
    expect(await one("SHOW TimeZone")).toBe("UTC");
  });

  it("a session advisory lock taken by a plain call is released after it", async () => {
    await execute("SELECT pg_advisory_lock(22001)::text");
    const free = await otherSession((c) =>
      c.query<{ ok: boolean }>("SELECT pg_try_advisory_lock(22001) AS ok"),
    );
    expect(free.rows).toEqual([{ ok: true }]);
  });

  it("a temporary table made by a plain call is gone at the next call", async () => {
    await execute("CREATE TEMP TABLE left_behind (id int)");
    expect(await one("SELECT to_regclass('left_behind') IS NULL")).toBe(true);
  });
});
