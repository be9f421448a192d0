import { Duration, RemovalPolicy, Validations } from "aws-cdk-lib";
import { type IVpc, SubnetType } from "aws-cdk-lib/aws-ec2";
import { type IGrantable, PolicyStatement } from "aws-cdk-lib/aws-iam";
import {
  AuroraPostgresEngineVersion,
  ClusterInstance,
  Credentials,
  DatabaseCluster,
  DatabaseClusterEngine,
  DatabaseSecret,
} from "aws-cdk-lib/aws-rds";
import type { ISecret } from "aws-cdk-lib/aws-secretsmanager";
import { Construct } from "constructs";
import { FUNCTION_DB_USER } from "../role-sql.js";

/**
 * Aurora PostgreSQL 17.5: the Data API serves Aurora PostgreSQL 17.4 and later, and 17.x supports Serverless v2
 * auto-pause (a minimum of 0 ACUs).
 */
export const ENGINE_VERSION = AuroraPostgresEngineVersion.VER_17_5;

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
}

/**
 * One shard: an Aurora PostgreSQL Serverless v2 cluster with a single writer, the RDS Data API enabled, storage
 * encryption, IAM database authentication and a generated master secret. It lives in the VPC's isolated subnets and
 * its security group admits nothing: the Data API is the only way in.
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

    this.cluster = new DatabaseCluster(this, "Cluster", {
      engine: DatabaseClusterEngine.auroraPostgres({ version: ENGINE_VERSION }),
      writer: ClusterInstance.serverlessV2("Writer", { autoMinorVersionUpgrade: true }),
      serverlessV2MinCapacity: minCapacity,
      serverlessV2MaxCapacity: props.maxCapacity ?? 2,
      ...(minCapacity === 0 ? { serverlessV2AutoPauseDuration: props.autoPause ?? Duration.minutes(5) } : {}),
      enableDataApi: true,
      credentials: Credentials.fromGeneratedSecret("postgres"),
      defaultDatabaseName: props.databaseName,
      storageEncrypted: true,
      iamAuthentication: true,
      // Stated rather than implied: the Data API does not use the port, and no client in the VPC connects to it.
      port: 5432,
      backup: { retention: props.backupRetention ?? Duration.days(7) },
      deletionProtection,
      removalPolicy: props.removalPolicy ?? RemovalPolicy.SNAPSHOT,
      vpc: props.vpc,
      vpcSubnets: { subnetType: SubnetType.PRIVATE_ISOLATED },
    });
    const secret = this.cluster.secret;
    if (secret === undefined) throw new Error(`shard ${props.shardId}: the cluster has no generated secret`);
    this.secret = secret;
    this.functionSecret = new DatabaseSecret(this, "FunctionSecret", {
      username: FUNCTION_DB_USER,
      // PostgreSQL and the Data API take any character; these would only trouble someone pasting it into a shell.
      excludeCharacters: " %+~`#$&*()|[]{}:;<>?!'/@\"\\",
    });

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
