/**
 * The request path, in one place: an API Gateway v2 event becomes a request, its route's result (or the answer to
 * the error it threw) becomes the response, the log line and the metrics. `composeApp` builds it from an environment
 * for the Lambda handler and the local server alike. docs/architecture.md walks through the whole path.
 */
import { Logger } from "@aws-lambda-powertools/logger";
import type { RDSDataClientConfig } from "@aws-sdk/client-rds-data";
import type { APIGatewayProxyEventV2 } from "aws-lambda";
import type { BreakerChange } from "./core/circuit-breaker.js";
import { type AppConfig, loadConfig } from "./core/config.js";
import { createShardClients } from "./core/data-api.js";
import { isFailure } from "./core/shard-call.js";
import { ShardedTable } from "./core/sharded-table.js";
import { errorResult } from "./http/errors.js";
import { type ApiResponse, empty, errorResponse } from "./http/response.js";
import { routeKeyAgrees } from "./http/route-table.js";
import { type ApiRequest, type Resolution, type RouteResult, routeResult } from "./http/router.js";
import { createRoutes } from "./http/routes.js";
import type { RequestSummary } from "./request-summary.js";

/** The slice of the Lambda context the app uses; the local server passes nothing. */
export interface InvocationContext {
  getRemainingTimeInMillis?(): number;
}

export interface AppDeps {
  readonly table: ShardedTable;
  readonly logger: Logger;
  /** Called once per request with what happened, for metrics. */
  readonly observe?: (summary: RequestSummary) => void;
}

export type App = (event: APIGatewayProxyEventV2, context?: InvocationContext) => Promise<ApiResponse>;

/** HTTP API puts a named stage in front of the path (`/prod/data`); the `$default` stage does not. */
function routePath(event: APIGatewayProxyEventV2): string {
  const path = event.rawPath || "/";
  const stage = event.requestContext?.stage;
  if (stage && stage !== "$default" && (path === `/${stage}` || path.startsWith(`/${stage}/`))) {
    return path.slice(stage.length + 1) || "/";
  }
  return path;
}

const UTF8 = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true });

/**
 * The body as text. API Gateway base64-encodes bodies it does not treat as text (and the local server does the same
 * for text that is not valid UTF-8); those bytes are decoded strictly, so invalid UTF-8 is refused rather than stored
 * with U+FFFD in place of the bad bytes.
 */
function decodeBody(event: APIGatewayProxyEventV2): { body: string | undefined; bodyNotUtf8?: true } {
  if (event.body === undefined || !event.isBase64Encoded) return { body: event.body };
  try {
    return { body: UTF8.decode(Buffer.from(event.body, "base64")) };
  } catch {
    return { body: undefined, bodyNotUtf8: true };
  }
}

function toRequest(event: APIGatewayProxyEventV2, context: InvocationContext | undefined): ApiRequest {
  const { body, bodyNotUtf8 } = decodeBody(event);
  return {
    method: event.requestContext?.http?.method?.toUpperCase() ?? "GET",
    path: routePath(event),
    params: {},
    query: event.queryStringParameters ?? {},
    headers: Object.fromEntries(Object.entries(event.headers ?? {}).map(([k, v]) => [k.toLowerCase(), v])),
    body,
    bodyNotUtf8,
    remainingMs: context?.getRemainingTimeInMillis?.(),
  };
}

/** What the request comes to: its route's result, or without one a 404 `route_not_found`, a 405 or a preflight. */
async function run(req: ApiRequest, resolved: Resolution): Promise<RouteResult> {
  if (resolved.kind === "found") return resolved.handler({ ...req, params: resolved.params });
  if (resolved.kind === "not_found") {
    return routeResult(errorResponse(404, "route_not_found", `no route for ${req.method} ${req.path}`));
  }
  const allow = [...resolved.allow, "OPTIONS"].join(", ");
  return routeResult(
    req.method === "OPTIONS"
      ? empty(204, { allow })
      : errorResponse(405, "method_not_allowed", `${req.method} is not allowed on ${req.path}`, { allow }),
  );
}

/**
 * The whole API as one function of an API Gateway v2 event: the Lambda handler and the local server both call it,
 * so they behave the same. The route returns what happened (its answer and the shards' reports), or throws an error
 * that http/errors.ts turns into one; the response, the log line and the metrics are all made from that one value.
 */
export function createApp(deps: AppDeps): App {
  const router = createRoutes(deps.table);
  const missing = router.missing();
  if (missing.length > 0) throw new Error(`routes without a handler: ${missing.join(", ")}`);
  return async (event, context) => {
    const started = performance.now();
    const req = toRequest(event, context);
    let resolved = router.resolve(req.method, req.path);
    // A request API Gateway sent through the public `$default` route never runs a table route (route-table.ts).
    if (resolved.kind === "found" && !routeKeyAgrees(event.routeKey, resolved.route))
      resolved = { kind: "not_found" };
    const { response, shards } = await run(req, resolved).catch((err) =>
      errorResult(err, req.method, deps.logger),
    );
    const summary: RequestSummary = {
      method: req.method,
      route: resolved.kind === "found" ? `${req.method} ${resolved.pattern}` : "unknown",
      status: response.statusCode,
      ms: Math.round(performance.now() - started),
      shards,
      partial: shards.some(isFailure),
    };
    deps.logger.info("request", { ...summary, path: req.path });
    deps.observe?.(summary);
    return response;
  };
}

export interface Composed {
  readonly app: App;
  readonly config: AppConfig;
  readonly logger: Logger;
  readonly table: ShardedTable;
}

/**
 * Builds the app from an environment: config validated once, clients created once. The Lambda handler calls this at
 * init and the local server calls it with the local runtime's environment, so both run the very same objects.
 */
export function composeApp(
  env: Record<string, string | undefined>,
  extra: Partial<Pick<AppDeps, "observe" | "logger">> & {
    /** The Data API clients' credentials (the local runtime's); unset, the SDK's default provider chain. */
    credentials?: RDSDataClientConfig["credentials"];
    /** Told of every change of a shard's circuit breaker, after it is logged (the handler counts them in metrics). */
    onBreakerChange?: (change: BreakerChange) => void;
  } = {},
): Composed {
  const config = loadConfig(env);
  const logger =
    extra.logger ?? new Logger({ serviceName: env.POWERTOOLS_SERVICE_NAME ?? "sharded-data-api" });
  const onBreakerChange = (change: BreakerChange) => {
    // Once per change, not per skipped call: a shard that stays down says so once per cool-down at most.
    logger[change.to === "open" ? "warn" : "info"]("shard circuit breaker", { ...change });
    extra.onBreakerChange?.(change);
  };
  const table = new ShardedTable({
    config,
    clients: createShardClients(config, extra.credentials),
    onBreakerChange,
  });
  const app = createApp({ table, logger, observe: extra.observe });
  return { app, config, logger, table };
}
