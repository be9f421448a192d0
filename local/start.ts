import { Logger } from "@aws-lambda-powertools/logger";
import { ConfigError } from "../functions/core/errors.js";
import { LOCAL_CREDENTIALS } from "./data-api/sigv4.js";
import { formatFault, parseFaults } from "./faults.js";
import { FAULTS_PATH } from "./faults-route.js";
import { startLocalRuntime } from "./runtime.js";
import { dataApiHost, samDataApiPort } from "./sam-endpoints.js";

/**
 * `npm start`: the whole API on this machine. Environment: PORT (default 3000), SHARD_TIMEOUT_MS (default 2000),
 * SHARD_FAULTS (e.g. `2:hang,3:slow=300`), LOG_LEVEL (default INFO: one line per request), DATA_API_HOST (where
 * the Data API endpoints listen, default 127.0.0.1; see local/sam-endpoints.ts).
 */
async function main(): Promise<void> {
  const began = performance.now();
  const port = process.env.PORT === undefined || process.env.PORT === "" ? 3000 : Number(process.env.PORT);
  if (!Number.isInteger(port) || port < 0 || port > 65535) {
    throw new ConfigError(`PORT: expected a port number, got ${JSON.stringify(process.env.PORT)}`);
  }
  const timeout = process.env.SHARD_TIMEOUT_MS;
  const faults = parseFaults(process.env.SHARD_FAULTS);
  const dataApiBind = dataApiHost(process.env.DATA_API_HOST);
  // Powertools reads LOG_LEVEL itself (default INFO: one line per request).
  const logger = new Logger({ serviceName: "sharded-data-api" });
  const runtime = await startLocalRuntime({
    port,
    faults,
    logger,
    // Fixed names and ports, so `events/env.json` points `sam local invoke` at this runtime.
    prefix: "local",
    dataApiPort: samDataApiPort,
    dataApiHost: dataApiBind,
    ...(timeout ? { env: { SHARD_TIMEOUT_MS: timeout } } : {}),
  });
  const ms = Math.round(performance.now() - began);
  const lines = [
    `Sharded data API listening on ${runtime.url} (ready in ${ms} ms)`,
    "",
    "Shards (a PostgreSQL database behind a local RDS Data API endpoint each):",
    ...runtime.shards.map((s) => {
      const ranges = s.ranges.map(([a, b]) => `${a}-${b}`).join(", ");
      const fault = s.endpoint.fault ? `  FAULT: ${formatFault(s.endpoint.fault)}` : "";
      return `  shard ${s.id}  ids ${ranges.padEnd(14)} ${s.endpoint.url}  db ${s.database}${fault}`;
    }),
    ...(dataApiBind === "127.0.0.1"
      ? []
      : [
          `  (listening on ${dataApiBind}: containers reach them as host.docker.internal, events/env.container.json)`,
        ]),
    "",
    ...(runtime.shards.every((s) => s.endpoint.port === samDataApiPort(s.id))
      ? []
      : ["Note: a Data API port of 4101-4103 was taken, so events/env.json does not match this run.", ""]),
    ...localCredentialLines(),
    `Shard timeout: ${timeout || 2000} ms`,
    "Try:",
    `  curl -s ${runtime.url}/data`,
    `  curl -s '${runtime.url}/data?from=5&to=25&limit=10'`,
    `  curl -s ${runtime.url}/data/42`,
    `  curl -s -X PUT ${runtime.url}${FAULTS_PATH}/2 -H 'content-type: application/json' -d '{"fault":"hang"}'`,
    "Press Ctrl+C to stop.",
  ];
  console.log(lines.join("\n"));

  let stopping = false;
  const shutdown = async (signal: string) => {
    if (stopping) return;
    stopping = true;
    console.log(`\n${signal}: stopping the API, the Data API endpoints and PostgreSQL...`);
    await runtime.stop();
    process.exit(0);
  };
  process.on("SIGINT", () => void shutdown("SIGINT"));
  process.on("SIGTERM", () => void shutdown("SIGTERM"));
}

/** The credentials the local Data API endpoints verify SigV4 signatures with, for other clients (SAM, scripts). */
function localCredentialLines(): string[] {
  const { accessKeyId, secretAccessKey } = LOCAL_CREDENTIALS;
  return [
    `Data API credentials (SigV4, any region): access key ${accessKeyId}, secret key ${secretAccessKey}`,
    "",
  ];
}

main().catch((err: unknown) => {
  console.error(err instanceof ConfigError ? `Configuration error: ${err.message}` : err);
  process.exit(1);
});
