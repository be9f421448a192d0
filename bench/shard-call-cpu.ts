/**
 * `npx tsx bench/shard-call-cpu.ts [shardCounts] [requests]`: the function's own CPU per shard call, in process and
 * without I/O. `ShardedTable.list({ limit: 100 })` runs over the real `RDSDataClient`s, whose request handler answers
 * from memory with the rows the shard would return (bench/lib/sdk-canned.ts), on a map that deals 9,600 ids in blocks
 * of 100 round-robin to the shards. Beside it, the same clients' `send` alone, with the same statements: the SDK's own
 * per-call cost. The difference is ours (deadline, statement, parse, merge, report). Default `3,24` shards, 2,000
 * requests, medians of 5 alternating rounds.
 */
import { ExecuteStatementCommand, RDSDataClient } from "@aws-sdk/client-rds-data";
import { loadConfig } from "../functions/core/config.js";
import type { ShardClients } from "../functions/core/data-api.js";
import { MAX_ID, MIN_ID } from "../functions/core/shard-map.js";
import { ShardedTable } from "../functions/core/sharded-table.js";
import { selectRange } from "../functions/core/sql.js";
import { clusterArn, EXAMPLE_ARN_SCOPE, secretArn } from "../local/arns.js";
import { median } from "./lib/stats.js";

const ROWS = 9_600;
const BLOCK = 100;
const LIMIT = 100;

/** A client whose handler answers from memory with the first `:limit` of `ids` (the statement's own LIMIT). */
function cannedClient(ids: readonly number[]): RDSDataClient {
  const bodies = new Map<number, Uint8Array>();
  const body = (limit: number) => {
    let b = bodies.get(limit);
    if (!b) {
      const rows = ids.slice(0, limit).map((id) => ({ id, name: `Test ${id}` }));
      b = Buffer.from(JSON.stringify({ numberOfRecordsUpdated: 0, formattedRecords: JSON.stringify(rows) }));
      bodies.set(limit, b);
    }
    return b;
  };
  return new RDSDataClient({
    region: "us-east-1",
    credentials: { accessKeyId: "x", secretAccessKey: "x" },
    maxAttempts: 3,
    requestHandler: {
      handle: async (request: { body?: unknown }) => {
        const limit = /"name":"limit","value":\{"longValue":(\d+)\}/.exec(String(request.body))?.[1];
        return {
          response: {
            statusCode: 200,
            reason: "OK",
            headers: { "content-type": "application/json", "x-amzn-requestid": "bench" },
            body: new Uint8Array(body(Number(limit ?? LIMIT + 1))),
          },
        };
      },
    },
  });
}

function setup(shards: number) {
  const raw = Array.from({ length: shards }, (_, i) => ({
    id: i + 1,
    ranges: [] as [number, number][],
    resourceArn: clusterArn(`shard-${i + 1}`, EXAMPLE_ARN_SCOPE),
    secretArn: secretArn(`shard-${i + 1}`, EXAMPLE_ARN_SCOPE),
    database: "app",
  }));
  for (let k = 0; k * BLOCK < ROWS; k++) raw[k % shards]?.ranges.push([k * BLOCK + 1, (k + 1) * BLOCK]);
  const config = loadConfig({ SHARDS: JSON.stringify(raw), AWS_REGION: "us-east-1" });
  const read = new Map<number, RDSDataClient>();
  for (const s of raw) {
    // What the shard holds from the first page on.
    const ids = s.ranges
      .flatMap(([a, b]) => Array.from({ length: b - a + 1 }, (_, i) => a + i))
      .slice(0, 300);
    read.set(s.id, cannedClient(ids));
  }
  const clients: ShardClients = { read, write: read };
  const table = new ShardedTable({ config, clients });
  // The SDK alone, with the statements the old code sent: LIMIT + 1 rows from every shard.
  const commands = config.shards.map(
    (shard) =>
      [
        read.get(shard.id) as RDSDataClient,
        new ExecuteStatementCommand({
          resourceArn: shard.resourceArn,
          secretArn: shard.secretArn,
          database: shard.database,
          ...selectRange(config.tableName, config.map.clip(shard.id, MIN_ID, MAX_ID), LIMIT + 1),
        }),
      ] as const,
  );
  return { table, commands };
}

async function cpuMs(n: number, fn: () => Promise<unknown>): Promise<number> {
  const c0 = process.cpuUsage();
  for (let i = 0; i < n; i++) await fn();
  const c = process.cpuUsage(c0);
  return (c.user + c.system) / 1000 / n;
}

const counts = (process.argv[2] ?? "3,24").split(",").map(Number);
const requests = Number(process.argv[3] ?? 2000);
for (const shards of counts) {
  const { table, commands } = setup(shards);
  const list = () => table.list({ limit: LIMIT });
  const sdk = () => Promise.all(commands.map(([client, command]) => client.send(command)));
  for (let i = 0; i < 300; i++) await Promise.all([list(), sdk()]);
  const ours: number[] = [];
  const theirs: number[] = [];
  for (let round = 0; round < 5; round++) {
    ours.push(await cpuMs(requests / shards, list));
    theirs.push(await cpuMs(requests / shards, sdk));
  }
  const perCall = (xs: number[]) => median(xs) / shards;
  console.log(
    `${shards} shards: list ${median(ours).toFixed(3)} ms CPU per request, ${perCall(ours).toFixed(3)} ms per shard call; ` +
      `SDK send alone ${perCall(theirs).toFixed(3)} ms per call; ours ${(perCall(ours) - perCall(theirs)).toFixed(3)} ms per call`,
  );
}
