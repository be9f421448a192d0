import { CfnOutput, Duration, RemovalPolicy, Stack, type StackProps } from "aws-cdk-lib";
import type { Construct } from "constructs";
import { ApiAlarms } from "./constructs/alarms.js";
import { ShardedHttpApi } from "./constructs/api.js";
import { ApiFunction, NODE_RUNTIME } from "./constructs/api-function.js";
import { FunctionDatabaseRoles } from "./constructs/function-role.js";
import { Network } from "./constructs/network.js";
import { ShardSchemas } from "./constructs/schema.js";
import { ShardCluster } from "./constructs/shard-cluster.js";
import { type DeploySettings, dataRemovalPolicy, logRemovalPolicy } from "./context.js";
import {
  databaseName,
  functionEnvironment,
  METRICS_NAMESPACE,
  POWERTOOLS_SERVICE_NAME,
  shardEntries,
  validateFunctionEnvironment,
} from "./function-environment.js";
import { applyRemovalPolicyTo, RESOURCES_A_RETAINED_CLUSTER_NEEDS } from "./retention.js";

export interface ShardedApiStackProps extends StackProps {
  readonly settings: DeploySettings;
}

/**
 * The whole API: an isolated VPC, one Aurora PostgreSQL Serverless v2 cluster per shard of the shard map (three by
 * default) with its schema, the Lambda function that reads them all through the RDS Data API, and the HTTP API in
 * front of it.
 */
export class ShardedApiStack extends Stack {
  readonly settings: DeploySettings;
  readonly shards: readonly ShardCluster[];
  readonly apiFunction: ApiFunction;
  readonly httpApi: ShardedHttpApi;
  readonly alarms: ApiAlarms;

  constructor(scope: Construct, id: string, props: ShardedApiStackProps) {
    super(scope, id, props);
    const { settings } = props;
    this.settings = settings;
    // Fail the synth, not the first request, when the function would reject its own configuration.
    validateFunctionEnvironment(settings);
    const logRetention = settings.logRetention;
    const logRemoval = logRemovalPolicy(settings.removalPolicy);

    const network = new Network(this, "Network", {
      flowLogRetention: logRetention,
      logRemovalPolicy: logRemoval,
    });
    // Retained clusters keep living in this VPC and its subnets after the stack is gone.
    if (settings.removalPolicy === "retain") {
      applyRemovalPolicyTo(network, RESOURCES_A_RETAINED_CLUSTER_NEEDS, RemovalPolicy.RETAIN);
    }
    const schemas = new ShardSchemas(this, "Schema", {
      tableName: settings.tableName,
      providerRuntime: NODE_RUNTIME,
      logRetention,
      logRemovalPolicy: logRemoval,
    });
    const functionRoles = new FunctionDatabaseRoles(this, "FunctionDbRole", {
      tableName: settings.tableName,
      shardTimeoutMs: settings.shardTimeoutMs,
      logRetention,
      logRemovalPolicy: logRemoval,
    });

    this.shards = settings.shardMap.shards.map(({ id: shardId, ranges }) => {
      const shard = new ShardCluster(this, `Shard${shardId}`, {
        shardId,
        vpc: network.vpc,
        databaseName: databaseName(shardId),
        minCapacity: settings.minCapacity,
        maxCapacity: settings.maxCapacity,
        autoPause: Duration.minutes(settings.autoPauseMinutes),
        deletionProtection: settings.deletionProtection,
        removalPolicy: dataRemovalPolicy(settings.removalPolicy),
      });
      const [table] = schemas.addShard(shard, settings.seedSampleRows ? { seedRanges: ranges } : {});
      if (table) functionRoles.addShard(shard, table);
      return shard;
    });

    const entries = shardEntries(settings.shardMap, (shardId) => {
      const shard = this.shard(shardId);
      return {
        resourceArn: shard.clusterArn,
        // The function signs in as its least-privilege role, never with the master secret.
        secretArn: shard.functionSecret.secretArn,
        database: shard.databaseName,
      };
    });
    this.apiFunction = new ApiFunction(this, "Function", {
      environment: functionEnvironment(settings, this.toJsonString(entries)),
      timeout: Duration.seconds(settings.functionTimeoutSeconds),
      memorySize: settings.functionMemoryMb,
      logRetention,
      logRemovalPolicy: logRemoval,
    });
    for (const shard of this.shards) shard.grantFunctionAccess(this.apiFunction.handler);

    this.httpApi = new ShardedHttpApi(this, "Http", {
      handler: this.apiFunction.handler,
      throttleRateLimit: settings.throttleRateLimit,
      throttleBurstLimit: settings.throttleBurstLimit,
      requireIamForReads: settings.requireIamForReads,
      logRetention,
      logRemovalPolicy: logRemoval,
    });

    this.alarms = new ApiAlarms(this, "Alarms", {
      namespace: METRICS_NAMESPACE,
      service: POWERTOOLS_SERVICE_NAME,
      shardIds: this.shards.map((s) => s.shardId),
    });

    new CfnOutput(this, "ApiUrl", { value: this.httpApi.url, description: "Base URL of the HTTP API" });
    for (const shard of this.shards) {
      new CfnOutput(this, `Shard${shard.shardId}ClusterArn`, {
        value: shard.clusterArn,
        description: `Aurora cluster of shard ${shard.shardId} (Data API resourceArn)`,
      });
      new CfnOutput(this, `Shard${shard.shardId}SecretArn`, {
        value: shard.secret.secretArn,
        description: `Master secret of shard ${shard.shardId} (Data API secretArn)`,
      });
    }
  }

  /** The cluster of one shard. */
  shard(shardId: number): ShardCluster {
    const shard = this.shards.find((s) => s.shardId === shardId);
    if (shard === undefined) throw new RangeError(`no shard ${shardId} in this stack`);
    return shard;
  }
}
