/**
 * Connections from the endpoint to PostgreSQL: one small `pg.Pool` per database for single statements, created on
 * first use and kept, and dedicated clients for transactions.
 */
import pg from "pg";
import type { PostgresConnection } from "../postgres.js";
import { isConnectionFatal, isPgDatabaseError } from "./errors.js";

/** The PostgreSQL user a call runs as (a secret's credentials); undefined: the endpoint's own connection user. */
export type Login = { readonly user: string; readonly password: string } | undefined;

/** Every value arrives as PostgreSQL's text: `fields.ts` formats it as the Data API does, not as `pg` would. */
export const RAW_TEXT = { getTypeParser: () => (value: string) => value } as unknown as pg.CustomTypesConfig;

/**
 * Session settings of every connection. Aurora's default time zone is UTC, and the Data API returns zoned values in
 * UTC; ISO output is what the value formatting in `fields.ts` reads.
 */
const SESSION_OPTIONS = "-c TimeZone=UTC -c DateStyle=ISO,MDY -c IntervalStyle=postgres";

/**
 * Leaves a pooled connection with nothing of the call it served: a call outside a transaction must not change the
 * next caller's session. AWS: "If a call isn't part of a transaction because it doesn't include the transactionID
 * parameter, changes that result from the call are committed automatically" (ExecuteStatement, API reference:
 * https://docs.aws.amazon.com/rdsdataservice/latest/APIReference/API_ExecuteStatement.html); only a transaction
 * (`BeginTransaction`, API_BeginTransaction.html) ties later calls to one session. So a `BEGIN` or a
 * `SET statement_timeout = 0` sent as a plain call must not reach a later call (choice where AWS is silent: the
 * session is reset after every call outside a transaction, whatever it ran).
 *
 * `DISCARD ALL` resets every setting to the session's defaults (the role's own `statement_timeout` and
 * `lock_timeout` included), the role, temporary tables, prepared statements, LISTENs and session advisory locks.
 * It cannot run inside a transaction block: when the call left one open (`BEGIN` / `START TRANSACTION` as a plain
 * statement), the block is rolled back first. It holds no change of the call itself, since a plain call runs one
 * statement (choice: AWS does not say what a plain `BEGIN` does; here it has no lasting effect).
 */
export async function resetSession(client: pg.ClientBase): Promise<void> {
  try {
    await client.query("DISCARD ALL");
  } catch (error) {
    // 25001 active_sql_transaction: "DISCARD ALL cannot run inside a transaction block".
    if (!isPgDatabaseError(error) || error.code !== "25001") throw error;
    await client.query("ROLLBACK");
    await client.query("DISCARD ALL");
  }
}

export class ConnectionPools {
  readonly #pools = new Map<string, pg.Pool>();
  readonly #checkedOut = new Set<pg.PoolClient>();
  /** Clients whose connection died (their `error` event fired): never handed out again. */
  readonly #dead = new WeakSet<pg.ClientBase>();
  readonly #listening = new WeakSet<pg.ClientBase>();
  readonly #dedicated = new Set<pg.Client>();
  #ended = false;

  constructor(
    private readonly postgres: PostgresConnection,
    private readonly maxPerDatabase = 4,
  ) {}

  #config(database: string, login: Login): pg.ClientConfig {
    const { host, port } = this.postgres;
    const { user, password } = login ?? this.postgres;
    return {
      host,
      port,
      user,
      password,
      database,
      options: SESSION_OPTIONS,
      application_name: "local-data-api",
      connectionTimeoutMillis: 10_000,
    };
  }

  /** One pool per database and user: a secret's calls always run as its own user. */
  #pool(database: string, login: Login): pg.Pool {
    const key = `${login?.user ?? ""}\0${database}`;
    let pool = this.#pools.get(key);
    if (!pool) {
      const config = this.#config(database, login);
      pool = new pg.Pool({ ...config, max: this.maxPerDatabase, idleTimeoutMillis: 30_000 });
      // An idle connection the server drops (PostgreSQL stopped first) must not crash the process.
      pool.on("error", () => undefined);
      // At connect, before the pool hands the client out: a connection terminated just after its handshake sends its
      // FATAL error in the same read as its ReadyForQuery, before the caller could add a listener of its own.
      pool.on("connect", (client) => this.#watch(client));
      this.#pools.set(key, pool);
    }
    return pool;
  }

  #assertOpen(): void {
    if (this.#ended) throw new Error("the endpoint is stopping");
  }

  /**
   * A checked-out client has no listener of the pool's: without one of its own, a connection that dies under a
   * running statement (backend terminated, postmaster killed) emits an `error` nobody handles and the process dies.
   * The statement itself fails through its own promise; the listener only marks the client dead.
   */
  #watch(client: pg.ClientBase): void {
    if (this.#listening.has(client)) return;
    this.#listening.add(client);
    client.on("error", () => this.#dead.add(client));
  }

  /**
   * Runs `fn` on a pooled connection, then leaves the connection as a new session would find it (see
   * {@link resetSession}). A failed statement keeps the connection; a broken one, or one that cannot be reset, is
   * dropped.
   */
  async withClient<T>(
    database: string,
    fn: (client: pg.ClientBase) => Promise<T>,
    login?: Login,
  ): Promise<T> {
    this.#assertOpen();
    const client = await this.#pool(database, login).connect();
    this.#watch(client);
    this.#checkedOut.add(client);
    let broken: Error | undefined;
    try {
      return await fn(client);
    } catch (error) {
      if (!isPgDatabaseError(error) || isConnectionFatal(error)) {
        broken = error instanceof Error ? error : new Error(String(error));
      }
      throw error;
    } finally {
      if (!broken && !this.#dead.has(client)) {
        broken = await resetSession(client).then(
          () => undefined,
          (error: unknown) => (error instanceof Error ? error : new Error(String(error))),
        );
      }
      this.#checkedOut.delete(client);
      client.release(broken ?? (this.#dead.has(client) ? new Error("connection lost") : undefined));
    }
  }

  /** A connection of its own, outside the pool (a transaction holds it for minutes); `close()` ends it. */
  async dedicated(database: string, login?: Login): Promise<pg.Client> {
    this.#assertOpen();
    const client = new pg.Client(this.#config(database, login));
    client.on("error", () => undefined);
    await client.connect();
    this.#dedicated.add(client);
    return client;
  }

  async close(client: pg.Client): Promise<void> {
    this.#dedicated.delete(client);
    await client.end().catch(() => undefined);
  }

  /** Ends every connection now, including those in use (their statements fail), and waits for the pools. */
  async end(): Promise<void> {
    this.#ended = true;
    // Ending a client makes its running statement fail, so its handler releases it and the pool can end.
    const inUse = [...this.#checkedOut].map((client) => client.end().catch(() => undefined));
    const dedicated = [...this.#dedicated].map((client) => this.close(client));
    await Promise.all([...inUse, ...dedicated, ...[...this.#pools.values()].map((pool) => pool.end())]);
    this.#pools.clear();
  }
}
