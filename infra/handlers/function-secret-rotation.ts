/**
 * Rotates the API function's database secret on one shard with the alternating-users strategy, through the RDS Data
 * API (so, like everything else here, without a VPC path to the database or to Secrets Manager).
 *
 * Why alternating users: the Data API signs in with whatever the secret's `AWSCURRENT` version holds at the time of
 * each call. A single-user rotation changes the role's password in the database (`setSecret`) a moment before
 * `finishSecret` points `AWSCURRENT` at it, and every call in between signs in with a password the database no longer
 * accepts. With two roles, `sharded_api` and `sharded_api_clone`, a rotation sets the password of the role the secret
 * does *not* currently name, and `finishSecret` then switches the secret to it: both roles' passwords stay valid
 * throughout, so every Data API call signs in whichever version it read ("Alternating users rotation strategy",
 * Secrets Manager User Guide, https://docs.aws.amazon.com/secretsmanager/latest/userguide/rotation-strategy.html#rotating-secrets-two-users;
 * the four steps: "Rotation by Lambda function", rotate-secrets_lambda-functions.html).
 *
 * Both roles are created by the same SQL (`functionRoleSql`, infra/role-sql.ts): LOGIN, the table's four privileges,
 * the fence's grants and the statement and lock timeouts. The secret itself says where: `masterarn` (the cluster's
 * Aurora-managed master secret, which may change roles), `dbClusterIdentifier` (added by the secret's attachment to
 * the cluster) and `dbname`, so one function rotates every shard's secret.
 */
import { randomInt } from "node:crypto";
import { RDSDataClient } from "@aws-sdk/client-rds-data";
import {
  DescribeSecretCommand,
  GetSecretValueCommand,
  PutSecretValueCommand,
  SecretsManagerClient,
  UpdateSecretVersionStageCommand,
} from "@aws-sdk/client-secrets-manager";
import { functionRoleSql, scramVerifier } from "../role-sql.js";
import { executeWithRetry, type RetryDeps } from "./statement-retry.js";

export interface RotationEvent {
  readonly Step: "createSecret" | "setSecret" | "testSecret" | "finishSecret";
  readonly SecretId: string;
  readonly ClientRequestToken: string;
}

/** The fields of a function secret this function reads and writes. */
export interface FunctionSecretValue {
  readonly username: string;
  readonly password: string;
  readonly masterarn: string;
  readonly dbClusterIdentifier: string;
  readonly dbname: string;
  readonly [field: string]: unknown;
}

export const CLONE_SUFFIX = "_clone";

/** The other role of the pair: `sharded_api` <-> `sharded_api_clone`. */
export function alternateUser(username: string): string {
  return username.endsWith(CLONE_SUFFIX)
    ? username.slice(0, -CLONE_SUFFIX.length)
    : `${username}${CLONE_SUFFIX}`;
}

/** Letters and digits only: nothing any shell, URL or connection string needs to escape. */
const PASSWORD_ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
export const PASSWORD_LENGTH = 40;

/** A new password from the platform's CSPRNG (about 238 bits), generated here rather than with GetRandomPassword, whose
 * IAM action has no resource to scope it to. */
export function generatePassword(length = PASSWORD_LENGTH): string {
  let out = "";
  for (let i = 0; i < length; i++) out += PASSWORD_ALPHABET[randomInt(PASSWORD_ALPHABET.length)];
  return out;
}

/** The cluster's ARN, from the secret's ARN (partition, region, account) and the cluster identifier in its value. */
export function clusterArnFor(secretArn: string, clusterIdentifier: string): string {
  const [arn, partition, , region, account] = secretArn.split(":");
  if (arn !== "arn" || !partition || !region || !account) throw new Error("SecretId is not a secret ARN");
  return `arn:${partition}:rds:${region}:${account}:cluster:${clusterIdentifier}`;
}

export interface RotationDeps extends RetryDeps {
  readonly secrets: Pick<SecretsManagerClient, "send">;
  readonly tableName: string;
  readonly shardTimeoutMs: number;
  /** How long a statement may be retried (a paused cluster waking up). */
  readonly retryBudgetMs: number;
}

function parse(secretString: string | undefined): FunctionSecretValue {
  const value = JSON.parse(secretString ?? "{}") as Partial<FunctionSecretValue>;
  for (const field of ["username", "password", "masterarn", "dbClusterIdentifier", "dbname"] as const) {
    if (typeof value[field] !== "string" || value[field] === "") {
      throw new Error(`the secret has no ${field}`);
    }
  }
  return value as FunctionSecretValue;
}

