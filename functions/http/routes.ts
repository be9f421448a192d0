import type { ShardedTable } from "../core/sharded-table.js";
import { jsonBody } from "./body.js";
import { ClientError } from "./errors.js";
import { empty, json } from "./response.js";
import { type ApiRequest, type RouteResult, Router, routeResult } from "./router.js";
import { createBodySchema, idParamSchema, listQuerySchema, parse, replaceBodySchema } from "./validation.js";

function idParam(req: ApiRequest): number {
  return parse(idParamSchema, req.params.id, "invalid_id");
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
    .on("GET", "/data/{id}", async (req) => rowAnswer(200, await table.get(idParam(req), req)))
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
