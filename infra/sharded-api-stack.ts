import { CfnOutput, Duration, RemovalPolicy, Stack, type StackProps } from "aws-cdk-lib";
import type { Construct } from "constructs";
import { ApiAlarms } from "./constructs/alarms.js";
import { ShardedHttpApi } from "./constructs/api.js";
import { ApiFunction, NODE_RUNTIME } from "./constructs/api-function.js";
import { shardClusterParameters } from "./constructs/cluster-parameters.js";
import { FunctionDatabaseRoles } from "./constructs/function-role.js";
import { FunctionSecretRotation } from "./constructs/function-secret-rotation.js";
import { Monitoring } from "./constructs/monitoring.js";
import { Network } from "./constructs/network.js";
import { ShardSchemas } from "./constructs/schema.js";
import { SHARD_DB_PORT, ShardCluster } from "./constructs/shard-cluster.js";
import { type DeploySettings, dataRemovalPolicy, logRemovalPolicy } from "./context.js";
import {
  databaseName,
  functionEnvironment,
  METRICS_NAMESPACE,
  POWERTOOLS_SERVICE_NAME,
  shardEntries,
  validateFunctionEnvironment,
} from "./function-environment.js";
import { RESHARD_TARGETS_OUTPUT, reshardTargets, validateReshardTargets } from "./reshard-targets.js";
import { applyRemovalPolicyTo, RESOURCES_A_RETAINED_CLUSTER_NEEDS } from "./retention.js";

export interface ShardedApiStackProps extends StackProps {
  readonly settings: DeploySettings;
}

/**
 * The whole API: an isolated VPC, one Aurora PostgreSQL Serverless v2 cluster per shard of the shard map (three by
 * default) with its schema and shard fence, the Lambda function that reads them all through the RDS Data API, the
 * HTTP API in front of it, and the alarms, topic and dashboard that watch them. The clusters share a parameter group with logical replication on and a security group that
 * lets one shard's subscription reach another's writer: what online resharding's moves need (docs/deploy.md).
 */
export class ShardedApiStack extends Stack {
  readonly settings: DeploySettings;
  readonly shards: readonly ShardCluster[];
  readonly apiFunction: ApiFunction;
  readonly httpApi: ShardedHttpApi;
  readonly alarms: ApiAlarms;
  readonly monitoring: Monitoring;

  constructor(scope: Construct, id: string, props: ShardedApiStackProps) {
    super(scope, id, props);
    const { settings } = props;
    this.settings = settings;
    // Fail the synth, not the first request, when the function would reject its own configuration.
    validateFunctionEnvironment(settings);
    validateReshardTargets(settings.shardMap);
    const logRetention = settings.logRetention;
    const logRemoval = logRemovalPolicy(settings.removalPolicy);

    const network = new Network(this, "Network", {
      flowLogRetention: logRetention,
      logRemovalPolicy: logRemoval,
      databasePort: SHARD_DB_PORT,
    });
    // Attached from the first deploy: turning logical replication on or off later is then a parameter change (and a
    // reboot), not a change of the clusters' parameter group.
    const clusterParameters = shardClusterParameters(this, "ClusterParameters", {
      logicalReplication: settings.logicalReplication,
    });
    // Retained clusters keep living in this VPC and its subnets, and keep their security group and parameter group,
    // after the stack is gone.
    if (settings.removalPolicy === "retain") {
      applyRemovalPolicyTo(network, RESOURCES_A_RETAINED_CLUSTER_NEEDS, RemovalPolicy.RETAIN);
      applyRemovalPolicyTo(clusterParameters, RESOURCES_A_RETAINED_CLUSTER_NEEDS, RemovalPolicy.RETAIN);
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
    const rotation = new FunctionSecretRotation(this, "FunctionSecretRotation", {
      tableName: settings.tableName,
      shardTimeoutMs: settings.shardTimeoutMs,
      rotationDays: settings.functionSecretRotationDays,
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
        securityGroup: network.clusterSecurityGroup,
        parameterGroup: clusterParameters,
        failoverReader: settings.failoverReader,
        logRetention,
        logRemovalPolicy: logRemoval,
      });
      // A shard that owns nothing yet (`"ranges": []`) gets its table and fence but no sample rows.
      const schema = schemas.addShard(
        shard,
        settings.shardMap,
        settings.seedSampleRows ? { seedRanges: ranges } : {},
      );
      // The role SQL grants on the table and on the fence's schema: both must exist first.
      const role = functionRoles.addShard(shard, [schema.table, schema.fenceSchema]);
      rotation.addShard(shard, [role]);
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
      reservedConcurrency: settings.reservedConcurrency,
      tracing: settings.tracing,
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
    this.monitoring = new Monitoring(this, "Monitoring", {
      namespace: METRICS_NAMESPACE,
      service: POWERTOOLS_SERVICE_NAME,
      shards: this.shards,
      handler: this.apiFunction.handler,
      functionTimeout: Duration.seconds(settings.functionTimeoutSeconds),
      reservedConcurrency: settings.reservedConcurrency,
      api: this.httpApi.api,
      shardTimeoutMs: settings.shardTimeoutMs,
      maxCapacity: settings.maxCapacity,
      alarmEmail: settings.alarmEmail,
    });
    // Last: every alarm of the stack, wherever it was made, notifies the topic.
    this.monitoring.attachActions(this);

    new CfnOutput(this, "ApiUrl", { value: this.httpApi.url, description: "Base URL of the HTTP API" });
    for (const shard of this.shards) {
      new CfnOutput(this, `Shard${shard.shardId}ClusterArn`, {
        value: shard.clusterArn,
        description: `Aurora cluster of shard ${shard.shardId} (Data API resourceArn)`,
      });
      new CfnOutput(this, `Shard${shard.shardId}SecretArn`, {
        value: shard.secret.secretArn,
        description: `Aurora-managed master secret of shard ${shard.shardId} (Data API secretArn, administration only)`,
      });
    }
    // The reshard tool's `--shards FILE`, written by `aws cloudformation describe-stacks` (docs/deploy.md). One output
    // for all shards: within its budget for every map the function's environment accepts (infra/reshard-targets.ts).
    const targets = reshardTargets(settings.shardMap, (shardId) => {
      const shard = this.shard(shardId);
      return {
        resourceArn: shard.clusterArn,
        secretArn: shard.secret.secretArn,
        database: shard.databaseName,
        host: shard.writerEndpoint,
        port: SHARD_DB_PORT,
      };
    });
    new CfnOutput(this, RESHARD_TARGETS_OUTPUT, {
      value: this.toJsonString(targets),
      description: "Every shard's Data API and replication coordinates, for npm run reshard -- --shards FILE",
    });
  }

  /** The cluster of one shard. */
  shard(shardId: number): ShardCluster {
    const shard = this.shards.find((s) => s.shardId === shardId);
    if (shard === undefined) throw new RangeError(`no shard ${shardId} in this stack`);
    return shard;
  }
}
