import { randomBytes } from "node:crypto";
import { Logger } from "@aws-lambda-powertools/logger";
import { type App, type AppDeps, composeApp } from "../functions/app.js";
import { DEFAULTS } from "../functions/core/config.js";
import { ConfigError } from "../functions/core/errors.js";
import {
  createShardMap,
  DEFAULT_SHARD_RANGES,
  type IdRange,
  type ShardMap,
} from "../functions/core/shard-map.js";
import { type ApiServer, startApiServer } from "./api-server.js";
import { localArns } from "./arns.js";
import { type DataApiEndpoint, startDataApiEndpoint } from "./data-api/server.js";
import { LOCAL_CREDENTIALS } from "./data-api/sigv4.js";
import type { Fault } from "./faults.js";
import { faultsRoute } from "./faults-route.js";
import { createShardDatabases, type PostgresConnection, startPostgres } from "./postgres.js";
import { createShardRoles } from "./roles.js";
import { endpointUrl } from "./sam-endpoints.js";
import type { Seed } from "./seed.js";

export interface LocalRuntimeOptions {
  /** API port; 0 (the default) picks a free one. */
  readonly port?: number;
  readonly host?: string;
  /** Per-call shard timeout for the app (SHARD_TIMEOUT_MS); the app's default when unset. */
  readonly shardTimeoutMs?: number;
  readonly faults?: ReadonlyMap<number, Fault>;
  /** Reuse a running PostgreSQL (the test suite's shared one) instead of starting one. */
  readonly postgres?: PostgresConnection;
  /** Database name prefix; unique per runtime so runtimes sharing one PostgreSQL never see each other's data. */
  readonly prefix?: string;
  readonly map?: ShardMap;
  readonly logger?: Logger;
  readonly observe?: AppDeps["observe"];
  /** Extra environment for the app, e.g. DEADLINE_MARGIN_MS. */
  readonly env?: Readonly<Record<string, string>>;
  /**
   * Preferred Data API port of each shard (`npm start` uses 4101, 4102, … so `events/env.json` works for
   * `sam local invoke`); a port already taken falls back to a free one. Unset: always a free port.
   */
  readonly dataApiPort?: (shard: number) => number;
  /** Address the Data API endpoints listen on (`DATA_API_HOST`, see local/sam-endpoints.ts). @default 127.0.0.1 */
  readonly dataApiHost?: string;
  /** What the shards hold at start (`SEED`, see `local/seed.ts`); every id of the map by default. */
  readonly seed?: Seed;
  /** Called as the seed loads (rows loaded so far, rows in all), for a progress line on a terminal. */
  readonly onSeedProgress?: (loaded: number, total: number) => void;
}

export interface LocalShard {
  readonly id: number;
  readonly ranges: readonly IdRange[];
  readonly database: string;
  readonly resourceArn: string;
  readonly endpoint: DataApiEndpoint;
  /** Rows the shard was seeded with. */
  readonly rows: number;
}

export interface LocalRuntime {
  readonly url: string;
  readonly shards: readonly LocalShard[];
  /** The environment the app was composed from: what `sam local invoke --env-vars` and `npm run invoke` use. */
  readonly env: Readonly<Record<string, string>>;
  readonly app: App;
  readonly postgres: PostgresConnection;
  /** The shards' owner role (the "master" secret's login): what the reshard tool's subscriptions connect as. */
  readonly owner: { readonly user: string; readonly password: string };
  setFault(shard: number, fault: Fault | undefined): Promise<void>;
  stop(): Promise<void>;
}

/**
 * The SDK needs a region even against a local endpoint. Credentials are not taken from here: the app's clients get
 * `LOCAL_CREDENTIALS` explicitly, so the user's own AWS credentials in the environment never reach (nor break) the
 * local endpoints, which accept only signatures made with those.
 */
function ensureLocalCredentials(): void {
  process.env.AWS_REGION ??= "us-east-1";
}

/** The databases' table (the app's TABLE_NAME, so both agree) and seed. */
function seedOptions(prefix: string, opts: LocalRuntimeOptions): Parameters<typeof createShardDatabases>[2] {
  return {
    prefix,
    ...(opts.env?.TABLE_NAME ? { tableName: opts.env.TABLE_NAME } : {}),
    ...(opts.seed === undefined ? {} : { seed: opts.seed }),
    ...(opts.onSeedProgress ? { onSeedProgress: opts.onSeedProgress } : {}),
  };
}

/**
 * Brings up the whole API on one machine: PostgreSQL with one freshly seeded database per shard, one local RDS Data
 * API endpoint per shard (each on its own port, so one can go down alone), and the app behind a local HTTP server,
 * wired exactly as in AWS except for the Data API endpoint URLs.
 */
