import { isUtf8 } from "node:buffer";
import { randomUUID } from "node:crypto";
import type { IncomingMessage, ServerResponse } from "node:http";
import type { APIGatewayProxyEventV2 } from "aws-lambda";
import type { ApiResponse } from "../functions/http/response.js";
import { apiGatewayRouteKey } from "../functions/http/route-table.js";

/** Content types API Gateway passes through as text; any other body arrives base64-encoded, as it does there. */
const TEXTUAL = /^(text\/|application\/(json|xml|x-www-form-urlencoded|[\w.+-]+\+json)\b)/i;

/**
 * The request target as API Gateway passes it on: the raw path (no `//` read as a host, no dot segments resolved, as
 * `new URL` would) and the raw query string.
 */
export function splitTarget(target: string | undefined): { path: string; query: string } {
  const raw = target ?? "/";
  const q = raw.indexOf("?");
  return q === -1 ? { path: raw, query: "" } : { path: raw.slice(0, q), query: raw.slice(q + 1) };
}

/**
 * One HTTP request as it reaches API Gateway: what {@link apiGatewayEvent} turns into the event. The local server
 * fills it from a real request; tests fill it by hand, so both send the function the same shape of event.
 */
export interface HttpRequest {
  readonly method: string;
  /** The path as sent, percent-encoding and all (without any stage prefix). */
  readonly path: string;
  /** The raw query string, without `?`. */
  readonly query?: string;
  /** Header names in any case; a repeated header as an array. */
  readonly headers?: Readonly<Record<string, string | readonly string[] | undefined>>;
  readonly body?: Buffer;
  /**
   * Whether the body travels base64-encoded. By default API Gateway's rule: text content types as text (when valid
   * UTF-8), anything else base64. Tests set it to send a body either way.
   */
  readonly isBase64Encoded?: boolean;
  /** A named stage puts `/{stage}` in front of `rawPath`, as HTTP API does; the default is `$default`. */
  readonly stage?: string;
  /** The route key API Gateway selected; by default the one it would select for `method` and `path`. */
  readonly routeKey?: string;
  readonly protocol?: string;
  readonly sourceIp?: string;
  readonly accountId?: string;
  readonly apiId?: string;
  readonly requestId?: string;
  readonly time?: Date;
}

const MONTHS = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];

/**
 * `requestContext.time` as API Gateway writes it, e.g. `12/Mar/2020:19:03:58 +0000` (the payload 2.0 example of
 * https://docs.aws.amazon.com/apigateway/latest/developerguide/http-api-develop-integrations-lambda.html).
 */
function requestTime(t: Date): string {
  const two = (n: number) => String(n).padStart(2, "0");
  const date = `${two(t.getUTCDate())}/${MONTHS[t.getUTCMonth()]}/${t.getUTCFullYear()}`;
  return `${date}:${two(t.getUTCHours())}:${two(t.getUTCMinutes())}:${two(t.getUTCSeconds())} +0000`;
}

/**
 * Builds the API Gateway HTTP API (payload 2.0) event that AWS would send for this request, so the handler cannot
 * tell the local server from API Gateway: lower-cased headers with repeats joined by commas, decoded query parameters
 * with repeats joined by commas, the route key API Gateway would select (a route of the route table, or `$default`),
 * the stage (`$default` unless named), and a text or base64 body.
 */
export function apiGatewayEvent(req: HttpRequest): APIGatewayProxyEventV2 {
  const headers: Record<string, string> = {};
  let cookies: string[] | undefined;
  for (const [rawName, value] of Object.entries(req.headers ?? {})) {
    if (value === undefined) continue;
    const name = rawName.toLowerCase();
    const joined = typeof value === "string" ? value : value.join(",");
    if (name === "cookie") {
      cookies = [...(cookies ?? []), ...joined.split(/;\s*/)];
      continue;
    }
    headers[name] = Object.hasOwn(headers, name) ? `${headers[name]},${joined}` : joined;
  }
  // A Map, not a plain object: `__proto__` is a parameter like any other in the JSON event AWS sends.
  const params = new Map<string, string>();
  const rawQueryString = req.query ?? "";
  for (const [key, value] of new URLSearchParams(rawQueryString)) {
    const seen = params.get(key);
    params.set(key, seen === undefined ? value : `${seen},${value}`);
  }
  const body = req.body ?? Buffer.alloc(0);
  const contentType = headers["content-type"] ?? "";
  // A "text" body that is not valid UTF-8 cannot travel as a JSON string without losing its bytes (they would become
  // U+FFFD). AWS documents a text payload as UTF-8 and is silent on invalid bytes; we pass those bodies base64-encoded,
  // so the function sees the bytes the client sent and can refuse them (it refuses invalid UTF-8 either way).
  const isBase64Encoded =
    req.isBase64Encoded ?? (body.length > 0 && (!TEXTUAL.test(contentType) || !isUtf8(body)));
  const time = req.time ?? new Date();
  const stage = req.stage ?? "$default";
  const rawPath = stage === "$default" ? req.path : `/${stage}${req.path}`;
  const routeKey = req.routeKey ?? apiGatewayRouteKey(req.method, req.path);
  const host = Object.hasOwn(headers, "host") ? (headers.host as string) : "localhost";
  const event: APIGatewayProxyEventV2 = {
    version: "2.0",
    routeKey,
    rawPath,
    rawQueryString,
    headers,
    requestContext: {
      accountId: req.accountId ?? "000000000000",
      apiId: req.apiId ?? "local",
      domainName: host,
      domainPrefix: host.split(".")[0] ?? host,
      http: {
        method: req.method,
        path: rawPath,
        protocol: req.protocol ?? "HTTP/1.1",
        sourceIp: req.sourceIp ?? "127.0.0.1",
        userAgent: Object.hasOwn(headers, "user-agent") ? (headers["user-agent"] as string) : "",
      },
      requestId: req.requestId ?? randomUUID(),
      routeKey,
      stage,
      time: requestTime(time),
      timeEpoch: time.getTime(),
    },
    isBase64Encoded,
  };
  if (rawQueryString !== "") event.queryStringParameters = Object.fromEntries(params);
  if (cookies) event.cookies = cookies;
  if (body.length > 0) event.body = isBase64Encoded ? body.toString("base64") : body.toString("utf8");
  return event;
}

/** The event for a request the local server received, with its body read. */
export function toApiGatewayEvent(req: IncomingMessage, body: Buffer): APIGatewayProxyEventV2 {
  const target = splitTarget(req.url);
  return apiGatewayEvent({
    method: req.method ?? "GET",
    path: target.path,
    query: target.query,
    headers: req.headers,
    body,
    protocol: `HTTP/${req.httpVersion}`,
    sourceIp: req.socket.remoteAddress ?? "127.0.0.1",
  });
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
