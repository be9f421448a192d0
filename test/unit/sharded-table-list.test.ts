import {
  AccessDeniedException,
  BadRequestException,
  DatabaseErrorException,
  DatabaseNotFoundException,
  DatabaseResumingException,
  DatabaseUnavailableException,
  ExecuteStatementCommand,
  ForbiddenException,
  HttpEndpointNotEnabledException,
  InternalServerErrorException,
  InvalidResourceStateException,
  InvalidSecretException,
  NotFoundException,
  RDSDataServiceException,
  SecretsErrorException,
  ServiceUnavailableError,
  StatementTimeoutException,
  TransactionNotFoundException,
  UnsupportedResultException,
} from "@aws-sdk/client-rds-data";
import { afterAll, beforeEach, describe, expect, it } from "vitest";
import type { ShardReport } from "../../functions/core/shard-call.js";
import { ARN_1, ARN_2, ARN_3, SEED_ROWS, SHARD_ARNS, seedIdsOf } from "../helpers/fixtures.js";
import { formatted, hang, mockDataApi, seededTable } from "../helpers/unit-data-api.js";

const mock = mockDataApi();
beforeEach(() => {
  mock.reset();
});
afterAll(() => {
  mock.restore();
});

/** Every exception the RDS Data API model defines, built as the SDK's deserializer would build it. */
const DATA_API_ERRORS = {
  AccessDeniedException,
  BadRequestException,
  DatabaseErrorException,
  DatabaseNotFoundException,
  DatabaseResumingException,
  DatabaseUnavailableException,
  ForbiddenException,
  HttpEndpointNotEnabledException,
  InternalServerErrorException,
  InvalidResourceStateException,
  InvalidSecretException,
  NotFoundException,
  SecretsErrorException,
  ServiceUnavailableError,
  StatementTimeoutException,
  TransactionNotFoundException,
  UnsupportedResultException,
};

const SECRET = "internal detail: host 10.0.3.7, user admin";

/** How a shard can fail, and what its report must say about it. */
type Failure = [
  label: string,
  install: (resourceArn: string) => void,
  expected: { status: "timeout" } | { status: "error"; error: string },
];

const onShard = (resourceArn: string) => mock.on(ExecuteStatementCommand, { resourceArn });

/** A Node.js system error, as the HTTP handler rejects with when a socket fails. */
const systemError = (message: string, code: string) =>
  Object.assign(new Error(`${message} ${SECRET}`), { code });

const FAILURES: Failure[] = [
  ...Object.entries(DATA_API_ERRORS).map(
    ([name, ErrorClass]): Failure => [
      name,
      (arn) => onShard(arn).rejects(new ErrorClass({ message: `${name}: ${SECRET}`, $metadata: {} })),
      { status: "error", error: name },
    ],
  ),
  [
    "a refused connection",
    (arn) => onShard(arn).rejects(systemError("connect ECONNREFUSED", "ECONNREFUSED")),
    { status: "error", error: "ECONNREFUSED" },
  ],
  [
    "a reset socket",
    (arn) => onShard(arn).rejects(systemError("socket hang up", "ECONNRESET")),
    { status: "error", error: "ECONNRESET" },
  ],
  ["a hang past the timeout", (arn) => onShard(arn).callsFake(hang), { status: "timeout" }],
  [
    "a result without formattedRecords",
    (arn) => onShard(arn).resolves({ numberOfRecordsUpdated: 0 }),
    { status: "error", error: "MalformedResultError" },
  ],
  [
    "records whose id is a string",
    (arn) => onShard(arn).resolves({ formattedRecords: '[{"id":"1","name":"Test 1"}]' }),
    { status: "error", error: "MalformedResultError" },
  ],
  [
    "records whose name is a number",
    (arn) => onShard(arn).resolves({ formattedRecords: '[{"id":1,"name":1}]' }),
    { status: "error", error: "MalformedResultError" },
  ],
  [
    "records that are not JSON",
    (arn) => onShard(arn).resolves({ formattedRecords: "[{" }),
    { status: "error", error: "MalformedResultError" },
  ],
];

const shardOf = (arn: string) => Number(Object.entries(SHARD_ARNS).find(([, a]) => a === arn)?.[0]);

