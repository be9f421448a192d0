/**
 * Starts the one PostgreSQL server every integration test file shares and hands its coordinates to the tests
 * (`inject("postgres")`). Each file creates its own databases on it with `createShardDatabases` and a unique prefix.
 */
import type { TestProject } from "vitest/node";
import { type PostgresConnection, startPostgres } from "../../local/postgres.js";

declare module "vitest" {
  export interface ProvidedContext {
    postgres: PostgresConnection;
  }
}

export default async function setup(project: TestProject) {
  const server = await startPostgres();
  const { host, port, user, password } = server;
  project.provide("postgres", { host, port, user, password });
  return async () => {
    await server.stop();
  };
}
