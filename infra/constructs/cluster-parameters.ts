import { type IParameterGroup, ParameterGroup } from "aws-cdk-lib/aws-rds";
import type { Construct } from "constructs";
import { SHARD_ENGINE } from "./shard-cluster.js";

/**
 * The cluster parameters that online resharding needs (docs/deploy.md, "Growing a deployed stack"): a move copies an
 * id range from one shard's cluster to another's with PostgreSQL logical replication (a row-filtered publication and
 * a logical slot on the source, a subscription on the target), and Aurora PostgreSQL turns logical decoding on only
 * through `rds.logical_replication = 1` in a custom DB cluster parameter group ("Setting up logical replication for
 * your Aurora PostgreSQL DB cluster", Aurora User Guide, AuroraPostgreSQL.Replication.Logical.Configure: the default
 * is 0; it is a static parameter, applied when the writer restarts).
 *
 * Nothing else is set. The same page says that for `max_replication_slots`, `max_wal_senders`,
 * `max_logical_replication_workers` and `max_worker_processes` "in many cases, the default values are sufficient",
 * and the tool runs one move at a time. A move needs, on the source, one logical slot and one WAL sender (the
 * subscription copies nothing: the tool copies the rows itself, reshard/copy.ts); on the target, one replication
 * origin and one apply worker (PostgreSQL "Logical Replication: Configuration Settings"). PostgreSQL's defaults are
 * 10 slots, 10 WAL senders and 4 logical replication workers, and Aurora's `max_worker_processes` default is
 * GREATEST(2 × vCPU, 8) (the AWS page above): a single move fits. Check them on a
 * deployed cluster with `SHOW max_replication_slots` (docs/deploy.md) before running moves in parallel with other
 * replication.
 */
export const LOGICAL_REPLICATION_PARAMETER = "rds.logical_replication";

export interface ShardClusterParametersProps {
  /**
   * `rds.logical_replication` on (1) or off (0). Off keeps auto-pausing clusters (minimum 0 ACUs) able to pause; a move
   * then fails at its first step (the source cannot create a logical slot). The group itself is attached either way,
   * so turning it on later is a parameter change and a reboot, never a swap of parameter groups.
   */
  readonly logicalReplication: boolean;
}

/**
 * One custom DB cluster parameter group that every shard's cluster uses (DB cluster parameter groups are a per-account
 * quota, so one per stack rather than one per shard). Its family follows the clusters' engine (`SHARD_ENGINE`), so an
 * engine upgrade that changes the major version changes the family with it. The description is fixed on purpose:
 * CloudFormation replaces a DB cluster parameter group whose description changes (AWS::RDS::DBClusterParameterGroup,
 * "Update requires: Replacement").
 */
export function shardClusterParameters(
  scope: Construct,
  id: string,
  props: ShardClusterParametersProps,
): IParameterGroup {
  return ParameterGroup.forCluster(scope, id, {
    engine: SHARD_ENGINE,
    description: "Sharded data API: shard clusters (logical replication for online resharding)",
    parameters: { [LOGICAL_REPLICATION_PARAMETER]: props.logicalReplication ? "1" : "0" },
  });
}
