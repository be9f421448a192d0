import pg from "pg";
import type { PostgresConnection } from "../../local/postgres.js";

/** Drops a stopped runtime's databases, so a bench that seeds millions of rows several times does not fill the disk. */
export async function dropDatabases(postgres: PostgresConnection, names: readonly string[]): Promise<void> {
  const { host, port, user, password } = postgres;
  const admin = new pg.Client({ host, port, user, password, database: "postgres" });
  await admin.connect();
  try {
    for (const name of names)
      await admin.query(`DROP DATABASE IF EXISTS "${name.replaceAll('"', '""')}" WITH (FORCE)`);
  } finally {
    await admin.end();
  }
}
