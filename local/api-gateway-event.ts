import { randomUUID } from "node:crypto";
import type { IncomingMessage, ServerResponse } from "node:http";
import type { APIGatewayProxyEventV2 } from "aws-lambda";
import type { ApiResponse } from "../functions/http/response.js";

/** Content types API Gateway passes through as text; any other body arrives base64-encoded, as it does there. */
const TEXTUAL = /^(text\/|application\/(json|xml|x-www-form-urlencoded|[\w.+-]+\+json)\b)/i;

/**
 * Builds the API Gateway HTTP API (payload 2.0) event that AWS would send for this request, so the handler cannot
 * tell the local server from API Gateway: lower-cased headers with repeats joined by commas, decoded query parameters
 * with repeats joined by commas, `$default` route and stage, and a text or base64 body.
 */
export function toApiGatewayEvent(req: IncomingMessage, body: Buffer): APIGatewayProxyEventV2 {
  const url = new URL(req.url ?? "/", "http://local");
  const headers: Record<string, string> = {};
  for (const [name, value] of Object.entries(req.headers)) {
    if (value === undefined || name === "cookie") continue;
    headers[name] = Array.isArray(value) ? value.join(",") : value;
  }
  const query: Record<string, string> = {};
  for (const [key, value] of url.searchParams) query[key] = key in query ? `${query[key]},${value}` : value;
  const contentType = headers["content-type"] ?? "";
  const isBase64Encoded = body.length > 0 && !TEXTUAL.test(contentType);
  const now = new Date();
  const rawQueryString = url.search.slice(1);
  const event: APIGatewayProxyEventV2 = {
    version: "2.0",
    routeKey: "$default",
    rawPath: url.pathname,
    rawQueryString,
    headers,
    requestContext: {
      accountId: "000000000000",
      apiId: "local",
      domainName: headers.host ?? "localhost",
      domainPrefix: (headers.host ?? "localhost").split(".")[0] ?? "localhost",
      http: {
        method: req.method ?? "GET",
        path: url.pathname,
        protocol: `HTTP/${req.httpVersion}`,
        sourceIp: req.socket.remoteAddress ?? "127.0.0.1",
        userAgent: headers["user-agent"] ?? "",
      },
      requestId: randomUUID(),
      routeKey: "$default",
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
