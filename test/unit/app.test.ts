import { Logger } from "@aws-lambda-powertools/logger";
import { DatabaseResumingException, ExecuteStatementCommand } from "@aws-sdk/client-rds-data";
import { afterAll, beforeEach, describe, expect, it, vi } from "vitest";
import { type App, createApp, type InvocationContext } from "../../functions/app.js";
import { ShardedTable } from "../../functions/core/sharded-table.js";
import { MAX_BODY_BYTES } from "../../functions/http/body.js";
import { CORS_HEADERS } from "../../functions/http/response.js";
import type { RequestSummary } from "../../functions/request-summary.js";
import { type AppAnswer, apiEvent, callApp, type EventOptions, lambdaContext } from "../helpers/events.js";
import { ARN_1, ARN_2, ARN_3, SEED_ROWS, seedIdsOf } from "../helpers/fixtures.js";
import {
  abortSignals,
  boundParams,
  calledArns,
  hang,
  mockDataApi,
  seededTable,
  statements,
  type TestTable,
} from "../helpers/unit-data-api.js";

const mock = mockDataApi();
afterAll(() => {
  mock.restore();
});

let t: TestTable;
let logger: Logger;
let summaries: RequestSummary[];
let app: App;

beforeEach(() => {
  mock.reset();
  // Long enough for a write to be sent well within its own deadline (a fifth of it) on a busy machine.
  t = seededTable(mock, { SHARD_TIMEOUT_MS: "300" });
  logger = new Logger({ serviceName: "test", logLevel: "SILENT" });
  summaries = [];
  app = createApp({ table: t.table, logger, observe: (s) => summaries.push(s) });
});

const call = (opts: EventOptions, context?: InvocationContext, target: App = app) =>
  callApp(target, opts, context);

const post = (body: unknown, headers?: Record<string, string>) =>
  call({ method: "POST", path: "/data", body, ...(headers ? { headers } : {}) });
const put = (id: string | number, body: unknown) => call({ method: "PUT", path: `/data/${id}`, body });

function expectError(res: AppAnswer, status: number, code: string, message?: string | RegExp) {
  expect(res.status).toBe(status);
  expect(res.headers["content-type"]).toBe("application/json");
  expect(Object.keys(res.body)).toContain("error");
  expect(Object.keys(res.body.error).sort()).toEqual(["code", "message"]);
  expect(res.body.error.code).toBe(code);
  if (typeof message === "string") expect(res.body.error.message).toBe(message);
  else if (message) expect(res.body.error.message).toMatch(message);
}

describe("GET /health", () => {
  it("answers 200 ok without touching the shards", async () => {
    const res = await call({ path: "/health" });
    expect(res.status).toBe(200);
    expect(res.body).toEqual({ status: "ok" });
    expect(res.headers["content-type"]).toBe("application/json");
    expect(mock).toHaveReceivedCommandTimes(ExecuteStatementCommand, 0);
  });
});

