/**
 * The local RDS Data API endpoint, its only door: everything outside `local/data-api/` imports from here.
 *
 * Inside, the files form one-way layers (`test/unit/local-data-api-shape.test.ts` holds them to it):
 * - the endpoint: `server.ts` (HTTP, faults, limits, guards), the top;
 * - request parsing and signing: `requests.ts`, `sigv4.ts`;
 * - operations: `operations.ts` (the five operations, cluster and secret checks), `transactions.ts`;
 * - execution on PostgreSQL: `execute.ts`, `pools.ts`, `params.ts`, `fields.ts`, `types.ts`;
 * - shared by all: `errors.ts`, `json.ts`.
 */
export { type BoundParameter, bindParameters, toPositional } from "./params.js";
export {
  type DataApiCluster,
  type DataApiEndpoint,
  type DataApiEndpointOptions,
  startDataApiEndpoint,
} from "./server.js";
export {
  LOCAL_CREDENTIALS,
  type LocalCredentials,
  runtimeCredentials,
  Sha256,
  verifySignature,
} from "./sigv4.js";
