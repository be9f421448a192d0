import { CfnResource, RemovalPolicy } from "aws-cdk-lib";
import type { IConstruct } from "constructs";

/**
 * What a retained cluster still needs once its stack is gone: its network (VPC, subnets and their routing), its
 * subnet group, security group (with its rules) and cluster parameter group, its writer instance and its master
 * secret. CloudFormation deletes every resource
 * without a Retain policy, and deleting a subnet or security group that a retained cluster still uses fails with
 * DependencyViolation, which leaves `cdk destroy` stuck. Keeping them makes the destroy clean and the kept cluster
 * usable (and deletable) later.
 */
export const RESOURCES_A_RETAINED_CLUSTER_NEEDS: ReadonlySet<string> = new Set([
  "AWS::EC2::VPC",
  "AWS::EC2::Subnet",
  "AWS::EC2::RouteTable",
  "AWS::EC2::SubnetRouteTableAssociation",
  "AWS::EC2::SecurityGroup",
  "AWS::EC2::SecurityGroupIngress",
  "AWS::EC2::SecurityGroupEgress",
  "AWS::RDS::DBSubnetGroup",
  "AWS::RDS::DBClusterParameterGroup",
  "AWS::RDS::DBCluster",
  "AWS::RDS::DBInstance",
  "AWS::SecretsManager::Secret",
  "AWS::SecretsManager::SecretTargetAttachment",
]);

/** Applies `policy` to every CloudFormation resource under `scope` whose type is in `types`. */
export function applyRemovalPolicyTo(
  scope: IConstruct,
  types: ReadonlySet<string>,
  policy: RemovalPolicy,
): void {
  for (const construct of scope.node.findAll()) {
    if (construct instanceof CfnResource && types.has(construct.cfnResourceType)) {
      construct.applyRemovalPolicy(policy);
    }
  }
}

/**
 * The function's secret follows its cluster: it holds the password of the function's role inside the cluster, so it is
 * deleted only with a cluster that is itself destroyed. A secret cannot be snapshotted, so a cluster that leaves a
 * final snapshot (or is retained) keeps it too: a restored snapshot's `sharded_api` role still has that password.
 * (The master secret is Aurora's own, `ManageMasterUserPassword`: Aurora deletes it with the cluster, and a restored
 * cluster gets a new one with `aws rds modify-db-cluster --manage-master-user-password`.)
 */
export function secretRemovalPolicy(clusterRemoval: RemovalPolicy): RemovalPolicy {
  return clusterRemoval === RemovalPolicy.DESTROY ? RemovalPolicy.DESTROY : RemovalPolicy.RETAIN;
}
