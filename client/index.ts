/**
 * `sharded-data-api/client`: the API's client, for Node.js 20+ and browsers. Nothing here is AWS-specific; SigV4
 * signing is `client/sigv4.ts`, a separate entry. See docs/client.md.
 */
export {
  type ClientEvent,
  type ClientOptions,
  createClient,
  type PageOptions,
  type RetryOptions,
  type RowsOptions,
  retryAfterMs,
  ShardedDataClient,
  type SignableRequest,
  type Signer,
} from "./client.js";
export {
  ApiError,
  ConflictError,
  type IdSpan,
  IncompleteReadError,
  NetworkError,
  NotFoundError,
  ProtocolError,
  type ReadBack,
  UnavailableError,
} from "./errors.js";
export * from "./types.js";
