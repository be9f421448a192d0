/**
 * The local server against the deployed HTTP API's design, read from the synthesized template: every request no
 * route matches reaches the function through `$default` (so the function's 404/405/preflight answers are what AWS
 * users see too), the API has no CORS configuration (so the function's CORS headers pass through), and the local
 * server selects the route key API Gateway would.
 */
import type { IncomingMessage } from "node:http";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { ROUTE_TABLE, routeKey } from "../../functions/http/route-table.js";
import { toApiGatewayEvent } from "../../local/api-gateway-event.js";
import { type LocalRuntime, startLocalRuntime } from "../../local/runtime.js";
import { expectError, get, request } from "../helpers/api-client.js";
import { synthesize } from "../infra/synth.js";

const { template } = synthesize();
const routes = Object.values(template.findResources("AWS::ApiGatewayV2::Route")).map(
  (r) => r.Properties.RouteKey as string,
);

let runtime: LocalRuntime;
let url: string;

beforeAll(async () => {
  runtime = await startLocalRuntime({ postgres: inject("postgres"), prefix: "api_gateway_parity" });
  url = runtime.url;
});

afterAll(async () => {
  await runtime?.stop();
});

describe("the deployed HTTP API, as synthesized", () => {
  it("has exactly the route table's routes plus $default, so API Gateway itself answers no unknown route", () => {
    expect([...routes].sort()).toEqual([...ROUTE_TABLE.map(routeKey), "$default"].sort());
  });

  it("has no CORS configuration, so API Gateway neither answers preflights itself nor drops the function's headers", () => {
    const [api] = Object.values(template.findResources("AWS::ApiGatewayV2::Api"));
    expect(api?.Properties.CorsConfiguration).toBeUndefined();
  });
});

describe("the local server answers as that API does", () => {
  it.each(["/nope", "/", "/data/1/2", "//data"])(
    "sends %s to the function's 404 route_not_found, never API Gateway's {message: Not Found}",
    async (path) => {
      const answer = await get(url, path);
      expectError(answer, 404, "route_not_found");
      expect(answer.body).not.toHaveProperty("message");
    },
  );

  it.each([
    ["HEAD", "/data"],
    ["PATCH", "/data/7"],
  ])("answers %s %s, which no route has, with the function's 405 and allow", async (method, path) => {
    const answer = await request(url, path, { method });
    expect(answer.status).toBe(405);
    expect(answer.headers.get("allow")).toContain("OPTIONS");
  });

  it("puts the CORS headers on a response to a request without Origin, as no CORS configuration strips them", async () => {
    const answer = await get(url, "/health");
    expect(answer.status).toBe(200);
    expect(answer.headers.get("access-control-allow-origin")).toBe("*");
  });

  it("answers a preflight for an IAM route itself, unsigned, as the public $default route lets it", async () => {
    const answer = await request(url, "/data", {
      method: "OPTIONS",
      headers: { origin: "https://example.com", "access-control-request-method": "POST" },
    });
    expect(answer.status).toBe(204);
    expect(answer.headers.get("access-control-allow-methods")).toContain("POST");
  });

  it("routes a path with one trailing slash as API Gateway does", async () => {
    const answer = await get(url, "/data/?limit=2");
    expect(answer.status).toBe(200);
    expect(answer.body.items).toHaveLength(2);
  });

  it("gives the function the route key API Gateway would select", () => {
    const event = (method: string, path: string) =>
      toApiGatewayEvent(
        { method, url: path, headers: {}, httpVersion: "1.1", socket: {} } as unknown as IncomingMessage,
        Buffer.alloc(0),
      );
    expect(event("GET", "/data/42").routeKey).toBe("GET /data/{id}");
    expect(event("POST", "/data").requestContext.routeKey).toBe("POST /data");
    expect(event("PATCH", "/data/42").routeKey).toBe("$default");
    expect(event("GET", "/nope?x=1").routeKey).toBe("$default");
  });
});
