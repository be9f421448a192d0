import { Duration, RemovalPolicy, Validations } from "aws-cdk-lib";
import { type ISecurityGroup, type IVpc, SubnetType } from "aws-cdk-lib/aws-ec2";
import { type IGrantable, PolicyStatement } from "aws-cdk-lib/aws-iam";
import { LogGroup, RetentionDays } from "aws-cdk-lib/aws-logs";
import {
  AuroraPostgresEngineVersion,
  type CfnDBCluster,
  CfnDBInstance,
  ClusterInstance,
  Credentials,
  DatabaseCluster,
  DatabaseClusterEngine,
  DatabaseInsightsMode,
  DatabaseSecret,
  type IParameterGroup,
  PerformanceInsightRetention,
} from "aws-cdk-lib/aws-rds";
import { type ISecret, Secret } from "aws-cdk-lib/aws-secretsmanager";
import { Construct } from "constructs";
import {
  applyRemovalPolicyTo,
  RESOURCES_A_RETAINED_CLUSTER_NEEDS,
  secretRemovalPolicy,
} from "../retention.js";
import { FUNCTION_DB_USER } from "../role-sql.js";

/**
 * Aurora PostgreSQL 18.6, the newest version the pinned aws-cdk-lib (2.276.0) knows. AWS's "Supported Regions and
 * Aurora DB engines for RDS Data API" (Aurora User Guide, Concepts.Aurora_Fea_Regions_DB-eng.Feature.Data_API) lists
 * the Data API for Aurora PostgreSQL 18.3 and higher (17.4 and higher on 17), and "Aurora Serverless v2 capacity"
 * offers a minimum of 0 ACUs (auto-pause) from 16.3, 15.7, 14.12 and 13.15 on, so every 17.x and 18.x. The regions
 * without the Data API are listed in docs/deploy.md (Prerequisites).
 */
export const ENGINE_VERSION = AuroraPostgresEngineVersion.VER_18_6;

/** The engine of every shard's cluster, and so the family of their parameter group (`aurora-postgresql18`). */
export const SHARD_ENGINE = DatabaseClusterEngine.auroraPostgres({ version: ENGINE_VERSION });

/**
 * The clusters' PostgreSQL port. The Data API does not use it; a move's subscription does: the target cluster
 * connects to the source cluster's writer endpoint on it (`Network.clusterSecurityGroup` admits exactly that).
 */
export const SHARD_DB_PORT = 5432;

export interface ShardClusterProps {
  /** The shard this cluster holds (its id in the shard map). */
  readonly shardId: number;
  readonly vpc: IVpc;
  /** The database created in the cluster, which every Data API call names. */
  readonly databaseName: string;
  /**
   * Minimum ACUs. 0 lets the cluster pause when idle, and the first call after a pause fails with
   * DatabaseResumingException for about 15 s: with a 2 s shard timeout that shard reads as missing meanwhile.
   * @default 0.5
   */
  readonly minCapacity?: number;
  /** Maximum ACUs. @default 2 */
  readonly maxCapacity?: number;
  /** Idle time before an auto-pausing cluster pauses; used only when `minCapacity` is 0. @default 5 minutes */
  readonly autoPause?: Duration;
  /** @default true */
  readonly deletionProtection?: boolean;
  /** @default RemovalPolicy.SNAPSHOT */
  readonly removalPolicy?: RemovalPolicy;
  /** Automated backups (point-in-time recovery). @default 7 days */
  readonly backupRetention?: Duration;
  /**
   * The security group every shard's cluster shares (`Network.clusterSecurityGroup`): it admits the other clusters on
   * the PostgreSQL port and nothing else.
   */
  readonly securityGroup: ISecurityGroup;
  /** The shared custom DB cluster parameter group (`shardClusterParameters`: `rds.logical_replication`). */
  readonly parameterGroup: IParameterGroup;
  /**
   * A Serverless v2 reader in the second Availability Zone (promotion tier 1, scaling with the writer), so Aurora fails
   * over to it when the writer's instance or zone fails instead of replacing the writer. @default true
   */
  readonly failoverReader?: boolean;
  /** Retention of the cluster's exported PostgreSQL log. @default RetentionDays.ONE_MONTH */
  readonly logRetention?: RetentionDays;
  /** @default RemovalPolicy.RETAIN */
  readonly logRemovalPolicy?: RemovalPolicy;
}

/** The PostgreSQL log the clusters export to CloudWatch Logs (the only log type Aurora PostgreSQL exports). */
export const EXPORTED_LOG_TYPES = ["postgresql"] as const;

/** Performance Insights on each instance too, as on the cluster (Database Insights, Standard: 7 days, free). */
const INSTANCE_INSIGHTS = {
  enablePerformanceInsights: true,
  performanceInsightRetention: PerformanceInsightRetention.DEFAULT,
} as const;

