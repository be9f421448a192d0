import { createHash, createHmac, pbkdf2Sync, randomBytes } from "node:crypto";
import { quoteIdent } from "../functions/core/sql-identifier.js";
import { writeTimings } from "../functions/core/write-deadline.js";
import { fenceGrantsSql } from "./fence-sql.js";

/**
 * The function's least-privilege database role, the one source of its SQL for the CDK stack's schema step and the
 * local runtime, so both create exactly the same role.
 */

/** The role name the stack gives the function on every cluster (the username in its generated secret). */
export const FUNCTION_DB_USER = "sharded_api";

const ROLE_NAME = /^[a-z_][a-z0-9_]{0,62}$/;

/**
 * PostgreSQL's SCRAM-SHA-256 verifier of a password (`SCRAM-SHA-256$<iterations>:<salt>$<StoredKey>:<ServerKey>`,
 * RFC 5802/7677, as `libpq`'s `PQencryptPasswordConn` computes it). `ALTER ROLE … PASSWORD '<verifier>'` stores it
 * as is, so the password itself never appears in any SQL text, statement log or Data API request.
 */
export function scramVerifier(password: string, salt: Buffer = randomBytes(16), iterations = 4096): string {
  const salted = pbkdf2Sync(password.normalize("NFKC"), salt, iterations, 32, "sha256");
  const clientKey = createHmac("sha256", salted).update("Client Key").digest();
  const storedKey = createHash("sha256").update(clientKey).digest();
  const serverKey = createHmac("sha256", salted).update("Server Key").digest();
  return `SCRAM-SHA-256$${iterations}:${salt.toString("base64")}$${storedKey.toString("base64")}:${serverKey.toString("base64")}`;
}

const SCRAM = /^SCRAM-SHA-256\$\d+:[A-Za-z0-9+/=]+\$[A-Za-z0-9+/=]+:[A-Za-z0-9+/=]+$/;

/**
 * One statement (the Data API runs one per call) that creates or updates the function's role, idempotently: LOGIN
 * without SUPERUSER, CREATEROLE, CREATEDB or REPLICATION; only SELECT, INSERT, UPDATE, DELETE on the table; and
 * EXECUTE on the shard fence's admissions and SELECT on its map (fence-sql.ts, which must exist first); and
 * `statement_timeout` / `lock_timeout` below the shard timeout (see `functions/core/write-deadline.ts`), so a write
 * statement that started in time cannot finish after the function gave up on it. Run again on every update: it
 * resets the password to the secret's, the settings to the current shard timeout's, and the grants to exactly these.
 *
 * Every value is validated or a generated verifier, so inlining them cannot inject SQL.
 */
export function functionRoleSql(opts: {
  readonly user: string;
  readonly passwordVerifier: string;
  readonly table: string;
  readonly shardTimeoutMs: number;
}): string {
  if (!ROLE_NAME.test(opts.user)) throw new RangeError(`role name ${JSON.stringify(opts.user)} is not plain`);
  if (!SCRAM.test(opts.passwordVerifier)) throw new RangeError("password must be a SCRAM-SHA-256 verifier");
  const { statementTimeoutMs, lockTimeoutMs } = writeTimings(opts.shardTimeoutMs);
  const role = quoteIdent(opts.user);
  const table = quoteIdent(opts.table);
  const attributes = "LOGIN NOSUPERUSER NOCREATEROLE NOCREATEDB NOREPLICATION NOBYPASSRLS";
  return [
    "DO $role$ BEGIN",
    `IF NOT EXISTS (SELECT FROM pg_catalog.pg_roles WHERE rolname = '${opts.user}') THEN CREATE ROLE ${role}; END IF;`,
    `ALTER ROLE ${role} ${attributes} PASSWORD '${opts.passwordVerifier}';`,
    `ALTER ROLE ${role} SET statement_timeout = '${statementTimeoutMs}ms';`,
    `ALTER ROLE ${role} SET lock_timeout = '${lockTimeoutMs}ms';`,
    `REVOKE ALL ON TABLE ${table} FROM ${role};`,
    `GRANT SELECT, INSERT, UPDATE, DELETE ON TABLE ${table} TO ${role};`,
    // The shard fence (fence-sql.ts, created before this statement runs): admissions and the map, read only.
    ...fenceGrantsSql(opts.user),
    "END $role$",
  ].join(" ");
}
