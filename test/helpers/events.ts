import type { APIGatewayProxyEventV2, Context } from "aws-lambda";
import { apiGatewayRouteKey } from "../../functions/http/route-table.js";

export interface EventOptions {
  readonly method?: string;
  /** The path as the client sent it (without any stage prefix, unless `stage` asks for one). */
  readonly path?: string;
  readonly query?: Record<string, string>;
  readonly headers?: Record<string, string>;
  /** A string is sent as is; anything else is JSON-encoded with `content-type: application/json`. */
  readonly body?: unknown;
  readonly base64?: boolean;
  /** A named stage puts `/{stage}` in front of `rawPath`, as HTTP API does; the default is `$default`. */
  readonly stage?: string;
  /** The route key API Gateway selected; by default the one it would select for `method` and `path`. */
  readonly routeKey?: string;
}

/** An API Gateway HTTP API (payload format 2.0) event, shaped like the ones the real service sends. */
export function apiEvent(opts: EventOptions = {}): APIGatewayProxyEventV2 {
  const method = opts.method ?? "GET";
  const path = opts.path ?? "/";
  const stage = opts.stage ?? "$default";
  const rawPath = stage === "$default" ? path : `/${stage}${path}`;
  const headers: Record<string, string> = { host: "api.example.com", "user-agent": "vitest" };
  let body: string | undefined;
  if (opts.body !== undefined) {
    if (typeof opts.body === "string") body = opts.body;
    else {
      body = JSON.stringify(opts.body);
      headers["content-type"] = "application/json";
    }
  }
  Object.assign(headers, opts.headers);
  if (body !== undefined && opts.base64) body = Buffer.from(body, "utf8").toString("base64");
  const query = opts.query;
  const rawQueryString = query ? new URLSearchParams(query).toString() : "";
  // The route API Gateway selects: with a named stage it matches the path after the stage.
  const routeKey = opts.routeKey ?? apiGatewayRouteKey(method, path);
  return {
    version: "2.0",
    routeKey,
    rawPath,
    rawQueryString,
    headers,
    ...(query ? { queryStringParameters: query } : {}),
    requestContext: {
      accountId: "123456789012",
      apiId: "api1234567",
      domainName: "api.example.com",
      domainPrefix: "api",
      http: { method, path: rawPath, protocol: "HTTP/1.1", sourceIp: "192.0.2.1", userAgent: "vitest" },
      requestId: "request-id",
      routeKey,
      stage,
      time: "01/Jan/2025:00:00:00 +0000",
      timeEpoch: 1735689600000,
    },
    ...(body !== undefined ? { body } : {}),
    isBase64Encoded: opts.base64 ?? false,
  };
}

/** A Lambda context whose remaining time is fixed at `remainingMs`. */
export function lambdaContext(remainingMs = 30_000): Context {
  return {
    callbackWaitsForEmptyEventLoop: true,
    functionName: "sharded-data-api",
    functionVersion: "$LATEST",
    invokedFunctionArn: "arn:aws:lambda:us-east-1:123456789012:function:sharded-data-api",
    memoryLimitInMB: "256",
    awsRequestId: "c6af9ac6-7b61-11e6-9a41-93e812345678",
    logGroupName: "/aws/lambda/sharded-data-api",
    logStreamName: "2025/01/01/[$LATEST]abcdef",
    getRemainingTimeInMillis: () => remainingMs,
    done: () => {},
    fail: () => {},
    succeed: () => {},
  };
}
