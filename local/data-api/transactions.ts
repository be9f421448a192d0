/**
 * Data API transactions: `BeginTransaction` opens one on a dedicated connection and names it by a random id; later
 * calls with that id run on the same connection until `CommitTransaction` / `RollbackTransaction`, or until it has
 * been idle for three minutes, when AWS rolls it back and forgets the id.
 */
import { randomBytes } from "node:crypto";
import type pg from "pg";
import { badRequest, isPgDatabaseError } from "./errors.js";
import type { Login } from "./operations.js";
import type { ConnectionPools } from "./pools.js";

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

  /** Runs `fn` inside the transaction; a broken connection ends the transaction. */
  async run<T>(id: string, resourceArn: string, fn: (client: pg.ClientBase) => Promise<T>): Promise<T> {
    const transaction = this.#claim(id, resourceArn);
    try {
      return await fn(transaction.client);
    } catch (error) {
      if (!isPgDatabaseError(error)) await this.#discard(transaction);
      throw error;
    } finally {
      transaction.busy = false;
      if (this.#open.get(id) === transaction) this.#armExpiry(transaction);
    }
  }

  async commit(id: string, resourceArn: string): Promise<void> {
    await this.#finish(id, resourceArn, "COMMIT");
  }

  async rollback(id: string, resourceArn: string): Promise<void> {
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

  /** Forgets a transaction and closes its connection, which makes PostgreSQL roll it back. */
  async #discard(transaction: OpenTransaction): Promise<void> {
    clearTimeout(transaction.timer);
    if (this.#open.get(transaction.id) === transaction) this.#open.delete(transaction.id);
    await this.pools.close(transaction.client);
  }

  async closeAll(): Promise<void> {
    await Promise.all([...this.#open.values()].map((transaction) => this.#discard(transaction)));
  }
}
