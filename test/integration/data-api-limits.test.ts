/**
 * Issue 22, finding 8: the result-set errors of AWS's Data API troubleshooting page, in both record formats, and
 * BatchExecuteStatement without parameter sets as the API reference words it ("executed as many times as the
 * number of parameter sets provided"). Through the real `RDSDataClient`.
 */
import {
  BadRequestException,
  BatchExecuteStatementCommand,
  ExecuteStatementCommand,
  type ExecuteStatementCommandInput,
} from "@aws-sdk/client-rds-data";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { startTestShards, type TestShards } from "../helpers/data-api.js";

let shards: TestShards;
let cluster: { resourceArn: string; secretArn: string };

beforeAll(async () => {
  shards = await startTestShards(inject("postgres"), "dapi_limits");
  const first = shards.clusters[0];
  if (!first) throw new Error("no cluster");
  cluster = { resourceArn: first.resourceArn, secretArn: first.secretArn };
});

afterAll(async () => {
  await shards?.stop();
});

const execute = (sql: string, input: Partial<ExecuteStatementCommandInput> = {}) =>
  shards.client.send(new ExecuteStatementCommand({ ...cluster, sql, ...input }));

async function failure(promise: Promise<unknown>): Promise<Error> {
  const error = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  if (!(error instanceof Error)) throw new Error("expected the call to fail");
  return error;
}

describe("result-set limits (Data API troubleshooting)", () => {
  it.each(["NONE", "JSON"] as const)(
    "a row over 64 KB fails with BadRequestException 'Packet for query is too large' (formatRecordsAs %s)",
    async (formatRecordsAs) => {
      const error = await failure(execute("SELECT repeat('x', 70000) AS big", { formatRecordsAs }));
      expect(error).toBeInstanceOf(BadRequestException);
      expect(error.message).toBe("Packet for query is too large");
      const fits = await execute("SELECT repeat('x', 60000) AS big", { formatRecordsAs });
      expect(fits.records?.length ?? JSON.parse(fits.formattedRecords ?? "[]").length).toBe(1);
    },
  );

  it("a row's limit counts every column", async () => {
    const error = await failure(execute("SELECT repeat('x', 40000) AS a, repeat('y', 40000) AS b"));
    expect(error.message).toBe("Packet for query is too large");
  });

  it("a result set over 1 MiB in JSON fails with 'Database response exceeded size limit'", async () => {
    const error = await failure(
      execute("SELECT repeat('x', 1000) AS filler FROM generate_series(1, 1100)", {
        formatRecordsAs: "JSON",
      }),
    );
    expect(error).toBeInstanceOf(BadRequestException);
    expect(error.message).toBe("Database response exceeded size limit");
  });
});

describe("BatchExecuteStatement without parameter sets", () => {
  const batch = (sql: string, parameterSets?: []) =>
    shards.client.send(new BatchExecuteStatementCommand({ ...cluster, sql, parameterSets }));
  const count = async () =>
    (await execute("SELECT count(*) FROM data_1 WHERE id BETWEEN 7001 AND 7002")).records?.[0]?.[0]
      ?.longValue;

  it("runs the statement zero times and answers updateResults: [] (none given, or an empty list)", async () => {
    expect((await batch("INSERT INTO data_1 (id, name) VALUES (7001, 'none')")).updateResults).toEqual([]);
    expect((await batch("INSERT INTO data_1 (id, name) VALUES (7001, 'none')", [])).updateResults).toEqual(
      [],
    );
    expect(await count()).toBe(0);
  });

  it("runs it once per empty parameter set, as the reference says to run it without parameters", async () => {
    const out = await shards.client.send(
      new BatchExecuteStatementCommand({
        ...cluster,
        sql: "INSERT INTO data_1 (id, name) VALUES (7002, 'once')",
        parameterSets: [[]],
      }),
    );
    expect(out.updateResults).toEqual([{ generatedFields: [] }]);
    expect(await count()).toBe(1);
  });
});