export function createRotationHandler(deps: RotationDeps) {
  const get = async (SecretId: string, stage: "AWSCURRENT" | "AWSPENDING", VersionId?: string) =>
    parse(
      (
        await deps.secrets.send(
          new GetSecretValueCommand({ SecretId, VersionStage: stage, ...(VersionId ? { VersionId } : {}) }),
        )
      ).SecretString,
    );

  const runAsMaster = (secretId: string, secret: FunctionSecretValue, sql: string) =>
    executeWithRetry(
      {
        ResourceArn: clusterArnFor(secretId, secret.dbClusterIdentifier),
        SecretArn: secret.masterarn,
        Database: secret.dbname,
        Sql: sql,
      },
      deps,
      deps.now() + deps.retryBudgetMs,
    );

  const steps = {
    /** A pending version naming the other role, with a new password; nothing changes in the database yet. */
    async createSecret(event: RotationEvent) {
      const current = await get(event.SecretId, "AWSCURRENT");
      try {
        await get(event.SecretId, "AWSPENDING", event.ClientRequestToken);
        return; // a retried step: the pending version is already there
      } catch (err) {
        if (!(err instanceof Error && err.name === "ResourceNotFoundException")) throw err;
      }
      const pending: FunctionSecretValue = {
        ...current,
        username: alternateUser(current.username),
        password: generatePassword(),
      };
      await deps.secrets.send(
        new PutSecretValueCommand({
          SecretId: event.SecretId,
          ClientRequestToken: event.ClientRequestToken,
          SecretString: JSON.stringify(pending),
          VersionStages: ["AWSPENDING"],
        }),
      );
    },
    /**
     * Creates or updates the pending role (the one the Data API is *not* signing in as) with the pending password's
     * SCRAM verifier, its grants and its timeouts. The current role is not touched.
     */
    async setSecret(event: RotationEvent) {
      const pending = await get(event.SecretId, "AWSPENDING", event.ClientRequestToken);
      const sql = functionRoleSql({
        user: pending.username,
        passwordVerifier: scramVerifier(pending.password),
        table: deps.tableName,
        shardTimeoutMs: deps.shardTimeoutMs,
      });
      await runAsMaster(event.SecretId, pending, sql);
    },
    /**
     * The Data API signs in only with a secret's `AWSCURRENT` version, so the pending password cannot be tried through
     * it before `finishSecret`. What can be checked is checked: the pending role exists, may log in and may read the
     * table. A wrong password would show at once after `finishSecret` as shard errors, and going back is one command
     * (docs/deploy.md): the previous role's password is still valid.
     */
    async testSecret(event: RotationEvent) {
      const pending = await get(event.SecretId, "AWSPENDING", event.ClientRequestToken);
      const role = pending.username.replaceAll("'", "''");
      const table = deps.tableName.replaceAll("'", "''");
      const sql = `DO $t$ BEGIN IF NOT EXISTS (SELECT FROM pg_catalog.pg_roles WHERE rolname = '${role}' AND rolcanlogin AND has_table_privilege('${role}', '${table}', 'SELECT')) THEN RAISE EXCEPTION 'role not ready'; END IF; END $t$`;
      await runAsMaster(event.SecretId, pending, sql);
    },
    /** Points `AWSCURRENT` at the pending version; the previous one keeps `AWSPREVIOUS` (and its role its password). */
    async finishSecret(event: RotationEvent) {
      const described = await deps.secrets.send(new DescribeSecretCommand({ SecretId: event.SecretId }));
      const stages = described.VersionIdsToStages ?? {};
      const current = Object.keys(stages).find((v) => stages[v]?.includes("AWSCURRENT"));
      if (current === event.ClientRequestToken) return;
      await deps.secrets.send(
        new UpdateSecretVersionStageCommand({
          SecretId: event.SecretId,
          VersionStage: "AWSCURRENT",
          MoveToVersionId: event.ClientRequestToken,
          ...(current ? { RemoveFromVersionId: current } : {}),
        }),
      );
    },
  };

  return async (event: RotationEvent): Promise<void> => {
    const described = await deps.secrets.send(new DescribeSecretCommand({ SecretId: event.SecretId }));
    if (described.RotationEnabled === false) throw new Error("rotation is not enabled on the secret");
    const stages = described.VersionIdsToStages?.[event.ClientRequestToken];
    if (stages === undefined) throw new Error("the rotation's version is not a version of the secret");
    if (stages.includes("AWSCURRENT") && !stages.includes("AWSPENDING")) return; // already finished
    if (!stages.includes("AWSPENDING")) throw new Error("the rotation's version is not pending");
    const step = steps[event.Step];
    if (step === undefined) throw new Error(`unknown rotation step ${String(event.Step)}`);
    // Never a value from the secret: the step, and on failure the error's name.
    deps.log("rotation step", { step: event.Step });
    await step(event);
  };
}

export const handler = createRotationHandler({
  client: new RDSDataClient({}),
  secrets: new SecretsManagerClient({}),
  sleep: (ms) => new Promise((resolve) => setTimeout(resolve, ms)),
  now: Date.now,
  log: (message, detail) => console.log(JSON.stringify({ message, ...detail })),
  tableName: process.env.TABLE_NAME ?? "",
  shardTimeoutMs: Number(process.env.SHARD_TIMEOUT_MS),
  retryBudgetMs: 5 * 60_000,
});