describe("GET /data", () => {
  it("answers exactly {items, next, partial, shards} as JSON, with every row sorted", async () => {
    const res = await call({ path: "/data" });
    expect(res.status).toBe(200);
    expect(res.headers["content-type"]).toBe("application/json");
    expect(Object.keys(res.body)).toEqual(["items", "next", "partial", "shards"]);
    expect(res.body.items).toEqual(SEED_ROWS);
    expect(res.body.next).toBeNull();
    expect(res.body.partial).toBe(false);
    for (const report of res.body.shards) {
      expect(Object.keys(report)).toEqual(["shard", "status", "count", "ms"]);
      expect(report).toEqual({ shard: report.shard, status: "ok", count: 20, ms: expect.any(Number) });
      expect(Number.isInteger(report.ms)).toBe(true);
    }
  });

  it("uses a limit of 100 by default, asking each of 3 shards for a third of it and one more", async () => {
    await call({ path: "/data" });
    expect(statements(mock).map((s) => boundParams(s).limit)).toEqual([35, 35, 35]);
  });

  it("passes limit, after, from and to to the table", async () => {
    const res = await call({ path: "/data", query: { limit: "3", after: "8", from: "5", to: "35" } });
    expect(res.body.items.map((r: { id: number }) => r.id)).toEqual([9, 10, 11]);
    expect(res.body.next).toBe(11);
    const shard1 = statements(mock).find((s) => s.resourceArn === ARN_1);
    expect(shard1 && boundParams(shard1)).toEqual({
      lo0: 9,
      hi0: 10,
      lo1: 31,
      hi1: 35,
      limit: 3,
      owned: "{[9,10],[31,35]}",
      unowned: "{}",
    });
  });

  it("accepts the extreme limits 1 and 1000", async () => {
    expect((await call({ path: "/data", query: { limit: "1" } })).body.items).toHaveLength(1);
    expect((await call({ path: "/data", query: { limit: "1000" } })).body.items).toHaveLength(60);
  });

  it("still answers 200 when shards fail, saying which and how in shards", async () => {
    mock.on(ExecuteStatementCommand, { resourceArn: ARN_2 }).callsFake(hang);
    mock
      .on(ExecuteStatementCommand, { resourceArn: ARN_3 })
      .rejects(new DatabaseResumingException({ message: "resuming cluster db-7xk", $metadata: {} }));
    const res = await call({ path: "/data" });
    expect(res.status).toBe(200);
    expect(res.body.items).toEqual(SEED_ROWS.filter((r) => seedIdsOf(1).includes(r.id)));
    expect(res.body.partial).toBe(true);
    const [one, two, three] = res.body.shards;
    expect(Object.keys(one)).toEqual(["shard", "status", "count", "ms"]);
    expect(Object.keys(two)).toEqual(["shard", "status", "ms"]);
    expect(two).toMatchObject({ shard: 2, status: "timeout" });
    expect(Object.keys(three)).toEqual(["shard", "status", "error", "ms"]);
    expect(three).toMatchObject({ shard: 3, status: "error", error: "DatabaseResumingException" });
    expect(res.raw).not.toContain("db-7xk");
  });

  it("reports skipped shards with only their id and status", async () => {
    const res = await call({ path: "/data", query: { from: "21", to: "30" } });
    expect(res.body.shards).toEqual([
      { shard: 1, status: "skipped" },
      { shard: 2, status: "skipped" },
      { shard: 3, status: "ok", count: 10, ms: expect.any(Number) },
    ]);
    expect(calledArns(mock)).toEqual([ARN_3]);
  });

  it.each([
    [{ limit: "0" }, "limit: must be between 1 and 1000"],
    [{ limit: "1001" }, "limit: must be between 1 and 1000"],
    [{ limit: "-5" }, "limit: must be between 1 and 1000"],
    [{ limit: "abc" }, "limit: must be an integer"],
    [{ limit: "1.5" }, "limit: must be an integer"],
    [{ limit: "" }, "limit: must be an integer"],
    [{ limit: " 5" }, "limit: must be an integer"],
    [{ limit: "1e2" }, "limit: must be an integer"],
    [{ limit: "10,20" }, "limit: must be an integer"],
    [{ after: "x" }, "after: must be an integer"],
    [{ after: "99999999999" }, "after: must be an integer"],
    [{ after: "2147483648" }, "after: must be between -2147483649 and 2147483647"],
    [{ after: "-2147483650" }, "after: must be between -2147483649 and 2147483647"],
    [{ from: "abc" }, "from: must be an integer"],
    [{ from: "+1" }, "from: must be an integer"],
    [{ to: "1.5" }, "to: must be an integer"],
    [{ to: "-2147483649" }, "to: must be between -2147483648 and 2147483647"],
    [{ from: "20", to: "10" }, "from: must not be greater than to"],
    [{ foo: "1" }, "unknown query parameter: foo"],
    [{ limit: "5", offset: "10" }, "unknown query parameter: offset"],
  ])("answers 400 for the query %j without calling a shard", async (query, message) => {
    const res = await call({ path: "/data", query });
    expectError(res, 400, "invalid_query", message);
    expect(mock).toHaveReceivedCommandTimes(ExecuteStatementCommand, 0);
  });

  it("accepts from equal to to", async () => {
    const res = await call({ path: "/data", query: { from: "7", to: "7" } });
    expect(res.body.items).toEqual([{ id: 7, name: "Test 7" }]);
  });
});

