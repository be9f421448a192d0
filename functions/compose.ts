import { Logger } from "@aws-lambda-powertools/logger";
import type { RDSDataClientConfig } from "@aws-sdk/client-rds-data";
import { type App, type AppDeps, createApp } from "./app.js";
import type { BreakerChange } from "./core/circuit-breaker.js";
import { type AppConfig, loadConfig } from "./core/config.js";
import { createShardClients } from "./core/data-api.js";
import { ShardedTable } from "./core/sharded-table.js";

export interface Composed {
  readonly app: App;
  readonly config: AppConfig;
  readonly logger: Logger;
  readonly table: ShardedTable;
}

/**
 * Builds the app from an environment: config validated once, clients created once. The Lambda handler calls this at
 * init and the local server calls it with the local runtime's environment, so both run the very same objects.
 */
export function composeApp(
  env: Record<string, string | undefined>,
  extra: Partial<Pick<AppDeps, "observe" | "logger">> & {
    /** The Data API clients' credentials (the local runtime's); unset, the SDK's default provider chain. */
    credentials?: RDSDataClientConfig["credentials"];
    /** Told of every change of a shard's circuit breaker, after it is logged (the handler counts them in metrics). */
    onBreakerChange?: (change: BreakerChange) => void;
  } = {},
): Composed {
  const config = loadConfig(env);
  const logger =
    extra.logger ?? new Logger({ serviceName: env.POWERTOOLS_SERVICE_NAME ?? "sharded-data-api" });
  const onBreakerChange = (change: BreakerChange) => {
    // Once per change, not per skipped call: a shard that stays down says so once per cool-down at most.
    const log = change.to === "open" ? logger.warn.bind(logger) : logger.info.bind(logger);
    log("shard circuit breaker", { ...change });
    extra.onBreakerChange?.(change);
  };
  const table = new ShardedTable({
    config,
    clients: createShardClients(config, extra.credentials),
    onBreakerChange,
  });
  const app = createApp({ table, logger, ...(extra.observe ? { observe: extra.observe } : {}) });
  return { app, config, logger, table };
}
