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
import {
  type DataApiEndpoint,
  LOCAL_CREDENTIALS,
  type LocalCredentials,
  runtimeCredentials,
  startDataApiEndpoint,
} from "./data-api/index.js";
import type { Fault } from "./faults.js";
import { faultsRoute } from "./faults-route.js";
import {
  createShardDatabases,
  type PostgresConnection,
  type PostgresServer,
  startPostgresServers,
} from "./postgres.js";
import { createShardRoles, type LocalRoles } from "./roles.js";
import { endpointUrl } from "./sam-endpoints.js";
import { planSeed, type Seed } from "./seed.js";
import { type LocalAdminTarget, shardsRoute, sideRoutes } from "./shards-route.js";

export interface LocalRuntimeOptions {
  /** API port; 0 (the default) picks a free one. */
  readonly port?: number;
  readonly host?: string;
  /** Per-call shard timeout for the app (SHARD_TIMEOUT_MS); the app's default when unset. */
  readonly shardTimeoutMs?: number;
  readonly faults?: ReadonlyMap<number, Fault>;
  /** Reuse a running PostgreSQL (the test suite's shared one) for every shard instead of starting one. */
  readonly postgres?: PostgresConnection;
  /**
   * One PostgreSQL server per shard, started in parallel, each with only its shard's database, roles and fence: each
   * shard is its own failure domain, as each is its own Aurora cluster in AWS (`npm start` runs so). Not with
   * `postgres`. @default false: one server for all shards.
   */
  readonly serverPerShard?: boolean;
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
  /** The PostgreSQL server the shard's database lives on (superuser connection; other shards may share it). */
  readonly postgres: PostgresConnection;
  /**
   * That server, when this runtime started it: `restart()` or `stop()` it to fail the database under this shard (with
   * `serverPerShard`, this shard alone). Undefined when the server was passed in (`postgres`).
   */
  readonly server?: PostgresServer;
}

export interface LocalRuntime {
  readonly url: string;
  readonly shards: readonly LocalShard[];
  /** The environment the app was composed from: what `sam local invoke --env-vars` and `npm run invoke` use. */
  readonly env: Readonly<Record<string, string>>;
  readonly app: App;
  /** The first shard's PostgreSQL server (every shard's, unless `serverPerShard`: then see each `LocalShard.postgres`). */
  readonly postgres: PostgresConnection;
  /** Every shard's admin coordinates, as `GET /_local/shards` answers them (what the reshard tool uses). */
  readonly adminTargets: readonly LocalAdminTarget[];
  /**
   * The credentials this runtime's function signs with: unique to the runtime, accepted by its own endpoints only
   * (which also accept the well-known `LOCAL_CREDENTIALS` of hand-pointed tools).
   */
  readonly credentials: LocalCredentials;
  setFault(shard: number, fault: Fault | undefined): Promise<void>;
  stop(): Promise<void>;
}

/**
 * The SDK needs a region even against a local endpoint. Credentials are not taken from here: the app's clients get
 * the runtime's own credentials explicitly, so the user's own AWS credentials in the environment never reach (nor
 * break) the local endpoints, and the function never reaches another runtime's endpoints.
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
  };
}

/** The URL this machine reaches a shard's Data API endpoint at (a wildcard bind is reached through loopback). */
function endpointOf(shard: LocalShard, dataApiHost: string | undefined): string {
  return dataApiHost === undefined ? shard.endpoint.url : endpointUrl(dataApiHost, shard.endpoint.port);
}

function adminTarget(
  shard: LocalShard,
  owner: LocalRoles["owner"],
  dataApiHost: string | undefined,
): LocalAdminTarget {
  return {
    id: shard.id,
    endpoint: endpointOf(shard, dataApiHost),
    resourceArn: shard.resourceArn,
    secretArn: localArns(shard.id).secretArn,
    database: shard.database,
    replication: {
      host: shard.postgres.host,
      port: shard.postgres.port,
      user: owner.user,
      password: owner.password,
      dbname: shard.database,
    },
  };
}

/** A PostgreSQL server and the shards whose databases live on it. */
interface Placement {
  readonly postgres: PostgresConnection;
  /** Set when this runtime started the server. */
  readonly server?: PostgresServer;
  readonly shards: readonly number[];
}

/**
 * The servers the shards live on: `opts.postgres` for all, or one started here for all, or (`serverPerShard`) one
 * started here per shard, all at once. Each server started is stopped by `cleanup`, also when a sibling failed.
 */
async function startServers(
  map: ShardMap,
  opts: LocalRuntimeOptions,
  cleanup: (() => Promise<void>)[],
): Promise<Placement[]> {
  const all = map.shards.map((s) => s.id);
  if (opts.postgres) return [{ postgres: opts.postgres, shards: all }];
  const groups = opts.serverPerShard ? all.map((id) => [id]) : [all];
  // All at once (one initdb, copied: see startPostgresServers); on a failure none is left running.
  const servers = await startPostgresServers(groups.length);
  // One step that stops them all at once (a fast shutdown each).
  cleanup.push(async () => {
    await Promise.all(servers.map((server) => server.stop()));
  });
  return groups.map((shards, i) => {
    const server = servers[i] as PostgresServer;
    return { postgres: server, server, shards };
  });
}

/**
 * One `onSeedProgress` over several servers seeding at once: each reports its own count, this sums them (undefined
 * when nobody listens).
 */