describe("GET /data/{id}", () => {
  it("answers the row and its shard", async () => {
    const res = await call({ path: "/data/45" });
    expect(res.status).toBe(200);
    expect(res.body).toEqual({ item: { id: 45, name: "Test 45" }, shard: 2 });
    expect(calledArns(mock)).toEqual([ARN_2]);
  });

  it("answers 404 not_found for an id that does not exist on its shard", async () => {
    t.stores.get(2)?.delete(15);
    const res = await call({ path: "/data/15" });
    expectError(res, 404, "not_found", "id 15 does not exist");
    expect(res.body.shard).toBe(2);
    expect(res.body.shards).toEqual([{ shard: 2, status: "ok", count: 0, ms: expect.any(Number) }]);
  });

  it("answers 503 shard_unavailable, never 404, when the owning shard failed: unknown is not absent", async () => {
    mock.on(ExecuteStatementCommand, { resourceArn: ARN_2 }).callsFake(hang);
    const res = await call({ path: "/data/15" });
    expectError(
      res,
      503,
      "shard_unavailable",
      "id 15 could not be read: shard 2 did not answer; retry later",
    );
    expect(res.body.shard).toBe(2);
    expect(res.body.shards).toEqual([{ shard: 2, status: "timeout", ms: expect.any(Number) }]);
    expect(res.headers["retry-after"]).toBe("1");
  });

  const OUTSIDE = ["61", "0", "-1", "2147483647"];
  it.each(OUTSIDE)(
    "answers 404 for id %s, outside the map, once shard 1 vouched that no shard owns it",
    async (id) => {
      const res = await call({ path: `/data/${id}` });
      expectError(res, 404, "id_out_of_range", `id ${id} is outside every shard's range`);
      expect(calledArns(mock)).toEqual([ARN_1]);
    },
  );

  it("answers 503, not 404, for an id outside the map when the shard that would vouch for it fails", async () => {
    mock.on(ExecuteStatementCommand, { resourceArn: ARN_1 }).callsFake(hang);
    const res = await call({ path: "/data/61" });
    expect(res.status).toBe(503);
    expect(res.body.error.code).toBe("shard_unavailable");
  });

  it.each([
    ["abc", "id: must be an integer"],
    ["1.5", "id: must be an integer"],
    ["1e2", "id: must be an integer"],
    ["+5", "id: must be an integer"],
    ["0x10", "id: must be an integer"],
    ["12345678901", "id: must be an integer"],
    ["2147483648", "id: must be between -2147483648 and 2147483647"],
  ])("answers 400 for the non-integer or out-of-int32 id %s", async (id, message) => {
    const res = await call({ path: `/data/${id}` });
    expectError(res, 400, "invalid_id", message);
    expect(mock).toHaveReceivedCommandTimes(ExecuteStatementCommand, 0);
  });
});

