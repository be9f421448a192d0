/**
 * The API's request and response types, written from `openapi.yaml` (`#/components/schemas`, `#/components/parameters`).
 * The contract stays the one source: `test/unit/client-types.test.ts` checks every type here against the document
 * (each schema's properties and which are required, every `status`, `outcome` and error `code` value, the query
 * parameters and their bounds), and validates values of these types against the schemas with Ajv.
 */

/** `#/components/schemas/Id`: a signed 32-bit integer. */
export type Id = number;

/** The lowest and highest id (`#/components/schemas/Id`). */
export const MIN_ID = -2_147_483_648;
export const MAX_ID = 2_147_483_647;

/** `#/components/schemas/ShardId`. */
export type ShardId = number;

/** `#/components/schemas/Row`. */
export interface Row {
  id: Id;
  /** The column is nullable; rows written through this API always have a name. */
  name: string | null;
}

/** `#/components/schemas/CreateRow`: the body of `POST /data`. */
export interface CreateRow {
  id: Id;
  name: string;
}

/** `#/components/schemas/ReplaceRow`: the body of `PUT /data/{id}` (`id`, when given, must equal the path id). */
export interface ReplaceRow {
  id?: Id;
  name: string;
}

/** `#/components/schemas/ShardOk`. */
export interface ShardOk {
  shard: ShardId;
  status: "ok";
  count: number;
  ms: number;
}

/** `#/components/schemas/ShardTimeout`. */
export interface ShardTimeout {
  shard: ShardId;
  status: "timeout";
  ms: number;
}

/** `#/components/schemas/ShardError`. */
export interface ShardError {
  shard: ShardId;
  status: "error";
  /** The error's name: `DatabaseResumingException`, `ECONNREFUSED`, `ShardMapChanged`, `RangeFrozen`, … */
  error: string;
  ms: number;
}

/** `#/components/schemas/ShardSkipped`. */
export interface ShardSkipped {
  shard: ShardId;
  status: "skipped";
}

/** `#/components/schemas/ShardUnavailable`: not called, its circuit breaker is open. */
export interface ShardUnavailable {
  shard: ShardId;
  status: "unavailable";
  reason: "circuit_open";
  lastFailure: string;
  retryAfterMs: number;
}

/** `#/components/schemas/ShardReport`, discriminated by `status`. */
export type ShardReport = ShardOk | ShardTimeout | ShardError | ShardSkipped | ShardUnavailable;

/** The reports whose shard's rows are missing from the answer. */
export type FailedShard = ShardTimeout | ShardError | ShardUnavailable;

/** `#/components/schemas/ListResult`: a page of `GET /data`. */
export interface ListResult {
  items: Row[];
  /** Pass as `after` for the next page; `null` only at the true end. */
  next: number | null;
  partial: boolean;
  shards: ShardReport[];
}

/** `#/components/schemas/GetResult`: `GET /data/{id}`. */
export interface GetResult {
  item: Row;
  shard: ShardId;
}

/** `#/components/schemas/WriteResult`: `201` of `POST`, `200` of `PUT`. */
export type WriteResult = GetResult;

/** `#/components/schemas/Health`. */
export interface Health {
  status: "ok";
}

/** Every error `code` the API answers (the `const`/`enum` values pinned by the error schemas). */
export type ErrorCode =
  | "invalid_query"
  | "invalid_id"
  | "invalid_json"
  | "invalid_body"
  | "invalid_encoding"
  | "not_found"
  | "id_out_of_range"
  | "duplicate_id"
  | "body_too_large"
  | "unsupported_media_type"
  | "unsupported_charset"
  | "shard_unavailable"
  | "internal_error"
  | "route_not_found"
  | "method_not_allowed";

/** `#/components/schemas/ErrorDetail`. */
export interface ErrorDetail {
  code: ErrorCode;
  message: string;
}

/** `{"error": ErrorDetail}`: every error the function answers. */
export interface ErrorBody {
  error: ErrorDetail;
}

/** `#/components/schemas/GetUnavailable`: `503` of `GET /data/{id}`. */
export interface GetUnavailable {
  error: ErrorDetail & { code: "shard_unavailable" };
  shard: ShardId;
  shards: ShardReport[];
}

/** `#/components/schemas/GetNotFound`: `404` of `GET /data/{id}` when the owning shard answered. */
export interface GetNotFound {
  error: ErrorDetail & { code: "not_found" };
  shard: ShardId;
  shards: ShardReport[];
}

/** `#/components/schemas/ShardUnavailableError` `outcome`. */
export type WriteOutcome = "not_applied" | "unknown";

/** `#/components/schemas/ShardUnavailableError`: `503` of a write. */
export interface WriteUnavailable {
  error: ErrorDetail & { code: "shard_unavailable" };
  outcome: WriteOutcome;
  shard: ShardId;
}

/** `#/components/schemas/GatewayMessage`: what API Gateway answers itself (`403`, `429`, `413`, `500`; AWS only). */
export interface GatewayMessage {
  message: string;
}

/** The query of `GET /data` (`#/components/parameters/Limit`, `After`, `From`, `To`). */
export interface ListQuery {
  /** 1–1000, default 100. */
  limit?: number;
  /** Exclusive keyset cursor: the previous page's `next`; may be `MIN_ID - 1`. */
  after?: number;
  /** Inclusive lower id bound. */
  from?: number;
  /** Inclusive upper id bound. */
  to?: number;
}
