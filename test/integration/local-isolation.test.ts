/**
 * Issue 22, finding 3: a runtime only ever reaches its own databases. A shard started `down` on a preferred port
 * that another runtime holds does not keep that port; and whatever answers at a shard's URL, the function signs
 * with credentials unique to its runtime, which no other runtime's endpoint accepts.
 */
import { Logger } from "@aws-lambda-powertools/logger";
import pg from "pg";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { createShardMap, DEFAULT_SHARD_RANGES } from "../../functions/core/shard-map.js";
import { localArns } from "../../local/arns.js";
import {
  type DataApiEndpoint,
  LOCAL_CREDENTIALS,
  runtimeCredentials,
  startDataApiEndpoint,
} from "../../local/data-api/index.js";
import { createShardDatabases, type PostgresConnection } from "../../local/postgres.js";
import { type LocalRuntime, type LocalShard, startLocalRuntime } from "../../local/runtime.js";
import { BREAKER_OFF, request } from "../helpers/api-client.js";

const logger = new Logger({ serviceName: "local-isolation", logLevel: "CRITICAL" });
/** Shard 3 owns 21-30 and 51-60 in the default map. */
const SHARD3_ID = 25;

let postgres: PostgresConnection;
const started: { stop(): Promise<void> }[] = [];

beforeAll(() => {
  postgres = inject("postgres");
});

afterAll(async () => {
  for (const s of started.reverse()) await s.stop().catch(() => undefined);
});

async function runtime(
  prefix: string,
  opts: Parameters<typeof startLocalRuntime>[0] = {},
): Promise<LocalRuntime> {
  const rt = await startLocalRuntime({
    postgres,
    prefix,
    shardTimeoutMs: 2000,
    env: BREAKER_OFF,
    logger,
    ...opts,
  });
  started.push(rt);
  return rt;
}

const shard3 = (rt: LocalRuntime) => rt.shards.find((s) => s.id === 3) as LocalShard;

async function rowsIn(database: string, id: number): Promise<number> {
  const client = new pg.Client({ ...postgres, database });
  await client.connect();
  try {
    const { rows } = await client.query<{ n: number }>(
      "SELECT count(*)::int AS n FROM data_1 WHERE id = $1",
      [id],
    );
    return rows[0]?.n ?? -1;
  } finally {
    await client.end();
  }
}

describe("two runtimes on one machine", () => {
  it("a shard started down on a port another runtime holds takes another port: its calls never reach the other", async () => {
    const other = await runtime("iso_other", { seed: "none" });
    const taken = shard3(other).endpoint.port;
    const before = shard3(other).endpoint.requests;
    const faulted = await runtime("iso_faulted", {
      faults: new Map([[3, { mode: "down" as const }]]),
      dataApiPort: (id) => (id === 3 ? taken : 0),
    });
    expect(shard3(faulted).endpoint.port).not.toBe(taken);

    const read = await request(faulted.url, "/data?limit=100");
    const status = (read.body as { shards: { shard: number; status: string }[] }).shards.find(
      (s) => s.shard === 3,
    );
    expect(status?.status).not.toBe("ok");
    const write = await request(faulted.url, "/data", {
      method: "POST",
      body: { id: SHARD3_ID, name: "stray" },
    });
    expect(write.status).not.toBe(201);
    expect(await rowsIn(shard3(other).database, SHARD3_ID)).toBe(0);
    expect(shard3(other).endpoint.requests).toBe(before);
  });

  it("whatever answers at a shard's URL, the function's calls are refused by any endpoint but its runtime's own", async () => {
    const rt = await runtime("iso_own");
    const own = shard3(rt);
    const port = own.endpoint.port;
    await rt.setFault(3, { mode: "down" });
    // Another runtime's endpoint on the freed port: the same ARNs, its own database, the well-known local identity
    // and a runtime identity of its own, as another `npm start` has.
    const [foreignDb] = await createShardDatabases(postgres, createShardMap(DEFAULT_SHARD_RANGES), {
      prefix: "iso_foreign",
      shards: [3],
      seed: false,
    });
    if (!foreignDb) throw new Error("no database");
    const arns = localArns(3);
    const foreign: DataApiEndpoint = await startDataApiEndpoint({
      postgres,
      port,
      clusters: [
        {
          resourceArn: arns.resourceArn,
          secretArn: arns.secretArn,
          secrets: [{ secretArn: arns.functionSecretArn, user: postgres.user, password: postgres.password }],
          database: foreignDb.database,
        },
      ],
      credentials: [runtimeCredentials(), LOCAL_CREDENTIALS],
    });
    started.push(foreign);

    const write = await request(rt.url, "/data", { method: "POST", body: { id: SHARD3_ID, name: "stray" } });
    expect(foreign.requests).toBeGreaterThan(0);
    expect(write.status).not.toBe(201);
    const read = await request(rt.url, "/data?limit=100");
    const status = (read.body as { shards: { shard: number; status: string }[] }).shards.find(
      (s) => s.shard === 3,
    );
    expect(status?.status).not.toBe("ok");
    expect(await rowsIn(foreignDb.database, SHARD3_ID)).toBe(0);
  });

  it("each runtime signs with credentials of its own, never the well-known local ones", async () => {
    const a = await runtime("iso_id_a", { seed: "none" });
    const b = await runtime("iso_id_b", { seed: "none" });
    expect(a.credentials.accessKeyId).not.toBe(b.credentials.accessKeyId);
    expect(a.credentials.accessKeyId).not.toBe(LOCAL_CREDENTIALS.accessKeyId);
  });
});
