import { RemovalPolicy } from "aws-cdk-lib";
import { FlowLogDestination, FlowLogTrafficType, SubnetType, Vpc } from "aws-cdk-lib/aws-ec2";
import { LogGroup, RetentionDays } from "aws-cdk-lib/aws-logs";
import { Construct } from "constructs";

export interface NetworkProps {
  /** Availability Zones: Aurora's subnet group needs at least two. @default 2 */
  readonly maxAzs?: number;
  /** How long flow log records are kept. @default RetentionDays.ONE_MONTH */
  readonly flowLogRetention?: RetentionDays;
  /** @default RemovalPolicy.RETAIN */
  readonly logRemovalPolicy?: RemovalPolicy;
}

/**
 * The clusters' network: isolated subnets only, so nothing routes to or from the internet and there is no NAT
 * gateway to pay for. The function is not in the VPC: the Data API is an AWS service endpoint reached over HTTPS.
 * Flow logs (every flow, to CloudWatch Logs) show any connection attempt to the clusters.
 */
export class Network extends Construct {
  readonly vpc: Vpc;

  constructor(scope: Construct, id: string, props: NetworkProps = {}) {
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
  }
}
