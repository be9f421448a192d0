import { RemovalPolicy } from "aws-cdk-lib";
import {
  CfnSecurityGroupEgress,
  FlowLogDestination,
  FlowLogTrafficType,
  Port,
  SecurityGroup,
  SubnetType,
  Vpc,
} from "aws-cdk-lib/aws-ec2";
import { LogGroup, RetentionDays } from "aws-cdk-lib/aws-logs";
import { Construct } from "constructs";

export interface NetworkProps {
  /** Availability Zones: Aurora's subnet group needs at least two. @default 2 */
  readonly maxAzs?: number;
  /** How long flow log records are kept. @default RetentionDays.ONE_MONTH */
  readonly flowLogRetention?: RetentionDays;
  /** @default RemovalPolicy.RETAIN */
  readonly logRemovalPolicy?: RemovalPolicy;
  /** The shard clusters' PostgreSQL port, the only one their security group opens (to each other). */
  readonly databasePort: number;
}

/**
 * The clusters' network: isolated subnets only, so nothing routes to or from the internet and there is no NAT
 * gateway to pay for. The function is not in the VPC: the Data API is an AWS service endpoint reached over HTTPS.
 * Flow logs (every flow, to CloudWatch Logs) show any connection attempt to the clusters.
 *
 * The clusters share one security group, `clusterSecurityGroup`, whose only rules are with itself on the database
 * port: a shard's cluster may connect to another shard's writer endpoint (a move's logical-replication subscription
 * runs on the target and connects to the source), and nothing else may connect to any of them or be reached by them.
 * Aurora's Data API does not pass through it. One shared group keeps this at one ingress and one egress rule however
 * many shards there are (one group per cluster would need a rule for every ordered pair of shards).
 */
export class Network extends Construct {
  readonly vpc: Vpc;
  /** The shard clusters' security group: members admit each other on the database port, and nothing more. */
  readonly clusterSecurityGroup: SecurityGroup;

  constructor(scope: Construct, id: string, props: NetworkProps) {
    super(scope, id);
    this.vpc = new Vpc(this, "Vpc", {
      maxAzs: props.maxAzs ?? 2,
      natGateways: 0,
      createInternetGateway: false,
      subnetConfiguration: [{ name: "isolated", subnetType: SubnetType.PRIVATE_ISOLATED, cidrMask: 24 }],
      // Nothing runs in the default security group; locking it down would add a custom-resource Lambda.
      restrictDefaultSecurityGroup: false,
    });
    const flowLogs = new LogGroup(this, "FlowLogs", {
      retention: props.flowLogRetention ?? RetentionDays.ONE_MONTH,
      removalPolicy: props.logRemovalPolicy ?? RemovalPolicy.RETAIN,
    });
    this.vpc.addFlowLog("FlowLog", {
      destination: FlowLogDestination.toCloudWatchLogs(flowLogs),
      trafficType: FlowLogTrafficType.ALL,
    });

    this.clusterSecurityGroup = new SecurityGroup(this, "ClusterSecurityGroup", {
      vpc: this.vpc,
      description:
        "Sharded data API: the shard clusters; each admits only the others, on the PostgreSQL port",
      // No egress but the rule below: a cluster reaches nothing except another shard's cluster.
      allowAllOutbound: false,
    });
    const port = Port.tcp(props.databasePort);
    this.clusterSecurityGroup.addIngressRule(
      this.clusterSecurityGroup,
      port,
      "Online resharding: a shard cluster's logical-replication subscription connects to another shard's writer",
    );
    // Not `addEgressRule`: for a rule to the group itself (a separate resource, not an inline rule) it drops CDK's
    // inline "Disallow all traffic" placeholder, and a group whose template lists no inline egress rule keeps the
    // allow-all egress rule EC2 creates with every VPC security group (AWS::EC2::SecurityGroup, SecurityGroupEgress:
    // "The default rule is removed only when you specify one or more egress rules in the SecurityGroupEgress
    // property"). The placeholder stays, so the group's only outbound path is this rule.
    new CfnSecurityGroupEgress(this, "ClusterEgress", {
      groupId: this.clusterSecurityGroup.securityGroupId,
      destinationSecurityGroupId: this.clusterSecurityGroup.securityGroupId,
      ipProtocol: "tcp",
      fromPort: props.databasePort,
      toPort: props.databasePort,
      description: "Online resharding: a shard cluster's subscription connects out to another shard's writer",
    });
  }
}
