/**
 * Runs the tool's SQL on one shard through the RDS Data API (ExecuteStatement, with the owner/master secret): the
 * same code against the local endpoints and against Aurora. Rows come back as JSON (`formatRecordsAs`). A failed
 * statement becomes a ShardCallError naming the shard, with the database's message: this is an operator's tool,
 * and "which shard, what did PostgreSQL say" is what an operator needs.
 */
import {
  BeginTransactionCommand,
  CommitTransactionCommand,
  ExecuteStatementCommand,
  RDSDataClient,
  RollbackTransactionCommand,
  type SqlParameter,
} from "@aws-sdk/client-rds-data";
import { LOCAL_CREDENTIALS } from "../local/data-api/index.js";
import { ShardCallError } from "./errors.js";

/** What the tool needs to reach one shard's database. */
export interface ShardAddress {
  readonly id: number;
  readonly resourceArn: string;
  /** The owner (master) secret: the tool creates publications and subscriptions and changes the fence. */
  readonly secretArn: string;
  readonly database: string;
  /** A local Data API endpoint; unset in AWS. */
  readonly endpoint?: string;
}

export type Row = Record<string, unknown>;

/** The region an ARN names (`arn:aws:rds:<region>:…`). */
export function arnRegion(arn: string): string {
  return arn.split(":")[3] || "us-east-1";
}

export class ShardAdmin {
  readonly #client: RDSDataClient;

  constructor(readonly address: ShardAddress) {
    this.#client = new RDSDataClient({
      region: arnRegion(address.resourceArn),
      // The SDK retries socket errors and 5xx: a connection that went stale while the tool waited (a long cleanup on
      // another shard) must not fail a step. Every statement of the tool may run twice: fence writes and batched
      // deletes are idempotent, and a retried CREATE that reports "already exists" fails its step, which `resume`
      // re-runs after checking what exists.
      maxAttempts: 3,
      // A local endpoint accepts only the local credentials (never the user's own); AWS takes the default chain.
      ...(address.endpoint ? { endpoint: address.endpoint, credentials: LOCAL_CREDENTIALS } : {}),
    });
  }

  get id(): number {
    return this.address.id;
  }

  async #send<T>(call: () => Promise<T>): Promise<T> {
    try {
      return await call();
    } catch (err) {
      const message = err instanceof Error ? `${err.name}: ${err.message}` : String(err);
      throw new ShardCallError(this.id, message, { cause: err });
    }
  }

  /**
   * Runs one statement, inside the Data API transaction `transactionId` if given; its rows (parsed JSON records)
   * and the rows it changed.
   */
  async run(
    sql: string,
    parameters: SqlParameter[] = [],
    transactionId?: string,
  ): Promise<{ rows: Row[]; updated: number }> {
    const { resourceArn, secretArn, database } = this.address;
    const out = await this.#send(() =>
      this.#client.send(
        new ExecuteStatementCommand({
          resourceArn,
          secretArn,
          database,
          sql,
          parameters,
          formatRecordsAs: "JSON",
          ...(transactionId === undefined ? {} : { transactionId }),
        }),
      ),
    );
    const rows = out.formattedRecords ? (JSON.parse(out.formattedRecords) as Row[]) : [];
    return { rows, updated: out.numberOfRecordsUpdated ?? 0 };
  }

  async query(sql: string, parameters: SqlParameter[] = [], transactionId?: string): Promise<Row[]> {
    return (await this.run(sql, parameters, transactionId)).rows;
  }

  /** Opens a Data API transaction (BeginTransaction); its id. */
  async begin(): Promise<string> {
    const { resourceArn, secretArn, database } = this.address;
    const out = await this.#send(() =>
      this.#client.send(new BeginTransactionCommand({ resourceArn, secretArn, database })),
    );
    if (!out.transactionId) throw new ShardCallError(this.id, "BeginTransaction returned no transaction id");
    return out.transactionId;
  }

  async commit(transactionId: string): Promise<void> {
    const { resourceArn, secretArn } = this.address;
    await this.#send(() =>
      this.#client.send(new CommitTransactionCommand({ resourceArn, secretArn, transactionId })),
    );
  }

  /** Rolls a transaction back; a failure is ignored (the transaction is gone either way, and PostgreSQL's own
   * idle timeout ends it if this call never arrives). */
  async rollback(transactionId: string): Promise<void> {
    const { resourceArn, secretArn } = this.address;
    await this.#client
      .send(new RollbackTransactionCommand({ resourceArn, secretArn, transactionId }))
      .catch(() => undefined);
  }

  /** The only row of a query that returns one. */
  async one(sql: string, parameters: SqlParameter[] = [], transactionId?: string): Promise<Row> {
    const rows = await this.query(sql, parameters, transactionId);
    if (rows.length !== 1)
      throw new ShardCallError(this.id, `expected one row, got ${rows.length}: ${sql.slice(0, 80)}`);
    return rows[0] as Row;
  }

  close(): void {
    this.#client.destroy();
  }
}

export const long = (name: string, value: number): SqlParameter => ({ name, value: { longValue: value } });
export const str = (name: string, value: string): SqlParameter => ({ name, value: { stringValue: value } });
