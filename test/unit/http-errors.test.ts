import { Logger } from "@aws-lambda-powertools/logger";
import { describe, expect, it } from "vitest";
import {
  DuplicateIdError,
  IdOutOfRangeError,
  RowAbsentError,
  RowNotFoundError,
  RowUnknownError,
  ShardUnavailableError,
} from "../../functions/core/errors.js";
import type { ShardReport } from "../../functions/core/shard-call.js";
import { ClientError, errorResult } from "../../functions/http/errors.js";

const logger = new Logger({ logLevel: "SILENT" });
const OK_NONE: ShardReport[] = [{ shard: 2, status: "ok", count: 0, ms: 3 }];

function answer(err: unknown, method = "POST") {
  const { response, shards } = errorResult(err, method, logger);
  return {
    status: response.statusCode,
    body: JSON.parse(String(response.body)),
    headers: response.headers,
    shards,
  };
}

describe("errorResult: the core's errors as HTTP answers (http/ alone chooses statuses)", () => {
  it("answers an id no shard holds with 404 on a read and 422 on a write, touching no shard", () => {
    const err = new IdOutOfRangeError("id 61 is outside every shard's range");
    const error = { code: "id_out_of_range", message: "id 61 is outside every shard's range" };
    expect(answer(err, "GET")).toMatchObject({ status: 404, body: { error }, shards: [] });
    for (const method of ["POST", "PUT", "DELETE"]) {
      expect(answer(err, method)).toMatchObject({ status: 422, body: { error }, shards: [] });
    }
  });

  it("answers a duplicate id with 409 and a missing row with 404, with the owning shard's report", () => {
    expect(answer(new DuplicateIdError("id 5 already exists", OK_NONE))).toEqual({
      status: 409,
      body: { error: { code: "duplicate_id", message: "id 5 already exists" } },
      headers: expect.any(Object),
      shards: OK_NONE,
    });
    expect(answer(new RowNotFoundError("id 25 does not exist", OK_NONE), "PUT")).toEqual({
      status: 404,
      body: { error: { code: "not_found", message: "id 25 does not exist" } },
      headers: expect.any(Object),
      shards: OK_NONE,
    });
  });

  it("answers a point read of an absent row with 404 not_found naming the shard asked and its report", () => {
    expect(answer(new RowAbsentError(15, 2, OK_NONE), "GET")).toEqual({
      status: 404,
      body: { error: { code: "not_found", message: "id 15 does not exist" }, shard: 2, shards: OK_NONE },
      headers: expect.any(Object),
      shards: OK_NONE,
    });
  });

  it("answers a point read whose shard did not answer with 503 shard_unavailable, its shard, report and retry-after", () => {
    const failed: ShardReport[] = [{ shard: 3, status: "error", error: "DatabaseResumingException", ms: 4 }];
    const res = answer(new RowUnknownError(55, 3, failed), "GET");
    expect(res).toEqual({
      status: 503,
      body: {
        error: {
          code: "shard_unavailable",
          message: "id 55 could not be read: shard 3 did not answer; retry later",
        },
        shard: 3,
        shards: failed,
      },
      headers: expect.objectContaining({ "retry-after": "1" }),
      shards: failed,
    });
    const open: ShardReport[] = [
      { shard: 3, status: "unavailable", reason: "circuit_open", lastFailure: "timeout", retryAfterMs: 4200 },
    ];
    expect(answer(new RowUnknownError(55, 3, open, 4200), "GET").headers["retry-after"]).toBe("5");
  });

  it("answers an unconfirmed write with 503, its outcome, its shard, retry-after and the shard's report", () => {
    const failed: ShardReport[] = [{ shard: 3, status: "timeout", ms: 300 }];
    const res = answer(new ShardUnavailableError(3, "timeout", "unknown", failed));
    expect(res).toMatchObject({ status: 503, body: { outcome: "unknown", shard: 3 }, shards: failed });
    expect(res.body.error.code).toBe("shard_unavailable");
    expect(res.headers["retry-after"]).toBe("1");
    const open = answer(new ShardUnavailableError(3, "circuit_open", "not_applied", [], 4200));
    expect(open.headers["retry-after"]).toBe("5");
  });

  it("answers a client error with its own status and code", () => {
    expect(
      answer(new ClientError(415, "unsupported_media_type", "content-type: must be application/json")),
    ).toEqual({
      status: 415,
      body: { error: { code: "unsupported_media_type", message: "content-type: must be application/json" } },
      headers: expect.any(Object),
      shards: [],
    });
  });

  it("answers anything else with a generic 500 that reveals nothing", () => {
    const res = answer(new Error("connection string postgres://secret@host"));
    expect(res).toMatchObject({ status: 500, body: { error: { code: "internal_error" } }, shards: [] });
    expect(JSON.stringify(res.body)).not.toContain("secret");
  });

  it("leaves the core's errors without an HTTP status or code: http/ chooses them", () => {
    for (const err of [
      new IdOutOfRangeError("x"),
      new DuplicateIdError("x", []),
      new RowNotFoundError("x", []),
      new RowAbsentError(1, 1, []),
      new RowUnknownError(1, 1, []),
      new ShardUnavailableError(1, "timeout", "unknown", []),
    ]) {
      expect(err).not.toHaveProperty("status");
      expect(err).not.toHaveProperty("code");
    }
  });
});