/** The master user: Aurora manages its password in Secrets Manager and rotates it (see `ShardCluster.secret`). */
export const MASTER_USERNAME = "postgres";

/**
 * One shard: an Aurora PostgreSQL Serverless v2 cluster with a writer and (by default) a failover reader in the other
 * Availability Zone, the RDS Data API enabled, storage encryption, IAM database authentication, an Aurora-managed
 * master secret, PostgreSQL's log exported to CloudWatch Logs and Database Insights (Standard). It lives in the VPC's isolated subnets and
 * its security group admits only the other shards' clusters on the PostgreSQL port (a move's subscription): clients
 * reach it through the Data API only.
 */
export class ShardCluster extends Construct {
  readonly shardId: number;
  readonly databaseName: string;
  readonly cluster: DatabaseCluster;
  /**
   * The master user's secret, managed by Aurora (`ManageMasterUserPassword`): Aurora creates it, keeps the password in
   * it and rotates it itself, every 7 days by default, with no rotation function and no network path from our VPC to
   * Secrets Manager ("Password management with Amazon Aurora and AWS Secrets Manager", Aurora User Guide,
   * https://docs.aws.amazon.com/AmazonRDS/latest/AuroraUserGuide/rds-secrets-manager.html). Administration (the schema
   * step, the role step, the reshard tool) only, never the API function. The Data API reads it at each call, so a
   * rotation needs nothing from us.
   */
  readonly secret: ISecret;
  /**
   * The API function's own generated secret (user `sharded_api`, later alternating with `sharded_api_clone`): the Data
   * API signs the function in with it, as the least-privilege role the role step creates (`infra/role-sql.ts`). It is
   * attached to the cluster and names the master secret (`masterarn`), as AWS's alternating-users rotation expects,
   * so the rotation function (`FunctionSecretRotation`) finds everything it needs in the secret itself.
   */
  readonly functionSecret: ISecret;
  /** The instances: the writer, then the failover reader when there is one. */
  readonly instances: readonly CfnDBInstance[];
  /** The cluster's exported PostgreSQL log, created before any instance can write to it. */
  readonly postgresLog: LogGroup;

  constructor(scope: Construct, id: string, props: ShardClusterProps) {
    super(scope, id);
    this.shardId = props.shardId;
    this.databaseName = props.databaseName;
    const minCapacity = props.minCapacity ?? 0.5;
    const deletionProtection = props.deletionProtection ?? true;
    const removalPolicy = props.removalPolicy ?? RemovalPolicy.SNAPSHOT;
    const [writerZone, readerZone] = props.vpc.availabilityZones;

    this.cluster = new DatabaseCluster(this, "Cluster", {
      engine: SHARD_ENGINE,
      parameterGroup: props.parameterGroup,
      // Pinned to the VPC's zones, one each: a failover then always moves the writer to the other zone.
      writer: ClusterInstance.serverlessV2("Writer", {
        ...INSTANCE_INSIGHTS,
        autoMinorVersionUpgrade: true,
        ...(writerZone ? { availabilityZone: writerZone } : {}),
      }),
      // Promotion tier 1 (scaleWithWriter): first in line for failover, and as large as the writer when it takes over
      // ("Aurora Serverless v2 capacity: Choosing the promotion tier for an Aurora Serverless v2 reader", Aurora User
      // Guide, aurora-serverless-v2.setting-capacity.html).
      readers:
        props.failoverReader === false
          ? []
          : [
              ClusterInstance.serverlessV2("Reader", {
                ...INSTANCE_INSIGHTS,
                scaleWithWriter: true,
                autoMinorVersionUpgrade: true,
                ...(readerZone ? { availabilityZone: readerZone } : {}),
              }),
            ],
      serverlessV2MinCapacity: minCapacity,
      serverlessV2MaxCapacity: props.maxCapacity ?? 2,
      ...(minCapacity === 0 ? { serverlessV2AutoPauseDuration: props.autoPause ?? Duration.minutes(5) } : {}),
      enableDataApi: true,
      credentials: Credentials.fromUsername(MASTER_USERNAME),
      manageMasterUserPassword: true,
      defaultDatabaseName: props.databaseName,
      storageEncrypted: true,
      iamAuthentication: true,
      // Stated rather than implied: the Data API does not use the port; only another shard's subscription does.
      port: SHARD_DB_PORT,
      backup: { retention: props.backupRetention ?? Duration.days(7) },
      // PostgreSQL's log in CloudWatch Logs ("Publishing Aurora PostgreSQL logs to Amazon CloudWatch Logs", Aurora User
      // Guide, AuroraPostgreSQL.CloudWatch.html); its log group is ours (below), so it has a retention.
      cloudwatchLogsExports: [...EXPORTED_LOG_TYPES],
      // Database Insights, Standard mode: Performance Insights with its free 7 days of history (counter metrics, top
      // SQL and waits per instance); Advanced mode would need 15 months and is billed per vCPU-hour
      // ("Monitoring Amazon Aurora databases with CloudWatch Database Insights", Aurora User Guide, USER_DatabaseInsights.html).
      enablePerformanceInsights: true,
      performanceInsightRetention: PerformanceInsightRetention.DEFAULT,
      databaseInsightsMode: DatabaseInsightsMode.STANDARD,
      deletionProtection,
      removalPolicy,
      vpc: props.vpc,
      vpcSubnets: { subnetType: SubnetType.PRIVATE_ISOLATED },
      securityGroups: [props.securityGroup],
    });
    const cfnCluster = this.cluster.node.defaultChild as CfnDBCluster;
    this.secret = Secret.fromSecretCompleteArn(
      this,
      "MasterSecret",
      cfnCluster.attrMasterUserSecretSecretArn,
    );
    this.instances = this.cluster.node
      .findAll()
      .filter((c): c is CfnDBInstance => c instanceof CfnDBInstance);

    // Aurora writes to `/aws/rds/cluster/<cluster>/postgresql` and creates the group itself if it is missing, without a
    // retention. This one exists first: it names the cluster, and every instance (which is what writes the log) waits
    // for it, so Aurora never gets to create its own.
    this.postgresLog = new LogGroup(this, "PostgresLog", {
      logGroupName: `/aws/rds/cluster/${this.cluster.clusterIdentifier}/postgresql`,
      retention: props.logRetention ?? RetentionDays.ONE_MONTH,
      removalPolicy: props.logRemovalPolicy ?? RemovalPolicy.RETAIN,
    });
    for (const instance of this.instances) instance.node.addDependency(this.postgresLog);

    const functionSecret = new DatabaseSecret(this, "FunctionSecret", {
      username: FUNCTION_DB_USER,
      dbname: props.databaseName,
      // `masterarn`: the secret that may change this user's password (the alternating-users rotation's convention).
      masterSecret: this.secret,
      // PostgreSQL and the Data API take any character; these would only trouble someone pasting it into a shell.
      excludeCharacters: FUNCTION_SECRET_EXCLUDED_CHARACTERS,
    });
    // Attached: Secrets Manager adds the cluster's identifier, engine, host and port to the secret's value.
    this.functionSecret = functionSecret.attach(this.cluster);
    applyLifecycle(this, removalPolicy);

    if (!deletionProtection) {
      Validations.of(this).acknowledge({
        id: "AwsSolutions-RDS10",
        reason:
          "Deletion protection was switched off through context (deletionProtection=false or demo=true) for a disposable deployment; the default keeps it on.",
      });
    }
  }

