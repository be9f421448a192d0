/**
 * A process that starts PostgreSQL, prints `{"dataDir", "port"}` as one JSON line and then waits to be killed:
 * the lifecycle tests kill it to check that no PostgreSQL outlives its Node process.
 */
import { startPostgres } from "../../local/postgres.js";

const server = await startPostgres();
process.stdout.write(`${JSON.stringify({ dataDir: server.dataDir, port: server.port })}\n`);
setInterval(() => undefined, 60_000);