describe("POST /data", () => {
  it("creates the row on its shard and answers 201 with a location", async () => {
    t.stores.get(3)?.delete(55);
    const res = await post({ id: 55, name: "Fifty-five" });
    expect(res.status).toBe(201);
    expect(res.body).toEqual({ item: { id: 55, name: "Fifty-five" }, shard: 3 });
    expect(res.headers.location).toBe("/data/55");
    expect(calledArns(mock)).toEqual([ARN_3]);
    expect((await call({ path: "/data/55" })).body.item).toEqual({ id: 55, name: "Fifty-five" });
  });

  it("answers 409 for an id that already exists", async () => {
    expectError(await post({ id: 5, name: "again" }), 409, "duplicate_id", "id 5 already exists");
  });

  it("answers 422 for an id outside the map once shard 1 vouched that no shard owns it, writing nothing", async () => {
    const res = await post({ id: 61, name: "x" });
    expectError(res, 422, "id_out_of_range", "id 61 is outside every shard's range");
    expect(calledArns(mock)).toEqual([ARN_1]);
    expect(statements(mock)[0]?.sql).toBe("SELECT (SELECT sharding.admit_read(:owned, :unowned)) AS ok");
  });

  it("answers 503 with retry-after when the owning shard fails, without its internals", async () => {
    t.stores.get(2)?.delete(12);
    mock
      .on(ExecuteStatementCommand, { resourceArn: ARN_2 })
      .rejects(new DatabaseResumingException({ message: "cluster db-7xk is resuming", $metadata: {} }));
    const res = await post({ id: 12, name: "x" });
    expectError(
      res,
      503,
      "shard_unavailable",
      "shard 2 did not confirm the write (DatabaseResumingException); it may or may not have been applied, and can no longer take effect: read the row before retrying",
    );
    expect(res.body.outcome).toBe("unknown");
    expect(res.body.shard).toBe(2);
    expect(res.headers["retry-after"]).toBe("1");
    expect(res.raw).not.toContain("db-7xk");
  });

  it("answers 503 when the owning shard times out", async () => {
    mock.on(ExecuteStatementCommand, { resourceArn: ARN_1 }).callsFake(hang);
    const res = await post({ id: 9, name: "x" });
    expectError(res, 503, "shard_unavailable", /\(timeout\)/);
    expect(res.headers["retry-after"]).toBe("1");
  });

  const JSON_TYPES = [
    "application/json; charset=utf-8",
    "Application/JSON",
    "application/json ;charset=UTF-8",
  ];
  it.each(JSON_TYPES)("accepts the content-type %s", async (type) => {
    t.stores.get(1)?.delete(1);
    const res = await post(JSON.stringify({ id: 1, name: "x" }), { "content-type": type });
    expect(res.status).toBe(201);
  });

  it("reads the content-type header whatever its case", async () => {
    t.stores.get(1)?.delete(1);
    const res = await post(JSON.stringify({ id: 1, name: "x" }), { "Content-Type": "application/json" });
    expect(res.status).toBe(201);
  });

  const OTHER_TYPES = [
    "text/plain",
    "application/jsonp",
    "application/x-www-form-urlencoded",
    "multipart/form-data",
  ];
  it.each(OTHER_TYPES)("answers 415 for the content-type %s", async (type) => {
    const res = await post(JSON.stringify({ id: 1, name: "x" }), { "content-type": type });
    expectError(res, 415, "unsupported_media_type", "content-type: must be application/json");
  });

  it("answers 415 when the content-type is missing", async () => {
    expectError(await post(JSON.stringify({ id: 1, name: "x" })), 415, "unsupported_media_type");
  });

  it("answers 413 for a body over 16 KiB, counted in bytes", async () => {
    const tooLong = await post({ id: 5, name: "a".repeat(MAX_BODY_BYTES) });
    expectError(tooLong, 413, "body_too_large", "body: must be at most 16384 bytes");
    const manyBytes = await post({ id: 5, name: "é".repeat(9000) });
    expectError(manyBytes, 413, "body_too_large");
    expect(mock).toHaveReceivedCommandTimes(ExecuteStatementCommand, 0);
  });

  it("accepts a body of exactly 16 KiB", async () => {
    t.stores.get(1)?.delete(5);
    const prefix = '{"id":5,"name":"x"';
    const body = `${prefix}${" ".repeat(MAX_BODY_BYTES - prefix.length - 1)}}`;
    expect(Buffer.byteLength(body)).toBe(MAX_BODY_BYTES);
    expect((await post(body, { "content-type": "application/json" })).status).toBe(201);
  });

  const MALFORMED = ['{"id": 5,', "{id: 5}", "not json", '{"id":5,"name":"x"}}'];
  it.each(MALFORMED)("answers 400 invalid_json for the malformed body %s", async (body) => {
    const res = await post(body, { "content-type": "application/json" });
    expectError(res, 400, "invalid_json", "body: not valid JSON");
  });

  it("answers 400 when the body is missing or empty", async () => {
    const headers = { "content-type": "application/json" };
    const none = await call({ method: "POST", path: "/data", headers });
    expectError(none, 400, "invalid_body", "body: required");
    expectError(await post("", headers), 400, "invalid_body", "body: required");
  });

  const NON_OBJECTS = ["[1,2]", '"text"', "5", "null", "true", "[]"];
  it.each(NON_OBJECTS)("answers 400 for the non-object body %s", async (body) => {
    const res = await post(body, { "content-type": "application/json" });
    expectError(res, 400, "invalid_body", "body: must be a JSON object");
  });

  it.each([
    [{ id: 5, name: "x", extra: 1 }, "unknown field: extra"],
    [{ name: "x" }, "id: required"],
    [{ id: 5 }, "name: required"],
    [{ id: "5", name: "x" }, "id: must be an integer"],
    [{ id: 1.5, name: "x" }, "id: must be an integer"],
    [{ id: null, name: "x" }, "id: must be an integer"],
    [{ id: 2 ** 31, name: "x" }, "id: must be between -2147483648 and 2147483647"],
    [{ id: 5, name: 5 }, "name: must be a string"],
    [{ id: 5, name: null }, "name: must be a string"],
    [{ id: 5, name: "" }, "name: must not be empty"],
    [{ id: 5, name: "   " }, "name: must not be empty"],
    [{ id: 5, name: "a".repeat(256) }, "name: must be at most 255 characters"],
    [{ id: 5, name: "😀".repeat(256) }, "name: must be at most 255 characters"],
    [{ id: 5, name: "a\u0000b" }, "name: must be valid text without NUL characters"],
    [{ id: 5, name: "lone \ud800 surrogate" }, "name: must be valid text without NUL characters"],
  ])("answers 400 invalid_body for %j", async (body, message) => {
    const res = await post(body);
    expectError(res, 400, "invalid_body", message);
    expect(mock).toHaveReceivedCommandTimes(ExecuteStatementCommand, 0);
  });

  it.each([
    ["255 ASCII characters", "a".repeat(255)],
    ["255 emoji, counted as characters not UTF-16 units or bytes", "😀".repeat(255)],
    ["a name with accents and CJK", "Ünïcödé 名前"],
  ])("accepts a name of %s", async (_what, name) => {
    t.stores.get(1)?.delete(5);
    const res = await post({ id: 5, name });
    expect(res.status).toBe(201);
    expect(res.body.item).toEqual({ id: 5, name });
    expect(t.stores.get(1)?.get(5)).toBe(name);
  });

  it("decodes a base64-encoded body", async () => {
    t.stores.get(1)?.delete(6);
    const body = { id: 6, name: "Sechs ✓" };
    const res = await call({ method: "POST", path: "/data", body, base64: true });
    expect(res.status).toBe(201);
    expect(res.body.item).toEqual({ id: 6, name: "Sechs ✓" });
  });

  it("refuses a base64-encoded body that is not valid UTF-8 with a 400, storing nothing", async () => {
    t.stores.get(1)?.delete(6);
    const bytes = Buffer.concat([
      Buffer.from('{"id":6,"name":"S'),
      Buffer.from([0xc3, 0x28]),
      Buffer.from('"}'),
    ]);
    const event = apiEvent({
      method: "POST",
      path: "/data",
      headers: { "content-type": "application/json" },
    });
    const res = await app({ ...event, body: bytes.toString("base64"), isBase64Encoded: true });
    expect(res.statusCode).toBe(400);
    expect(JSON.parse(res.body ?? "")).toEqual({
      error: { code: "invalid_encoding", message: "body: not valid UTF-8" },
    });
    expect(t.stores.get(1)?.has(6)).toBe(false);
  });

  it.each(["iso-8859-1", "utf-16", "latin1"])(
    "refuses the charset %s with a 415 that names it",
    async (charset) => {
      const res = await post(
        { id: 6, name: "x" },
        { "content-type": `application/json; charset=${charset}` },
      );
      expectError(res, 415, "unsupported_charset", `content-type: charset must be utf-8, got ${charset}`);
    },
  );
});

