/**
 * The request path, in one place: an API Gateway v2 event becomes a request, http/ answers it (http/dispatch.ts), and
 * that answer becomes the response, the log line and the metrics. No status is chosen here. `composeApp` builds it
 * from an environment for the Lambda handler and the local server alike. docs/architecture.md walks through the path.
 */
import { Logger } from "@aws-lambda-powertools/logger";
import type { RDSDataClientConfig } from "@aws-sdk/client-rds-data";
import type { APIGatewayProxyEventV2 } from "aws-lambda";
import type { BreakerChange } from "./core/circuit-breaker.js";
import { type AppConfig, loadConfig } from "./core/config.js";
import { createShardClients } from "./core/data-api.js";
import { isFailure } from "./core/shard-call.js";
import { ShardedTable } from "./core/sharded-table.js";
import { dispatch } from "./http/dispatch.js";
import type { ApiResponse } from "./http/response.js";
import { routeKeyAgrees } from "./http/route-table.js";
import type { ApiRequest } from "./http/router.js";
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

function toRequest(event: APIGatewayProxyEventV2, context: InvocationContext | undefined): ApiRequest {
  return {
    method: event.requestContext?.http?.method?.toUpperCase() ?? "GET",
    path: routePath(event),
    params: {},
    query: event.queryStringParameters ?? {},
    headers: Object.fromEntries(Object.entries(event.headers ?? {}).map(([k, v]) => [k.toLowerCase(), v])),
    body: event.body,
    bodyBase64: event.isBase64Encoded ?? false,
    remainingMs: context?.getRemainingTimeInMillis?.(),
  };
}

/**
 * The whole API as one function of an API Gateway v2 event: the Lambda handler and the local server both call it,
 * so they behave the same. http/ answers the request (dispatch.ts: its route's answer and the shards' reports, or the
 * answer to the error the route threw, or to a request no route takes); the response, the log line and the metrics
 * are all made from that one value.
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
    const { response, shards } = await dispatch(req, resolved, deps.logger);
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
