import type { ShardReport } from "../core/shard-call.js";
import type { ApiResponse } from "./response.js";
import { matchPath, ROUTE_TABLE, type RouteSpec, routeKey } from "./route-table.js";

/** What a route sees: plain values, no Lambda types, so the local server and the tests build it just as easily. */
export interface ApiRequest {
  readonly method: string;
  readonly path: string;
  readonly params: Readonly<Record<string, string>>;
  readonly query: Readonly<Record<string, string | undefined>>;
  readonly headers: Readonly<Record<string, string | undefined>>;
  /** The body as API Gateway passes it: text, or with `bodyBase64` the base64 of its bytes (body.ts reads both). */
  readonly body: string | undefined;
  readonly bodyBase64: boolean;
  /** The Lambda's remaining time, when there is a Lambda. */
  readonly remainingMs: number | undefined;
}

/** What a request came to: the answer, and what each shard it touched did (for its log line and metrics). */
export interface RouteResult {
  readonly response: ApiResponse;
  readonly shards: readonly ShardReport[];
}

/** A route's result: the answer, and what the shards the route touched did (none by default). */
export function routeResult(response: ApiResponse, shards: readonly ShardReport[] = []): RouteResult {
  return { response, shards };
}

export type RouteHandler = (req: ApiRequest) => Promise<RouteResult>;

export type Resolution =
  | {
      readonly kind: "found";
      readonly handler: RouteHandler;
      readonly params: Record<string, string>;
      readonly pattern: string;
      readonly route: RouteSpec;
    }
  | { readonly kind: "not_found" }
  | { readonly kind: "method_not_allowed"; readonly allow: readonly string[] };

/**
 * The routes of a route table (route-table.ts) with their handlers. Hand-written because it must match paths exactly
 * as API Gateway does (`matchPath`); it resolves a request to its route's handler, or says that the path exists only
 * under other methods (`allow`) or not at all, which dispatch.ts answers.
 */
export class Router {
  readonly #table: readonly RouteSpec[];
  readonly #handlers = new Map<string, RouteHandler>();

  constructor(table: readonly RouteSpec[] = ROUTE_TABLE) {
    this.#table = table;
  }

  /** Attaches the handler of a route of the table; a route that is not in the table is a programming error. */
  on(method: RouteSpec["method"], pattern: string, handler: RouteHandler): this {
    const key = `${method} ${pattern}`;
    if (!this.#table.some((route) => routeKey(route) === key)) {
      throw new Error(`route ${key} is not in the route table (functions/http/route-table.ts)`);
    }
    this.#handlers.set(key, handler);
    return this;
  }

  /** Route keys of the table that have no handler: empty once the app is complete. */
  missing(): string[] {
    return this.#table.map(routeKey).filter((key) => !this.#handlers.has(key));
  }

  resolve(method: string, path: string): Resolution {
    const allow: string[] = [];
    for (const route of this.#table) {
      const params = matchPath(route.path, path);
      if (!params) continue;
      const handler = this.#handlers.get(routeKey(route));
      if (route.method === method && handler) {
        return { kind: "found", handler, params, pattern: route.path, route };
      }
      if (handler && !allow.includes(route.method)) allow.push(route.method);
    }
    return allow.length > 0 ? { kind: "method_not_allowed", allow } : { kind: "not_found" };
  }
}
