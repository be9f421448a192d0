import { CustomResource, Duration, type RemovalPolicy } from "aws-cdk-lib";
import { PolicyStatement, type Role } from "aws-cdk-lib/aws-iam";
import type { Runtime } from "aws-cdk-lib/aws-lambda";
import type { NodejsFunction } from "aws-cdk-lib/aws-lambda-nodejs";
import type { RetentionDays } from "aws-cdk-lib/aws-logs";
import { Construct } from "constructs";
import type { IdRange, ShardMap } from "../../functions/core/shard-map.js";
import { fenceInitSql, fenceSchemaSql } from "../fence-sql.js";
import type { StatementProperties } from "../handlers/schema-statement.js";
import { createTableSql, seedRowsSql } from "../schema-sql.js";
import { deployHandler } from "./deploy-handler.js";
import type { ShardCluster } from "./shard-cluster.js";

/** CloudFormation types of the schema resources, so the template says what each one does. */
export const TABLE_RESOURCE_TYPE = "Custom::ShardTable";
export const SAMPLE_ROWS_RESOURCE_TYPE = "Custom::ShardSampleRows";
/** The shard fence's objects (schema `sharding`: `infra/fence-sql.ts`'s `fenceSchemaSql`). */
export const FENCE_SCHEMA_RESOURCE_TYPE = "Custom::ShardFenceSchema";
/** The fence's first row, from the context's map (`fenceInitSql`): inserted once, never reset by a deploy. */
export const FENCE_INIT_RESOURCE_TYPE = "Custom::ShardFenceInit";

/** The schema resources of one shard, in the order they run. */
export interface ShardSchemaResources {
  readonly table: CustomResource;
  /** After `table`. */
  readonly fenceSchema: CustomResource;
  /** After `fenceSchema`. */
  readonly fenceInit: CustomResource;
  /** After `table`; only when sample rows were asked for and the shard owns ids. */
  readonly sampleRows?: CustomResource;
}

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
 * The schema, created at deploy time: `CREATE TABLE IF NOT EXISTS` on every shard, the shard fence (its objects, then
 * its first row) and, when asked, the sample rows (`INSERT … ON CONFLICT DO NOTHING`), each one RDS Data API
 * `ExecuteStatement` run by a small handler of our own (infra/handlers/schema-statement.ts). Every statement is
 * idempotent, so they run again harmlessly when an update (or the rollback of one) runs them, and removing a resource
 * never drops data (there is no delete call).
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

  /**
   * The schema of `shard`, one statement per resource: the table; then the shard fence's objects (schema `sharding`);
   * then the fence's first row, as `map` (the context's map, version 1) describes this shard, which
   * `ON CONFLICT DO NOTHING` keeps from ever resetting a fence that online changes have moved on; and, when
   * `seedRanges` is given and not empty, the sample rows of those ranges (a shard that owns nothing yet gets none).
   */
  addShard(
    shard: ShardCluster,
    map: ShardMap,
    options: { seedRanges?: readonly IdRange[] } = {},
  ): ShardSchemaResources {
    const prefix = `Shard${shard.shardId}`;
    const table = this.statement(
      `${prefix}Table`,
      TABLE_RESOURCE_TYPE,
      shard,
      createTableSql(this.props.tableName),
    );
    const fenceSchema = this.statement(
      `${prefix}FenceSchema`,
      FENCE_SCHEMA_RESOURCE_TYPE,
      shard,
      fenceSchemaSql(this.props.tableName),
    );
    fenceSchema.node.addDependency(table);
    const fenceInit = this.statement(
      `${prefix}FenceInit`,
      FENCE_INIT_RESOURCE_TYPE,
      shard,
      fenceInitSql(shard.shardId, map),
    );
    fenceInit.node.addDependency(fenceSchema);
    if (options.seedRanges === undefined || options.seedRanges.length === 0) {
      return { table, fenceSchema, fenceInit };
    }
    const sql = seedRowsSql(this.props.tableName, options.seedRanges);
    const sampleRows = this.statement(`${prefix}SampleRows`, SAMPLE_ROWS_RESOURCE_TYPE, shard, sql);
    sampleRows.node.addDependency(table);
    return { table, fenceSchema, fenceInit, sampleRows };
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
