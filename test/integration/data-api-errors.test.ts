/**
 * The local Data API endpoint's errors, transactions and batches, through the real `RDSDataClient`.
 */
import {
  BadRequestException,
  BatchExecuteStatementCommand,
  BeginTransactionCommand,
  CommitTransactionCommand,
  DatabaseErrorException,
  ExecuteStatementCommand,
  type ExecuteStatementCommandInput,
  HttpEndpointNotEnabledException,
  RollbackTransactionCommand,
  SecretsErrorException,
} from "@aws-sdk/client-rds-data";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { clusterArn, EXAMPLE_ARN_SCOPE } from "../../local/arns.js";
import { signedPost, startTestShards, type TestShards } from "../helpers/data-api.js";

const IDLE_MS = 1000;

let shards: TestShards;
let resourceArn: string;
let secretArn: string;

function execute(sql: string, input: Partial<ExecuteStatementCommandInput> = {}) {
  return shards.client.send(new ExecuteStatementCommand({ resourceArn, secretArn, sql, ...input }));
}

async function count(where = "true", transactionId?: string): Promise<number | undefined> {
  const out = await execute(`SELECT count(*) FROM data_1 WHERE ${where}`, { transactionId });
  return out.records?.[0]?.[0]?.longValue;
}

async function begin(): Promise<string> {
  const { transactionId } = await shards.client.send(new BeginTransactionCommand({ resourceArn, secretArn }));
  if (!transactionId) throw new Error("no transaction id");
  return transactionId;
}

beforeAll(async () => {
  // A short idle expiry (AWS: 3 minutes) so the expiry test does not wait; calls follow each other far faster.
  shards = await startTestShards(inject("postgres"), "dapi_errors", { transactionIdleMs: IDLE_MS });
  const cluster = shards.clusters[0];
  if (!cluster) throw new Error("no cluster");
  resourceArn = cluster.resourceArn;
  secretArn = cluster.secretArn;
});

afterAll(async () => {
  await shards?.stop();
});

