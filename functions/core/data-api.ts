import {
  ExecuteStatementCommand,
  type ExecuteStatementCommandOutput,
  RDSDataClient,
} from "@aws-sdk/client-rds-data";
import type { AppConfig, ShardConfig } from "./config.js";
import type { Statement } from "./sql.js";

/** The Data API clients of every shard, for reads and for writes. */
export interface ShardClients {
  readonly read: ReadonlyMap<number, RDSDataClient>;
  readonly write: ReadonlyMap<number, RDSDataClient>;
}

/**
 * Creates the clients once per process, one per distinct endpoint (in AWS all shards share the regional endpoint;
 * locally each shard has its own). Reads may retry a transient 5xx or socket error inside their one deadline, which
 * bounds every attempt together. Writes make exactly one attempt: a retried INSERT whose first attempt committed
 * would otherwise come back as a false "duplicate id".
 */
export function createShardClients(config: AppConfig): ShardClients {
  const pools = {
    read: new Map<string, RDSDataClient>(),
    write: new Map<string, RDSDataClient>(),
  };
  const clientFor = (kind: keyof typeof pools, endpoint: string | undefined) => {
    const key = endpoint ?? "";
    let client = pools[kind].get(key);
    if (!client) {
      client = new RDSDataClient({
        region: config.region,
        maxAttempts: kind === "read" ? config.maxAttempts : 1,
        ...(endpoint ? { endpoint } : {}),
      });
      pools[kind].set(key, client);
    }
    return client;
  };
  return {
    read: new Map(config.shards.map((s) => [s.id, clientFor("read", s.endpoint)])),
    write: new Map(config.shards.map((s) => [s.id, clientFor("write", s.endpoint)])),
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
  });
  return client.send(command, { abortSignal: signal });
}
