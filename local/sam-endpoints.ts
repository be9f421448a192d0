import { isIP } from "node:net";
import { ConfigError } from "../functions/core/errors.js";

/**
 * The fixed Data API ports of `npm start` (shard N on 4100 + N): `events/env.json` and `events/env.container.json`
 * name them, so `sam local invoke` finds the shards without editing a file.
 */
export const SAM_DATA_API_BASE_PORT = 4100;
export const samDataApiPort = (shard: number): number => SAM_DATA_API_BASE_PORT + shard;

/**
 * Where the local Data API endpoints listen: `DATA_API_HOST`, default 127.0.0.1 (this machine only). A Lambda
 * container of `sam local` cannot reach the host's loopback on Linux (SAM ignores `--docker-network host` since 2023,
 * aws-sam-cli issue 4236), so the endpoints must listen where the container's `host.docker.internal` points: the
 * Docker bridge's address (172.17.0.1 by default) or every address (0.0.0.0, which also exposes them to the
 * network: use it only on a trusted one).
 *
 * @throws ConfigError naming DATA_API_HOST when it is not an IP address.
 */
export function dataApiHost(raw: string | undefined): string {
  if (raw === undefined || raw === "") return "127.0.0.1";
  if (isIP(raw) === 0) {
    throw new ConfigError(`DATA_API_HOST: expected an IP address to listen on, got ${JSON.stringify(raw)}`);
  }
  return raw;
}

/** The URL this machine connects to for an endpoint listening on `host`: a wildcard is reached through loopback. */
export function endpointUrl(host: string, port: number): string {
  const target = host === "0.0.0.0" ? "127.0.0.1" : host === "::" ? "::1" : host;
  return `http://${target.includes(":") ? `[${target}]` : target}:${port}`;
}
