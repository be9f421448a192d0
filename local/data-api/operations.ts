/**
 * The five Data API operations of one endpoint, from a parsed request body to the output object: cluster and
 * secret checks, the database to use, and the connection a call runs on (pooled, or its transaction's).
 */
import { DataApiError } from "./errors.js";
import { batchExecuteStatement, executeStatement } from "./execute.js";
import type { ConnectionPools, Login } from "./pools.js";
import {
  batchExecuteStatementRequest,
  beginTransactionRequest,
  type ClusterRequest,
  endTransactionRequest,
  executeStatementRequest,
} from "./requests.js";
import type { Transactions } from "./transactions.js";

/**
 * A Secrets Manager secret the endpoint knows: as in AWS, the secret holds the database credentials a call runs
 * with ("the Data API uses the database credentials stored in the secret"), so the secret decides the user.
 */
export interface DataApiSecret {
  secretArn: string;
  user: string;
  password: string;
}

/** One Aurora cluster this endpoint stands in for. */
export interface DataApiCluster {
  resourceArn: string;
  /** The cluster's master secret. Unless `secrets` names its credentials, it signs in as the endpoint's own user. */
  secretArn: string;
  /** Credentials by secret ARN: calls with one of these secrets run as its user (the local runtime's roles). */
  secrets?: readonly DataApiSecret[];
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

  /** The user a request's secret signs in as. */
  login(cluster: DataApiCluster, request: ClusterRequest): Login {
    const secret = cluster.secrets?.find((s) => s.secretArn === request.secretArn);
    return secret ? { user: secret.user, password: secret.password } : undefined;
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
    const known = cluster.secrets?.some((s) => s.secretArn === request.secretArn) ?? false;
    if (request.secretArn !== cluster.secretArn && !known) {
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
    return this.pools.withClient(request.database ?? cluster.database, run, this.login(cluster, request));
  }

  async batchExecuteStatement(body: Record<string, unknown>) {
    const request = batchExecuteStatementRequest(body);
    const cluster = this.cluster(request);
    if (request.transactionId !== undefined) {
      return this.transactions.run(request.transactionId, cluster.resourceArn, (client) =>
        batchExecuteStatement(client, request.sql, request.parameterSets, true),
      );
    }
    return this.pools.withClient(
      request.database ?? cluster.database,
      (client) => batchExecuteStatement(client, request.sql, request.parameterSets, false),
      this.login(cluster, request),
    );
  }

  async beginTransaction(body: Record<string, unknown>) {
    const request = beginTransactionRequest(body);
    const cluster = this.cluster(request);
    return {
      transactionId: await this.transactions.begin(
        cluster.resourceArn,
        request.database ?? cluster.database,
        this.login(cluster, request),
      ),
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
