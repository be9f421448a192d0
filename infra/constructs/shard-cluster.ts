import { Duration, RemovalPolicy, Validations } from "aws-cdk-lib";
import { type ISecurityGroup, type IVpc, SubnetType } from "aws-cdk-lib/aws-ec2";
import { type IGrantable, PolicyStatement } from "aws-cdk-lib/aws-iam";
import {
  AuroraPostgresEngineVersion,
  ClusterInstance,
  Credentials,
  DatabaseCluster,
  DatabaseClusterEngine,
  DatabaseSecret,
  type IParameterGroup,
} from "aws-cdk-lib/aws-rds";
import type { ISecret } from "aws-cdk-lib/aws-secretsmanager";
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
}

/**
 * One shard: an Aurora PostgreSQL Serverless v2 cluster with a single writer, the RDS Data API enabled, storage
 * encryption, IAM database authentication and a generated master secret. It lives in the VPC's isolated subnets and
 * its security group admits only the other shards' clusters on the PostgreSQL port (a move's subscription): clients
 * reach it through the Data API only.
 */
export class ShardCluster extends Construct {
  readonly shardId: number;
  readonly databaseName: string;
  readonly cluster: DatabaseCluster;
  /** The generated master secret: administration (the schema step) only, never the API function. */
  readonly secret: ISecret;
  /**
   * The API function's own generated secret (user `sharded_api`): the Data API signs the function in with it, as the
   * least-privilege role the schema step creates (`infra/role-sql.ts`).
   */
  readonly functionSecret: ISecret;

  constructor(scope: Construct, id: string, props: ShardClusterProps) {
    super(scope, id);
    this.shardId = props.shardId;
    this.databaseName = props.databaseName;
    const minCapacity = props.minCapacity ?? 0.5;
    const deletionProtection = props.deletionProtection ?? true;
    const removalPolicy = props.removalPolicy ?? RemovalPolicy.SNAPSHOT;

    this.cluster = new DatabaseCluster(this, "Cluster", {
      engine: SHARD_ENGINE,
      parameterGroup: props.parameterGroup,
      writer: ClusterInstance.serverlessV2("Writer", { autoMinorVersionUpgrade: true }),
      serverlessV2MinCapacity: minCapacity,
      serverlessV2MaxCapacity: props.maxCapacity ?? 2,
      ...(minCapacity === 0 ? { serverlessV2AutoPauseDuration: props.autoPause ?? Duration.minutes(5) } : {}),
      enableDataApi: true,
      credentials: Credentials.fromGeneratedSecret("postgres"),
      defaultDatabaseName: props.databaseName,
      storageEncrypted: true,
      iamAuthentication: true,
      // Stated rather than implied: the Data API does not use the port; only another shard's subscription does.
      port: SHARD_DB_PORT,
      backup: { retention: props.backupRetention ?? Duration.days(7) },
      deletionProtection,
      removalPolicy,
      vpc: props.vpc,
      vpcSubnets: { subnetType: SubnetType.PRIVATE_ISOLATED },
      securityGroups: [props.securityGroup],
    });
    const secret = this.cluster.secret;
    if (secret === undefined) throw new Error(`shard ${props.shardId}: the cluster has no generated secret`);
    this.secret = secret;
    this.functionSecret = new DatabaseSecret(this, "FunctionSecret", {
      username: FUNCTION_DB_USER,
      // PostgreSQL and the Data API take any character; these would only trouble someone pasting it into a shell.
      excludeCharacters: " %+~`#$&*()|[]{}:;<>?!'/@\"\\",
    });
    applyLifecycle(this, removalPolicy);

    Validations.of(this).acknowledge({
      id: "AwsSolutions-SMG4",
      reason:
        "Rotating the master secret needs a rotation Lambda inside the VPC plus a Secrets Manager interface endpoint, which this NAT-less, isolated design leaves out; the secret is never handed to people or clients, only read by the Data API for callers that hold IAM permission on this one secret.",
    });
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

/**
 * What happens to the shard's resources when they leave the stack: the master secret follows the cluster (see
 * `secretRemovalPolicy`), and a retained cluster keeps its subnet group, security group and writer instance as well
 * (the stack retains the network; see `RESOURCES_A_RETAINED_CLUSTER_NEEDS`).
 */
function applyLifecycle(shard: ShardCluster, removalPolicy: RemovalPolicy): void {
  const secretPolicy = secretRemovalPolicy(removalPolicy);
  // Under the shard, not only the cluster: the function role's secret follows the cluster too.
  applyRemovalPolicyTo(
    shard,
    new Set(["AWS::SecretsManager::Secret", "AWS::SecretsManager::SecretTargetAttachment"]),
    secretPolicy,
  );
  if (removalPolicy === RemovalPolicy.RETAIN) {
    applyRemovalPolicyTo(shard, RESOURCES_A_RETAINED_CLUSTER_NEEDS, RemovalPolicy.RETAIN);
  }
}
