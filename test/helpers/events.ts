/**
 * API Gateway HTTP API (payload 2.0) events for tests that call the function in process: thin uses of the local
 * server's own builder (`local/api-gateway-event.ts`), so a test sends the event the local server would send.
 */
import type { APIGatewayProxyEventV2, Context } from "aws-lambda";
import type { App, InvocationContext } from "../../functions/app.js";
import { apiGatewayEvent } from "../../local/api-gateway-event.js";

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

/** An event as API Gateway sends it for a client at a documentation address (fixed ids and time, for stable logs). */
export function apiEvent(opts: EventOptions = {}): APIGatewayProxyEventV2 {
  const headers: Record<string, string> = { host: "api.example.com", "user-agent": "vitest" };
  let body: string | undefined;
  if (typeof opts.body === "string") body = opts.body;
  else if (opts.body !== undefined) {
    body = JSON.stringify(opts.body);
    headers["content-type"] = "application/json";
  }
  Object.assign(headers, opts.headers);
  return apiGatewayEvent({
    method: opts.method ?? "GET",
    path: opts.path ?? "/",
    query: opts.query ? new URLSearchParams(opts.query).toString() : "",
    headers,
    ...(body !== undefined ? { body: Buffer.from(body, "utf8") } : {}),
    isBase64Encoded: opts.base64 ?? false,
    ...(opts.stage !== undefined ? { stage: opts.stage } : {}),
    ...(opts.routeKey !== undefined ? { routeKey: opts.routeKey } : {}),
    accountId: "123456789012",
    apiId: "api1234567",
    sourceIp: "192.0.2.1",
    requestId: "request-id",
    time: new Date(1735689600000),
  });
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

/**
 * What the app returned to API Gateway, for in-process tests: the headers exactly as the function sets them (what
 * API Gateway passes on), the raw body and its parse. Over HTTP, tests use `Answer` of api-client.ts instead.
 */
export interface AppAnswer {
  readonly status: number;
  readonly headers: Record<string, string>;
  readonly raw: string;
  // biome-ignore lint/suspicious/noExplicitAny: a parsed JSON body, inspected field by field in each test
  readonly body: any;
}

/** Calls the app in process with an event built from `opts` (or given whole) and reads its answer. */
export async function callApp(
  app: App,
  request: EventOptions | APIGatewayProxyEventV2,
  context?: InvocationContext,
): Promise<AppAnswer> {
  const event = "requestContext" in request ? request : apiEvent(request);
  const res = await app(event, context);
  const raw = typeof res.body === "string" ? res.body : "";
  return {
    status: res.statusCode,
    headers: res.headers,
    raw,
    body: raw === "" ? undefined : JSON.parse(raw),
  };
}