describe("errors", () => {
  it("reports a duplicate key as DatabaseErrorException with AWS's message and SQLState", async () => {
    const error = await execute("INSERT INTO data_1 (id, name) VALUES (1, 'again')").catch((e: unknown) => e);
    expect(error).toBeInstanceOf(DatabaseErrorException);
    expect((error as DatabaseErrorException).message).toBe(
      'ERROR: duplicate key value violates unique constraint "data_1_pkey"; SQLState: 23505',
    );
    expect((error as DatabaseErrorException).$metadata.httpStatusCode).toBe(400);
  });

  it("reports invalid SQL as DatabaseErrorException with its position", async () => {
    const error = await execute("SELEKT 1").catch((e: unknown) => e);
    expect(error).toBeInstanceOf(DatabaseErrorException);
    expect((error as Error).message).toBe(
      'ERROR: syntax error at or near "SELEKT"; Position: 1; SQLState: 42601',
    );
  });

  it("refuses several statements in one call", async () => {
    const error = await execute("SELECT 1; SELECT 2").catch((e: unknown) => e);
    expect(error).toBeInstanceOf(DatabaseErrorException);
    expect((error as Error).message).toContain("cannot insert multiple commands into a prepared statement");
  });

  it("answers an unknown cluster ARN with HttpEndpointNotEnabledException", async () => {
    const unknown = clusterArn("no-such-cluster", EXAMPLE_ARN_SCOPE);
    const error = await shards.client
      .send(new ExecuteStatementCommand({ resourceArn: unknown, secretArn, sql: "SELECT 1" }))
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(HttpEndpointNotEnabledException);
    expect((error as Error).message).toBe(`HttpEndpoint is not enabled for resource ${unknown}`);
  });

  it("answers a secret ARN the cluster does not use with SecretsErrorException", async () => {
    const error = await execute("SELECT 1", { secretArn: `${secretArn}-other` }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(SecretsErrorException);
    expect((error as Error).message).toContain("Secrets Manager can't find the specified secret.");
  });

  it("fails a result over 1 MiB with AWS's BadRequestException", async () => {
    const error = await execute("SELECT repeat('x', 1000) AS filler FROM generate_series(1, 1100)").catch(
      (e: unknown) => e,
    );
    expect(error).toBeInstanceOf(BadRequestException);
    expect((error as Error).message).toBe("Database response exceeded size limit");
    const under = await execute("SELECT repeat('x', 1000) AS filler FROM generate_series(1, 900)");
    expect(under.records).toHaveLength(900);
  });

  it("answers a malformed request with BadRequestException and its x-amzn-ErrorType header", async () => {
    const response = await signedPost(`${shards.endpoint.url}/Execute`, "{not json");
    expect(response.status).toBe(400);
    expect(response.headers.get("x-amzn-errortype")?.split(":")[0]).toBe("BadRequestException");
    expect(((await response.json()) as { message: string }).message).toMatch(/^Malformed request body/);

    const missingSql = await signedPost(
      `${shards.endpoint.url}/Execute`,
      JSON.stringify({ resourceArn, secretArn }),
    );
    expect(missingSql.status).toBe(400);
    expect(((await missingSql.json()) as { message: string }).message).toBe(
      "1 validation error detected: Value null at 'sql' failed to satisfy constraint: Member must not be null",
    );
  });
});

describe("transactions", () => {
  it("commits: changes are visible inside the transaction first, and to everyone after the commit", async () => {
    const transactionId = await begin();
    await execute("INSERT INTO data_1 (id, name) VALUES (1001, 'in tx')", { transactionId });
    expect(await count("id = 1001", transactionId)).toBe(1);
    expect(await count("id = 1001")).toBe(0);
    const { transactionStatus } = await shards.client.send(
      new CommitTransactionCommand({ resourceArn, secretArn, transactionId }),
    );
    expect(transactionStatus).toBe("Transaction Committed");
    expect(await count("id = 1001")).toBe(1);
  });

  it("rolls back: changes are gone and the transaction id is forgotten", async () => {
    const before = await count();
    const transactionId = await begin();
    await execute("DELETE FROM data_1", { transactionId });
    expect(await count("true", transactionId)).toBe(0);
    const { transactionStatus } = await shards.client.send(
      new RollbackTransactionCommand({ resourceArn, secretArn, transactionId }),
    );
    expect(transactionStatus).toBe("Rollback Complete");
    expect(await count()).toBe(before);
    const error = await shards.client
      .send(new CommitTransactionCommand({ resourceArn, secretArn, transactionId }))
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(BadRequestException);
    expect((error as Error).message).toBe(`Transaction ${transactionId} is not found`);
  });

  it("answers an unknown transaction id with BadRequestException", async () => {
    const error = await execute("SELECT 1", { transactionId: "bm9wZQ==" }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(BadRequestException);
    expect((error as Error).message).toBe("Transaction bm9wZQ== is not found");
  });

  it("does not find a transaction through another cluster's ARN", async () => {
    const transactionId = await begin();
    const other = shards.clusters[1];
    const error = await shards.client
      .send(
        new ExecuteStatementCommand({
          resourceArn: other?.resourceArn,
          secretArn: other?.secretArn,
          sql: "SELECT 1",
          transactionId,
        }),
      )
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(BadRequestException);
    await shards.client.send(new RollbackTransactionCommand({ resourceArn, secretArn, transactionId }));
  });

  it("refuses a second call on a transaction while one is running", async () => {
    const transactionId = await begin();
    const slow = execute("SELECT 1 FROM pg_sleep(0.3)", { transactionId });
    await new Promise((resolve) => setTimeout(resolve, 50));
    const error = await execute("SELECT 1", { transactionId }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(BadRequestException);
    expect((error as Error).message).toBe(
      `Transaction ${transactionId} is not in a state that can accept this statement`,
    );
    await slow;
    await shards.client.send(new RollbackTransactionCommand({ resourceArn, secretArn, transactionId }));
  });

  it("rolls back and forgets a transaction left idle past its expiry", async () => {
    const transactionId = await begin();
    await execute("INSERT INTO data_1 (id, name) VALUES (1002, 'abandoned')", { transactionId });
    expect(shards.endpoint.openTransactions).toBeGreaterThan(0);
    await new Promise((resolve) => setTimeout(resolve, IDLE_MS + 300));
    const error = await execute("SELECT 1", { transactionId }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(BadRequestException);
    expect((error as Error).message).toBe(`Transaction ${transactionId} is not found`);
    expect(await count("id = 1002")).toBe(0);
    expect(shards.endpoint.openTransactions).toBe(0);
  });
});

describe("BatchExecuteStatement", () => {
  const row = (id: number, name: string) => [
    { name: "id", value: { longValue: id } },
    { name: "name", value: { stringValue: name } },
  ];

  it("runs the statement once per parameter set and answers one updateResult each", async () => {
    const out = await shards.client.send(
      new BatchExecuteStatementCommand({
        resourceArn,
        secretArn,
        sql: "INSERT INTO data_1 (id, name) VALUES (:id, :name)",
        parameterSets: [row(2001, "a"), row(2002, "b"), row(2003, "c")],
      }),
    );
    expect(out.updateResults).toEqual([
      { generatedFields: [] },
      { generatedFields: [] },
      { generatedFields: [] },
    ]);
    expect(await count("id BETWEEN 2001 AND 2003")).toBe(3);
  });

  it("applies no parameter set when one of them fails", async () => {
    const error = await shards.client
      .send(
        new BatchExecuteStatementCommand({
          resourceArn,
          secretArn,
          sql: "INSERT INTO data_1 (id, name) VALUES (:id, :name)",
          parameterSets: [row(3001, "new"), row(1, "duplicate")],
        }),
      )
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(DatabaseErrorException);
    expect(await count("id = 3001")).toBe(0);
  });

  it("joins a transaction and is undone by its rollback", async () => {
    const transactionId = await begin();
    await shards.client.send(
      new BatchExecuteStatementCommand({
        resourceArn,
        secretArn,
        transactionId,
        sql: "INSERT INTO data_1 (id, name) VALUES (:id, :name)",
        parameterSets: [row(4001, "x"), row(4002, "y")],
      }),
    );
    expect(await count("id IN (4001, 4002)", transactionId)).toBe(2);
    await shards.client.send(new RollbackTransactionCommand({ resourceArn, secretArn, transactionId }));
    expect(await count("id IN (4001, 4002)")).toBe(0);
  });
});
