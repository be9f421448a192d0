/**
 * The local shards have the roles a deployed cluster has, and each Data API secret signs in as its own user: the
 * function's secret as the least-privilege role (DML on the table only, the write timeouts set), the master secret as
 * the database owner without superuser rights.
 */
import { ExecuteStatementCommand, RDSDataClient } from "@aws-sdk/client-rds-data";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { writeTimings } from "../../functions/core/write-deadline.js";
import { localArns } from "../../local/arns.js";
import { type LocalRuntime, startLocalRuntime } from "../../local/runtime.js";

let runtime: LocalRuntime;
let client: RDSDataClient;

beforeAll(async () => {
  runtime = await startLocalRuntime({ postgres: inject("postgres"), prefix: `roles_${process.pid}` });
  const shard = runtime.shards[0];
  client = new RDSDataClient({
    endpoint: shard?.endpoint.url,
    region: "us-east-1",
    credentials: { accessKeyId: "local", secretAccessKey: "local" },
  });
});

afterAll(async () => {
  client?.destroy();
  await runtime?.stop();
});

const run = (secretArn: string, sql: string) =>
  client.send(
    new ExecuteStatementCommand({
      resourceArn: localArns(1).resourceArn,
      secretArn,
      sql,
      formatRecordsAs: "JSON",
    }),
  );
const rows = async (secretArn: string, sql: string) =>
  JSON.parse((await run(secretArn, sql)).formattedRecords ?? "[]") as Record<string, unknown>[];

describe("the function's secret", () => {
  const secret = localArns(1).functionSecretArn;

  it("is what the app is configured with, never the master secret", () => {
    const shards = JSON.parse(runtime.env.SHARDS ?? "[]") as { secretArn: string }[];
    expect(shards.map((s) => s.secretArn)).toEqual(
      runtime.shards.map((s) => localArns(s.id).functionSecretArn),
    );
  });

  it("signs in as a role without superuser, CREATEROLE or CREATEDB, with the write timeouts set", async () => {
    const { statementTimeoutMs, lockTimeoutMs } = writeTimings(2000);
    const [me] = await rows(
      secret,
      "SELECT current_user AS name, rolsuper, rolcreaterole, rolcreatedb, current_setting('statement_timeout') AS st, current_setting('lock_timeout') AS lt FROM pg_roles WHERE rolname = current_user",
    );
    expect(me).toEqual({
      name: expect.stringMatching(/_api$/),
      rolsuper: false,
      rolcreaterole: false,
      rolcreatedb: false,
      st: `${statementTimeoutMs}ms`,
      lt: `${lockTimeoutMs}ms`,
    });
  });

  it("has the database cancel any statement of it, a read too, that runs past its statement_timeout", async () => {
    const { statementTimeoutMs } = writeTimings(2000);
    const started = performance.now();
    await expect(run(secret, `SELECT pg_sleep(${(statementTimeoutMs * 3) / 1000})`)).rejects.toMatchObject({
      name: "DatabaseErrorException",
      message: expect.stringMatching(/canceling statement due to statement timeout/),
    });
    expect(performance.now() - started).toBeLessThan(statementTimeoutMs * 3);
  });

  it("may read and write rows of the table, and nothing else", async () => {
    expect(await rows(secret, "SELECT name FROM data_1 WHERE id = 1")).toEqual([{ name: "Test 1" }]);
    expect((await run(secret, "UPDATE data_1 SET name = name WHERE id = 1")).numberOfRecordsUpdated).toBe(1);
    for (const sql of [
      "CREATE TABLE t (x int)",
      "DROP TABLE data_1",
      "TRUNCATE data_1",
      "ALTER TABLE data_1 ADD c int",
    ]) {
      await expect(run(secret, sql), sql).rejects.toThrow(/permission denied|must be (the )?owner/);
    }
  });
});

describe("the master secret", () => {
  const secret = localArns(1).secretArn;

  it("signs in as the database owner, who is no superuser but may create tables of its own", async () => {
    const [me] = await rows(
      secret,
      "SELECT current_user AS name, rolsuper FROM pg_roles WHERE rolname = current_user",
    );
    expect(me).toEqual({ name: expect.stringMatching(/_owner$/), rolsuper: false });
    await run(secret, "CREATE TABLE owned_by_master (x int)");
    expect((await run(secret, "INSERT INTO owned_by_master VALUES (1)")).numberOfRecordsUpdated).toBe(1);
    await run(secret, "DROP TABLE owned_by_master");
  });
});
