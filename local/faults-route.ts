import { errorResponse, json } from "../functions/http/response.js";
import { adminRefusal, withoutCors } from "./admin-guard.js";
import { splitTarget, writeApiResponse } from "./api-gateway-event.js";
import type { SideRoute } from "./api-server.js";
import type { DataApiEndpoint } from "./data-api/index.js";
import { type Fault, formatFault, parseFault } from "./faults.js";

export const FAULTS_PATH = "/_local/faults";

interface FaultyShard {
  readonly id: number;
  readonly endpoint: Pick<DataApiEndpoint, "fault">;
}

/** The state of a shard's circuit breaker in the app (closed, open, half_open). */
export type BreakerStateOf = (shard: number) => string;

/** Each shard's injected fault, and what the app's circuit breaker has learnt of it so far. */
function listing(shards: readonly FaultyShard[], breaker: BreakerStateOf) {
  return {
    faults: shards.map((s) => ({
      shard: s.id,
      fault: s.endpoint.fault ? formatFault(s.endpoint.fault) : null,
      breaker: breaker(s.id),
    })),
  };
}

/**
 * Local-only admin routes to change faults while the API runs, so a user can watch a shard fail live. They exist on
 * the local server only; the deployed API has no such path.
 *
 * - `GET /_local/faults`: every shard's fault, and the state of its circuit breaker in the app (`closed`, `open`:
 *   skipped until its cool-down ends, `half_open`: one read is probing it), so a user watches a hung shard being
 *   detected, skipped and readmitted.
 * - `PUT /_local/faults/{shard}` with `{"fault": "hang" | "down" | "error" | "resuming" | "slow=300" | null}`.
 * - `DELETE /_local/faults/{shard}`, `DELETE /_local/faults`: back to healthy.
 *
 * Unlike the app, they send no CORS headers, refuse cross-site requests and requests addressed to a host name other
 * than this machine's (`local/admin-guard.ts`) and take only `application/json`, so a web page the user visits cannot
 * change them.
 */
export function faultsRoute(
  shards: readonly FaultyShard[],
  setFault: (shard: number, fault: Fault | undefined) => Promise<void>,
  breakerState: BreakerStateOf = () => "closed",
): SideRoute {
  const list = () => listing(shards, breakerState);
  return async (req, res, body) => {
    const path = splitTarget(req.url).path.replace(/\/$/, "");
    if (path !== FAULTS_PATH && !path.startsWith(`${FAULTS_PATH}/`)) return false;
    const send = (r: Parameters<typeof writeApiResponse>[1]) => {
      writeApiResponse(res, withoutCors(r));
      return true;
    };
    const refusal = adminRefusal(req, FAULTS_PATH);
    if (refusal) return send(refusal);
    // A preflight gets no access-control-allow-* headers, so a browser never sends the real request.
    if (req.method === "OPTIONS")
      return send({ statusCode: 204, headers: { allow: "GET, PUT, POST, DELETE" } });
    const rest = path.slice(FAULTS_PATH.length + 1);
    if (rest === "") {
      if (req.method === "GET") return send(json(200, list()));
      if (req.method === "DELETE") {
        for (const s of shards) await setFault(s.id, undefined);
        return send(json(200, list()));
      }
      return send(errorResponse(405, "method_not_allowed", `${req.method} is not allowed on ${path}`));
    }
    const shard = shards.find((s) => String(s.id) === rest);
    if (!shard) return send(errorResponse(404, "unknown_shard", `no shard ${rest}`));
    if (req.method === "DELETE") {
      await setFault(shard.id, undefined);
      return send(json(200, list()));
    }
    if (req.method !== "PUT" && req.method !== "POST") {
      return send(errorResponse(405, "method_not_allowed", `${req.method} is not allowed on ${path}`));
    }
    // Only JSON: an HTML form or a no-preflight `fetch` cannot send it cross-site.
    if (!/^application\/json\s*(;|$)/i.test(req.headers["content-type"] ?? "")) {
      return send(errorResponse(415, "unsupported_media_type", "content-type: must be application/json"));
    }
    let fault: Fault | undefined;
    try {
      const parsed = JSON.parse(body.toString("utf8")) as { fault?: unknown };
      if (parsed.fault === null) fault = undefined;
      else if (typeof parsed.fault === "string") fault = parseFault(parsed.fault);
      else throw new TypeError("fault: expected a string or null");
    } catch (err) {
      const message = err instanceof Error ? err.message : String(err);
      return send(errorResponse(400, "invalid_fault", `expected {"fault": "<mode>" | null}: ${message}`));
    }
    await setFault(shard.id, fault);
    return send(json(200, list()));
  };
}
