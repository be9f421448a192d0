/**
 * The custom resource that creates (or updates) the function's database role on one cluster, with the password of
 * the role's own generated secret, through the RDS Data API signed in with the master secret.
 *
 * The password never appears in the template, the resource's properties or response, the logs, or any SQL text: the
 * handler reads it from Secrets Manager and hands PostgreSQL only its SCRAM-SHA-256 verifier (`infra/role-sql.ts`).
 * It answers CloudFormation itself (a plain custom resource whose service token is this function), so no provider
 * framework function, with its managed policy and wildcard grants, is needed. Deleting the resource leaves the role:
 * the data it may reach outlives the stack under `retain`/`snapshot`, and a role is harmless without its secret.
 */
import { DatabaseResumingException, ExecuteStatementCommand, RDSDataClient } from "@aws-sdk/client-rds-data";
import { GetSecretValueCommand, SecretsManagerClient } from "@aws-sdk/client-secrets-manager";
import type { CloudFormationCustomResourceEvent } from "aws-lambda";
import { functionRoleSql, scramVerifier } from "../role-sql.js";

export interface FunctionRoleProperties {
  readonly ClusterArn: string;
  readonly MasterSecretArn: string;
  readonly FunctionSecretArn: string;
  readonly Database: string;
  readonly TableName: string;
  readonly ShardTimeoutMs: string;
}

const rds = new RDSDataClient({});
const secrets = new SecretsManagerClient({});

/** A paused Serverless v2 cluster takes about 15 s to resume; wait up to a minute for it. */
async function executeWhenAwake(command: ExecuteStatementCommand): Promise<void> {
  for (let attempt = 1; ; attempt++) {
    try {
      await rds.send(command);
      return;
    } catch (error) {
      if (!(error instanceof DatabaseResumingException) || attempt >= 12) throw error;
      await new Promise((resolve) => setTimeout(resolve, 5_000));
    }
  }
}

async function apply(props: FunctionRoleProperties): Promise<void> {
  const secret = await secrets.send(new GetSecretValueCommand({ SecretId: props.FunctionSecretArn }));
  const { username, password } = JSON.parse(secret.SecretString ?? "{}") as {
    username?: string;
    password?: string;
  };
  if (!username || !password) throw new Error("the function's secret has no username or password");
  const sql = functionRoleSql({
    user: username,
    passwordVerifier: scramVerifier(password),
    table: props.TableName,
    shardTimeoutMs: Number(props.ShardTimeoutMs),
  });
  await executeWhenAwake(
    new ExecuteStatementCommand({
      resourceArn: props.ClusterArn,
      secretArn: props.MasterSecretArn,
      database: props.Database,
      sql,
    }),
  );
}

async function respond(
  event: CloudFormationCustomResourceEvent,
  status: "SUCCESS" | "FAILED",
  reason: string,
) {
  const physicalResourceId =
    event.RequestType === "Create"
      ? `${event.ResourceProperties.Database}/function-role`
      : event.PhysicalResourceId;
  const body = JSON.stringify({
    Status: status,
    Reason: reason,
    PhysicalResourceId: physicalResourceId,
    StackId: event.StackId,
    RequestId: event.RequestId,
    LogicalResourceId: event.LogicalResourceId,
    // Nothing from the secret or the database is returned.
    Data: {},
  });
  // The pre-signed S3 URL expects no content type (cfn-response sends an empty one).
  await fetch(event.ResponseURL, { method: "PUT", body, headers: { "content-type": "" } });
}

export async function handler(event: CloudFormationCustomResourceEvent): Promise<void> {
  try {
    if (event.RequestType !== "Delete") {
      await apply(event.ResourceProperties as unknown as FunctionRoleProperties);
    }
    await respond(event, "SUCCESS", "ok");
  } catch (error) {
    // Only the error's name and message: the SDK's messages name resources, never secret values.
    const reason = error instanceof Error ? `${error.name}: ${error.message}` : "unknown error";
    console.error("function role not applied", reason);
    await respond(event, "FAILED", reason.slice(0, 500));
  }
}
