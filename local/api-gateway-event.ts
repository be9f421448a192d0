import { isUtf8 } from "node:buffer";
import { randomUUID } from "node:crypto";
import type { IncomingMessage, ServerResponse } from "node:http";
import type { APIGatewayProxyEventV2 } from "aws-lambda";
import type { ApiResponse } from "../functions/http/response.js";
import { apiGatewayRouteKey } from "../functions/http/route-table.js";

/** Content types API Gateway passes through as text; any other body arrives base64-encoded, as it does there. */
const TEXTUAL = /^(text\/|application\/(json|xml|x-www-form-urlencoded|[\w.+-]+\+json)\b)/i;

/**
 * Builds the API Gateway HTTP API (payload 2.0) event that AWS would send for this request, so the handler cannot
 * tell the local server from API Gateway: lower-cased headers with repeats joined by commas, decoded query parameters
 * with repeats joined by commas, the route key API Gateway would select (a route of the route table, or `$default`),
 * the `$default` stage, and a text or base64 body.
 */
/**
 * The request target as API Gateway passes it on: the raw path (no `//` read as a host, no dot segments resolved, as
 * `new URL` would) and the raw query string.
 */
export function splitTarget(target: string | undefined): { path: string; query: string } {
  const raw = target ?? "/";
  const q = raw.indexOf("?");
  return q === -1 ? { path: raw, query: "" } : { path: raw.slice(0, q), query: raw.slice(q + 1) };
}

export function toApiGatewayEvent(req: IncomingMessage, body: Buffer): APIGatewayProxyEventV2 {
  const target = splitTarget(req.url);
  const headers: Record<string, string> = {};
  for (const [name, value] of Object.entries(req.headers)) {
    if (value === undefined || name === "cookie") continue;
    headers[name] = Array.isArray(value) ? value.join(",") : value;
  }
  // A Map, not a plain object: `__proto__` is a parameter like any other in the JSON event AWS sends.
  const params = new Map<string, string>();
  for (const [key, value] of new URLSearchParams(target.query)) {
    const seen = params.get(key);
    params.set(key, seen === undefined ? value : `${seen},${value}`);
  }
  const query = Object.fromEntries(params);
  const contentType = headers["content-type"] ?? "";
  // A "text" body that is not valid UTF-8 cannot travel as a JSON string without losing its bytes (they would become
  // U+FFFD). AWS documents a text payload as UTF-8 and is silent on invalid bytes; we pass those bodies base64-encoded,
  // so the function sees the bytes the client sent and can refuse them (it refuses invalid UTF-8 either way).
  const isBase64Encoded = body.length > 0 && (!TEXTUAL.test(contentType) || !isUtf8(body));
  const now = new Date();
  const rawQueryString = target.query;
  const routeKey = apiGatewayRouteKey(req.method ?? "GET", target.path);
  const event: APIGatewayProxyEventV2 = {
    version: "2.0",
    routeKey,
    rawPath: target.path,
    rawQueryString,
    headers,
    requestContext: {
      accountId: "000000000000",
      apiId: "local",
      domainName: headers.host ?? "localhost",
      domainPrefix: (headers.host ?? "localhost").split(".")[0] ?? "localhost",
      http: {
        method: req.method ?? "GET",
        path: target.path,
        protocol: `HTTP/${req.httpVersion}`,
        sourceIp: req.socket.remoteAddress ?? "127.0.0.1",
        userAgent: headers["user-agent"] ?? "",
      },
      requestId: randomUUID(),
      routeKey,
      stage: "$default",
      time: now.toUTCString(),
      timeEpoch: now.getTime(),
    },
    isBase64Encoded,
  };
  if (rawQueryString !== "") event.queryStringParameters = query;
  if (req.headers.cookie) event.cookies = req.headers.cookie.split(/;\s*/);
  if (body.length > 0) event.body = isBase64Encoded ? body.toString("base64") : body.toString("utf8");
  return event;
}

/** Writes a Lambda proxy result back as an HTTP response, as API Gateway does. */
export function writeApiResponse(res: ServerResponse, result: ApiResponse): void {
  const body =
    result.body === undefined
      ? ""
      : result.isBase64Encoded
        ? Buffer.from(result.body, "base64")
        : result.body;
  const headers: Record<string, string | string[]> = {
    ...result.headers,
    "content-length": String(Buffer.byteLength(body)),
  };
  if (result.cookies?.length) headers["set-cookie"] = result.cookies;
  res.writeHead(result.statusCode, headers);
  res.end(body);
}