  get clusterArn(): string {
    return this.cluster.clusterArn;
  }

  /** The writer (cluster) endpoint's host name: where a move's subscription on another shard connects. */
  get writerEndpoint(): string {
    return this.cluster.clusterEndpoint.hostname;
  }

  /**
   * What the API function needs and nothing more: `rds-data:ExecuteStatement` on this cluster (no Batch, no
   * transactions) and `secretsmanager:GetSecretValue` on the function's own secret (not DescribeSecret, never the
   * master secret). `cluster.grantDataApiAccess` would grant all five Data API actions and the master secret.
   */
  grantFunctionAccess(grantee: IGrantable): void {
    grantee.grantPrincipal.addToPrincipalPolicy(
      new PolicyStatement({ actions: ["rds-data:ExecuteStatement"], resources: [this.clusterArn] }),
    );
    grantee.grantPrincipal.addToPrincipalPolicy(
      new PolicyStatement({
        actions: ["secretsmanager:GetSecretValue"],
        resources: [this.functionSecret.secretArn],
      }),
    );
  }
}

/** Characters the function's generated passwords leave out (the rotation function generates with the same set). */
export const FUNCTION_SECRET_EXCLUDED_CHARACTERS = " %+~`#$&*()|[]{}:;<>?!'/@\"\\";

/**
 * What happens to the shard's resources when they leave the stack: the function's secret follows the cluster (see
 * `secretRemovalPolicy`; the master secret is Aurora's, which deletes it with the cluster), and a retained cluster keeps its subnet group, security group and writer instance as well
 * (the stack retains the network; see `RESOURCES_A_RETAINED_CLUSTER_NEEDS`).
 */
function applyLifecycle(shard: ShardCluster, removalPolicy: RemovalPolicy): void {
  const secretPolicy = secretRemovalPolicy(removalPolicy);
  applyRemovalPolicyTo(
    shard,
    new Set(["AWS::SecretsManager::Secret", "AWS::SecretsManager::SecretTargetAttachment"]),
    secretPolicy,
  );
  if (removalPolicy === RemovalPolicy.RETAIN) {
    applyRemovalPolicyTo(shard, RESOURCES_A_RETAINED_CLUSTER_NEEDS, RemovalPolicy.RETAIN);
  }
}
