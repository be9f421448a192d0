import type { Logger } from "@aws-lambda-powertools/logger";
import type { APIGatewayProxyEventV2 } from "aws-lambda";
import { ClientError, ShardUnavailableError } from "./core/errors.js";
import { isFailure, type ShardReport } from "./core/outcome.js";
import type { ShardedTable } from "./core/sharded-table.js";
import { type ApiResponse, empty, errorResponse, json } from "./http/response.js";
import { routeKeyAgrees } from "./http/route-table.js";
import type { ApiRequest, Resolution } from "./http/router.js";
import { createRoutes, retryAfter } from "./http/routes.js";

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

export interface RequestSummary {
  readonly method: string;
  readonly route: string;
  readonly status: number;
  readonly ms: number;
  readonly shards: readonly ShardReport[];
  readonly partial: boolean;
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

function toRequest(
  event: APIGatewayProxyEventV2,
  context: InvocationContext | undefined,
  noteShards: ApiRequest["noteShards"],
): ApiRequest {
  const { body, bodyNotUtf8 } = decodeBody(event);
  return {
    method: event.requestContext?.http?.method?.toUpperCase() ?? "GET",
    path: routePath(event),
    params: {},
    query: event.queryStringParameters ?? {},
    headers: Object.fromEntries(Object.entries(event.headers ?? {}).map(([k, v]) => [k.toLowerCase(), v])),
    body,
    ...(bodyNotUtf8 ? { bodyNotUtf8 } : {}),
    remainingMs: context?.getRemainingTimeInMillis?.(),
    noteShards,
  };
}

/**
 * The whole API as one function of an API Gateway v2 event: the Lambda handler and the local server both call it,
 * so they behave the same. Client errors become 4xx with their message; an unconfirmed write becomes a 503; anything
 * else is logged and answered with a generic 500 that reveals nothing.
 */
export function createApp(deps: AppDeps): App {
  const router = createRoutes(deps.table);
  const missing = router.missing();
  if (missing.length > 0) throw new Error(`routes without a handler: ${missing.join(", ")}`);
  return async (event, context) => {
    const started = performance.now();
    let shards: readonly ShardReport[] = [];
    const req = toRequest(event, context, (reported) => {
      shards = reported;
    });
    let resolved: Resolution = router.resolve(req.method, req.path);
    // A request API Gateway sent through the public `$default` route never runs a table route (route-table.ts).
    if (resolved.kind === "found" && !routeKeyAgrees(event.routeKey, resolved.route))
      resolved = { kind: "not_found" };
    let route = "unknown";
    let response: ApiResponse;
    try {
      if (resolved.kind === "found") {
        route = `${req.method} ${resolved.pattern}`;
        response = await resolved.handler({ ...req, params: resolved.params });
      } else if (resolved.kind === "method_not_allowed") {
        const allow = [...resolved.allow, "OPTIONS"].join(", ");
        response =
          req.method === "OPTIONS"
            ? empty(204, { allow })
            : errorResponse(405, "method_not_allowed", `${req.method} is not allowed on ${req.path}`, {
                allow,
              });
      } else {
        response = errorResponse(404, "route_not_found", `no route for ${req.method} ${req.path}`);
      }
    } catch (err) {
      response = errorToResponse(err, deps.logger);
    }
    const ms = Math.round(performance.now() - started);
    const partial = shards.some(isFailure);
    const summary: RequestSummary = {
      method: req.method,
      route,
      status: response.statusCode,
      ms,
      shards,
      partial,
    };
    deps.logger.info("request", { ...summary, path: req.path });
    deps.observe?.(summary);
    return response;
  };
}

function errorToResponse(err: unknown, logger: Logger): ApiResponse {
  if (err instanceof ClientError) return errorResponse(err.status, err.code, err.message);
  if (err instanceof ShardUnavailableError) {
    logger.warn("write not confirmed", { shard: err.shard, reason: err.reason, outcome: err.outcome });
    const message =
      err.outcome === "not_applied"
        ? `shard ${err.shard} did not apply the write (${err.reason}); it was not applied and can be retried`
        : `shard ${err.shard} did not confirm the write (${err.reason}); it may or may not have been applied, and can no longer take effect: read the row before retrying`;
    return json(
      503,
      { error: { code: "shard_unavailable", message }, outcome: err.outcome, shard: err.shard },
      retryAfter(err.retryAfterMs),
    );
  }
  logger.error("unhandled error", err as Error);
  return errorResponse(500, "internal_error", "internal server error");
}
