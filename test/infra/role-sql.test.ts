import { createHash, createHmac, pbkdf2Sync } from "node:crypto";
import { ExecuteStatementCommand, RDSDataClient } from "@aws-sdk/client-rds-data";
import { GetSecretValueCommand, SecretsManagerClient } from "@aws-sdk/client-secrets-manager";
import type { CloudFormationCustomResourceEvent } from "aws-lambda";
import { mockClient } from "aws-sdk-client-mock";
import { afterEach, describe, expect, it, vi } from "vitest";
import { handler } from "../../infra/handlers/function-role.js";
import { FUNCTION_DB_USER, functionRoleSql, scramVerifier } from "../../infra/role-sql.js";

describe("functionRoleSql", () => {
  const verifier = scramVerifier("secret", Buffer.alloc(16, 1));
  const sql = functionRoleSql({
    user: FUNCTION_DB_USER,
    passwordVerifier: verifier,
    table: "data_1",
    shardTimeoutMs: 2000,
  });

  it("creates the role only if missing, then sets its attributes, password, timeouts and grants every time", () => {
    expect(sql).toMatch(
      /^DO \$role\$ BEGIN IF NOT EXISTS \(SELECT FROM pg_catalog\.pg_roles WHERE rolname = 'sharded_api'\) THEN CREATE ROLE "sharded_api"; END IF;/,
    );
    expect(sql).toContain(
      `ALTER ROLE "sharded_api" LOGIN NOSUPERUSER NOCREATEROLE NOCREATEDB NOREPLICATION NOBYPASSRLS PASSWORD '${verifier}';`,
    );
    expect(sql).toContain(`ALTER ROLE "sharded_api" SET statement_timeout = '500ms';`);
    expect(sql).toContain(`ALTER ROLE "sharded_api" SET lock_timeout = '300ms';`);
    expect(sql).toContain(
      `REVOKE ALL ON TABLE "data_1" FROM "sharded_api"; GRANT SELECT, INSERT, UPDATE, DELETE ON TABLE "data_1" TO "sharded_api";`,
    );
  });

  it("refuses a role name or a password that could carry SQL, and a plain-text password", () => {
    const base = { passwordVerifier: verifier, table: "data_1", shardTimeoutMs: 2000 };
    expect(() => functionRoleSql({ ...base, user: "x'; DROP ROLE postgres; --" })).toThrow(RangeError);
    expect(() => functionRoleSql({ ...base, user: FUNCTION_DB_USER, passwordVerifier: "hunter2" })).toThrow(
      RangeError,
    );
  });

  it("computes PostgreSQL's SCRAM-SHA-256 verifier (RFC 5802), salted and iterated", () => {
    const salt = Buffer.alloc(16, 7);
    const salted = pbkdf2Sync("pässword", salt, 4096, 32, "sha256");
    const stored = createHash("sha256")
      .update(createHmac("sha256", salted).update("Client Key").digest())
      .digest();
    const server = createHmac("sha256", salted).update("Server Key").digest();
    expect(scramVerifier("pässword", salt)).toBe(
      `SCRAM-SHA-256$4096:${salt.toString("base64")}$${stored.toString("base64")}:${server.toString("base64")}`,
    );
    expect(scramVerifier("same")).not.toBe(scramVerifier("same"));
  });
});

describe("the function-role custom resource handler", () => {
  const rds = mockClient(RDSDataClient);
  const secrets = mockClient(SecretsManagerClient);
  afterEach(() => {
    rds.reset();
    secrets.reset();
    vi.unstubAllGlobals();
  });

  const event = (type: "Create" | "Update" | "Delete") =>
    ({
      RequestType: type,
      ResponseURL: "https://cfn-response.example/presigned",
      StackId: "stack",
      RequestId: "req",
      LogicalResourceId: "Role1",
      PhysicalResourceId: "shard1/function-role",
      ResourceType: "Custom::FunctionDatabaseRole",
      ServiceToken: "arn",
      ResourceProperties: {
        ServiceToken: "arn",
        ClusterArn: "arn:aws:rds:us-east-1:123456789012:cluster:c1",
        MasterSecretArn: "arn:aws:secretsmanager:us-east-1:123456789012:secret:master",
        FunctionSecretArn: "arn:aws:secretsmanager:us-east-1:123456789012:secret:fn",
        Database: "shard1",
        TableName: "data_1",
        ShardTimeoutMs: "2000",
      },
    }) as unknown as CloudFormationCustomResourceEvent;

  /** The Lambda context's remaining time: the role handler's timeout. */
  const LAMBDA = { getRemainingTimeInMillis: () => 600_000 };

  function captureResponses() {
    const sent: { url: string; body: Record<string, unknown> }[] = [];
    vi.stubGlobal("fetch", async (url: string, init: { body: string }) => {
      sent.push({ url, body: JSON.parse(init.body) });
      return new Response("");
    });
    return sent;
  }

  it("runs the role SQL with the master secret, using only the verifier of the function secret's password", async () => {
    const sent = captureResponses();
    secrets
      .on(GetSecretValueCommand)
      .resolves({ SecretString: '{"username":"sharded_api","password":"p4ss-w0rd"}' });
    rds.on(ExecuteStatementCommand).resolves({});
    await handler(event("Create"), LAMBDA);
    const input = rds.commandCalls(ExecuteStatementCommand)[0]?.args[0].input;
    expect(input).toMatchObject({
      resourceArn: "arn:aws:rds:us-east-1:123456789012:cluster:c1",
      secretArn: "arn:aws:secretsmanager:us-east-1:123456789012:secret:master",
      database: "shard1",
    });
    expect(input?.sql).toContain(`ALTER ROLE "sharded_api" LOGIN`);
    expect(input?.sql).toMatch(/PASSWORD 'SCRAM-SHA-256\$4096:/);
    expect(input?.sql).not.toContain("p4ss-w0rd");
    expect(sent).toEqual([
      {
        url: "https://cfn-response.example/presigned",
        body: expect.objectContaining({
          Status: "SUCCESS",
          PhysicalResourceId: "shard1/function-role",
          Data: {},
        }),
      },
    ]);
    expect(JSON.stringify(sent)).not.toContain("p4ss-w0rd");
  });

  it("reports a failure to CloudFormation instead of hanging the deploy, and leaves the role alone on delete", async () => {
    const sent = captureResponses();
    secrets.on(GetSecretValueCommand).rejects(new Error("AccessDenied"));
    await handler(event("Update"), LAMBDA);
    expect(sent[0]?.body).toMatchObject({ Status: "FAILED", Reason: "Error: AccessDenied" });
    await handler(event("Delete"), LAMBDA);
    expect(sent[1]?.body).toMatchObject({ Status: "SUCCESS" });
    expect(rds.commandCalls(ExecuteStatementCommand)).toHaveLength(0);
  });
});
