/** The local RDS Data API endpoint: see `server.ts`. */
export {
  type DataApiCluster,
  type DataApiEndpoint,
  type DataApiEndpointOptions,
  startDataApiEndpoint,
} from "./server.js";