describe("what writes report for logs and metrics", () => {
  it("reports the owning shard of every write, confirmed, refused or failed, as reads do", async () => {
    t.stores.get(3)?.delete(55);
    await post({ id: 55, name: "x" });
    await post({ id: 55, name: "again" });
    mock.on(ExecuteStatementCommand, { resourceArn: ARN_1 }).rejects(new Error("boom"));
    await call({ method: "DELETE", path: "/data/5" });
    expect(summaries.map((s) => [s.route, s.status, s.shards])).toEqual([
      ["POST /data", 201, [{ shard: 3, status: "ok", count: 1, ms: expect.any(Number) }]],
      ["POST /data", 409, [{ shard: 3, status: "ok", count: 0, ms: expect.any(Number) }]],
      ["DELETE /data/{id}", 503, [{ shard: 1, status: "error", error: "Error", ms: expect.any(Number) }]],
    ]);
    expect(summaries[2]?.partial).toBe(true);
  });

  it("reports the owning shard of a replace or delete of a missing row, and the vouching shard for an id outside the map", async () => {
    t.stores.get(3)?.delete(25);
    expectError(await put(25, { name: "x" }), 404, "not_found", "id 25 does not exist");
    expectError(await call({ method: "DELETE", path: "/data/25" }), 404, "not_found", "id 25 does not exist");
    expectError(await put(61, { name: "x" }), 422, "id_out_of_range", "id 61 is outside every shard's range");
    expect(summaries.map((s) => [s.route, s.status, s.shards])).toEqual([
      ["PUT /data/{id}", 404, [{ shard: 3, status: "ok", count: 0, ms: expect.any(Number) }]],
      ["DELETE /data/{id}", 404, [{ shard: 3, status: "ok", count: 0, ms: expect.any(Number) }]],
      ["PUT /data/{id}", 422, [{ shard: 1, status: "ok", count: 0, ms: expect.any(Number) }]],
    ]);
  });
});

