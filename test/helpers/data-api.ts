/**
 * Fixtures for tests that talk to local Data API endpoints through the real `RDSDataClient`: ARNs, a client, and
 * seeded shard databases behind one endpoint that serves a cluster per shard.
 */
import { RDSDataClient } from "@aws-sdk/client-rds-data";
import { SignatureV4 } from "@smithy/signature-v4";
import { createShardMap, DEFAULT_SHARD_RANGES, type ShardMap } from "../../functions/core/shard-map.js";
import { clusterArn, EXAMPLE_ARN_SCOPE, secretArn } from "../../local/arns.js";
import {
  type DataApiCluster,
  type DataApiEndpoint,
  LOCAL_CREDENTIALS,
  type LocalCredentials,
  Sha256,
  startDataApiEndpoint,
} from "../../local/data-api/index.js";
import type { Fault } from "../../local/faults.js";
import { createShardDatabases, type PostgresConnection } from "../../local/postgres.js";

export const TEST_REGION = EXAMPLE_ARN_SCOPE.region;

/**
 * The SDK client as the function builds it, pointed at a local endpoint. One attempt unless asked otherwise, so a
 * test sees the endpoint's answer rather than the retry strategy's.
 */
export function dataApiClient(endpoint: string, options: { maxAttempts?: number } = {}): RDSDataClient {
  return new RDSDataClient({
    endpoint,
    region: TEST_REGION,
    // The local endpoints verify SigV4 with these, as AWS verifies with the caller's own.
    credentials: LOCAL_CREDENTIALS,
    maxAttempts: options.maxAttempts ?? 1,
  });
}

export interface TestShards {
  readonly map: ShardMap;
  /** One cluster per shard, in shard order: `clusters[0]` is shard 1. */
  readonly clusters: DataApiCluster[];
  readonly endpoint: DataApiEndpoint;
  readonly client: RDSDataClient;
  stop(): Promise<void>;
}

/**
 * Creates the default map's seeded shard databases under `prefix` and starts one endpoint serving a cluster for
 * each of them (`<prefix>-shard<N>`).
 */
export async function startTestShards(
  postgres: PostgresConnection,
  prefix: string,
  options: { fault?: Fault; transactionIdleMs?: number } = {},
): Promise<TestShards> {
  const map = createShardMap(DEFAULT_SHARD_RANGES);
  const databases = await createShardDatabases(postgres, map, { prefix });
  const clusters = databases.map(({ shard, database }) => ({
    resourceArn: clusterArn(`${prefix.replaceAll("_", "-")}-shard${shard}`, EXAMPLE_ARN_SCOPE),
    // A real secret's ARN ends in six random characters after its name.
    secretArn: secretArn(`${prefix.replaceAll("_", "-")}-shard${shard}-AbCdEf`, EXAMPLE_ARN_SCOPE),
    database,
  }));
  const endpoint = await startDataApiEndpoint({ postgres, clusters, ...options });
  const client = dataApiClient(endpoint.url);
  return {
    map,
    clusters,
    endpoint,
    client,
    async stop() {
      client.destroy();
      await endpoint.stop();
    },
  };
}

/**
 * A raw POST to a local Data API endpoint, SigV4-signed as the SDK signs it (`credentials` default to the local
 * ones), for bodies and headers the SDK would never send. `fetch` adds nothing that is signed.
 */
export async function signedPost(
  url: string,
  body: string,
  options: {
    headers?: Record<string, string>;
    credentials?: LocalCredentials;
    date?: Date;
    /** Sent instead of `body` after signing `body`: a request tampered with on the way. */
    tamperedBody?: string;
  } = {},
): Promise<Response> {
  const target = new URL(url);
  const signer = new SignatureV4({
    service: "rds-data",
    region: TEST_REGION,
    credentials: options.credentials ?? LOCAL_CREDENTIALS,
    sha256: Sha256,
  });
  const signed = await signer.sign(
    {
      method: "POST",
      protocol: target.protocol,
      hostname: target.hostname,
      port: Number(target.port),
      path: target.pathname,
      query: {},
      headers: { host: target.host, "content-type": "application/json", ...options.headers },
      body,
    },
    options.date ? { signingDate: options.date } : {},
  );
  const { host: _host, ...headers } = signed.headers;
  return fetch(url, { method: "POST", headers, body: options.tamperedBody ?? body });
}
