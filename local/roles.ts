/**
 * The database roles of the local shards, as the CDK stack creates them on each Aurora cluster: the function's
 * least-privilege role (the very SQL of `infra/role-sql.ts`) and, for the "master" secret, an owner role without
 * superuser rights (owner of each shard database and its table, free to create tables there, as Aurora's master user
 * is `rds_superuser`, not a superuser). The endpoints map each secret to its role, so the function's local calls run
 * with the same permissions and timeouts as in AWS. This admin work runs on the superuser connection directly, never
 * through a Data API endpoint.
 *
 * PostgreSQL roles belong to the whole server, which every runtime on it shares: the names carry the runtime's
 * prefix, so runtimes never touch each other's roles.
 */
import { randomBytes } from "node:crypto";
import pg from "pg";
import type { ShardMap } from "../functions/core/shard-map.js";
import { fenceInitSql, fenceSchemaSql } from "../infra/fence-sql.js";
import { functionRoleSql, scramVerifier } from "../infra/role-sql.js";
import type { PostgresConnection } from "./postgres.js";

export interface LocalRoles {
  readonly owner: { readonly user: string; readonly password: string };
  readonly api: { readonly user: string; readonly password: string };
}

const quote = (name: string) => `"${name.replaceAll('"', '""')}"`;

export async function createShardRoles(
  server: PostgresConnection,
  databases: readonly { readonly shard: number; readonly database: string }[],
  opts: {
    readonly prefix: string;
    readonly tableName?: string;
    readonly shardTimeoutMs: number;
    /** The map the shards start with: each shard's fence (infra/fence-sql.ts) is created from it. */
    readonly map: ShardMap;
  },
): Promise<LocalRoles> {
  const base = opts.prefix
    .toLowerCase()
    .replace(/[^a-z0-9_]/g, "_")
    .slice(0, 50);
  const roles: LocalRoles = {
    owner: { user: `${base}_owner`, password: randomBytes(12).toString("hex") },
    api: { user: `${base}_api`, password: randomBytes(12).toString("hex") },
  };
  const table = opts.tableName ?? "data_1";
  const connection = { host: server.host, port: server.port, user: server.user, password: server.password };
  const admin = new pg.Client({ ...connection, database: "postgres" });
  await admin.connect();
  try {
    const owner = quote(roles.owner.user);
    await admin.query(
      `DO $r$ BEGIN IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '${roles.owner.user}') THEN CREATE ROLE ${owner}; END IF; END $r$`,
    );
    const verifier = scramVerifier(roles.owner.password);
    // REPLICATION and pg_create_subscription: the reshard tool, which runs as this role (the "master" secret), copies a
    // moving range with logical replication, as Aurora's master user can (rds_superuser, rds_replication).
    await admin.query(
      `ALTER ROLE ${owner} LOGIN NOSUPERUSER NOCREATEROLE NOCREATEDB REPLICATION PASSWORD '${verifier}'`,
    );
    await admin.query(`GRANT pg_create_subscription TO ${owner}`);
    for (const { database } of databases) {
      await admin.query(`ALTER DATABASE ${quote(database)} OWNER TO ${owner}`);
    }
  } finally {
    await admin.end();
  }
  // One database after the other: ALTER ROLE on one role from several sessions at once can collide.
  for (const { shard, database } of databases) {
    const client = new pg.Client({ ...connection, database });
    await client.connect();
    try {
      await client.query(`ALTER TABLE ${quote(table)} OWNER TO ${quote(roles.owner.user)}`);
      // The fence, created as the owner (as the stack's schema step does with the master user), so the owner, and
      // the reshard tool with its secret, may change it and the function's role only reads it.
      await client.query(`SET ROLE ${quote(roles.owner.user)}`);
      await client.query(fenceSchemaSql(table));
      await client.query(fenceInitSql(shard, opts.map));
      await client.query("RESET ROLE");
      const sql = functionRoleSql({
        user: roles.api.user,
        passwordVerifier: scramVerifier(roles.api.password),
        table,
        shardTimeoutMs: opts.shardTimeoutMs,
      });
      await client.query(sql);
    } finally {
      await client.end();
    }
  }
  return roles;
}
