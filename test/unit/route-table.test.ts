import { Logger } from "@aws-lambda-powertools/logger";
import { describe, expect, it } from "vitest";
import { createApp } from "../../functions/app.js";
import {
  apiGatewayRouteKey,
  matchPath,
  ROUTE_TABLE,
  routeKey,
  routeKeyAgrees,
} from "../../functions/http/route-table.js";
import { Router } from "../../functions/http/router.js";
import { createRoutes } from "../../functions/http/routes.js";
import { mockDataApi, seededTable } from "../helpers/unit-data-api.js";

describe("the route table", () => {
  it("lists each method and path once, writes behind IAM and reads public", () => {
    const keys = ROUTE_TABLE.map(routeKey);
    expect(new Set(keys).size).toBe(keys.length);
    for (const route of ROUTE_TABLE) expect(route.auth).toBe(route.method === "GET" ? "public" : "iam");
  });

  it("has a handler in the function's router for every route, and the router has no route outside it", () => {
    const mock = mockDataApi();
    try {
      const router = createRoutes(seededTable(mock).table);
      expect(router.missing()).toEqual([]);
      for (const route of ROUTE_TABLE) {
        const path = route.path.replace("{id}", "7");
        expect(router.resolve(route.method, path)).toMatchObject({ kind: "found", route });
      }
      expect(() =>
        new Router().on("GET", "/admin", async () => ({
          response: { statusCode: 200, headers: {} },
          shards: [],
        })),
      ).toThrow(/not in the route table/);
    } finally {
      mock.restore();
    }
  });

  it("reports a route of the table without a handler (createApp refuses to start then), and the app has none", () => {
    const table = [...ROUTE_TABLE, { method: "GET", path: "/extra", auth: "public" } as const];
    const router = new Router(table);
    expect(router.missing()).toContain("GET /extra");
    const mock = mockDataApi();
    try {
      // The real app's table is complete: it starts.
      expect(() =>
        createApp({ table: seededTable(mock).table, logger: new Logger({ logLevel: "SILENT" }) }),
      ).not.toThrow();
    } finally {
      mock.restore();
    }
  });

  it("matches paths as API Gateway does: parameters are whole non-empty segments, one trailing slash is ignored", () => {
    expect(matchPath("/data/{id}", "/data/42")).toEqual({ id: "42" });
    expect(matchPath("/data", "/data/")).toEqual({});
    expect(matchPath("/data/{id}", "/data/42/")).toEqual({ id: "42" });
    expect(matchPath("/data/{id}", "/data/")).toBeUndefined();
    expect(matchPath("/data/{id}", "/data/4/2")).toBeUndefined();
    expect(matchPath("/data", "//data")).toBeUndefined();
    expect(matchPath("/data", "/DATA")).toBeUndefined();
    expect(matchPath("/data", "data")).toBeUndefined();
  });

  it("selects the route API Gateway would, and $default for anything else", () => {
    expect(apiGatewayRouteKey("GET", "/data/42")).toBe("GET /data/{id}");
    expect(apiGatewayRouteKey("POST", "/data")).toBe("POST /data");
    expect(apiGatewayRouteKey("PATCH", "/data/42")).toBe("$default");
    expect(apiGatewayRouteKey("OPTIONS", "/data")).toBe("$default");
    expect(apiGatewayRouteKey("GET", "/nope")).toBe("$default");
  });

  it("trusts a resolved route only when API Gateway selected that same route", () => {
    const post = ROUTE_TABLE.find((r) => r.method === "POST");
    if (post === undefined) throw new Error("no POST route");
    expect(routeKeyAgrees("POST /data", post)).toBe(true);
    expect(routeKeyAgrees("$default", post)).toBe(false);
    expect(routeKeyAgrees(undefined, post)).toBe(true);
  });
});
