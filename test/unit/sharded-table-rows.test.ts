import {
  DatabaseResumingException,
  ExecuteStatementCommand,
  ServiceUnavailableError,
} from "@aws-sdk/client-rds-data";
import { afterAll, beforeEach, describe, expect, it } from "vitest";
import { createShardClients } from "../../functions/core/data-api.js";
import {
  DuplicateIdError,
  IdOutOfRangeError,
  RowAbsentError,
  RowNotFoundError,
  RowUnknownError,
  ShardUnavailableError,
} from "../../functions/core/errors.js";
import { ShardedTable } from "../../functions/core/sharded-table.js";
import { ARN_1, ARN_2, ARN_3, BOUNDARY_OWNERS, SHARD_ARNS, testConfig } from "../helpers/fixtures.js";
import {
  boundParams,
  calledArns,
  hang,
  mockDataApi,
  onlyStatement,
  seededTable,
  statements,
} from "../helpers/unit-data-api.js";

const mock = mockDataApi();
beforeEach(() => {
  mock.reset();
});
afterAll(() => {
  mock.restore();
});

const onShard = (resourceArn: string) => mock.on(ExecuteStatementCommand, { resourceArn });
const resuming = () => new DatabaseResumingException({ message: "cluster is resuming", $metadata: {} });
const WRITE_HEAD = `WITH admitted AS (SELECT statement_timestamp() <= (:deadline AT TIME ZONE 'UTC') AND sharding.admit_write(:id) AND set_config('sharding.commit_by', :commitBy, true) <> '' AS in_time), written AS (`;
const FENCED_ONE = (table: string) =>
  `SELECT id, name FROM "${table}" WHERE id = :id AND (SELECT sharding.admit_read(:owned, :unowned))`;
const CHECK = "SELECT (SELECT sharding.admit_read(:owned, :unowned)) AS ok";
const TAIL = " RETURNING 1) SELECT in_time, (SELECT count(*) FROM written)::int AS changed FROM admitted";
/** The Data API's TIMESTAMP type hint format, in UTC. */
const TIMESTAMP = /^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{3}$/;
const COMMIT_BY = /^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{3}\+00$/;
const HOSTILE = 'Robert\'); DROP TABLE data_1;-- "quoted" :id';

async function rejection(promise: Promise<unknown>): Promise<unknown> {
  try {
    await promise;
  } catch (err) {
    return err;
  }
  throw new Error("expected a rejection");
}

