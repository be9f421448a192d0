import { ClientError } from "../core/errors.js";
import type { ShardedTable } from "../core/sharded-table.js";
import { empty, json } from "./response.js";
import type { ApiRequest } from "./router.js";
import { Router } from "./router.js";
import { createBodySchema, idParamSchema, listQuerySchema, parse, replaceBodySchema } from "./validation.js";

/** A shard that failed is usually back within a second (a timeout, a reset); a resuming cluster takes ~15 s. */
const RETRY_AFTER = { "retry-after": "1" } as const;

/** `retry-after` in whole seconds: an open breaker's remaining cool-down, else one second. */
export function retryAfter(ms: number | undefined): { "retry-after": string } {
  if (ms === undefined) return { ...RETRY_AFTER };
  return { "retry-after": String(Math.max(1, Math.ceil(ms / 1000))) };
}

/** Bodies are a single small row: anything larger is a mistake or an attack. */
export const MAX_BODY_BYTES = 16 * 1024;

function idParam(req: ApiRequest): number {
  return parse(idParamSchema, req.params.id, "invalid_id");
}

/** Reads a JSON object body, or throws the 4xx that says what is wrong with it. */
function jsonBody(req: ApiRequest): Record<string, unknown> {
  const type = req.headers["content-type"];
  if (type === undefined || !/^application\/json\s*(;|$)/i.test(type)) {
    throw new ClientError(415, "unsupported_media_type", "content-type: must be application/json");
  }
  const charset = /;\s*charset\s*=\s*"?([^";\s]*)"?/i.exec(type)?.[1];
  if (charset !== undefined && !/^utf-?8$/i.test(charset)) {
    throw new ClientError(415, "unsupported_charset", `content-type: charset must be utf-8, got ${charset}`);
  }
  if (req.bodyNotUtf8) throw new ClientError(400, "invalid_encoding", "body: not valid UTF-8");
  if (req.body === undefined || req.body === "") throw new ClientError(400, "invalid_body", "body: required");
  if (Buffer.byteLength(req.body) > MAX_BODY_BYTES) {
    throw new ClientError(413, "body_too_large", `body: must be at most ${MAX_BODY_BYTES} bytes`);
  }
  let body: unknown;
  try {
    body = JSON.parse(req.body);
  } catch {
    throw new ClientError(400, "invalid_json", "body: not valid JSON");
  }
  if (typeof body !== "object" || body === null || Array.isArray(body)) {
    throw new ClientError(400, "invalid_body", "body: must be a JSON object");
  }
  return body as Record<string, unknown>;
}

/**
 * The handlers of the routes of route-table.ts over the sharded table: the same for the Lambda handler and the local
 * server. `Router.on` refuses a route that is not in the table, and `createApp` one the table has without a handler.
 */
export function createRoutes(table: ShardedTable): Router {
  const budget = (req: ApiRequest) => ({ remainingMs: req.remainingMs });
  // Writes and point reads report their one shard whatever the answer (a 404, a 409, a 503), for logs and metrics.
  const reporting = (req: ApiRequest) => ({ remainingMs: req.remainingMs, noteShards: req.noteShards });
  return new Router()
    .on("GET", "/health", async () => json(200, { status: "ok" }))
    .on("GET", "/data", async (req) => {
      const query = parse(listQuerySchema, req.query, "invalid_query");
      const result = await table.list(query, budget(req));
      req.noteShards(result.shards);
      return json(200, result);
    })
    .on("GET", "/data/{id}", async (req) => {
      const id = idParam(req);
      const { item, shard, shards } = await table.get(id, reporting(req));
      if (item) return json(200, { item, shard });
      // Unknown is not absent: only an answering shard may say the row does not exist.
      if (shards.some((s) => s.status !== "ok")) {
        const message = `id ${id} could not be read: shard ${shard} did not answer; retry later`;
        const open = shards.find((s) => s.status === "unavailable");
        return json(
          503,
          { error: { code: "shard_unavailable", message }, shard, shards },
          retryAfter(open?.retryAfterMs),
        );
      }
      return json(404, { error: { code: "not_found", message: `id ${id} does not exist` }, shard, shards });
    })
    .on("POST", "/data", async (req) => {
      const row = parse(createBodySchema, jsonBody(req), "invalid_body");
      const created = await table.create(row, reporting(req));
      return json(201, created, { location: `/data/${row.id}` });
    })
    .on("PUT", "/data/{id}", async (req) => {
      const id = idParam(req);
      const body = parse(replaceBodySchema, jsonBody(req), "invalid_body");
      if (body.id !== undefined && body.id !== id) {
        throw new ClientError(400, "invalid_body", `id: ${body.id} does not match the path id ${id}`);
      }
      return json(200, await table.replace(id, body.name, reporting(req)));
    })
    .on("DELETE", "/data/{id}", async (req) => {
      await table.remove(idParam(req), reporting(req));
      return empty(204);
    });
}
