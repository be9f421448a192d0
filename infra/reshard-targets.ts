import { ConfigError } from "../functions/core/errors.js";
import type { ShardMap } from "../functions/core/shard-map.js";
import { databaseName } from "./function-environment.js";

/**
 * The stack output the reshard tool's `--shards FILE` is written from (docs/deploy.md, "Growing a deployed stack"):
 * `{"shards":[{id, resourceArn, secretArn, database, replication: {host, port, dbname, secretArn}}, …]}`, the shape
 * the local runtime's `GET /_local/shards` answers, without `endpoint` (the tool calls the real Data API) and with
 * the replication password left in Secrets Manager: the tool reads `replication.secretArn` (the master secret: the
 * tool runs as the master user, which may create publications, slots and subscriptions) when it builds a
 * subscription's connection to the source shard's writer.
 */
export const RESHARD_TARGETS_OUTPUT = "ReshardTargets";

/** One shard as the reshard tool addresses it. */
export interface ReshardTarget {
  readonly id: number;
  /** The cluster ARN (Data API `resourceArn`). */
  readonly resourceArn: string;
  /** The master secret ARN (Data API `secretArn`): the tool runs as the master user. */
  readonly secretArn: string;
  readonly database: string;
  /** Where another shard's subscription connects: the writer endpoint of this shard's cluster. */
  readonly replication: {
    readonly host: string;
    readonly port: number;
    readonly dbname: string;
    readonly secretArn: string;
  };
}

export interface ReshardTargets {
  readonly shards: readonly ReshardTarget[];
}

/** What the stack knows of one shard's cluster (tokens until deploy time). */
export interface ReshardCoordinates {
  readonly resourceArn: string;
  readonly secretArn: string;
  readonly database: string;
  readonly host: string;
  readonly port: number;
}

/** Every shard of the map, empty ones included (a new shard is a move's target), in the map's order. */
export function reshardTargets(
  map: ShardMap,
  coordinates: (shardId: number) => ReshardCoordinates,
): ReshardTargets {
  return {
    shards: map.shards.map(({ id }) => {
      const c = coordinates(id);
      return {
        id,
        resourceArn: c.resourceArn,
        secretArn: c.secretArn,
        database: c.database,
        replication: { host: c.host, port: c.port, dbname: c.database, secretArn: c.secretArn },
      };
    }),
  };
}

/**
 * Our budget for the output's value. CloudFormation's quotas page ("Understand CloudFormation quotas") limits a
 * template to 200 outputs and the Outputs syntax page an output's description to 1,024 bytes, but neither states a
 * limit for one output's value. The budget is therefore ours, and generous on purpose: twice the 4 KB Lambda
 * environment (`LAMBDA_ENVIRONMENT_LIMIT_BYTES`) that already caps how many shards a stack can have, so the function's
 * environment runs out first (test/infra/reshard-targets.test.ts checks it). If that cap is ever lifted, the answer
 * is one output per shard, not a bigger budget.
 */
export const RESHARD_TARGETS_BUDGET_BYTES = 8192;

/**
 * Stand-ins as long as the deployed values can get: a 63-character cluster identifier, a 64-character secret name
 * with its 6-character suffix, and the writer endpoint `<cluster>.cluster-<12 characters>.<region>.rds.amazonaws.com`.
 */
function placeholderCoordinates(shardId: number): ReshardCoordinates {
  const region = "ap-southeast-2";
  const secretArn = `arn:aws:secretsmanager:${region}:123456789012:secret:${"s".repeat(64)}-AbCdEf`;
  return {
    resourceArn: `arn:aws:rds:${region}:123456789012:cluster:${"c".repeat(63)}`,
    secretArn,
    database: databaseName(shardId),
    host: `${"c".repeat(63)}.cluster-${"x".repeat(12)}.${region}.rds.amazonaws.com`,
    port: 5432,
  };
}

/** The output's size in bytes for `map` with the longest values a deployment can give it. */
export function reshardTargetsWorstCaseBytes(map: ShardMap): number {
  return Buffer.byteLength(JSON.stringify(reshardTargets(map, placeholderCoordinates)));
}

/**
 * Proves at synth that the `ReshardTargets` output stays within its budget for this map.
 *
 * @throws ConfigError naming the context key when it would not.
 */
export function validateReshardTargets(map: ShardMap): void {
  const bytes = reshardTargetsWorstCaseBytes(map);
  if (bytes > RESHARD_TARGETS_BUDGET_BYTES) {
    throw new ConfigError(
      `context shardMap: the ${RESHARD_TARGETS_OUTPUT} output could take ${bytes} bytes, over its budget of ${RESHARD_TARGETS_BUDGET_BYTES}`,
    );
  }
}