describe("ShardedTable.get", () => {
  it.each(BOUNDARY_OWNERS)("reads id %i from shard %i only", async (id, shard) => {
    const { table } = seededTable(mock);
    const result = await table.get(id);
    expect(result).toEqual({
      item: { id, name: `Test ${id}` },
      shard,
      shards: [{ shard, status: "ok", count: 1, ms: expect.any(Number) }],
    });
    expect(calledArns(mock)).toEqual([SHARD_ARNS[shard]]);
    const st = onlyStatement(mock);
    expect(st.sql).toBe(FENCED_ONE("data_1"));
    // What the caller believes the shard owns, which the shard's fence checks.
    expect(boundParams(st)).toEqual({ id, owned: `{[${id},${id}]}`, unowned: "{}" });
  });

  it("reads from the configured table name", async () => {
    const { table } = seededTable(mock, { TABLE_NAME: "Data_2" });
    await table.get(1);
    expect(onlyStatement(mock).sql).toBe(FENCED_ONE("Data_2"));
  });

  it("throws a RowAbsentError naming the shard when the owning shard answered without the row", async () => {
    const { table, stores } = seededTable(mock);
    stores.get(2)?.delete(15);
    const err = await rejection(table.get(15));
    expect(err).toBeInstanceOf(RowAbsentError);
    // A RowNotFoundError, as a replace or delete of a missing row: http/ answers both with 404 not_found.
    expect(err).toBeInstanceOf(RowNotFoundError);
    expect(err).toMatchObject({
      message: "id 15 does not exist",
      id: 15,
      shard: 2,
      shards: [{ shard: 2, status: "ok", count: 0, ms: expect.any(Number) }],
    });
    expect(err).not.toHaveProperty("status");
  });

  it("ignores a row for another id that the shard returned by mistake", async () => {
    const { table } = seededTable(mock);
    onShard(ARN_2).resolves({ formattedRecords: '[{"id":16,"name":"Test 16"}]' });
    expect(await rejection(table.get(15))).toBeInstanceOf(RowAbsentError);
  });

  const OUTSIDE = [61, 0, -1, 1000, -2_147_483_648];
  // The answer (404 id_out_of_range) is http/'s choice: app.test.ts, "GET /data/{id}".
  it.each(OUTSIDE)(
    "throws an IdOutOfRangeError for id %i, outside the map, once shard 1 vouched for it",
    async (id) => {
      const { table } = seededTable(mock);
      const err = await rejection(table.get(id));
      expect(err).toBeInstanceOf(IdOutOfRangeError);
      const message = `id ${id} is outside every shard's range`;
      expect(err).toMatchObject({ message, shards: [{ shard: 1, status: "ok", count: 0 }] });
      expect(err).not.toHaveProperty("status");
      const st = onlyStatement(mock);
      expect([st.resourceArn, st.sql]).toEqual([ARN_1, CHECK]);
      expect(boundParams(st)).toEqual({ owned: "{}", unowned: `{[${id},${id}]}` });
    },
  );

  // Unknown is not absent: the answer (503 shard_unavailable) is http/'s choice, app.test.ts "GET /data/{id}".
  it("throws a RowUnknownError with the shard's error when the owning shard fails", async () => {
    const { table } = seededTable(mock);
    onShard(ARN_3).rejects(resuming());
    const err = await rejection(table.get(55));
    expect(err).toBeInstanceOf(RowUnknownError);
    expect(err).not.toBeInstanceOf(RowNotFoundError);
    expect(err).toMatchObject({
      id: 55,
      shard: 3,
      shards: [{ shard: 3, status: "error", error: "DatabaseResumingException", ms: expect.any(Number) }],
      retryAfterMs: undefined,
    });
  });

  it("throws a RowUnknownError with a timeout when the owning shard hangs", async () => {
    const { table } = seededTable(mock, { SHARD_TIMEOUT_MS: "30" });
    onShard(ARN_1).callsFake(hang);
    const err = await rejection(table.get(5));
    expect(err).toBeInstanceOf(RowUnknownError);
    expect(err).toMatchObject({
      shard: 1,
      shards: [{ shard: 1, status: "timeout", ms: expect.any(Number) }],
    });
  });

  it("reports a malformed answer as an error", async () => {
    const { table } = seededTable(mock);
    onShard(ARN_1).resolves({});
    expect(await rejection(table.get(5))).toMatchObject({
      name: "RowUnknownError",
      shards: [{ status: "error", error: "MalformedResultError" }],
    });
  });

  it("throws a RowUnknownError with the breaker's remaining cool-down when the owning shard's breaker is open", async () => {
    const { table } = seededTable(mock, { BREAKER_FAILURE_THRESHOLD: "1" });
    onShard(ARN_1).rejects(resuming());
    await rejection(table.get(5));
    const err = (await rejection(table.get(5))) as RowUnknownError;
    expect(err).toBeInstanceOf(RowUnknownError);
    expect(err).toMatchObject({
      shard: 1,
      shards: [{ shard: 1, status: "unavailable", reason: "circuit_open" }],
    });
    expect(err.retryAfterMs).toBeGreaterThan(0);
    expect(err.shards[0]).toMatchObject({ retryAfterMs: err.retryAfterMs });
  });
});

