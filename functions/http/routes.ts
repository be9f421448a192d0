import type { ShardedTable } from "../core/sharded-table.js";
import { ClientError } from "./errors.js";
import { empty, errorResponse, json, retryAfter } from "./response.js";
import { type ApiRequest, type RouteResult, Router, routeResult } from "./router.js";
import { createBodySchema, idParamSchema, listQuerySchema, parse, replaceBodySchema } from "./validation.js";

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

/** A row answer: the table's result as the body, its shard reports kept out of it and handed to the app. */
function rowAnswer(
  status: number,
  { shards, ...body }: { shards: RouteResult["shards"] },
  headers?: Record<string, string>,
): RouteResult {
  return routeResult(json(status, body, headers), shards);
}

/**
 * The handlers of the routes of route-table.ts over the sharded table: the same for the Lambda handler and the local
 * server. Each returns its answer with what each shard it touched did; errors it throws become answers in errors.ts.
 * `Router.on` refuses a route that is not in the table, and `createApp` one the table has without a handler.
 */
export function createRoutes(table: ShardedTable): Router {
  // A request is the table's budget: it carries the Lambda's remaining time (`remainingMs`).
  return new Router()
    .on("GET", "/health", async () => routeResult(json(200, { status: "ok" })))
    .on("GET", "/data", async (req) => {
      const query = parse(listQuerySchema, req.query, "invalid_query");
      const result = await table.list(query, req);
      return routeResult(json(200, result), result.shards);
    })
    .on("GET", "/data/{id}", async (req) => {
      const id = idParam(req);
      const found = await table.get(id, req);
      const { item, shard, shards } = found;
      if (item) return rowAnswer(200, found);
      // Unknown is not absent: only an answering shard may say the row does not exist.
      if (shards.some((s) => s.status !== "ok")) {
        const message = `id ${id} could not be read: shard ${shard} did not answer; retry later`;
        const open = shards.find((s) => s.status === "unavailable");
        const headers = retryAfter(open?.retryAfterMs);
        return routeResult(
          errorResponse(503, "shard_unavailable", message, headers, { shard, shards }),
          shards,
        );
      }
      const message = `id ${id} does not exist`;
      return routeResult(errorResponse(404, "not_found", message, {}, { shard, shards }), shards);
    })
    .on("POST", "/data", async (req) => {
      const row = parse(createBodySchema, jsonBody(req), "invalid_body");
      return rowAnswer(201, await table.create(row, req), { location: `/data/${row.id}` });
    })
    .on("PUT", "/data/{id}", async (req) => {
      const id = idParam(req);
      const body = parse(replaceBodySchema, jsonBody(req), "invalid_body");
      if (body.id !== undefined && body.id !== id) {
        throw new ClientError(400, "invalid_body", `id: ${body.id} does not match the path id ${id}`);
      }
      return rowAnswer(200, await table.replace(id, body.name, req));
    })
    .on("DELETE", "/data/{id}", async (req) => {
      const { shards } = await table.remove(idParam(req), req);
      return routeResult(empty(204), shards);
    });
}
