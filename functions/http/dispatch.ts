import type { Logger } from "@aws-lambda-powertools/logger";
import { errorResult } from "./errors.js";
import { type ApiResponse, empty, errorResponse } from "./response.js";
import { type ApiRequest, type Resolution, type RouteResult, routeResult } from "./router.js";

/**
 * What a request comes to once the router resolved it: its route's result, or the answer to the error the route
 * threw (errors.ts), or without a route of its method the answer of {@link unrouted}. Every answer of the API is
 * built in http/; the app only logs and counts it.
 */
export async function dispatch(req: ApiRequest, resolved: Resolution, logger: Logger): Promise<RouteResult> {
  if (resolved.kind !== "found") return routeResult(unrouted(req, resolved));
  try {
    return await resolved.handler({ ...req, params: resolved.params });
  } catch (err) {
    return errorResult(err, req.method, logger);
  }
}

/**
 * A 404 `route_not_found` for a path no route has; for a path that exists under other methods, a 405 with `allow`,
 * or for `OPTIONS` the CORS preflight's 204 with the same `allow` (the CORS headers are on every response).
 */
function unrouted(req: ApiRequest, resolved: Exclude<Resolution, { kind: "found" }>): ApiResponse {
  if (resolved.kind === "not_found") {
    return errorResponse(404, "route_not_found", `no route for ${req.method} ${req.path}`);
  }
  const allow = [...resolved.allow, "OPTIONS"].join(", ");
  if (req.method === "OPTIONS") return empty(204, { allow });
  return errorResponse(405, "method_not_allowed", `${req.method} is not allowed on ${req.path}`, { allow });
}