describe("PUT /data/{id}", () => {
  it("replaces the name and answers 200 with the row and its shard", async () => {
    const res = await put(33, { name: "renamed" });
    expect(res.status).toBe(200);
    expect(res.body).toEqual({ item: { id: 33, name: "renamed" }, shard: 1 });
    expect(t.stores.get(1)?.get(33)).toBe("renamed");
    expect(calledArns(mock)).toEqual([ARN_1]);
  });

  it("accepts the id repeated in the body when it matches the path", async () => {
    expect((await put(33, { id: 33, name: "same" })).status).toBe(200);
  });

  it("answers 400 when the body's id differs from the path's", async () => {
    const res = await put(33, { id: 34, name: "x" });
    expectError(res, 400, "invalid_body", "id: 34 does not match the path id 33");
    expect(mock).toHaveReceivedCommandTimes(ExecuteStatementCommand, 0);
  });

  it("answers 404 for an id with no row", async () => {
    t.stores.get(1)?.delete(33);
    expectError(await put(33, { name: "x" }), 404, "not_found", "id 33 does not exist");
  });

  it("answers 422 for an id outside the map", async () => {
    expectError(await put(61, { name: "x" }), 422, "id_out_of_range");
  });

  it("answers 400 for a non-integer id and for an invalid body", async () => {
    expectError(await put("abc", { name: "x" }), 400, "invalid_id", "id: must be an integer");
    expectError(await put(33, { name: "" }), 400, "invalid_body", "name: must not be empty");
    expectError(await put(33, { name: "x", other: true }), 400, "invalid_body", "unknown field: other");
  });

  it("answers 415 without a JSON content-type", async () => {
    const res = await call({ method: "PUT", path: "/data/33", body: '{"name":"x"}' });
    expectError(res, 415, "unsupported_media_type");
  });

  it("answers 503 when the owning shard fails", async () => {
    const refused = Object.assign(new Error("x"), { code: "ECONNREFUSED" });
    mock.on(ExecuteStatementCommand, { resourceArn: ARN_1 }).rejects(refused);
    const res = await put(33, { name: "x" });
    expectError(res, 503, "shard_unavailable", /\(ECONNREFUSED\)/);
    expect(res.headers["retry-after"]).toBe("1");
  });
});

describe("DELETE /data/{id}", () => {
  it("deletes the row and answers 204 with an empty body", async () => {
    const res = await call({ method: "DELETE", path: "/data/60" });
    expect(res.status).toBe(204);
    expect(res.raw).toBe("");
    expect(t.stores.get(3)?.has(60)).toBe(false);
    expect(calledArns(mock)).toEqual([ARN_3]);
  });

  it("answers 404 for an id with no row, 422 outside the map and 400 for a non-integer id", async () => {
    t.stores.get(3)?.delete(60);
    expectError(await call({ method: "DELETE", path: "/data/60" }), 404, "not_found");
    expectError(await call({ method: "DELETE", path: "/data/61" }), 422, "id_out_of_range");
    expectError(await call({ method: "DELETE", path: "/data/six" }), 400, "invalid_id");
  });

  it("answers 503 when the owning shard times out", async () => {
    mock.on(ExecuteStatementCommand, { resourceArn: ARN_3 }).callsFake(hang);
    expectError(await call({ method: "DELETE", path: "/data/60" }), 503, "shard_unavailable");
  });
});

