import { errorResponse, json } from "../functions/http/response.js";
import { adminRefusal, withoutCors } from "./admin-guard.js";
import { splitTarget, writeApiResponse } from "./api-gateway-event.js";
import type { SideRoute } from "./api-server.js";

export const SHARDS_PATH = "/_local/shards";

/**
 * How the reshard tool reaches one local shard (docs/local-runtime.md, "Growing the map locally"): its local RDS Data
 * API endpoint with the cluster ARN and the owner's ("master") secret, through which the tool runs every statement,
 * and the coordinates of the shard's own PostgreSQL server as the owner role, which the tool writes into a
 * subscription's `CONNECTION` string so another shard's server can copy rows from this one.
 */
export interface LocalAdminTarget {
  readonly id: number;
  /** The shard's local Data API endpoint (`http://127.0.0.1:4101` for shard 1 under `npm start`). */
  readonly endpoint: string;
  readonly resourceArn: string;
  /** The owner role's ("master") secret: `localArns(id).secretArn`, never the function's. */
  readonly secretArn: string;
  readonly database: string;
  readonly replication: {
    readonly host: string;
    readonly port: number;
    readonly user: string;
    readonly password: string;
    readonly dbname: string;
  };
}

/**
 * `GET /_local/shards`: `{"shards": [LocalAdminTarget, …]}`, what `npm run reshard -- … --local` reads. It answers
 * passwords, so it has the guards of every local admin route (`local/admin-guard.ts`): no CORS headers, no request
 * from another site, none addressed to a host name other than this machine's. Local only: the deployed API has no
 * such path.
 */
export function shardsRoute(targets: readonly LocalAdminTarget[]): SideRoute {
  return async (req, res) => {
    const path = splitTarget(req.url).path.replace(/\/$/, "");
    if (path !== SHARDS_PATH && !path.startsWith(`${SHARDS_PATH}/`)) return false;
    const send = (r: Parameters<typeof writeApiResponse>[1]) => {
      writeApiResponse(res, withoutCors(r));
      return true;
    };
    const refusal = adminRefusal(req, SHARDS_PATH);
    if (refusal) return send(refusal);
    if (path !== SHARDS_PATH) return send(errorResponse(404, "not_found", `no route ${path}`));
    if (req.method === "OPTIONS") return send({ statusCode: 204, headers: { allow: "GET" } });
    if (req.method !== "GET") {
      return send(errorResponse(405, "method_not_allowed", `${req.method} is not allowed on ${path}`));
    }
    return send(json(200, { shards: targets }, { "cache-control": "no-store" }));
  };
}

/** Side routes tried in order; the first that answers wins. */
export function sideRoutes(...routes: readonly SideRoute[]): SideRoute {
  return async (req, res, body) => {
    for (const route of routes) if (await route(req, res, body)) return true;
    return false;
  };
}
