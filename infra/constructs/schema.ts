import { Duration, RemovalPolicy, Stack } from "aws-cdk-lib";
import { PolicyStatement, Role, ServicePrincipal } from "aws-cdk-lib/aws-iam";
import { CfnFunction, type Runtime } from "aws-cdk-lib/aws-lambda";
import { LogGroup, RetentionDays } from "aws-cdk-lib/aws-logs";
import {
  AwsCustomResource,
  AwsCustomResourcePolicy,
  type AwsSdkCall,
  PhysicalResourceId,
} from "aws-cdk-lib/custom-resources";
import { Construct } from "constructs";
import type { IdRange } from "../../functions/core/shard-map.js";
import { createTableSql, seedRowsSql } from "../schema-sql.js";
import type { ShardCluster } from "./shard-cluster.js";

/** CloudFormation types of the schema resources, so the template says what each one does. */
export const TABLE_RESOURCE_TYPE = "Custom::ShardTable";
export const SAMPLE_ROWS_RESOURCE_TYPE = "Custom::ShardSampleRows";

export interface ShardSchemasProps {
  /** The table every shard holds. */
  readonly tableName: string;
  /** The Node.js runtime of the custom-resource provider function (see `pinProviderRuntime`). */
  readonly providerRuntime: Runtime;
  /** @default RetentionDays.ONE_MONTH */
  readonly logRetention?: RetentionDays;
  /** @default RemovalPolicy.RETAIN */
  readonly logRemovalPolicy?: RemovalPolicy;
}

/**
 * The schema, created at deploy time: `CREATE TABLE IF NOT EXISTS` on every shard and, when asked, the sample rows
 * (`INSERT … ON CONFLICT DO NOTHING`), each one RDS Data API `ExecuteStatement` from an `AwsCustomResource`. Both
 * statements are idempotent, so they run again harmlessly when an update changes them, and removing a resource
 * never drops data (there is no delete call).
 *
 * Every `AwsCustomResource` of a stack shares one provider function. It gets a role of its own with no managed
 * policy, allowed to write to its own log group; each statement adds a policy for exactly its shard:
 * `rds-data:ExecuteStatement` on that cluster and `secretsmanager:GetSecretValue` on that cluster's secret.
 *
 * Updates run while the cluster may be auto-paused (minimum 0 ACUs): the call then fails with
 * DatabaseResumingException and the deployment rolls back; deploying again once the cluster is awake succeeds.
 */
export class ShardSchemas extends Construct {
  private readonly props: ShardSchemasProps;
  private readonly providerRole: Role;
  private readonly providerLogs: LogGroup;

  constructor(scope: Construct, id: string, props: ShardSchemasProps) {
    super(scope, id);
    this.props = props;
    this.providerLogs = new LogGroup(this, "ProviderLogs", {
      retention: props.logRetention ?? RetentionDays.ONE_MONTH,
      removalPolicy: props.logRemovalPolicy ?? RemovalPolicy.RETAIN,
    });
    this.providerRole = new Role(this, "ProviderRole", {
      assumedBy: new ServicePrincipal("lambda.amazonaws.com"),
      description: "Runs the schema statements of the shards through the RDS Data API",
    });
    this.providerLogs.grantWrite(this.providerRole);
  }

  /** Creates the table on `shard` and, when `seedRanges` is given, the sample rows of those ranges. */
  addShard(shard: ShardCluster, options: { seedRanges?: readonly IdRange[] } = {}): AwsCustomResource[] {
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

  private statement(id: string, resourceType: string, shard: ShardCluster, sql: string): AwsCustomResource {
    const call: AwsSdkCall = {
      service: "RDSDataService",
      action: "executeStatement",
      parameters: {
        resourceArn: shard.clusterArn,
        secretArn: shard.secret.secretArn,
        database: shard.databaseName,
        sql,
      },
      // Stable per shard and statement: a changed statement is an update of the same resource, not a replacement.
      physicalResourceId: PhysicalResourceId.of(
        `${shard.databaseName}/${this.props.tableName}/${resourceType}`,
      ),
      // Custom resource responses are capped at 4 KB; the statement's result is not needed.
      outputPaths: ["numberOfRecordsUpdated"],
    };
    const resource = new AwsCustomResource(this, id, {
      resourceType,
      onUpdate: call, // also the create call
      policy: AwsCustomResourcePolicy.fromStatements([
        new PolicyStatement({ actions: ["rds-data:ExecuteStatement"], resources: [shard.clusterArn] }),
        new PolicyStatement({
          actions: ["secretsmanager:GetSecretValue"],
          resources: [shard.secret.secretArn],
        }),
      ]),
      role: this.providerRole,
      logGroup: this.providerLogs,
      // The runtime's bundled SDK has the Data API client; installing the latest would need internet at deploy.
      installLatestAwsSdk: false,
      timeout: Duration.minutes(2),
    });
    // The Data API answers only once the writer instance is up, not merely the cluster resource.
    resource.node.addDependency(shard);
    pinProviderRuntime(this, this.props.providerRuntime);
    return resource;
  }
}

/**
 * `AwsCustomResource` picks its provider's Node.js runtime from a per-region table, which can trail the newest
 * runtime (AwsSolutions-L1). Pinning it to the runtime the API function uses keeps the stack on one, current
 * runtime. The provider is a singleton found by its documented UUID.
 */
function pinProviderRuntime(scope: Construct, runtime: Runtime): void {
  const id = `AWS${AwsCustomResource.PROVIDER_FUNCTION_UUID.replaceAll("-", "")}`;
  const provider = Stack.of(scope).node.tryFindChild(id)?.node.defaultChild;
  if (!(provider instanceof CfnFunction)) {
    throw new Error(
      `the AwsCustomResource provider function ${id} was not found; its construct id has changed`,
    );
  }
  provider.runtime = runtime.name;
}
