/**
 * Data API transactions: `BeginTransaction` opens one on a dedicated connection and names it by a random id; later
 * calls with that id run on the same connection until `CommitTransaction` / `RollbackTransaction`, or until it has
 * been idle for three minutes, when AWS rolls it back and forgets the id.
 */
import { randomBytes } from "node:crypto";
import type pg from "pg";
import { badRequest, DataApiError } from "./errors.js";
import type { ConnectionPools, Login } from "./pools.js";

/** AWS: "A transaction times out if there are no calls that use its transaction ID in three minutes." */
export const TRANSACTION_IDLE_MS = 180_000;

interface OpenTransaction {
  readonly id: string;
  readonly resourceArn: string;
  readonly client: pg.Client;
  busy: boolean;
  timer: NodeJS.Timeout | undefined;
}

export class Transactions {
  readonly #open = new Map<string, OpenTransaction>();
  /** Ids of transactions a failed statement aborted, remembered for the idle period so calls can say why. */
  readonly #aborted = new Map<string, NodeJS.Timeout>();

  constructor(
    private readonly pools: ConnectionPools,
    private readonly idleMs = TRANSACTION_IDLE_MS,
  ) {}

  /** Open transactions, for tests. */
  get size(): number {
    return this.#open.size;
  }

  async begin(resourceArn: string, database: string, login?: Login): Promise<string> {
    const client = await this.pools.dedicated(database, login);
    try {
      await client.query("BEGIN");
    } catch (error) {
      await this.pools.close(client);
      throw error;
    }
    // AWS ids are opaque base64 text of about this length.
    const id = randomBytes(48).toString("base64");
    const transaction: OpenTransaction = { id, resourceArn, client, busy: false, timer: undefined };
    this.#open.set(id, transaction);
    this.#armExpiry(transaction);
    return id;
  }

  #armExpiry(transaction: OpenTransaction): void {
    transaction.timer = setTimeout(() => void this.#discard(transaction), this.idleMs);
    transaction.timer.unref();
  }

  /** Claims a transaction for one call. A transaction belongs to the cluster that opened it. */
  #claim(id: string, resourceArn: string): OpenTransaction {
    const transaction = this.#open.get(id);
    if (!transaction && this.#aborted.has(id)) {
      throw badRequest(
        `Transaction ${id} is not found. Transaction has been aborted due to an error from a previous call`,
      );
    }
    if (!transaction || transaction.resourceArn !== resourceArn)
      throw badRequest(`Transaction ${id} is not found`);
    // The Data API runs one call per transaction at a time and refuses a second one meanwhile.
    if (transaction.busy) {
      throw badRequest(`Transaction ${id} is not in a state that can accept this statement`);
    }
    transaction.busy = true;
    clearTimeout(transaction.timer);
    return transaction;
  }

  /**
   * Runs `fn` inside the transaction. A statement that fails in the database aborts the transaction: AWS rolls it
   * back and forgets its id ("Transaction <ID> isn't found ... The transaction was aborted due to an error from a
   * previous call", Data API troubleshooting), so a later CommitTransaction cannot commit it. A request refused
   * before it reached the database (a malformed parameter, a `DataApiError`) leaves the transaction as it was
   * (choice: AWS does not say).
   */
  async run<T>(id: string, resourceArn: string, fn: (client: pg.ClientBase) => Promise<T>): Promise<T> {
    const transaction = this.#claim(id, resourceArn);
    try {
      return await fn(transaction.client);
    } catch (error) {
      if (!(error instanceof DataApiError)) {
        this.#rememberAborted(id);
        await this.#discard(transaction);
      }
      throw error;
    } finally {
      transaction.busy = false;
      if (this.#open.get(id) === transaction) this.#armExpiry(transaction);
    }
  }

  async commit(id: string, resourceArn: string): Promise<void> {
    await this.#finish(id, resourceArn, "COMMIT");
  }

  /**
   * A transaction a failed statement aborted is already rolled back, so rolling it back succeeds once (choice: AWS
   * documents "not found" for calls after the abort but not for RollbackTransaction; clients roll back after an
   * error and must see that error, not one of the rollback). CommitTransaction still cannot commit it.
   */
  async rollback(id: string, resourceArn: string): Promise<void> {
    const aborted = this.#aborted.get(id);
    if (aborted !== undefined && !this.#open.has(id)) {
      clearTimeout(aborted);
      this.#aborted.delete(id);
      return;
    }
    await this.#finish(id, resourceArn, "ROLLBACK");
  }

  async #finish(id: string, resourceArn: string, command: "COMMIT" | "ROLLBACK"): Promise<void> {
    const transaction = this.#claim(id, resourceArn);
    this.#open.delete(id);
    try {
      await transaction.client.query(command);
    } finally {
      await this.pools.close(transaction.client);
    }
  }

  #rememberAborted(id: string): void {
    const timer = setTimeout(() => this.#aborted.delete(id), this.idleMs);
    timer.unref();
    this.#aborted.set(id, timer);
  }

  /** Forgets a transaction and closes its connection, which makes PostgreSQL roll it back. */
  async #discard(transaction: OpenTransaction): Promise<void> {
    clearTimeout(transaction.timer);
    if (this.#open.get(transaction.id) === transaction) this.#open.delete(transaction.id);
    await this.pools.close(transaction.client);
  }

  async closeAll(): Promise<void> {
    for (const timer of this.#aborted.values()) clearTimeout(timer);
    this.#aborted.clear();
    await Promise.all([...this.#open.values()].map((transaction) => this.#discard(transaction)));
  }
}