describe("routing", () => {
  const UNKNOWN_PATHS = ["/", "/nope", "/data/1/extra", "/health/x", "/datas"];
  it.each(UNKNOWN_PATHS)("answers 404 route_not_found for %s", async (path) => {
    expectError(await call({ path }), 404, "route_not_found", `no route for GET ${path}`);
  });

  it.each([
    ["PATCH", "/data", "GET, POST, OPTIONS"],
    ["DELETE", "/data", "GET, POST, OPTIONS"],
    ["POST", "/health", "GET, OPTIONS"],
    ["POST", "/data/5", "GET, PUT, DELETE, OPTIONS"],
    ["PATCH", "/data/5", "GET, PUT, DELETE, OPTIONS"],
  ])("answers 405 for %s %s with an allow header", async (method, path, allow) => {
    const res = await call({ method, path });
    expectError(res, 405, "method_not_allowed", `${method} is not allowed on ${path}`);
    expect(res.headers.allow).toBe(allow);
  });

  it("answers an OPTIONS preflight with 204, the CORS headers and allow", async () => {
    const res = await call({
      method: "OPTIONS",
      path: "/data",
      headers: { origin: "https://example.com", "access-control-request-method": "POST" },
    });
    expect(res.status).toBe(204);
    expect(res.raw).toBe("");
    expect(res.headers).toMatchObject(CORS_HEADERS);
    expect(res.headers["access-control-allow-origin"]).toBe("*");
    expect(res.headers["access-control-allow-methods"]).toContain("POST");
    expect(res.headers.allow).toBe("GET, POST, OPTIONS");
    expect(mock).toHaveReceivedCommandTimes(ExecuteStatementCommand, 0);
  });

  it("sends the CORS headers on every answer, errors included", async () => {
    const requests: EventOptions[] = [
      { path: "/data" },
      { path: "/nope" },
      { path: "/data/abc" },
      { method: "PATCH", path: "/data" },
    ];
    for (const opts of requests) {
      expect((await call(opts)).headers).toMatchObject(CORS_HEADERS);
    }
  });

  it("strips a named stage from the front of rawPath", async () => {
    const list = await call({ path: "/data", stage: "prod", query: { limit: "2" } });
    expect(apiEvent({ path: "/data", stage: "prod" }).rawPath).toBe("/prod/data");
    expect(list.status).toBe(200);
    expect(list.body.items).toEqual(SEED_ROWS.slice(0, 2));
    expect((await call({ path: "/data/5", stage: "prod" })).body.item).toEqual({ id: 5, name: "Test 5" });
    expect((await call({ path: "/health", stage: "prod" })).status).toBe(200);
  });

  it("treats the bare stage path as the root", async () => {
    expectError(await call({ path: "", stage: "prod" }), 404, "route_not_found", "no route for GET /");
  });

  it("strips only a whole stage segment", async () => {
    const res = await call({ path: "/production/data", stage: "$default" });
    expectError(res, 404, "route_not_found");
    const event = apiEvent({ path: "/data" });
    event.rawPath = "/production/data";
    event.requestContext.stage = "prod";
    const res2 = await app(event);
    expect(res2.statusCode).toBe(404);
  });

  it("leaves the path alone under the $default stage", async () => {
    const event = apiEvent({ path: "/health" });
    expect(event.requestContext.stage).toBe("$default");
    expect((await app(event)).statusCode).toBe(200);
  });

  it("reads the method case-insensitively", async () => {
    expect((await call({ method: "get", path: "/health", routeKey: "GET /health" })).status).toBe(200);
  });

  it("never runs a route's handler for a request API Gateway sent through $default", async () => {
    // As if API Gateway had not matched `POST /data` (IAM) and the public catch-all had caught it instead.
    const res = await call({
      method: "POST",
      path: "/data",
      body: { id: 7, name: "x" },
      routeKey: "$default",
    });
    expect(res.status).toBe(404);
    expect(res.body.error.code).toBe("route_not_found");
    expect(mock.commandCalls(ExecuteStatementCommand)).toEqual([]);
  });

  it("treats an empty rawPath as the root", async () => {
    const event = apiEvent({ path: "/health" });
    event.rawPath = "";
    expect((await app(event)).statusCode).toBe(404);
  });
});

