/**
 * The five Data API operations of one endpoint, from a parsed request body to the output object: cluster and
 * secret checks, the database to use, and the connection a call runs on (pooled, or its transaction's).
 */
import { DataApiError } from "./errors.js";
import { batchExecuteStatement, executeStatement } from "./execute.js";
import type { ConnectionPools } from "./pools.js";
import {
  batchExecuteStatementRequest,
  beginTransactionRequest,
  type ClusterRequest,
  endTransactionRequest,
  executeStatementRequest,
} from "./requests.js";
import type { Transactions } from "./transactions.js";

/** One Aurora cluster this endpoint stands in for. */
export interface DataApiCluster {
  resourceArn: string;
  secretArn: string;
  /** The database a call uses when it names none. */
  database: string;
}

export type Operation = (body: Record<string, unknown>) => Promise<unknown>;

export class DataApiOperations {
  readonly #clusters: ReadonlyMap<string, DataApiCluster>;

  constructor(
    clusters: readonly DataApiCluster[],
    private readonly pools: ConnectionPools,
    private readonly transactions: Transactions,
  ) {
    this.#clusters = new Map(clusters.map((c) => [c.resourceArn, c]));
  }

  /** The cluster a request names, checked as AWS checks it: the cluster first, then the secret. */
  cluster(request: ClusterRequest): DataApiCluster {
    const cluster = this.#clusters.get(request.resourceArn);
    // AWS answers this for an ARN it has no Data API endpoint for, whether the cluster exists or not.
    if (!cluster) {
      throw new DataApiError(
        "HttpEndpointNotEnabledException",
        `HttpEndpoint is not enabled for resource ${request.resourceArn}`,
      );
    }
    if (request.secretArn !== cluster.secretArn) {
      throw new DataApiError(
        "SecretsErrorException",
        `Error fetching secret ${request.secretArn} : Secrets Manager can't find the specified secret.`,
      );
    }
    return cluster;
  }

  /** The operation served at each path, as `@aws-sdk/client-rds-data` addresses them. */
  readonly byPath: ReadonlyMap<string, Operation> = new Map<string, Operation>([
    ["/Execute", (body) => this.executeStatement(body)],
    ["/BatchExecute", (body) => this.batchExecuteStatement(body)],
    ["/BeginTransaction", (body) => this.beginTransaction(body)],
    ["/CommitTransaction", (body) => this.commitTransaction(body)],
    ["/RollbackTransaction", (body) => this.rollbackTransaction(body)],
    [
      "/ExecuteSql",
      async () => {
        throw new DataApiError(
          "BadRequestException",
          "This API is deprecated and not available. Use ExecuteStatement API instead",
        );
      },
    ],
  ]);

  async executeStatement(body: Record<string, unknown>) {
    const request = executeStatementRequest(body);
    const cluster = this.cluster(request);
    const run = (client: Parameters<typeof executeStatement>[0]) =>
      executeStatement(client, request.sql, request.parameters, request);
    if (request.transactionId !== undefined) {
      return this.transactions.run(request.transactionId, cluster.resourceArn, run);
    }
    return this.pools.withClient(request.database ?? cluster.database, run);
  }

  async batchExecuteStatement(body: Record<string, unknown>) {
    const request = batchExecuteStatementRequest(body);
    const cluster = this.cluster(request);
    if (request.transactionId !== undefined) {
      return this.transactions.run(request.transactionId, cluster.resourceArn, (client) =>
        batchExecuteStatement(client, request.sql, request.parameterSets, true),
      );
    }
    return this.pools.withClient(request.database ?? cluster.database, (client) =>
      batchExecuteStatement(client, request.sql, request.parameterSets, false),
    );
  }

  async beginTransaction(body: Record<string, unknown>) {
    const request = beginTransactionRequest(body);
    const cluster = this.cluster(request);
    return {
      transactionId: await this.transactions.begin(cluster.resourceArn, request.database ?? cluster.database),
    };
  }

  async commitTransaction(body: Record<string, unknown>) {
    const request = endTransactionRequest(body);
    const cluster = this.cluster(request);
    await this.transactions.commit(request.transactionId, cluster.resourceArn);
    return { transactionStatus: "Transaction Committed" };
  }

  async rollbackTransaction(body: Record<string, unknown>) {
    const request = endTransactionRequest(body);
    const cluster = this.cluster(request);
    await this.transactions.rollback(request.transactionId, cluster.resourceArn);
    return { transactionStatus: "Rollback Complete" };
  }
}
