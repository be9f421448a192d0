import { CustomResource, Duration, type RemovalPolicy } from "aws-cdk-lib";
import { PolicyStatement, type Role } from "aws-cdk-lib/aws-iam";
import type { Runtime } from "aws-cdk-lib/aws-lambda";
import type { NodejsFunction } from "aws-cdk-lib/aws-lambda-nodejs";
import type { RetentionDays } from "aws-cdk-lib/aws-logs";
import { Construct } from "constructs";
import type { IdRange } from "../../functions/core/shard-map.js";
import type { StatementProperties } from "../handlers/schema-statement.js";
import { createTableSql, seedRowsSql } from "../schema-sql.js";
import { deployHandler } from "./deploy-handler.js";
import type { ShardCluster } from "./shard-cluster.js";

/** CloudFormation types of the schema resources, so the template says what each one does. */
export const TABLE_RESOURCE_TYPE = "Custom::ShardTable";
export const SAMPLE_ROWS_RESOURCE_TYPE = "Custom::ShardSampleRows";

export interface ShardSchemasProps {
  /** The table every shard holds. */
  readonly tableName: string;
  /** The Node.js runtime of the schema handler: the API function's, so the stack runs one, current runtime. */
  readonly providerRuntime: Runtime;
  /** @default RetentionDays.ONE_MONTH */
  readonly logRetention?: RetentionDays;
  /** @default RemovalPolicy.RETAIN */
  readonly logRemovalPolicy?: RemovalPolicy;
}

/** The handler's Lambda timeout: its retry budget (8 minutes) plus time to report. */
export const SCHEMA_HANDLER_TIMEOUT = Duration.minutes(10);
/**
 * CloudFormation's own limit on waiting for the handler's answer (`ServiceTimeout`): a handler that dies without
 * answering fails the resource after this, not after CloudFormation's default of one hour.
 */
export const SCHEMA_SERVICE_TIMEOUT = Duration.minutes(11);

/**
 * The schema, created at deploy time: `CREATE TABLE IF NOT EXISTS` on every shard and, when asked, the sample rows
 * (`INSERT … ON CONFLICT DO NOTHING`), each one RDS Data API `ExecuteStatement` run by a small handler of our own
 * (infra/handlers/schema-statement.ts). Both statements are idempotent, so they run again harmlessly when an update
 * (or the rollback of one) runs them, and removing a resource never drops data (there is no delete call).
 *
 * Why not `AwsCustomResource`: it makes exactly one SDK call, and the SDK does not retry DatabaseResumingException,
 * so a schema update that met an auto-paused cluster (minimum 0 ACUs) failed, and its rollback could fail the same
 * way (UPDATE_ROLLBACK_FAILED). The handler retries it, with backoff, for up to 8 minutes.
 *
 * Ordering: every statement depends on its cluster's writer instance (the Data API answers only once it is up) and
 * on the handler's role, which includes the role's policy, so the permissions exist before any call needs them
 * (aws-cdk issues 23340 and 37675: an `AwsCustomResource`'s policy used to be created seconds before the call). The
 * handler also retries AccessDeniedException for IAM's eventual consistency.
 *
 * The handler has a role of its own with no managed policy: its log group, and per shard `rds-data:ExecuteStatement`
 * on that cluster and `secretsmanager:GetSecretValue` on that cluster's secret.
 */
export class ShardSchemas extends Construct {
  private readonly props: ShardSchemasProps;
  readonly handlerRole: Role;
  readonly handler: NodejsFunction;
  private readonly granted = new Set<number>();

  constructor(scope: Construct, id: string, props: ShardSchemasProps) {
    super(scope, id);
    this.props = props;
    const { handler, role } = deployHandler(this, {
      file: "schema-statement.ts",
      description: "Sharded data API: runs a schema statement on a shard, retrying while the cluster resumes",
      roleDescription: "Runs the schema statements of the shards through the RDS Data API",
      runtime: props.providerRuntime,
      timeout: SCHEMA_HANDLER_TIMEOUT,
      logsId: "ProviderLogs",
      roleId: "ProviderRole",
      ...(props.logRetention ? { logRetention: props.logRetention } : {}),
      ...(props.logRemovalPolicy ? { logRemovalPolicy: props.logRemovalPolicy } : {}),
    });
    this.handler = handler;
    this.handlerRole = role;
  }

  /** Creates the table on `shard` and, when `seedRanges` is given, the sample rows of those ranges. */
  addShard(shard: ShardCluster, options: { seedRanges?: readonly IdRange[] } = {}): CustomResource[] {
    const prefix = `Shard${shard.shardId}`;
    const table = this.statement(
      `${prefix}Table`,
      TABLE_RESOURCE_TYPE,
      shard,
      createTableSql(this.props.tableName),
    );
    if (options.seedRanges === undefined) return [table];
    const sql = seedRowsSql(this.props.tableName, options.seedRanges);
    const rows = this.statement(`${prefix}SampleRows`, SAMPLE_ROWS_RESOURCE_TYPE, shard, sql);
    rows.node.addDependency(table);
    return [table, rows];
  }

  private statement(id: string, resourceType: string, shard: ShardCluster, sql: string): CustomResource {
    this.grantShard(shard);
    const properties: StatementProperties = {
      ResourceArn: shard.clusterArn,
      SecretArn: shard.secret.secretArn,
      Database: shard.databaseName,
      Sql: sql,
      // Stable per shard and statement: a changed statement is an update of the same resource, not a replacement.
      PhysicalId: `${shard.databaseName}/${this.props.tableName}/${resourceType}`,
    };
    const resource = new CustomResource(this, id, {
      resourceType,
      serviceToken: this.handler.functionArn,
      serviceTimeout: SCHEMA_SERVICE_TIMEOUT,
      properties,
    });
    // The Data API answers only once the writer instance is up, not merely the cluster resource.
    resource.node.addDependency(shard);
    // The role's policy (a child of the role) must exist before the first call, not merely before the function.
    resource.node.addDependency(this.handlerRole);
    return resource;
  }

  /** ExecuteStatement on the shard's cluster and the read of its secret, once per shard. */
  private grantShard(shard: ShardCluster): void {
    if (this.granted.has(shard.shardId)) return;
    this.granted.add(shard.shardId);
    this.handlerRole.addToPrincipalPolicy(
      new PolicyStatement({ actions: ["rds-data:ExecuteStatement"], resources: [shard.clusterArn] }),
    );
    this.handlerRole.addToPrincipalPolicy(
      new PolicyStatement({
        actions: ["secretsmanager:GetSecretValue"],
        resources: [shard.secret.secretArn],
      }),
    );
  }
}