function seedProgressOver(
  map: ShardMap,
  opts: LocalRuntimeOptions,
  servers: number,
): ((server: number, loaded: number) => void) | undefined {
  const report = opts.onSeedProgress;
  if (!report) return undefined;
  const total = planSeed(map, opts.seed ?? "all").rows;
  const loaded = new Array<number>(servers).fill(0);
  return (server, rows) => {
    loaded[server] = rows;
    report(
      loaded.reduce((a, b) => a + b, 0),
      total,
    );
  };
}

/**
 * Brings up the whole API on one machine: PostgreSQL (one server for all shards, or one per shard with
 * `serverPerShard`) with one freshly seeded database per shard, its roles and its fence, one local RDS Data API
 * endpoint per shard (each on its own port, so one can go down alone), and the app behind a local HTTP server, wired
 * exactly as in AWS except for the Data API endpoint URLs. The API server also answers the local admin routes
 * `/_local/faults` and `/_local/shards`.
 */
export async function startLocalRuntime(opts: LocalRuntimeOptions = {}): Promise<LocalRuntime> {
  ensureLocalCredentials();
  const map = opts.map ?? createShardMap(DEFAULT_SHARD_RANGES);
  if (opts.serverPerShard && opts.postgres) {
    throw new ConfigError(
      "serverPerShard: the runtime starts each shard's server itself; do not pass postgres",
    );
  }
  // Before anything starts, so a typo fails at once.
  for (const shard of opts.faults?.keys() ?? []) {
    if (!map.rangesOf(shard)) throw new ConfigError(`SHARD_FAULTS: there is no shard ${shard}`);
  }
  const cleanup: (() => Promise<void>)[] = [];
  const stop = async () => {
    for (const step of cleanup.splice(0).reverse()) await step().catch(() => undefined);
  };
  try {
    const placements = await startServers(map, opts, cleanup);
    const credentials = runtimeCredentials();
    const prefix = opts.prefix ?? `local_${randomBytes(4).toString("hex")}`;
    // The role's timeouts follow the app's shard timeout; an invalid value is reported by the app's config below.
    const timeout = Number(opts.env?.SHARD_TIMEOUT_MS ?? opts.shardTimeoutMs ?? DEFAULTS.shardTimeoutMs);
    const shardTimeoutMs = Number.isInteger(timeout) && timeout > 0 ? timeout : DEFAULTS.shardTimeoutMs;
    const progress = seedProgressOver(map, opts, placements.length);
    // Each server's databases, seed, roles and fences; the servers in parallel.
    const prepared = await Promise.all(
      placements.map(async (placement, index) => {
        const databases = await createShardDatabases(placement.postgres, map, {
          ...seedOptions(prefix, opts),
          shards: placement.shards,
          ...(progress ? { onSeedProgress: (loaded: number) => progress(index, loaded) } : {}),
        });
        const roles = await createShardRoles(placement.postgres, databases, {
          prefix,
          map,
          shardTimeoutMs,
          ...(opts.env?.TABLE_NAME ? { tableName: opts.env.TABLE_NAME } : {}),
        });
        return { placement, databases, roles };
      }),
    );
    // Each shard's database, and the server and roles it lives with.
    const homes = new Map(
      prepared.flatMap(({ placement, databases, roles }) =>
        databases.map((created) => [created.shard, { placement, created, roles }] as const),
      ),
    );
    const shards = await Promise.all(
      map.shards.map(async ({ id, ranges }): Promise<LocalShard> => {
        const home = homes.get(id);
        if (!home) throw new Error(`no database was created for shard ${id}`);
        const { placement, roles } = home;
        const { database, rows } = home.created;
        const arns = localArns(id);
        const start = (port: number) =>
          startDataApiEndpoint({
            postgres: placement.postgres,
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
            credentials: [credentials, LOCAL_CREDENTIALS],
            ...(opts.dataApiHost === undefined ? {} : { host: opts.dataApiHost }),
            ...(opts.faults?.has(id) ? { fault: opts.faults.get(id) } : {}),
          });
        const preferred = opts.dataApiPort?.(id) ?? 0;
        const endpoint = await start(preferred).catch((err: unknown) => {
          if (preferred !== 0 && (err as NodeJS.ErrnoException).code === "EADDRINUSE") return start(0);
          throw err;
        });
        cleanup.push(() => endpoint.stop());
        return {
          id,
          ranges,
          database,
          resourceArn: arns.resourceArn,
          endpoint,
          rows,
          postgres: placement.postgres,
          ...(placement.server ? { server: placement.server } : {}),
        };
      }),
    );
    const adminTargets = shards.map((s) =>
      adminTarget(s, (homes.get(s.id) as { roles: LocalRoles }).roles.owner, opts.dataApiHost),
    );
    const env: Record<string, string> = {
      SHARDS: JSON.stringify(
        shards.map((s) => ({
          id: s.id,
          ranges: s.ranges,
          resourceArn: localArns(s.id).resourceArn,
          secretArn: localArns(s.id).functionSecretArn,
          database: s.database,
          endpoint: endpointOf(s, opts.dataApiHost),
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
      credentials,
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
      sideRoute: sideRoutes(
        faultsRoute(shards, setFault, (shard) => table.breakerState(shard)),
        shardsRoute(adminTargets),
      ),
    });
    cleanup.push(() => server.stop());
    const postgres = (placements[0] as Placement).postgres;
    return { url: server.url, shards, env, app, postgres, adminTargets, credentials, setFault, stop };
  } catch (err) {
    await stop();
    throw err;
  }
}
