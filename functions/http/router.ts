import type { ShardReport } from "../core/outcome.js";
import type { ApiResponse } from "./response.js";

/** What a route sees: plain values, no Lambda types, so the local server and the tests build it just as easily. */
export interface ApiRequest {
  readonly method: string;
  readonly path: string;
  readonly params: Readonly<Record<string, string>>;
  readonly query: Readonly<Record<string, string | undefined>>;
  readonly headers: Readonly<Record<string, string | undefined>>;
  readonly body: string | undefined;
  /** The body arrived as bytes that are not valid UTF-8 (`body` is then undefined): refused with a 400. */
  readonly bodyNotUtf8?: boolean;
  /** The Lambda's remaining time, when there is a Lambda. */
  readonly remainingMs: number | undefined;
  /** Routes that touch shards tell the app what each shard did, for the request's log line and metrics. */
  readonly noteShards: (shards: readonly ShardReport[]) => void;
}

export type RouteHandler = (req: ApiRequest) => Promise<ApiResponse>;

interface Route {
  readonly method: string;
  readonly segments: readonly string[];
  readonly handler: RouteHandler;
}

export type Resolution =
  | {
      readonly kind: "found";
      readonly handler: RouteHandler;
      readonly params: Record<string, string>;
      readonly pattern: string;
    }
  | { readonly kind: "not_found" }
  | { readonly kind: "method_not_allowed"; readonly allow: readonly string[] };

const split = (path: string) => path.split("/").filter((s) => s !== "");

/**
 * A few fixed routes with `{param}` segments. Hand-written because the API has six routes and every kilobyte of the
 * function is paid for in cold start; it answers 405 with `allow` when the path exists under another method.
 */
export class Router {
  readonly #routes: Route[] = [];

  on(method: string, pattern: string, handler: RouteHandler): this {
    this.#routes.push({ method, segments: split(pattern), handler });
    return this;
  }

  resolve(method: string, path: string): Resolution {
    const segments = split(path);
    const allow: string[] = [];
    for (const route of this.#routes) {
      const params = match(route.segments, segments);
      if (!params) continue;
      if (route.method === method) {
        return { kind: "found", handler: route.handler, params, pattern: `/${route.segments.join("/")}` };
      }
      allow.push(route.method);
    }
    return allow.length > 0 ? { kind: "method_not_allowed", allow } : { kind: "not_found" };
  }
}

function match(pattern: readonly string[], segments: readonly string[]): Record<string, string> | undefined {
  if (pattern.length !== segments.length) return undefined;
  const params: Record<string, string> = {};
  for (let i = 0; i < pattern.length; i++) {
    const p = pattern[i] as string;
    const s = segments[i] as string;
    if (p.startsWith("{") && p.endsWith("}")) params[p.slice(1, -1)] = s;
    else if (p !== s) return undefined;
  }
  return params;
}