describe("gathering a page from every shard", () => {
  it("returns all 60 rows sorted by id when every shard answers", async () => {
    const { table } = seededTable(mock);
    const result = await table.list({ limit: 100 });
    expect(result.items).toEqual(SEED_ROWS);
    expect(result.next).toBeNull();
    expect(result.partial).toBe(false);
    expect(result.shards).toEqual([
      { shard: 1, status: "ok", count: 20, ms: expect.any(Number) },
      { shard: 2, status: "ok", count: 20, ms: expect.any(Number) },
      { shard: 3, status: "ok", count: 20, ms: expect.any(Number) },
    ]);
    expect(mock).toHaveReceivedCommandTimes(ExecuteStatementCommand, 3);
  });

  it("sends each shard its own cluster, secret and database", async () => {
    const { table } = seededTable(mock);
    await table.list({ limit: 5 });
    for (const n of [1, 2, 3]) {
      expect(mock).toHaveReceivedCommandWith(ExecuteStatementCommand, {
        resourceArn: SHARD_ARNS[n],
        secretArn: `arn:aws:secretsmanager:us-east-1:123456789012:secret:shard-${n}`,
        database: "app",
      });
    }
  });

  it("covers every exception class of the Data API model", async () => {
    const sdk: object = await import("@aws-sdk/client-rds-data");
    const defined = Object.entries(sdk)
      .filter(
        ([, value]) => typeof value === "function" && value.prototype instanceof RDSDataServiceException,
      )
      .map(([name]) => name)
      .sort();
    expect(Object.keys(DATA_API_ERRORS).sort()).toEqual(defined);
    expect(defined).toEqual(
      expect.arrayContaining([
        "DatabaseErrorException",
        "DatabaseResumingException",
        "StatementTimeoutException",
        "BadRequestException",
        "AccessDeniedException",
        "DatabaseNotFoundException",
        "InternalServerErrorException",
        "ServiceUnavailableError",
        "DatabaseUnavailableException",
      ]),
    );
  });

  describe.each([ARN_1, ARN_2, ARN_3])("when the shard behind %s fails", (arn) => {
    const failing = shardOf(arn);

    it.each(FAILURES)("with %s, returns the other shards' rows in order", async (_, install, expected) => {
      const { table } = seededTable(mock, { SHARD_TIMEOUT_MS: "50" });
      install(arn);
      const result = await table.list({ limit: 100 });

      const missing = new Set(seedIdsOf(failing));
      expect(result.items).toEqual(SEED_ROWS.filter((r) => !missing.has(r.id)));
      expect(result.items).toHaveLength(40);
      // Not the last page: the failed shard may hold later rows, so the walk resumes after the last row read.
      expect(result.next).toBe(result.items.at(-1)?.id);
      expect(result.partial).toBe(true);

      const reports = new Map(result.shards.map((s) => [s.shard, s]));
      expect(reports.get(failing)).toEqual({ shard: failing, ...expected, ms: expect.any(Number) });
      for (const other of [1, 2, 3].filter((n) => n !== failing)) {
        expect(reports.get(other)).toEqual({ shard: other, status: "ok", count: 20, ms: expect.any(Number) });
      }
      expect(JSON.stringify(result)).not.toContain("10.0.3.7");
      expect(mock).toHaveReceivedCommandTimes(ExecuteStatementCommand, 3);
    });
  });

  it("returns no items and partial: true when every shard fails, each in its own way", async () => {
    const { table } = seededTable(mock, { SHARD_TIMEOUT_MS: "50" });
    onShard(ARN_1).rejects(new DatabaseResumingException({ message: "waking", $metadata: {} }));
    onShard(ARN_2).callsFake(hang);
    onShard(ARN_3).resolves({});
    const result = await table.list({ limit: 100 });
    expect(result).toEqual({
      items: [],
      // Nothing was read, not even a shard's word that the ids below 1 have no owner (an assign may have given them to
      // a shard): following `next` asks again from the first id of all.
      next: -2_147_483_649,
      partial: true,
      shards: [
        { shard: 1, status: "error", error: "DatabaseResumingException", ms: expect.any(Number) },
        { shard: 2, status: "timeout", ms: expect.any(Number) },
        { shard: 3, status: "error", error: "MalformedResultError", ms: expect.any(Number) },
      ],
    });
  });

  it("returns no items, partial: true and its own cursor as next when every shard fails the same way", async () => {
    const { table } = seededTable(mock);
    const error = new InternalServerErrorException({ message: "x", $metadata: {} });
    mock.on(ExecuteStatementCommand).rejects(error);
    const result = await table.list({ limit: 10, after: 33 });
    expect(result.items).toEqual([]);
    expect(result.next).toBe(33);
    expect(result.partial).toBe(true);
    expect(result.shards.map((s) => s.status)).toEqual(["error", "error", "error"]);
  });

  it("is not partial when the only shards left out were skipped", async () => {
    const { table } = seededTable(mock);
    const result = await table.list({ limit: 100, from: 1, to: 10 });
    expect(result.partial).toBe(false);
    expect(result.items.map((r) => r.id)).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
    expect(result.shards).toEqual([
      { shard: 1, status: "ok", count: 10, ms: expect.any(Number) },
      { shard: 2, status: "skipped" },
      { shard: 3, status: "skipped" },
    ]);
  });

  it("is partial when a called shard failed even though others were skipped", async () => {
    const { table } = seededTable(mock);
    onShard(ARN_1).rejects(new DatabaseErrorException({ message: "x", $metadata: {} }));
    const result = await table.list({ limit: 100, from: 1, to: 10 });
    expect(result.partial).toBe(true);
    expect(result.items).toEqual([]);
    expect(result.shards.map((s: ShardReport) => s.status)).toEqual(["error", "skipped", "skipped"]);
  });

  it("drops rows a shard returns for ids it does not own, and duplicates", async () => {
    const { table } = seededTable(mock);
    onShard(ARN_1).resolves({
      formattedRecords: formatted([
        { id: 1, name: "Test 1" },
        { id: 1, name: "Test 1" },
        { id: 15, name: "not shard 1's" },
        { id: 99, name: "nobody's" },
        { id: 2, name: null },
      ]),
    });
    const result = await table.list({ limit: 100, to: 20 });
    expect(result.items.slice(0, 3)).toEqual([
      { id: 1, name: "Test 1" },
      { id: 2, name: null },
      { id: 11, name: "Test 11" },
    ]);
    expect(result.items.filter((r) => r.id === 15)).toEqual([{ id: 15, name: "Test 15" }]);
    expect(result.items.map((r) => r.id)).toEqual([1, 2, ...seedIdsOf(2).filter((id) => id <= 20)]);
    expect(result.shards[0]).toMatchObject({ shard: 1, status: "ok" });
  });

  it("sorts a shard's rows when the shard returns them out of order", async () => {
    const { table } = seededTable(mock);
    onShard(ARN_3).resolves({
      formattedRecords: formatted([53, 21, 60, 22].map((id) => ({ id, name: `Test ${id}` }))),
    });
    const result = await table.list({ limit: 100, from: 21 });
    const ids = result.items.map((r) => r.id);
    expect(ids.filter((id) => seedIdsOf(3).includes(id))).toEqual([21, 22, 53, 60]);
    expect(ids).toEqual([...ids].sort((a, b) => a - b));
  });

  describe("names what went wrong without revealing it", () => {
    const withCode = (error: Error, code: unknown) => Object.assign(error, { code });
    const named = (name: string) => Object.assign(new Error("x"), { name });

    it.each([
      ["an error's system code when it has one", withCode(new Error("x"), "ETIMEDOUT"), "ETIMEDOUT"],
      ["a TypeError's system code", withCode(new TypeError("fetch failed"), "EPIPE"), "EPIPE"],
      ["a plain TypeError's name", new TypeError("x is not a function"), "TypeError"],
      ["a named error's name over its code", withCode(new RangeError("x"), "EX"), "RangeError"],
      ["UnknownError for a name that is not a plain word", named("Bad name!"), "UnknownError"],
      ["UnknownError for a code that is not a plain word", withCode(new Error("x"), "E <b>"), "UnknownError"],
      ["the name of a plain Error with a non-string code", withCode(new Error("x"), 42), "Error"],
    ])("reports %s", async (_what, error, expected) => {
      const { table } = seededTable(mock);
      onShard(ARN_2).rejects(error);
      const result = await table.list({ limit: 1, from: 11, to: 11 });
      expect(result.shards[1]).toMatchObject({ shard: 2, status: "error", error: expected });
    });

    it("reports UnknownError for a rejection that is not an Error", async () => {
      const { table } = seededTable(mock);
      onShard(ARN_2).callsFake(() => Promise.reject("a string"));
      const result = await table.list({ limit: 1, from: 11, to: 11 });
      expect(result.shards[1]).toMatchObject({ shard: 2, status: "error", error: "UnknownError" });
    });
  });
});
