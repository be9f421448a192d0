/**
 * The client's types (`client/types.ts`) are written by hand from `openapi.yaml`; this test keeps them the contract's.
 * TypeScript checks each table below against the types (`satisfies Presence<T>`: every property, none extra, and
 * whether it is optional); the test checks the same tables against the document's schemas (their `properties` and
 * `required`), every `status`, `outcome` and error `code` value, the query parameters, and validates values of the
 * types against the schemas with Ajv. A property added to a schema, or to a type, fails here.
 */
import { describe, expect, it } from "vitest";
import {
  type CreateRow,
  type ErrorCode,
  type ErrorDetail,
  type GatewayMessage,
  type GetNotFound,
  type GetResult,
  type GetUnavailable,
  type Health,
  type ListQuery,
  type ListResult,
  MAX_ID,
  MIN_ID,
  type ReplaceRow,
  type Row,
  type ShardError,
  type ShardOk,
  type ShardReport,
  type ShardSkipped,
  type ShardTimeout,
  type ShardUnavailable,
  type WriteOutcome,
  type WriteUnavailable,
} from "../../client/index.js";
import { contract, resolvePointer, schemaErrors } from "../helpers/openapi-contract.js";

/** For each property of T: whether the type makes it optional. Exact: a missing or extra key does not compile. */
type Presence<T> = { [K in keyof T]-?: object extends Pick<T, K> ? "optional" : "required" };

type Schema = {
  properties?: Record<string, unknown>;
  required?: string[];
  $ref?: string;
  const?: unknown;
  enum?: unknown[];
  allOf?: Schema[];
  oneOf?: Schema[];
  discriminator?: { mapping: Record<string, string> };
};
const schema = (name: string): Schema => {
  let s = resolvePointer(contract, `#/components/schemas/${name}`) as Schema;
  while (s.$ref) s = resolvePointer(contract, s.$ref) as Schema;
  return s;
};

/** Every object type of the client, by the schema it stands for. */
const PRESENCE: Record<string, Record<string, "optional" | "required">> = {
  Row: { id: "required", name: "required" } satisfies Presence<Row>,
  CreateRow: { id: "required", name: "required" } satisfies Presence<CreateRow>,
  ReplaceRow: { id: "optional", name: "required" } satisfies Presence<ReplaceRow>,
  ShardOk: {
    shard: "required",
    status: "required",
    count: "required",
    ms: "required",
  } satisfies Presence<ShardOk>,
  ShardTimeout: { shard: "required", status: "required", ms: "required" } satisfies Presence<ShardTimeout>,
  ShardError: {
    shard: "required",
    status: "required",
    error: "required",
    ms: "required",
  } satisfies Presence<ShardError>,
  ShardSkipped: { shard: "required", status: "required" } satisfies Presence<ShardSkipped>,
  ShardUnavailable: {
    shard: "required",
    status: "required",
    reason: "required",
    lastFailure: "required",
    retryAfterMs: "required",
  } satisfies Presence<ShardUnavailable>,
  ListResult: {
    items: "required",
    next: "required",
    partial: "required",
    shards: "required",
  } satisfies Presence<ListResult>,
  GetResult: { item: "required", shard: "required" } satisfies Presence<GetResult>,
  WriteResult: { item: "required", shard: "required" } satisfies Presence<GetResult>,
  Health: { status: "required" } satisfies Presence<Health>,
  ErrorDetail: { code: "required", message: "required" } satisfies Presence<ErrorDetail>,
  GetUnavailable: {
    error: "required",
    shard: "required",
    shards: "required",
  } satisfies Presence<GetUnavailable>,
  GetNotFound: { error: "required", shard: "required", shards: "required" } satisfies Presence<GetNotFound>,
  ShardUnavailableError: {
    error: "required",
    outcome: "required",
    shard: "required",
  } satisfies Presence<WriteUnavailable>,
  GatewayMessage: { message: "required" } satisfies Presence<GatewayMessage>,
};

/** Every value of the unions, as records: a value missing from the type or the table does not compile. */
const STATUSES = {
  ok: "ShardOk",
  timeout: "ShardTimeout",
  error: "ShardError",
  skipped: "ShardSkipped",
  unavailable: "ShardUnavailable",
} satisfies Record<ShardReport["status"], string>;
const OUTCOMES = { not_applied: true, unknown: true } satisfies Record<WriteOutcome, true>;
const ERROR_CODES = {
  invalid_query: true,
  invalid_id: true,
  invalid_json: true,
  invalid_body: true,
  invalid_encoding: true,
  not_found: true,
  id_out_of_range: true,
  duplicate_id: true,
  body_too_large: true,
  unsupported_media_type: true,
  unsupported_charset: true,
  shard_unavailable: true,
  internal_error: true,
  route_not_found: true,
  method_not_allowed: true,
} satisfies Record<ErrorCode, true>;
const QUERY = {
  limit: "optional",
  after: "optional",
  from: "optional",
  to: "optional",
} satisfies Presence<ListQuery>;