describe("ShardedTable.create", () => {
  it("inserts on the owning shard only, with every value bound as a parameter", async () => {
    const { table, stores } = seededTable(mock);
    stores.get(2)?.delete(45);
    const result = await table.create({ id: 45, name: HOSTILE });
    expect(result).toEqual({
      item: { id: 45, name: HOSTILE },
      shard: 2,
      shards: [{ shard: 2, status: "ok", count: 1, ms: expect.any(Number) }],
    });
    expect(calledArns(mock)).toEqual([ARN_2]);
    const st = onlyStatement(mock);
    expect(st.sql).toBe(
      `${WRITE_HEAD}INSERT INTO "data_1" (id, name) SELECT :id, :name WHERE (SELECT in_time FROM admitted) ON CONFLICT (id) DO NOTHING${TAIL}`,
    );
    expect(st.sql).not.toContain("Robert");
    expect(st.sql).not.toContain("45");
    expect(st.parameters).toEqual([
      { name: "id", value: { longValue: 45 } },
      { name: "name", value: { stringValue: HOSTILE } },
      { name: "deadline", value: { stringValue: expect.stringMatching(TIMESTAMP) }, typeHint: "TIMESTAMP" },
      { name: "commitBy", value: { stringValue: expect.stringMatching(COMMIT_BY) } },
    ]);
    expect(stores.get(2)?.get(45)).toBe(HOSTILE);
  });

  // The answer (409 duplicate_id) is http/'s choice: app.test.ts, "POST /data".
  it("throws a DuplicateIdError with the shard's report when the shard reports no row inserted", async () => {
    const { table } = seededTable(mock);
    const err = await rejection(table.create({ id: 5, name: "again" }));
    expect(err).toBeInstanceOf(DuplicateIdError);
    expect(err).toMatchObject({
      message: "id 5 already exists",
      shards: [{ shard: 1, status: "ok", count: 0, ms: expect.any(Number) }],
    });
    expect(err).not.toHaveProperty("status");
    expect(calledArns(mock)).toEqual([ARN_1]);
  });

  it("throws a DuplicateIdError only when the statement ran in time and inserted nothing", async () => {
    const { table } = seededTable(mock);
    onShard(ARN_3).resolves({ formattedRecords: '[{"in_time":true,"changed":0}]' });
    await expect(table.create({ id: 59, name: "x" })).rejects.toBeInstanceOf(DuplicateIdError);
  });

  it("never calls a write refused by its own deadline a duplicate: it is a 503 not_applied", async () => {
    const { table } = seededTable(mock);
    onShard(ARN_3).resolves({ formattedRecords: '[{"in_time":false,"changed":0}]' });
    const err = await rejection(table.create({ id: 59, name: "x" }));
    expect(err).toBeInstanceOf(ShardUnavailableError);
    expect(err).toMatchObject({ shard: 3, reason: "deadline", outcome: "not_applied" });
  });

  it("gives each write a deadline that leaves its statement timeout and a safety margin before the shard timeout", async () => {
    const { table, stores } = seededTable(mock, { SHARD_TIMEOUT_MS: "2000" });
    stores.get(2)?.delete(45);
    const before = Date.now();
    await table.create({ id: 45, name: "x" });
    const deadline = Date.parse(`${String(boundParams(onlyStatement(mock)).deadline).replace(" ", "T")}Z`);
    // 2000 ms - 500 ms statement timeout - 300 ms safety: the write must start within 1200 ms of sending.
    expect(deadline - before).toBeGreaterThanOrEqual(1200);
    expect(deadline - Date.now()).toBeLessThanOrEqual(1200);
    // And have committed within its statement timeout after that: 300 ms before the function's own deadline.
    const commitBy = Date.parse(
      `${String(boundParams(onlyStatement(mock)).commitBy)
        .replace(" ", "T")
        .replace("+00", "Z")}`,
    );
    expect(commitBy - deadline).toBe(500);
  });

  // The answer (422 id_out_of_range for writes) is http/'s choice: app.test.ts, "POST /data".
  it.each([61, 0, -7])(
    "throws an IdOutOfRangeError for id %i, outside the map, once shard 1 vouched for it, writing nothing",
    async (id) => {
      const { table } = seededTable(mock);
      const err = await rejection(table.create({ id, name: "x" }));
      expect(err).toBeInstanceOf(IdOutOfRangeError);
      expect(err).toMatchObject({ message: `id ${id} is outside every shard's range` });
      expect(statements(mock).map((st) => st.sql)).toEqual([CHECK]);
    },
  );

  it("throws ShardUnavailableError naming the shard and the error when the shard fails", async () => {
    const { table } = seededTable(mock, { SHARD_TIMEOUT_MS: "300" });
    onShard(ARN_2).rejects(resuming());
    const err = await rejection(table.create({ id: 12, name: "x" }));
    expect(err).toBeInstanceOf(ShardUnavailableError);
    expect(err).toMatchObject({
      shard: 2,
      reason: "DatabaseResumingException",
      outcome: "unknown",
      message: "shard 2 is unavailable: DatabaseResumingException",
      shards: [{ shard: 2, status: "error", error: "DatabaseResumingException", ms: expect.any(Number) }],
    });
  });

  it("throws ShardUnavailableError when the shard answers without a result row, which confirms nothing", async () => {
    const { table } = seededTable(mock, { SHARD_TIMEOUT_MS: "300" });
    onShard(ARN_2).resolves({ formattedRecords: "[]", numberOfRecordsUpdated: 1 });
    const err = await rejection(table.replace(12, "x"));
    expect(err).toBeInstanceOf(ShardUnavailableError);
    expect(err).toMatchObject({ shard: 2, reason: "MalformedResultError", outcome: "unknown" });
  });

  it("answers an unknown outcome only once the write can no longer commit: at its shard deadline", async () => {
    const { table } = seededTable(mock, { SHARD_TIMEOUT_MS: "300" });
    onShard(ARN_2).rejects(Object.assign(new Error("socket hang up"), { code: "ECONNRESET" }));
    const started = performance.now();
    const err = await rejection(table.create({ id: 12, name: "x" }));
    expect(err).toMatchObject({ reason: "ECONNRESET", outcome: "unknown" });
    expect(performance.now() - started).toBeGreaterThanOrEqual(290);
  });

  it("calls a refused connection not_applied, and answers it at once", async () => {
    const { table } = seededTable(mock, { SHARD_TIMEOUT_MS: "2000" });
    onShard(ARN_2).rejects(Object.assign(new Error("connect ECONNREFUSED"), { code: "ECONNREFUSED" }));
    const started = performance.now();
    await expect(table.create({ id: 12, name: "x" })).rejects.toMatchObject({ outcome: "not_applied" });
    expect(performance.now() - started).toBeLessThan(500);
  });

  it("never sends a write whose deadline passed before its turn to send, and calls it not_applied", async () => {
    const { config, clients } = seededTable(mock, { SHARD_TIMEOUT_MS: "2000" });
    let wall = 1_000_000;
    // The wall clock jumps past the deadline between arming the call and sending it (a stalled process).
    const table = new ShardedTable({ config, clients, wallClock: () => (wall += 5000) });
    await expect(table.remove(11)).rejects.toMatchObject({
      outcome: "not_applied",
      reason: "WriteNotSentError",
    });
    expect(mock).toHaveReceivedCommandTimes(ExecuteStatementCommand, 0);
  });

  it("throws ShardUnavailableError with reason timeout and outcome unknown when the shard hangs", async () => {
    const { table } = seededTable(mock, { SHARD_TIMEOUT_MS: "300" });
    onShard(ARN_2).callsFake(hang);
    const err = await rejection(table.create({ id: 12, name: "x" }));
    expect(err).toBeInstanceOf(ShardUnavailableError);
    expect(err).toMatchObject({ shard: 2, reason: "timeout", outcome: "unknown" });
  });

  it("sends writes through the write client, which makes a single attempt, and reads through the read client", async () => {
    const { table, clients, stores } = seededTable(mock);
    stores.get(1)?.delete(1);
    await table.create({ id: 1, name: "x" });
    await table.get(1);
    expect(mock.call(0).thisValue).toBe(clients.write.get(1));
    expect(mock.call(1).thisValue).toBe(clients.read.get(1));
    expect(await clients.write.get(1)?.config.maxAttempts()).toBe(1);
    expect(await clients.read.get(1)?.config.maxAttempts()).toBe(2);
  });
});

