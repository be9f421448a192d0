import { ClientError } from "./errors.js";
import type { ApiRequest } from "./router.js";

/** Bodies are a single small row: anything larger is a mistake or an attack. */
export const MAX_BODY_BYTES = 16 * 1024;

const UTF8 = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true });

/**
 * The body as text. API Gateway base64-encodes bodies it does not treat as text (and the local server does the same
 * for text that is not valid UTF-8); those bytes are decoded strictly, so invalid UTF-8 is refused rather than stored
 * with U+FFFD in place of the bad bytes.
 */
function bodyText({ body, bodyBase64 }: Pick<ApiRequest, "body" | "bodyBase64">): string | undefined {
  if (body === undefined || !bodyBase64) return body;
  try {
    return UTF8.decode(Buffer.from(body, "base64"));
  } catch {
    throw new ClientError(400, "invalid_encoding", "body: not valid UTF-8");
  }
}

/**
 * Reads a JSON object body, or throws the 4xx that says what is wrong with it. The checks run in this order, each
 * answering with its own code: the content type, its charset, the bytes' encoding, presence, size, JSON, object.
 */
export function jsonBody(req: Pick<ApiRequest, "headers" | "body" | "bodyBase64">): Record<string, unknown> {
  const type = req.headers["content-type"];
  if (type === undefined || !/^application\/json\s*(;|$)/i.test(type)) {
    throw new ClientError(415, "unsupported_media_type", "content-type: must be application/json");
  }
  const charset = /;\s*charset\s*=\s*"?([^";\s]*)"?/i.exec(type)?.[1];
  if (charset !== undefined && !/^utf-?8$/i.test(charset)) {
    throw new ClientError(415, "unsupported_charset", `content-type: charset must be utf-8, got ${charset}`);
  }
  const text = bodyText(req);
  if (text === undefined || text === "") throw new ClientError(400, "invalid_body", "body: required");
  if (Buffer.byteLength(text) > MAX_BODY_BYTES) {
    throw new ClientError(413, "body_too_large", `body: must be at most ${MAX_BODY_BYTES} bytes`);
  }
  let body: unknown;
  try {
    body = JSON.parse(text);
  } catch {
    throw new ClientError(400, "invalid_json", "body: not valid JSON");
  }
  if (typeof body !== "object" || body === null || Array.isArray(body)) {
    throw new ClientError(400, "invalid_body", "body: must be a JSON object");
  }
  return body as Record<string, unknown>;
}
