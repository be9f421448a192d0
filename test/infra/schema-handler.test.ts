import {
  BadRequestException,
  DatabaseResumingException,
  ExecuteStatementCommand,
  RDSDataClient,
} from "@aws-sdk/client-rds-data";
import type { CloudFormationCustomResourceEvent } from "aws-lambda";
import { mockClient } from "aws-sdk-client-mock";
import { beforeEach, describe, expect, it } from "vitest";
import { createHandler } from "../../infra/handlers/schema-statement.js";
import { RETRY_BUDGET_MS } from "../../infra/handlers/statement-retry.js";

const rds = mockClient(RDSDataClient);
const resuming = () => new DatabaseResumingException({ message: "The database is resuming", $metadata: {} });

const properties = {
  ServiceToken: "arn:aws:lambda:us-east-1:123456789012:function:schema",
  ResourceArn: "arn:aws:rds:us-east-1:123456789012:cluster:shard1",
  SecretArn: "arn:aws:secretsmanager:us-east-1:123456789012:secret:shard1-AbCdEf",
  Database: "shard1",
  Sql: 'CREATE TABLE IF NOT EXISTS "data_1" (id INT PRIMARY KEY, name VARCHAR(255))',
  PhysicalId: "shard1/data_1/Custom::ShardTable",
};

function event(requestType: "Create" | "Update" | "Delete"): CloudFormationCustomResourceEvent {
  const base = {
    ServiceToken: properties.ServiceToken,
    ResponseURL: "https://cloudformation-custom-resource-response.example/response",
    StackId: "arn:aws:cloudformation:us-east-1:123456789012:stack/ShardedDataApi/1",
    RequestId: "request-1",
    LogicalResourceId: "SchemaShard1Table",
    ResourceType: "Custom::ShardTable",
    ResourceProperties: properties,
  };
  if (requestType === "Create") return { ...base, RequestType: "Create" };
  if (requestType === "Update") {
    return {
      ...base,
      RequestType: "Update",
      PhysicalResourceId: properties.PhysicalId,
      OldResourceProperties: { ...properties, Sql: "SELECT 1" },
    };
  }
  return { ...base, RequestType: "Delete", PhysicalResourceId: properties.PhysicalId };
}

/** A handler on a virtual clock: sleeping advances time at once, so eight minutes of retries take no time. */
function harness() {
  let clock = 0;
  const responses: { url: string; body: Record<string, unknown> }[] = [];
  const sleeps: number[] = [];
  const handler = createHandler({
    client: new RDSDataClient({ region: "us-east-1" }),
    sleep: async (ms) => {
      sleeps.push(ms);
      clock += ms;
    },
    now: () => clock,
    respond: async (url, body) => {
      responses.push({ url, body: JSON.parse(body) });
    },
    log: () => {},
  });
  const context = { getRemainingTimeInMillis: () => 10 * 60_000 - clock };
  return { handler, context, responses, sleeps };
}

beforeEach(() => rds.reset());

describe("the schema statement handler", () => {
  it("retries DatabaseResumingException while a paused cluster wakes, then reports success", async () => {
    rds
      .on(ExecuteStatementCommand)
      .rejectsOnce(resuming())
      .rejectsOnce(resuming())
      .rejectsOnce(resuming())
      .resolves({ numberOfRecordsUpdated: 0 });
    const { handler, context, responses, sleeps } = harness();
    await handler(event("Create"), context);
    expect(rds.commandCalls(ExecuteStatementCommand)).toHaveLength(4);
    expect(rds.commandCalls(ExecuteStatementCommand)[0]?.args[0].input).toEqual({
      resourceArn: properties.ResourceArn,
      secretArn: properties.SecretArn,
      database: properties.Database,
      sql: properties.Sql,
    });
    expect(sleeps).toEqual([2000, 4000, 8000]);
    expect(responses).toEqual([
      {
        url: "https://cloudformation-custom-resource-response.example/response",
        body: expect.objectContaining({
          Status: "SUCCESS",
          PhysicalResourceId: properties.PhysicalId,
          StackId: event("Create").StackId,
          RequestId: "request-1",
          LogicalResourceId: "SchemaShard1Table",
          Data: { numberOfRecordsUpdated: 0 },
        }),
      },
    ]);
  });

  it("runs an update, as a rollback does with the old statement, on a paused cluster too, keeping the physical id", async () => {
    rds.on(ExecuteStatementCommand).rejectsOnce(resuming()).resolves({ numberOfRecordsUpdated: 3 });
    const { handler, context, responses } = harness();
    await handler(event("Update"), context);
    expect(rds.commandCalls(ExecuteStatementCommand)).toHaveLength(2);
    expect(responses[0]?.body).toMatchObject({
      Status: "SUCCESS",
      PhysicalResourceId: properties.PhysicalId,
    });
  });

  it("gives up when the retry budget is spent and reports the failure with the error's name", async () => {
    rds.on(ExecuteStatementCommand).rejects(resuming());
    const { handler, context, responses, sleeps } = harness();
    await handler(event("Create"), context);
    expect(sleeps.reduce((a, b) => a + b, 0)).toBeLessThanOrEqual(RETRY_BUDGET_MS);
    expect(sleeps.reduce((a, b) => a + b, 0)).toBeGreaterThan(RETRY_BUDGET_MS - 15_000);
    expect(responses).toHaveLength(1);
    expect(responses[0]?.body).toMatchObject({ Status: "FAILED" });
    expect(String(responses[0]?.body.Reason)).toMatch(/^DatabaseResumingException: /);
  });

  it("fails at once on an error that waiting does not cure, such as bad SQL", async () => {
    rds
      .on(ExecuteStatementCommand)
      .rejects(new BadRequestException({ message: "syntax error", $metadata: {} }));
    const { handler, context, responses, sleeps } = harness();
    await handler(event("Update"), context);
    expect(rds.commandCalls(ExecuteStatementCommand)).toHaveLength(1);
    expect(sleeps).toEqual([]);
    expect(responses[0]?.body).toMatchObject({
      Status: "FAILED",
      Reason: "BadRequestException: syntax error",
    });
  });

  it("runs nothing on delete, so removing the resource never drops data", async () => {
    const { handler, context, responses } = harness();
    await handler(event("Delete"), context);
    expect(rds.commandCalls(ExecuteStatementCommand)).toHaveLength(0);
    expect(responses[0]?.body).toMatchObject({
      Status: "SUCCESS",
      PhysicalResourceId: properties.PhysicalId,
    });
  });
});
