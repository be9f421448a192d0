import {
  ExecuteStatementCommand,
  type ExecuteStatementCommandOutput,
  RDSDataClient,
  type RDSDataClientConfig,
} from "@aws-sdk/client-rds-data";
import type { AppConfig, ShardConfig } from "./config.js";
import type { Statement } from "./sql.js";

/** The Data API clients of every shard, for reads and for writes. */
export interface ShardClients {
  readonly read: ReadonlyMap<number, RDSDataClient>;
  readonly write: ReadonlyMap<number, RDSDataClient>;
}

/**
 * Creates the clients once per process: for each shard one for reads and one for writes. A client per shard, even
 * where all shards share AWS's regional endpoint, gives each shard its own connection pool and its own retry quota, so
 * a failing shard cannot spend the retries of the healthy ones. Reads may retry a transient 5xx or socket error inside
 * their one deadline, which bounds every attempt together. Writes make exactly one attempt: a retried INSERT whose
 * first attempt committed would otherwise come back as a false "duplicate id". `credentials` replaces the default
 * provider chain: the local runtime signs with the local endpoints' credentials, never the user's own.
 */
export function createShardClients(
  config: AppConfig,
  credentials?: RDSDataClientConfig["credentials"],
): ShardClients {
  const client = (shard: ShardConfig, maxAttempts: number) =>
    new RDSDataClient({
      region: config.region,
      maxAttempts,
      // Unset in AWS (the function's role, from the environment); the local runtime passes its own explicitly.
      ...(credentials ? { credentials } : {}),
      ...(shard.endpoint ? { endpoint: shard.endpoint } : {}),
    });
  return {
    read: new Map(config.shards.map((s) => [s.id, client(s, config.maxAttempts)])),
    write: new Map(config.shards.map((s) => [s.id, client(s, 1)])),
  };
}

/** Runs one statement on one shard's cluster; the signal aborts the request and destroys its socket. */
export function execute(
  client: RDSDataClient,
  shard: ShardConfig,
  statement: Statement,
  signal: AbortSignal,
): Promise<ExecuteStatementCommandOutput> {
  const command = new ExecuteStatementCommand({
    resourceArn: shard.resourceArn,
    secretArn: shard.secretArn,
    database: shard.database,
    sql: statement.sql,
    parameters: statement.parameters,
    ...(statement.formatRecordsAs ? { formatRecordsAs: statement.formatRecordsAs } : {}),
  });
  return client.send(command, { abortSignal: signal });
}
