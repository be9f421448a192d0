import { CustomResource, type RemovalPolicy } from "aws-cdk-lib";
import { PolicyStatement, type Role } from "aws-cdk-lib/aws-iam";
import { type NodejsFunction, OutputFormat } from "aws-cdk-lib/aws-lambda-nodejs";
import type { RetentionDays } from "aws-cdk-lib/aws-logs";
import { Construct, type IDependable } from "constructs";
import type { FunctionRoleProperties } from "../handlers/function-role.js";
import { NODE_RUNTIME, REQUIRE_SHIM } from "./api-function.js";
import { deployHandler } from "./deploy-handler.js";
import { SCHEMA_HANDLER_TIMEOUT, SCHEMA_SERVICE_TIMEOUT } from "./schema.js";
import type { ShardCluster } from "./shard-cluster.js";

export const FUNCTION_ROLE_RESOURCE_TYPE = "Custom::FunctionDatabaseRole";

export interface FunctionDatabaseRolesProps {
  readonly tableName: string;
  /** The function's shard timeout: the role's statement and lock timeouts are set below it. */
  readonly shardTimeoutMs: number;
  /** @default RetentionDays.ONE_MONTH */
  readonly logRetention?: RetentionDays;
  /** @default RemovalPolicy.RETAIN */
  readonly logRemovalPolicy?: RemovalPolicy;
}

/**
 * The function's least-privilege database role on every shard (see `infra/role-sql.ts`), created by one small
 * function (`infra/handlers/function-role.ts`) that reads the role's generated secret and runs the role SQL through
 * the Data API with the master secret. Its own role may run ExecuteStatement on the clusters and read exactly the
 * master and function secrets of the shards added, nothing else.
 */
export class FunctionDatabaseRoles extends Construct {
  private readonly handler: NodejsFunction;
  private readonly role: Role;
  private readonly props: FunctionDatabaseRolesProps;

  constructor(scope: Construct, id: string, props: FunctionDatabaseRolesProps) {
    super(scope, id);
    this.props = props;
    const { handler, role } = deployHandler(this, {
      file: "function-role.ts",
      description: "Creates the API function's least-privilege database role on a shard",
      roleDescription: "Creates the API function's database role on each shard through the RDS Data API",
      runtime: NODE_RUNTIME,
      // As the schema step's: its retry budget (8 minutes) plus time to report.
      timeout: SCHEMA_HANDLER_TIMEOUT,
      logsId: "Logs",
      roleId: "Role",
      bundling: { format: OutputFormat.ESM, banner: REQUIRE_SHIM, mainFields: ["module", "main"] },
      ...(props.logRetention ? { logRetention: props.logRetention } : {}),
      ...(props.logRemovalPolicy ? { logRemovalPolicy: props.logRemovalPolicy } : {}),
    });
    this.handler = handler;
    this.role = role;
  }

  /**
   * Creates the role on `shard` once everything in `after` exists: its table and the shard fence's schema, since the
   * role SQL grants on both (`infra/role-sql.ts`, `fenceGrantsSql`).
   */
  addShard(shard: ShardCluster, after: readonly IDependable[]): CustomResource {
    this.role.addToPrincipalPolicy(
      new PolicyStatement({ actions: ["rds-data:ExecuteStatement"], resources: [shard.clusterArn] }),
    );
    this.role.addToPrincipalPolicy(
      new PolicyStatement({
        actions: ["secretsmanager:GetSecretValue"],
        resources: [shard.secret.secretArn, shard.functionSecret.secretArn],
      }),
    );
    const properties: FunctionRoleProperties = {
      ClusterArn: shard.clusterArn,
      MasterSecretArn: shard.secret.secretArn,
      FunctionSecretArn: shard.functionSecret.secretArn,
      Database: shard.databaseName,
      TableName: this.props.tableName,
      ShardTimeoutMs: String(this.props.shardTimeoutMs),
    };
    const resource = new CustomResource(this, `Shard${shard.shardId}`, {
      serviceToken: this.handler.functionArn,
      resourceType: FUNCTION_ROLE_RESOURCE_TYPE,
      properties: { ...properties },
      serviceTimeout: SCHEMA_SERVICE_TIMEOUT,
    });
    resource.node.addDependency(...after, shard, this.role);
    return resource;
  }
}