describe("client/types.ts against openapi.yaml", () => {
  it.each(Object.entries(PRESENCE))(
    "%s has exactly the schema's properties, required as the schema says",
    (name, presence) => {
      const s = schema(name);
      expect(Object.keys(s.properties ?? {}).sort()).toEqual(Object.keys(presence).sort());
      const required = Object.entries(presence)
        .filter(([, p]) => p === "required")
        .map(([k]) => k)
        .sort();
      expect([...(s.required ?? [])].sort()).toEqual(required);
    },
  );

  it("every object schema the responses and bodies use has a client type", () => {
    const objects = Object.entries((contract.components as { schemas: Record<string, Schema> }).schemas)
      .filter(([, s]) => s.properties !== undefined)
      // Each `*Error` body is `{error: ErrorDetail & {code}}`: the client's `ErrorBody`, its codes in `ErrorCode`.
      .filter(([name]) => !/Error$/.test(name) || name === "ShardError" || name === "ShardUnavailableError")
      .map(([name]) => name);
    expect(objects.filter((name) => !(name in PRESENCE))).toEqual([]);
  });

  it("ShardReport's statuses are the discriminator's, each schema's const", () => {
    const report = schema("ShardReport");
    const mapping = report.discriminator?.mapping ?? {};
    expect(Object.keys(mapping).sort()).toEqual(Object.keys(STATUSES).sort());
    for (const [status, name] of Object.entries(STATUSES)) {
      expect(mapping[status]).toBe(`#/components/schemas/${name}`);
      expect(schema(name).properties?.status).toEqual({ const: status });
    }
    expect(schema("ShardUnavailable").properties?.reason).toEqual({ const: "circuit_open" });
  });

  it("a write's outcomes are the schema's enum", () => {
    const outcome = schema("ShardUnavailableError").properties?.outcome as Schema;
    expect([...(outcome.enum ?? [])].sort()).toEqual(Object.keys(OUTCOMES).sort());
  });

  it("ErrorCode holds every code an error schema pins, and no other", () => {
    const codes = new Set<string>();
    const visit = (node: unknown) => {
      if (Array.isArray(node)) node.forEach(visit);
      else if (node && typeof node === "object") {
        const code = (node as { properties?: { code?: Schema } }).properties?.code;
        if (code?.const !== undefined) codes.add(String(code.const));
        for (const value of code?.enum ?? []) codes.add(String(value));
        Object.values(node).forEach(visit);
      }
    };
    visit((contract.components as { schemas: unknown }).schemas);
    expect([...codes].sort()).toEqual(Object.keys(ERROR_CODES).sort());
  });

  it("ListQuery is listData's query parameters; MIN_ID and MAX_ID are the Id schema's bounds", () => {
    const list = (contract.paths as Record<string, { get: { parameters: { $ref: string }[] } }>)["/data"]
      ?.get;
    const params = (list?.parameters ?? []).map(
      (p) =>
        resolvePointer(contract, p.$ref) as {
          name: string;
          required: boolean;
          schema: Schema & { minimum?: number };
        },
    );
    expect(params.map((p) => p.name).sort()).toEqual(Object.keys(QUERY).sort());
    expect(params.every((p) => p.required === false)).toBe(true);
    const id = schema("Id") as { minimum?: number; maximum?: number };
    expect([id.minimum, id.maximum]).toEqual([MIN_ID, MAX_ID]);
    expect(params.find((p) => p.name === "after")?.schema.minimum).toBe(MIN_ID - 1);
  });

  it("values of the client's types validate against the schemas, and the schemas refuse what the types refuse", () => {
    const page: ListResult = {
      items: [
        { id: 1, name: "Test 1" },
        { id: 2, name: null },
      ],
      next: 2,
      partial: true,
      shards: [
        { shard: 1, status: "ok", count: 2, ms: 3 },
        { shard: 2, status: "timeout", ms: 2000 },
        { shard: 3, status: "error", error: "ShardMapChanged", ms: 4 },
        { shard: 4, status: "skipped" },
        {
          shard: 5,
          status: "unavailable",
          reason: "circuit_open",
          lastFailure: "timeout",
          retryAfterMs: 4000,
        },
      ],
    };
    const got: GetResult = { item: { id: 42, name: "Test 42" }, shard: 2 };
    const create: CreateRow = { id: 7, name: "Seven" };
    const replace: ReplaceRow = { name: "Sieben" };
    const unavailable: WriteUnavailable = {
      error: { code: "shard_unavailable", message: "shard 1 did not answer" },
      outcome: "unknown",
      shard: 1,
    };
    const getUnavailable: GetUnavailable = {
      error: { code: "shard_unavailable", message: "shard 2 did not answer" },
      shard: 2,
      shards: [{ shard: 2, status: "timeout", ms: 2000 }],
    };
    const notFound: GetNotFound = {
      error: { code: "not_found", message: "no row 9" },
      shard: 1,
      shards: [{ shard: 1, status: "ok", count: 0, ms: 1 }],
    };
    const health: Health = { status: "ok" };
    const samples: [string, unknown][] = [
      ["ListResult", page],
      ["GetResult", got],
      ["WriteResult", got],
      ["CreateRow", create],
      ["ReplaceRow", replace],
      ["ShardUnavailableError", unavailable],
      ["GetUnavailable", getUnavailable],
      ["GetNotFound", notFound],
      ["Health", health],
    ];
    for (const [name, value] of samples) expect(schemaErrors(name, value), name).toBeNull();
    // The schemas are closed: a property the types lack would be refused, so the tables above must be exact.
    expect(schemaErrors("Row", { id: 1, name: "x", extra: 1 })).not.toBeNull();
    expect(schemaErrors("ShardReport", { shard: 1, status: "ok", ms: 1 })).not.toBeNull();
  });
});
