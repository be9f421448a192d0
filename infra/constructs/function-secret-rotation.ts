import { type RemovalPolicy, Stack } from "aws-cdk-lib";
import { PolicyStatement, type Role, ServicePrincipal } from "aws-cdk-lib/aws-iam";
import { type NodejsFunction, OutputFormat } from "aws-cdk-lib/aws-lambda-nodejs";
import type { RetentionDays } from "aws-cdk-lib/aws-logs";
import { CfnRotationSchedule } from "aws-cdk-lib/aws-secretsmanager";
import { Construct, type IDependable } from "constructs";
import { NODE_RUNTIME, REQUIRE_SHIM } from "./api-function.js";
import { deployHandler } from "./deploy-handler.js";
import { SCHEMA_HANDLER_TIMEOUT } from "./schema.js";
import type { ShardCluster } from "./shard-cluster.js";

export interface FunctionSecretRotationProps {
  readonly tableName: string;
  readonly shardTimeoutMs: number;
  /** Days between rotations. */
  readonly rotationDays: number;
  /** @default RetentionDays.ONE_MONTH */
  readonly logRetention?: RetentionDays;
  /** @default RemovalPolicy.RETAIN */
  readonly logRemovalPolicy?: RemovalPolicy;
}

/**
 * Rotation of every shard's function secret by one function of ours (infra/handlers/function-secret-rotation.ts),
 * alternating between the roles `sharded_api` and `sharded_api_clone` so that the Data API keeps signing in
 * throughout. Like the deploy handlers it is outside the VPC and reaches the database through the Data API with the
 * cluster's master secret. Its role may, per shard: read, write and re-stage that shard's function secret (no other
 * secret), read its master secret, and run ExecuteStatement on its cluster.
 *
 * The first rotation is left to the schedule (`rotateImmediatelyOnUpdate: false`; `aws secretsmanager rotate-secret`
 * starts one at any time), and each schedule waits for its shard's role step, so a rotation never runs before the table, the fence and the first role exist.
 */
export class FunctionSecretRotation extends Construct {
  readonly handler: NodejsFunction;
  private readonly role: Role;
  private readonly props: FunctionSecretRotationProps;

  constructor(scope: Construct, id: string, props: FunctionSecretRotationProps) {
    super(scope, id);
    this.props = props;
    const { handler, role } = deployHandler(this, {
      file: "function-secret-rotation.ts",
      description: "Rotates the API function's database secrets (alternating users) through the RDS Data API",
      roleDescription: "Rotates the API function's database secret on each shard through the RDS Data API",
      runtime: NODE_RUNTIME,
      timeout: SCHEMA_HANDLER_TIMEOUT,
      logsId: "Logs",
      roleId: "Role",
      bundling: { format: OutputFormat.ESM, banner: REQUIRE_SHIM, mainFields: ["module", "main"] },
      ...(props.logRetention ? { logRetention: props.logRetention } : {}),
      ...(props.logRemovalPolicy ? { logRemovalPolicy: props.logRemovalPolicy } : {}),
    });
    handler.addEnvironment("TABLE_NAME", props.tableName);
    handler.addEnvironment("SHARD_TIMEOUT_MS", String(props.shardTimeoutMs));
    this.handler = handler;
    this.role = role;
    // Secrets Manager invokes it for this account's secrets only.
    handler.addPermission("InvokedBySecretsManager", {
      principal: new ServicePrincipal("secretsmanager.amazonaws.com"),
      sourceAccount: Stack.of(this).account,
    });
  }

  /** Rotates `shard`'s function secret every `rotationDays`, once everything in `after` (its role step) exists. */
  addShard(shard: ShardCluster, after: readonly IDependable[]): void {
    this.role.addToPrincipalPolicy(
      new PolicyStatement({
        actions: [
          "secretsmanager:DescribeSecret",
          "secretsmanager:GetSecretValue",
          "secretsmanager:PutSecretValue",
          "secretsmanager:UpdateSecretVersionStage",
        ],
        resources: [shard.functionSecret.secretArn],
      }),
    );
    this.role.addToPrincipalPolicy(
      new PolicyStatement({
        actions: ["secretsmanager:GetSecretValue"],
        resources: [shard.secret.secretArn],
      }),
    );
    this.role.addToPrincipalPolicy(
      new PolicyStatement({ actions: ["rds-data:ExecuteStatement"], resources: [shard.clusterArn] }),
    );
    // The L1 resource, not `secret.addRotationSchedule`: that one also grants `secretsmanager:GetRandomPassword` on
    // `*`, which this function does not call (it generates passwords itself), and would sit under the shard, which
    // the schema statements depend on as a whole.
    const schedule = new CfnRotationSchedule(this, `Shard${shard.shardId}`, {
      secretId: shard.functionSecret.secretArn,
      rotationLambdaArn: this.handler.functionArn,
      rotationRules: { automaticallyAfterDays: this.props.rotationDays },
      rotateImmediatelyOnUpdate: false,
    });
    schedule.node.addDependency(...after, this.role, this.handler);
  }
}
