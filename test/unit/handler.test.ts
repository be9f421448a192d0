import { Logger } from "@aws-lambda-powertools/logger";
import { ExecuteStatementCommand } from "@aws-sdk/client-rds-data";
import { afterAll, afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { composeApp } from "../../functions/app.js";
import { ConfigError } from "../../functions/core/errors.js";
import { ShardedTable } from "../../functions/core/sharded-table.js";
import type { RequestSummary } from "../../functions/request-summary.js";
import { apiEvent, callApp, lambdaContext } from "../helpers/events.js";
import { ARN_1, ARN_2, ARN_3, rawShards, SEED_ROWS, testEnv } from "../helpers/fixtures.js";
import { calledArns, mockDataApi, seededStores, serveStores } from "../helpers/unit-data-api.js";

const mock = mockDataApi();
beforeEach(() => {
  mock.reset();
  serveStores(mock, seededStores());
  vi.stubEnv("POWERTOOLS_LOG_LEVEL", "SILENT");
});
afterEach(() => {
  vi.unstubAllEnvs();
  vi.resetModules();
});
afterAll(() => {
  mock.restore();
});

describe("the Lambda handler (functions/handler.ts)", () => {
  it("builds the app from process.env at init and answers /health and /data", async () => {
    vi.stubEnv("SHARDS", JSON.stringify(rawShards()));
    const { handler } = await import("../../functions/handler.js");

    const health = await handler(apiEvent({ path: "/health" }), lambdaContext());
    expect(health.statusCode).toBe(200);
    expect(JSON.parse(health.body ?? "")).toEqual({ status: "ok" });
    expect(mock).toHaveReceivedCommandTimes(ExecuteStatementCommand, 0);

    const data = await handler(apiEvent({ path: "/data", query: { limit: "5" } }), lambdaContext());
    expect(data.statusCode).toBe(200);
    expect(data.headers["content-type"]).toBe("application/json");
    const body = JSON.parse(data.body ?? "");
    expect(body.items).toEqual(SEED_ROWS.slice(0, 5));
    expect(body.next).toBe(5);
    expect(body.partial).toBe(false);
    expect([...calledArns(mock)].sort()).toEqual([ARN_1, ARN_2, ARN_3]);
  });

  it("reuses the clients built at init across invocations", async () => {
    vi.stubEnv("SHARDS", JSON.stringify(rawShards()));
    const { handler } = await import("../../functions/handler.js");
    await handler(apiEvent({ path: "/data/5" }), lambdaContext());
    await handler(apiEvent({ path: "/data/6" }), lambdaContext());
    const [first, second] = mock.calls();
    expect(first?.thisValue).toBeDefined();
    expect(second?.thisValue).toBe(first?.thisValue);
  });

  it("fails the cold start with an error naming SHARDS when it is missing", async () => {
    vi.stubEnv("SHARDS", "");
    await expect(import("../../functions/handler.js")).rejects.toThrow("SHARDS: required");
  });

  it("fails the cold start naming the bad field of an invalid setting", async () => {
    vi.stubEnv("SHARDS", JSON.stringify(rawShards()));
    vi.stubEnv("SHARD_TIMEOUT_MS", "soon");
    const message = "SHARD_TIMEOUT_MS: expected an integer";
    await expect(import("../../functions/handler.js")).rejects.toThrow(message);
  });
});

describe("composeApp", () => {
  it("validates the config, builds the table and wires observe and the logger", async () => {
    const summaries: RequestSummary[] = [];
    const logger = new Logger({ logLevel: "SILENT" });
    const composed = composeApp(testEnv({ SHARD_TIMEOUT_MS: "300" }), {
      logger,
      observe: (s) => summaries.push(s),
    });
    expect(composed.config.shardTimeoutMs).toBe(300);
    expect(composed.logger).toBe(logger);
    expect(composed.table).toBeInstanceOf(ShardedTable);
    const res = await callApp(composed.app, { path: "/data", query: { limit: "2" } });
    expect(res.body.items).toEqual(SEED_ROWS.slice(0, 2));
    expect(summaries).toEqual([expect.objectContaining({ route: "GET /data", status: 200 })]);
  });

  it("creates its own logger when given none", () => {
    const composed = composeApp(testEnv({ POWERTOOLS_SERVICE_NAME: "orders" }));
    expect(composed.logger).toBeInstanceOf(Logger);
  });

  it("throws a ConfigError for a bad environment", () => {
    expect(() => composeApp({})).toThrow(ConfigError);
    expect(() => composeApp(testEnv({ TABLE_NAME: "bad-name" }))).toThrow("TABLE_NAME");
  });
});