describe("ShardedTable.replace", () => {
  it("updates the row on the owning shard only, with bound parameters", async () => {
    const { table, stores } = seededTable(mock);
    const result = await table.replace(33, HOSTILE);
    expect(result).toEqual({
      item: { id: 33, name: HOSTILE },
      shard: 1,
      shards: [{ shard: 1, status: "ok", count: 1, ms: expect.any(Number) }],
    });
    expect(calledArns(mock)).toEqual([ARN_1]);
    const st = onlyStatement(mock);
    expect(st.sql).toBe(
      `${WRITE_HEAD}UPDATE "data_1" SET name = :name WHERE id = :id AND (SELECT in_time FROM admitted)${TAIL}`,
    );
    expect(st.sql).not.toContain("Robert");
    expect(boundParams(st)).toEqual({
      id: 33,
      name: HOSTILE,
      deadline: expect.stringMatching(TIMESTAMP),
      commitBy: expect.stringMatching(COMMIT_BY),
    });
    expect(stores.get(1)?.get(33)).toBe(HOSTILE);
  });

  // The answer (404 not_found) is http/'s choice: app.test.ts, "PUT /data/{id}".
  it("throws a RowNotFoundError with the shard's report when no row has the id", async () => {
    const { table, stores } = seededTable(mock);
    stores.get(3)?.delete(25);
    const err = await rejection(table.replace(25, "x"));
    expect(err).toBeInstanceOf(RowNotFoundError);
    expect(err).toMatchObject({
      message: "id 25 does not exist",
      shards: [{ shard: 3, status: "ok", count: 0, ms: expect.any(Number) }],
    });
  });

  it("throws an IdOutOfRangeError for an id outside the map, writing nothing", async () => {
    const { table } = seededTable(mock);
    await expect(table.replace(61, "x")).rejects.toBeInstanceOf(IdOutOfRangeError);
    expect(statements(mock).map((st) => st.sql)).toEqual([CHECK]);
  });

  it("throws ShardUnavailableError on an error or a timeout", async () => {
    const { table } = seededTable(mock, { SHARD_TIMEOUT_MS: "300" });
    onShard(ARN_1).rejects(new ServiceUnavailableError({ message: "x", $metadata: {} }));
    onShard(ARN_3).callsFake(hang);
    const unavailable = { shard: 1, reason: "ServiceUnavailableError" };
    await expect(table.replace(1, "x")).rejects.toMatchObject(unavailable);
    await expect(table.replace(21, "x")).rejects.toMatchObject({ shard: 3, reason: "timeout" });
    await expect(table.replace(21, "x")).rejects.toBeInstanceOf(ShardUnavailableError);
  });
});

