import type { APIGatewayProxyStructuredResultV2 } from "aws-lambda";

export type ApiResponse = APIGatewayProxyStructuredResultV2 & {
  statusCode: number;
  headers: Record<string, string>;
};

/**
 * Every response allows any origin: this is a public read API without cookies. The HTTP API has no CORS
 * configuration (route-table.ts says why), so these headers reach clients in AWS exactly as from the local server.
 */
export const CORS_HEADERS: Readonly<Record<string, string>> = {
  "access-control-allow-origin": "*",
  "access-control-allow-methods": "GET,POST,PUT,DELETE,OPTIONS",
  "access-control-allow-headers":
    "content-type,authorization,x-amz-date,x-amz-security-token,x-amz-content-sha256",
  "access-control-max-age": "600",
};

export function json(statusCode: number, body: unknown, headers: Record<string, string> = {}): ApiResponse {
  return {
    statusCode,
    headers: { "content-type": "application/json", ...CORS_HEADERS, ...headers },
    body: JSON.stringify(body),
  };
}

export function empty(statusCode: number, headers: Record<string, string> = {}): ApiResponse {
  return { statusCode, headers: { ...CORS_HEADERS, ...headers }, body: "" };
}

/**
 * The one error shape of the API: `{"error": {"code", "message"}}`, with the fields some errors add beside `error`
 * (the shard of a point read or a write, its report, a write's outcome).
 */
export function errorResponse(
  statusCode: number,
  code: string,
  message: string,
  headers: Record<string, string> = {},
  fields: Record<string, unknown> = {},
): ApiResponse {
  return json(statusCode, { error: { code, message }, ...fields }, headers);
}

/**
 * `retry-after` in whole seconds: an open breaker's remaining cool-down, else one second (a shard that failed is
 * usually back within a second: a timeout, a reset; a resuming cluster takes ~15 s).
 */
export function retryAfter(ms = 1000): { "retry-after": string } {
  return { "retry-after": String(Math.max(1, Math.ceil(ms / 1000))) };
}
