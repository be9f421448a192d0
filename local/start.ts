import { Logger } from "@aws-lambda-powertools/logger";
import { ConfigError } from "../functions/core/errors.js";
import { localArns } from "./arns.js";
import { LOCAL_CREDENTIALS } from "./data-api/index.js";
import { formatFault } from "./faults.js";
import { FAULTS_PATH } from "./faults-route.js";
import { stopOnSignals } from "./lifecycle.js";
import { seedProgress } from "./progress.js";
import { type LocalShard, startLocalRuntime } from "./runtime.js";
import { dataApiHost, samDataApiPort } from "./sam-endpoints.js";
import { readLocalSettings } from "./settings.js";
import { SHARDS_PATH } from "./shards-route.js";

function describeShard(s: LocalShard, idWidth: number): string {
  const shown = s.ranges.slice(0, 3).map(([a, b]) => `${a}-${b}`);
  const ranges =
    s.ranges.length === 0
      ? "owns nothing yet"
      : `ids ${s.ranges.length > 3 ? `${shown.join(", ")}, … (${s.ranges.length} ranges)` : shown.join(", ")}`;
  const fault = s.endpoint.fault ? `  FAULT: ${formatFault(s.endpoint.fault)}` : "";
  const rows = `${s.rows.toLocaleString("en-US")} rows`;
  const server = `pg :${s.postgres.port}`;
  return `  shard ${String(s.id).padEnd(idWidth)}  ${s.endpoint.url}  ${server}  db ${s.database}  ${rows.padStart(15)}  ${ranges}${fault}`;
}

/**
 * `npm start`: the whole API on this machine. Every setting (PORT, SHARD_MAP, SEED, SHARD_FAULTS and the function's
 * TABLE_NAME, SHARD_TIMEOUT_MS, DEADLINE_MARGIN_MS, SHARD_MAX_ATTEMPTS) is validated before anything starts;
 * LOG_LEVEL (default INFO: one line per request) is read by Powertools.
 */
async function main(): Promise<void> {
  const began = performance.now();
  const settings = readLocalSettings(process.env);
  // Where the Data API endpoints listen (local/sam-endpoints.ts): checked with the rest, before anything starts.
  const dataApiBind = dataApiHost(process.env.DATA_API_HOST);
  const lifecycle = stopOnSignals({ log: (m) => console.log(`\n${m}`) });
  // Powertools reads LOG_LEVEL itself (default INFO: one line per request).
  const logger = new Logger({ serviceName: "sharded-data-api" });
  const progress = seedProgress(settings.map, settings.seed, process.stderr);
  const runtime = await startLocalRuntime({
    port: settings.port,
    faults: settings.faults,
    logger,
    map: settings.map,
    seed: settings.seed,
    onSeedProgress: progress,
    // Fixed names and ports, so `events/env.json` points `sam local invoke` at this runtime.
    prefix: "local",
    // Each shard its own PostgreSQL server, as each is its own Aurora cluster in AWS: one can fail alone.
    serverPerShard: true,
    dataApiPort: samDataApiPort,
    dataApiHost: dataApiBind,
    env: settings.functionEnv,
  });
  lifecycle.onStop(() => runtime.stop());
  const ms = Math.round(performance.now() - began);
  const rows = runtime.shards.reduce((n, s) => n + s.rows, 0);
  const lines = [
    `Sharded data API listening on ${runtime.url} (ready in ${ms} ms)`,
    "",
    `Shards${settings.customMap ? " (SHARD_MAP)" : ""}: a PostgreSQL server behind a local RDS Data API endpoint each, ${rows.toLocaleString("en-US")} rows in all:`,
    ...runtime.shards.map((s) =>
      describeShard(s, Math.max(...runtime.shards.map((x) => String(x.id).length))),
    ),
    ...(dataApiBind === "127.0.0.1"
      ? []
      : [
          `  (listening on ${dataApiBind}: containers reach them as host.docker.internal, events/env.container.json)`,
        ]),
    "",
    ...(runtime.shards.every((s) => s.endpoint.port === samDataApiPort(s.id))
      ? []
      : ["Note: a Data API port 4100 + shard was taken, so events/env.json does not match this run.", ""]),
    ...clusterArnLines(runtime.shards),
    ...localCredentialLines(),
    `Shard timeout: ${settings.shardTimeoutMs} ms; table ${settings.tableName}`,
    "Try:",
    `  curl -s ${runtime.url}/data`,
    `  curl -s '${runtime.url}/data?from=5&to=25&limit=10'`,
    `  curl -s ${runtime.url}/data/42`,
    `  curl -s -X PUT ${runtime.url}${FAULTS_PATH}/2 -H 'content-type: application/json' -d '{"fault":"hang"}'`,
    `  curl -s ${runtime.url}${SHARDS_PATH}      # the shards' admin coordinates (npm run reshard)`,
    "Press Ctrl+C to stop.",
  ];
  console.log(lines.join("\n"));
}

/**
 * Each shard's cluster ARN and master secret ARN: what the AWS CLI or an SDK needs beside the shard's endpoint URL,
 * with an example call.
 */
function clusterArnLines(shards: readonly LocalShard[]): string[] {
  const width = Math.max(...shards.map((s) => String(s.id).length));
  const first = shards[0];
  const arns = (s: LocalShard) => localArns(s.id);
  return [
    "Cluster and secret ARNs (the AWS CLI or an SDK, at the shard's endpoint above):",
    ...shards.map(
      (s) =>
        `  shard ${String(s.id).padEnd(width)}  --resource-arn ${arns(s).resourceArn}  --secret-arn ${arns(s).secretArn}`,
    ),
    ...(first
      ? [
          `  e.g. AWS_ACCESS_KEY_ID=${LOCAL_CREDENTIALS.accessKeyId} AWS_SECRET_ACCESS_KEY=${LOCAL_CREDENTIALS.secretAccessKey} aws rds-data execute-statement --region us-east-1 --endpoint-url ${first.endpoint.url} --resource-arn ${arns(first).resourceArn} --secret-arn ${arns(first).secretArn} --sql 'SELECT count(*) FROM data_1'`,
        ]
      : []),
    "",
  ];
}

/**
 * The credentials the local Data API endpoints verify SigV4 signatures with, for other clients (the AWS CLI, SAM,
 * scripts). The API's own function signs with this run's own credentials instead, which no other run accepts.
 */
function localCredentialLines(): string[] {
  const { accessKeyId, secretAccessKey } = LOCAL_CREDENTIALS;
  return [
    `Data API credentials for your tools (SigV4, any region): access key ${accessKeyId}, secret key ${secretAccessKey}`,
    "(the API signs with credentials of this run's own, which no other npm start accepts)",
    "",
  ];
}

main().catch((err: unknown) => {
  console.error(err instanceof ConfigError ? `Configuration error: ${err.message}` : err);
  process.exit(1);
});