export async function startLocalRuntime(opts: LocalRuntimeOptions = {}): Promise<LocalRuntime> {
  ensureLocalCredentials();
  const map = opts.map ?? createShardMap(DEFAULT_SHARD_RANGES);
  // Before anything starts, so a typo fails at once.
  for (const shard of opts.faults?.keys() ?? []) {
    if (!map.rangesOf(shard)) throw new ConfigError(`SHARD_FAULTS: there is no shard ${shard}`);
  }
  const cleanup: (() => Promise<void>)[] = [];
  const stop = async () => {
    for (const step of cleanup.splice(0).reverse()) await step().catch(() => undefined);
  };
  try {
    let postgres: PostgresConnection;
    if (opts.postgres) postgres = opts.postgres;
    else {
      const started = await startPostgres();
      cleanup.push(() => started.stop());
      postgres = started;
    }
    const prefix = opts.prefix ?? `local_${randomBytes(4).toString("hex")}`;
    const databases = await createShardDatabases(postgres, map, seedOptions(prefix, opts));
    // The role's timeouts follow the app's shard timeout; an invalid value is reported by the app's config below.
    const timeout = Number(opts.env?.SHARD_TIMEOUT_MS ?? opts.shardTimeoutMs ?? DEFAULTS.shardTimeoutMs);
    const roles = await createShardRoles(postgres, databases, {
      prefix,
      map,
      shardTimeoutMs: Number.isInteger(timeout) && timeout > 0 ? timeout : DEFAULTS.shardTimeoutMs,
    });
    const shards = await Promise.all(
      map.shards.map(async ({ id, ranges }): Promise<LocalShard> => {
        const created = databases.find((d) => d.shard === id);
        if (!created) throw new Error(`no database was created for shard ${id}`);
        const { database, rows } = created;
        const arns = localArns(id);
        const start = (port: number) =>
          startDataApiEndpoint({
            postgres,
            clusters: [
              {
                resourceArn: arns.resourceArn,
                secretArn: arns.secretArn,
                secrets: [
                  { secretArn: arns.secretArn, ...roles.owner },
                  { secretArn: arns.functionSecretArn, ...roles.api },
                ],
                database,
              },
            ],
            port,
            ...(opts.dataApiHost === undefined ? {} : { host: opts.dataApiHost }),
            ...(opts.faults?.has(id) ? { fault: opts.faults.get(id) } : {}),
          });
        const preferred = opts.dataApiPort?.(id) ?? 0;
        const endpoint = await start(preferred).catch((err: unknown) => {
          if (preferred !== 0 && (err as NodeJS.ErrnoException).code === "EADDRINUSE") return start(0);
          throw err;
        });
        cleanup.push(() => endpoint.stop());
        return { id, ranges, database, resourceArn: arns.resourceArn, endpoint, rows };
      }),
    );
    const env: Record<string, string> = {
      SHARDS: JSON.stringify(
        shards.map((s) => ({
          id: s.id,
          ranges: s.ranges,
          resourceArn: localArns(s.id).resourceArn,
          secretArn: localArns(s.id).functionSecretArn,
          database: s.database,
          endpoint:
            opts.dataApiHost === undefined ? s.endpoint.url : endpointUrl(opts.dataApiHost, s.endpoint.port),
        })),
      ),
      ...(opts.shardTimeoutMs === undefined ? {} : { SHARD_TIMEOUT_MS: String(opts.shardTimeoutMs) }),
      AWS_REGION: process.env.AWS_REGION ?? "us-east-1",
      // As the stack sets them, so `npm run invoke` prints the same metrics the function writes in AWS.
      POWERTOOLS_SERVICE_NAME: "sharded-data-api",
      POWERTOOLS_METRICS_NAMESPACE: "ShardedDataApi",
      ...opts.env,
    };
    const logger = opts.logger ?? new Logger({ serviceName: "sharded-data-api", logLevel: "WARN" });
    const { app, table } = composeApp(env, {
      logger,
      credentials: LOCAL_CREDENTIALS,
      ...(opts.observe ? { observe: opts.observe } : {}),
    });
    const setFault = async (shard: number, fault: Fault | undefined) => {
      const target = shards.find((s) => s.id === shard);
      if (!target) throw new RangeError(`no shard ${shard}`);
      await target.endpoint.setFault(fault);
    };
    const server: ApiServer = await startApiServer({
      app,
      ...(opts.port === undefined ? {} : { port: opts.port }),
      ...(opts.host === undefined ? {} : { host: opts.host }),
      sideRoute: faultsRoute(shards, setFault, (shard) => table.breakerState(shard)),
    });
    cleanup.push(() => server.stop());
    return { url: server.url, shards, env, app, postgres, owner: roles.owner, setFault, stop };
  } catch (err) {
    await stop();
    throw err;
  }
}