describe("ShardedTable.remove", () => {
  it("deletes the row on the owning shard only", async () => {
    const { table, stores } = seededTable(mock);
    expect(await table.remove(60)).toEqual({
      shard: 3,
      shards: [{ shard: 3, status: "ok", count: 1, ms: expect.any(Number) }],
    });
    expect(calledArns(mock)).toEqual([ARN_3]);
    const st = onlyStatement(mock);
    expect(st.sql).toBe(
      `${WRITE_HEAD}DELETE FROM "data_1" WHERE id = :id AND (SELECT in_time FROM admitted)${TAIL}`,
    );
    expect(boundParams(st)).toEqual({
      id: 60,
      deadline: expect.stringMatching(TIMESTAMP),
      commitBy: expect.stringMatching(COMMIT_BY),
    });
    expect(stores.get(3)?.has(60)).toBe(false);
  });

  it("throws a RowNotFoundError when no row has the id", async () => {
    const { table } = seededTable(mock);
    await table.remove(60);
    await expect(table.remove(60)).rejects.toBeInstanceOf(RowNotFoundError);
    await expect(table.remove(60)).rejects.toMatchObject({ message: "id 60 does not exist" });
  });

  it("throws an IdOutOfRangeError for an id outside the map, writing nothing", async () => {
    const { table } = seededTable(mock);
    await expect(table.remove(0)).rejects.toBeInstanceOf(IdOutOfRangeError);
    expect(statements(mock).map((st) => st.sql)).toEqual([CHECK]);
  });

  it("throws ShardUnavailableError when the shard fails", async () => {
    const { table } = seededTable(mock);
    onShard(ARN_2).rejects(Object.assign(new Error("connect ECONNREFUSED"), { code: "ECONNREFUSED" }));
    await expect(table.remove(11)).rejects.toMatchObject({
      shard: 2,
      reason: "ECONNREFUSED",
      outcome: "not_applied",
    });
  });
});

describe("a shard the map names but the function cannot reach", () => {
  it("is missing data for reads, reported as ShardNotConfigured, when it has no client", async () => {
    const { config, clients } = seededTable(mock);
    const read = new Map(clients.read);
    read.delete(2);
    const table = new ShardedTable({ config, clients: { read, write: clients.write } });
    const page = await table.list({ limit: 10 });
    expect(page.partial).toBe(true);
    expect(page.shards[1]).toEqual({ shard: 2, status: "error", error: "ShardNotConfigured", ms: 0 });
  });

  it("refuses writes not_applied when it has no coordinates (a shard added by a deploy this instance predates)", async () => {
    const { config, clients } = seededTable(mock);
    const table = new ShardedTable({
      config: { ...config, shards: config.shards.filter((s) => s.id !== 2) },
      clients,
    });
    await expect(table.get(15)).rejects.toMatchObject({
      name: "RowUnknownError",
      shard: 2,
      shards: [{ error: "ShardNotConfigured" }],
    });
    await expect(table.remove(15)).rejects.toMatchObject({
      shard: 2,
      reason: "ShardNotConfigured",
      outcome: "not_applied",
    });
  });
});

describe("createShardClients", () => {
  it("gives every shard clients of its own, so one failing shard cannot use up the others' retry quota", () => {
    const clients = createShardClients(testConfig());
    const reads = [...clients.read.values()];
    const writes = [...clients.write.values()];
    expect(new Set([...reads, ...writes]).size).toBe(6);
  });
});
