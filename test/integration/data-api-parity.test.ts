/**
 * The local Data API endpoint accepts what AWS accepts and answers as AWS documents: parameter names without a
 * pattern, exact 64-bit `longValue`s, no `columnMetadata` with JSON records, and a transaction aborted by a failed
 * statement. Tables are created through the endpoint with the cluster's secret (database-owner rights only).
 */
import {
  BadRequestException,
  BeginTransactionCommand,
  CommitTransactionCommand,
  DatabaseErrorException,
  ExecuteStatementCommand,
  type ExecuteStatementCommandInput,
  RollbackTransactionCommand,
} from "@aws-sdk/client-rds-data";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { signedPost, startTestShards, type TestShards } from "../helpers/data-api.js";

let shards: TestShards;
let cluster: { resourceArn: string; secretArn: string };

function execute(sql: string, input: Partial<ExecuteStatementCommandInput> = {}) {
  return shards.client.send(new ExecuteStatementCommand({ ...cluster, sql, ...input }));
}

async function begin(): Promise<string> {
  const { transactionId } = await shards.client.send(new BeginTransactionCommand({ ...cluster }));
  if (!transactionId) throw new Error("no transaction id");
  return transactionId;
}

beforeAll(async () => {
  shards = await startTestShards(inject("postgres"), "dapi_parity");
  const first = shards.clusters[0];
  if (!first) throw new Error("no cluster");
  cluster = { resourceArn: first.resourceArn, secretArn: first.secretArn };
  await execute("CREATE TABLE parity_big (id int PRIMARY KEY, big bigint)");
});

afterAll(async () => {
  await shards?.stop();
});

describe("parameters", () => {
  it("takes parameter names that start with a digit, as kysely-data-api and drizzle-orm send them (:0, :1)", async () => {
    const out = await execute("SELECT :0::int + :1::int AS sum, :10 AS ten", {
      parameters: [
        { name: "0", value: { longValue: 40 } },
        { name: "1", value: { longValue: 2 } },
        { name: "10", value: { stringValue: "ten" } },
      ],
    });
    expect(out.records).toEqual([[{ longValue: 42 }, { stringValue: "ten" }]]);
  });

  it("accepts any string as a name (SqlParameter.name has no pattern); a name no placeholder can spell is unused", async () => {
    const out = await execute("SELECT :id AS id", {
      parameters: [
        { name: "id", value: { longValue: 7 } },
        { name: "not a placeholder!", value: { longValue: 8 } },
      ],
    });
    expect(out.records).toEqual([[{ longValue: 7 }]]);
  });

  it("keeps a longValue above 2^53 exactly, on the way in and out", async () => {
    // The SDK's longValue is a JS number and cannot hold 2^53 + 1: the request is written as other clients write it.
    const insert = await signedPost(
      `${shards.endpoint.url}/Execute`,
      `{"resourceArn":"${cluster.resourceArn}","secretArn":"${cluster.secretArn}",` +
        `"sql":"INSERT INTO parity_big VALUES (1, :big), (2, :min)","parameters":[` +
        `{"name":"big","value":{"longValue":9007199254740993}},` +
        `{"name":"min","value":{"longValue":-9223372036854775808}}]}`,
    );
    expect(insert.status).toBe(200);
    const read = await execute("SELECT big::text FROM parity_big ORDER BY id");
    expect(read.records).toEqual([
      [{ stringValue: "9007199254740993" }],
      [{ stringValue: "-9223372036854775808" }],
    ]);
    const raw = await signedPost(
      `${shards.endpoint.url}/Execute`,
      JSON.stringify({ ...cluster, sql: "SELECT big FROM parity_big WHERE id = 1" }),
    );
    expect(await raw.text()).toContain('"longValue":9007199254740993');
  });

  it("refuses a longValue beyond 64 bits with BadRequestException", async () => {
    const response = await signedPost(
      `${shards.endpoint.url}/Execute`,
      `{"resourceArn":"${cluster.resourceArn}","secretArn":"${cluster.secretArn}","sql":"SELECT :n",` +
        `"parameters":[{"name":"n","value":{"longValue":9223372036854775808}}]}`,
    );
    expect(response.status).toBe(400);
    expect(response.headers.get("x-amzn-errortype")?.split(":")[0]).toBe("BadRequestException");
  });
});

describe("formatRecordsAs JSON", () => {
  it("returns no columnMetadata, even with includeResultMetadata (AWS: 'blank if formatRecordsAs is JSON')", async () => {
    const json = await execute("SELECT 1 AS one", { formatRecordsAs: "JSON", includeResultMetadata: true });
    expect(json.formattedRecords).toBe('[{"one":1}]');
    expect(json.columnMetadata).toBeUndefined();
    expect(json.records).toBeUndefined();
    const fields = await execute("SELECT 1 AS one", { includeResultMetadata: true });
    expect(fields.columnMetadata?.map((c) => c.name)).toEqual(["one"]);
  });
});

describe("a transaction a statement failed in", () => {
  it("is aborted: CommitTransaction cannot commit it and says why, and nothing of it is applied", async () => {
    const transactionId = await begin();
    await execute("INSERT INTO parity_big VALUES (100, 1)", { transactionId });
    const failed = await execute("INSERT INTO parity_big VALUES (100, 2)", { transactionId }).catch((e) => e);
    expect(failed).toBeInstanceOf(DatabaseErrorException);
    const commit = await shards.client
      .send(new CommitTransactionCommand({ ...cluster, transactionId }))
      .catch((e: unknown) => e);
    expect(commit).toBeInstanceOf(BadRequestException);
    expect((commit as Error).message).toBe(
      `Transaction ${transactionId} is not found. Transaction has been aborted due to an error from a previous call`,
    );
    const after = await execute("SELECT count(*) FROM parity_big WHERE id = 100");
    expect(after.records).toEqual([[{ longValue: 0 }]]);
  });

  it("refuses further statements, and a rollback (what clients do after an error) succeeds once", async () => {
    const transactionId = await begin();
    await execute("SELECT 1/0", { transactionId }).catch(() => undefined);
    await expect(execute("SELECT 1", { transactionId })).rejects.toThrow(
      /is not found\. Transaction has been aborted/,
    );
    const rollback = await shards.client.send(new RollbackTransactionCommand({ ...cluster, transactionId }));
    expect(rollback.transactionStatus).toBe("Rollback Complete");
    await expect(
      shards.client.send(new RollbackTransactionCommand({ ...cluster, transactionId })),
    ).rejects.toThrow(`Transaction ${transactionId} is not found`);
    expect(shards.endpoint.openTransactions).toBe(0);
  });

  it("stays open after a request refused before it reached the database (a malformed parameter)", async () => {
    const transactionId = await begin();
    await expect(
      execute("SELECT :x", { transactionId, parameters: [{ name: "x", value: {} as never }] }),
    ).rejects.toBeInstanceOf(BadRequestException);
    await execute("INSERT INTO parity_big VALUES (101, 1)", { transactionId });
    await shards.client.send(new CommitTransactionCommand({ ...cluster, transactionId }));
    const after = await execute("SELECT count(*) FROM parity_big WHERE id = 101");
    expect(after.records).toEqual([[{ longValue: 1 }]]);
  });
});
