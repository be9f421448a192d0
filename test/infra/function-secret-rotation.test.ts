import { ExecuteStatementCommand, RDSDataClient } from "@aws-sdk/client-rds-data";
import {
  DescribeSecretCommand,
  GetSecretValueCommand,
  PutSecretValueCommand,
  SecretsManagerClient,
  UpdateSecretVersionStageCommand,
} from "@aws-sdk/client-secrets-manager";
import { mockClient } from "aws-sdk-client-mock";
import { afterEach, describe, expect, it } from "vitest";
import {
  alternateUser,
  clusterArnFor,
  createRotationHandler,
  generatePassword,
  PASSWORD_LENGTH,
  type RotationEvent,
} from "../../infra/handlers/function-secret-rotation.js";

const SECRET = "arn:aws:secretsmanager:us-east-1:123456789012:secret:Shard1FunctionSecret-AbCdEf";
const MASTER = "arn:aws:secretsmanager:us-east-1:123456789012:secret:rds!cluster-1234-XyZ";
const current = {
  username: "sharded_api",
  password: "old-password",
  masterarn: MASTER,
  dbClusterIdentifier: "shard1cluster",
  dbname: "shard1",
  engine: "postgres",
  host: "shard1cluster.cluster-x.us-east-1.rds.amazonaws.com",
  port: 5432,
};

const rds = mockClient(RDSDataClient);
const secrets = mockClient(SecretsManagerClient);
const logs: unknown[] = [];
const handler = createRotationHandler({
  client: new RDSDataClient({}),
  secrets: new SecretsManagerClient({}),
  sleep: async () => {},
  now: Date.now,
  log: (message, detail) => logs.push({ message, ...detail }),
  tableName: "data_1",
  shardTimeoutMs: 2000,
  retryBudgetMs: 1000,
});
const event = (Step: RotationEvent["Step"]): RotationEvent => ({
  Step,
  SecretId: SECRET,
  ClientRequestToken: "v2",
});
const stages = (v2: string[]) => ({ RotationEnabled: true, VersionIdsToStages: { v1: ["AWSCURRENT"], v2 } });

afterEach(() => {
  rds.reset();
  secrets.reset();
  logs.length = 0;
});

describe("the alternating-users rotation of a function secret", () => {
  it("alternates between sharded_api and sharded_api_clone, with a fresh 40-character password", () => {
    expect(alternateUser("sharded_api")).toBe("sharded_api_clone");
    expect(alternateUser("sharded_api_clone")).toBe("sharded_api");
    const a = generatePassword();
    expect(a).toMatch(new RegExp(`^[A-Za-z0-9]{${PASSWORD_LENGTH}}$`));
    expect(generatePassword()).not.toBe(a);
    expect(clusterArnFor(SECRET, "shard1cluster")).toBe(
      "arn:aws:rds:us-east-1:123456789012:cluster:shard1cluster",
    );
  });

  it("createSecret stages the other user with a new password, keeping the rest of the secret", async () => {
    secrets.on(DescribeSecretCommand).resolves(stages(["AWSPENDING"]));
    secrets
      .on(GetSecretValueCommand, { VersionStage: "AWSCURRENT" })
      .resolves({ SecretString: JSON.stringify(current) });
    secrets
      .on(GetSecretValueCommand, { VersionStage: "AWSPENDING" })
      .rejects(Object.assign(new Error("no pending"), { name: "ResourceNotFoundException" }));
    secrets.on(PutSecretValueCommand).resolves({});
    await handler(event("createSecret"));
    const put = secrets.commandCalls(PutSecretValueCommand)[0]?.args[0].input;
    expect(put).toMatchObject({ SecretId: SECRET, ClientRequestToken: "v2", VersionStages: ["AWSPENDING"] });
    const pending = JSON.parse(put?.SecretString ?? "{}");
    expect(pending).toMatchObject({
      ...current,
      username: "sharded_api_clone",
      password: expect.any(String),
    });
    expect(pending.password).not.toBe(current.password);
    // Nothing from the secret is logged.
    expect(JSON.stringify(logs)).not.toContain(pending.password);
    expect(JSON.stringify(logs)).not.toContain("old-password");
  });

  it("setSecret sets the pending role's password (as a SCRAM verifier) through the Data API as the master user", async () => {
    const pending = { ...current, username: "sharded_api_clone", password: "new-password" };
    secrets.on(DescribeSecretCommand).resolves(stages(["AWSPENDING"]));
    secrets.on(GetSecretValueCommand).resolves({ SecretString: JSON.stringify(pending) });
    rds.on(ExecuteStatementCommand).resolves({});
    await handler(event("setSecret"));
    const call = rds.commandCalls(ExecuteStatementCommand)[0]?.args[0].input;
    expect(call).toMatchObject({
      resourceArn: "arn:aws:rds:us-east-1:123456789012:cluster:shard1cluster",
      secretArn: MASTER,
      database: "shard1",
    });
    expect(call?.sql).toContain(`ALTER ROLE "sharded_api_clone" LOGIN`);
    expect(call?.sql).toContain("SCRAM-SHA-256$");
    expect(call?.sql).not.toContain("new-password");
    // The current role is left alone: the Data API keeps signing in with it until finishSecret.
    expect(call?.sql).not.toMatch(/ROLE "sharded_api"[ ;]/);
  });

  it("testSecret checks that the pending role may log in and read the table", async () => {
    secrets.on(DescribeSecretCommand).resolves(stages(["AWSPENDING"]));
    secrets
      .on(GetSecretValueCommand)
      .resolves({ SecretString: JSON.stringify({ ...current, username: "sharded_api_clone" }) });
    rds.on(ExecuteStatementCommand).resolves({});
    await handler(event("testSecret"));
    const sql = rds.commandCalls(ExecuteStatementCommand)[0]?.args[0].input.sql ?? "";
    expect(sql).toContain("rolname = 'sharded_api_clone' AND rolcanlogin");
    expect(sql).toContain("has_table_privilege('sharded_api_clone', 'data_1', 'SELECT')");
  });

  it("finishSecret moves AWSCURRENT to the new version; a finished rotation is not redone", async () => {
    secrets.on(DescribeSecretCommand).resolves(stages(["AWSPENDING"]));
    secrets.on(UpdateSecretVersionStageCommand).resolves({});
    await handler(event("finishSecret"));
    expect(secrets.commandCalls(UpdateSecretVersionStageCommand)[0]?.args[0].input).toEqual({
      SecretId: SECRET,
      VersionStage: "AWSCURRENT",
      MoveToVersionId: "v2",
      RemoveFromVersionId: "v1",
    });
    secrets.reset();
    secrets
      .on(DescribeSecretCommand)
      .resolves({ RotationEnabled: true, VersionIdsToStages: { v2: ["AWSCURRENT"] } });
    await handler(event("finishSecret"));
    expect(secrets.commandCalls(UpdateSecretVersionStageCommand)).toHaveLength(0);
  });

  it("refuses a version that is not pending, and a secret without rotation", async () => {
    secrets.on(DescribeSecretCommand).resolves(stages(["AWSPREVIOUS"]));
    await expect(handler(event("setSecret"))).rejects.toThrow(/not pending/);
    secrets.on(DescribeSecretCommand).resolves({ RotationEnabled: false });
    await expect(handler(event("setSecret"))).rejects.toThrow(/not enabled/);
  });
});
