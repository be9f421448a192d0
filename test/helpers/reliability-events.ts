/**
 * API Gateway HTTP API (payload 2.0) events for in-process calls of the app (`runtime.app(event)`), shaped as
 * `local/api-gateway-event.ts` builds them from a real request: lower-cased headers, query parameters decoded with
 * repeats joined by commas, the route key API Gateway would select, the `$default` stage, a text body, or a base64 one with `isBase64Encoded`.
 */
import type { APIGatewayProxyEventV2 } from "aws-lambda";
import { apiGatewayRouteKey } from "../../functions/http/route-table.js";

export interface RawRequest {
  readonly method: string;
  /** The path as sent, percent-encoding and all. */
  readonly path: string;
  /** Query pairs in order; a key may repeat. */
  readonly query: readonly (readonly [string, string])[];
  readonly headers: Readonly<Record<string, string>>;
  readonly body?: string;
  readonly base64?: boolean;
}

export function toEvent(req: RawRequest): APIGatewayProxyEventV2 {
  const search = new URLSearchParams(req.query.map(([k, v]): [string, string] => [k, v]));
  const rawQueryString = search.toString();
  // Maps, then Object.fromEntries: a key like `__proto__` becomes an own property, as in the event Lambda parses
  // from JSON, instead of hitting the prototype setter.
  const joined = new Map<string, string>();
  for (const [key, value] of search) joined.set(key, joined.has(key) ? `${joined.get(key)},${value}` : value);
  const query = Object.fromEntries(joined);
  const headers = Object.fromEntries(
    Object.entries(req.headers).map(([name, value]) => [name.toLowerCase(), value]),
  );
  const routeKey = apiGatewayRouteKey(req.method, req.path);
  const event: APIGatewayProxyEventV2 = {
    version: "2.0",
    routeKey,
    rawPath: req.path,
    rawQueryString,
    headers,
    requestContext: {
      accountId: "000000000000",
      apiId: "local",
      domainName: "localhost",
      domainPrefix: "localhost",
      http: {
        method: req.method,
        path: req.path,
        protocol: "HTTP/1.1",
        sourceIp: "127.0.0.1",
        userAgent: Object.hasOwn(headers, "user-agent") ? String(headers["user-agent"]) : "",
      },
      requestId: "fuzz",
      routeKey,
      stage: "$default",
      time: new Date(0).toUTCString(),
      timeEpoch: 0,
    },
    isBase64Encoded: req.body !== undefined && req.base64 === true,
  };
  if (rawQueryString !== "") event.queryStringParameters = query;
  if (req.body !== undefined && req.body !== "") {
    event.body = req.base64 ? Buffer.from(req.body, "utf8").toString("base64") : req.body;
  }
  return event;
}

/** A readable one-line description of a request, for failure messages. */
export function describeRequest(req: RawRequest): string {
  const q = req.query.length
    ? `?${new URLSearchParams(req.query.map(([k, v]): [string, string] => [k, v]))}`
    : "";
  const body =
    req.body === undefined
      ? ""
      : ` body(${req.base64 ? "base64 " : ""}${req.body.length}): ${JSON.stringify(req.body.slice(0, 120))}`;
  return `${req.method} ${req.path}${q} ${JSON.stringify(req.headers)}${body}`;
}
