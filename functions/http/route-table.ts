/**
 * The API's routes, data only: the function's router (routes.ts, router.ts) and the HTTP API's routes
 * (infra/constructs/api.ts) are both built from this table, and the local server selects routes with it the way
 * API Gateway does, so the three cannot drift apart.
 *
 * How API Gateway fronts the function (the choice, and why):
 * - Every route of this table is an HTTP API route of its own, `public` ones without authorization, `iam` ones with
 *   IAM authorization (SigV4), plus a public `$default` route to the same function.
 * - The HTTP API has no CORS configuration. With one, API Gateway answers preflights itself and ignores the CORS
 *   headers the function returns, so a response to a request without `Origin` carries none; without one, the
 *   function's headers pass through untouched (docs: "Configure CORS for HTTP APIs in API Gateway").
 * - With no `$default` route, API Gateway answers unknown paths and wrong methods itself with
 *   `404 {"message":"Not Found"}`; with it, they reach the function, which answers `404 route_not_found`,
 *   `405 method_not_allowed` with `allow`, and `OPTIONS` preflights, exactly as the local server does.
 * - API Gateway selects the most specific route first ("Routing API requests": an exact match of method and path
 *   wins over `$default`), then authorizes it: an unsigned `POST /data` matches the IAM route and gets API Gateway's
 *   `403 {"message":"Forbidden"}`; it never falls through to the public `$default`. The function also refuses to run
 *   a table route for a request that arrived through `$default` (see `routeKeyAgrees`).
 */

export type RouteAuth = "public" | "iam";

export interface RouteSpec {
  readonly method: "GET" | "POST" | "PUT" | "DELETE";
  /** An HTTP API route path: literal segments and `{name}` parameters, no trailing slash. */
  readonly path: string;
  /** `iam` routes need a SigV4-signed request; `public` ones need it only with `requireIamForReads`. */
  readonly auth: RouteAuth;
}

export const ROUTE_TABLE = [
  { method: "GET", path: "/health", auth: "public" },
  { method: "GET", path: "/data", auth: "public" },
  { method: "GET", path: "/data/{id}", auth: "public" },
  { method: "POST", path: "/data", auth: "iam" },
  { method: "PUT", path: "/data/{id}", auth: "iam" },
  { method: "DELETE", path: "/data/{id}", auth: "iam" },
] as const satisfies readonly RouteSpec[];

export type RouteEntry = (typeof ROUTE_TABLE)[number];
/** `"GET /data/{id}"`: the HTTP API route key, and the `routeKey` of the events API Gateway sends for the route. */
export type RouteKey = `${RouteEntry["method"]} ${RouteEntry["path"]}`;

/** The route key of the catch-all route: what API Gateway puts in `routeKey` when no table route matched. */
export const DEFAULT_ROUTE_KEY = "$default";

export function routeKey(route: RouteSpec): string {
  return `${route.method} ${route.path}`;
}

/**
 * The parameters of `path` if it matches the route path `pattern`, else undefined. One trailing slash is ignored:
 * API Gateway routes `/data/` to the route `/data` (and passes `rawPath: "/data/"` on). Empty segments elsewhere
 * (`//data`) match nothing.
 */
export function matchPath(pattern: string, path: string): Record<string, string> | undefined {
  const wanted = pattern.split("/").slice(1);
  const trimmed = path.length > 1 && path.endsWith("/") ? path.slice(0, -1) : path;
  if (!trimmed.startsWith("/")) return undefined;
  const segments = trimmed.split("/").slice(1);
  if (wanted.length !== segments.length) return undefined;
  const params: Record<string, string> = {};
  for (let i = 0; i < wanted.length; i++) {
    const p = wanted[i] as string;
    const s = segments[i] as string;
    if (p.startsWith("{") && p.endsWith("}")) {
      if (s === "") return undefined;
      params[p.slice(1, -1)] = s;
    } else if (p !== s) return undefined;
  }
  return params;
}

/** The route API Gateway selects for a request: the table route of that method and path, or `$default`. */
export function selectRoute(method: string, path: string): RouteSpec | undefined {
  return ROUTE_TABLE.find((route) => route.method === method && matchPath(route.path, path) !== undefined);
}

/** The `routeKey` API Gateway puts in the event of a request: the selected route's key, or `$default`. */
export function apiGatewayRouteKey(method: string, path: string): string {
  const route = selectRoute(method, path);
  return route === undefined ? DEFAULT_ROUTE_KEY : routeKey(route);
}

/**
 * Whether the route the function resolved is the one API Gateway selected. Through API Gateway every table route is
 * its own route, so a request it sent through `$default` must not run a table route's handler: if the function ever
 * matched a path API Gateway did not (a normalization difference), an IAM-only write would otherwise run without
 * IAM. Events without a route key (hand-made ones) are trusted.
 */
export function routeKeyAgrees(eventRouteKey: string | undefined, resolved: RouteSpec): boolean {
  return eventRouteKey === undefined || eventRouteKey === routeKey(resolved);
}