describe("unexpected failures", () => {
  it("answers 500 with a generic message and logs the error when the table throws", async () => {
    const broken = new ShardedTable({ config: t.config, clients: t.clients });
    vi.spyOn(broken, "list").mockRejectedValue(new Error("no read client for shard 2"));
    const errorLog = vi.spyOn(logger, "error");
    const target = createApp({ table: broken, logger });
    const res = await call({ path: "/data" }, undefined, target);
    expect(res.status).toBe(500);
    expect(res.body).toEqual({ error: { code: "internal_error", message: "internal server error" } });
    expect(res.raw).not.toMatch(/client|shard 2|stack|Error/);
    expect(errorLog).toHaveBeenCalledTimes(1);
    expect(errorLog.mock.calls[0]?.[0]).toBe("unhandled error");
  });

  it("answers 500 when a route throws something that is not an Error", async () => {
    const weird = new ShardedTable({ config: t.config, clients: t.clients });
    vi.spyOn(weird, "get").mockRejectedValue("a bare string with a secret");
    const res = await call({ path: "/data/5" }, undefined, createApp({ table: weird, logger }));
    expectError(res, 500, "internal_error", "internal server error");
    expect(res.raw).not.toContain("secret");
  });
});

describe("the Lambda context", () => {
  it("caps each shard's timeout at the remaining time minus the margin", async () => {
    const slow = seededTable(mock, { DEADLINE_MARGIN_MS: "250" });
    mock.on(ExecuteStatementCommand, { resourceArn: ARN_2 }).callsFake(hang);
    const target = createApp({ table: slow.table, logger });
    const started = performance.now();
    const res = await call({ path: "/data" }, lambdaContext(330), target);
    expect(performance.now() - started).toBeLessThan(300);
    expect(res.body.shards[1]).toMatchObject({ shard: 2, status: "timeout" });
    const reasons = abortSignals(mock).map((s) => s?.reason?.timeoutMs);
    expect(reasons).toContain(80);
  });

  it("uses the configured timeout when there is no context", async () => {
    const slow = seededTable(mock, { SHARD_TIMEOUT_MS: "30" });
    mock.on(ExecuteStatementCommand, { resourceArn: ARN_2 }).callsFake(hang);
    await call({ path: "/data" }, {}, createApp({ table: slow.table, logger }));
    expect(abortSignals(mock).map((s) => s?.reason?.timeoutMs)).toContain(30);
  });
});

describe("observing requests", () => {
  it("reports each request's route, status, shards and partial flag once", async () => {
    mock.on(ExecuteStatementCommand, { resourceArn: ARN_3 }).callsFake(hang);
    await call({ path: "/data" });
    await call({ path: "/data/5" });
    await call({ path: "/nope" });
    await call({ method: "POST", path: "/data", body: { id: 61, name: "x" } });
    expect(summaries).toHaveLength(4);
    expect(summaries[0]).toMatchObject({ method: "GET", route: "GET /data", status: 200, partial: true });
    expect(summaries[0]?.shards.map((s) => s.status)).toEqual(["ok", "ok", "timeout"]);
    expect(summaries[1]).toMatchObject({ route: "GET /data/{id}", status: 200, partial: false });
    expect(summaries[1]?.shards).toHaveLength(1);
    expect(summaries[2]).toMatchObject({ route: "unknown", status: 404, shards: [], partial: false });
    expect(summaries[3]).toMatchObject({ method: "POST", route: "POST /data", status: 422 });
    expect(summaries.every((s) => typeof s.ms === "number" && s.ms >= 0)).toBe(true);
  });

  it("logs one request line with the path", async () => {
    const info = vi.spyOn(logger, "info");
    await call({ path: "/health" });
    expect(info).toHaveBeenCalledWith("request", expect.objectContaining({ path: "/health", status: 200 }));
  });
});
