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
import { RDSDataClient } from "@aws-sdk/client-rds-data";
import { GetSecretValueCommand, SecretsManagerClient } from "@aws-sdk/client-secrets-manager";
import type { CloudFormationCustomResourceEvent, Context } from "aws-lambda";
import { functionRoleSql, scramVerifier } from "../role-sql.js";
import {
  type CustomResourceOutcome,
  failureReason,
  physicalIdOf,
  sendResponse,
} from "./cloudformation-response.js";
import { executeWithRetry, RETRY_BUDGET_MS } from "./statement-retry.js";

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

/** Kept free of the Lambda's remaining time to report a failure before Lambda ends the invocation. */
const REPORT_MARGIN_MS = 20_000;

async function apply(props: FunctionRoleProperties, remainingMs: number): Promise<void> {
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
  // The schema step's retries: a paused cluster waking up (for as long as the schema handler waits), a writer not yet
  // available, and IAM still spreading this handler's new policy.
  const deadline = Date.now() + Math.min(RETRY_BUDGET_MS, remainingMs - REPORT_MARGIN_MS);
  await executeWithRetry(
    { ResourceArn: props.ClusterArn, SecretArn: props.MasterSecretArn, Database: props.Database, Sql: sql },
    {
      client: rds,
      sleep: (ms) => new Promise((resolve) => setTimeout(resolve, ms)),
      now: Date.now,
      // Never the SQL: it holds the password's verifier.
      log: (message, detail) =>
        console.log(JSON.stringify({ message, name: detail?.name, attempt: detail?.attempt })),
    },
    deadline,
  );
}

export async function handler(
  event: CloudFormationCustomResourceEvent,
  context: Pick<Context, "getRemainingTimeInMillis">,
): Promise<void> {
  const physicalResourceId = physicalIdOf(event, `${event.ResourceProperties.Database}/function-role`);
  // Nothing from the secret or the database is returned: no data, and a failure's reason is the error's.
  let outcome: CustomResourceOutcome = { status: "SUCCESS", reason: "ok", physicalResourceId };
  try {
    if (event.RequestType !== "Delete") {
      await apply(
        event.ResourceProperties as unknown as FunctionRoleProperties,
        context.getRemainingTimeInMillis(),
      );
    }
  } catch (error) {
    // Only the error's name and message: the SDK's messages name resources, never secret values.
    outcome = { status: "FAILED", reason: failureReason(error), physicalResourceId };
    console.error("function role not applied", outcome.reason);
  }
  await sendResponse(event, outcome);
}
