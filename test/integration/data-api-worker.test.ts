/**
 * The local Data API endpoint in a worker thread (what the local runtime runs): the same endpoint as in process, seen
 * through its proxy. Counters come from memory shared with the worker, faults and stop are acknowledged messages.
 */
import { connect, createServer, type Server } from "node:net";
import {
  BeginTransactionCommand,
  ExecuteStatementCommand,
  InternalServerErrorException,
  type RDSDataClient,
  RollbackTransactionCommand,
} from "@aws-sdk/client-rds-data";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import type { DataApiEndpoint } from "../../local/data-api/server.js";
import { startDataApiWorker } from "../../local/data-api/worker.js";
import { dataApiClient, eventually, startTestShards, type TestShards } from "../helpers/data-api.js";

let shards: TestShards;
let endpoint: DataApiEndpoint;
let client: RDSDataClient;

const cluster = () => {
  const first = shards.clusters[0];
  if (!first) throw new Error("no cluster");
  return first;
};

function select(target: RDSDataClient = client, abortSignal?: AbortSignal) {
  const { resourceArn, secretArn } = cluster();
  const command = new ExecuteStatementCommand({
    resourceArn,
    secretArn,
    sql: "SELECT id FROM data_1 ORDER BY id LIMIT 2",
  });
  return target.send(command, { abortSignal });
}

function refused(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect(port, "127.0.0.1");
    socket.once("connect", () => {
      socket.destroy();
      resolve(false);
    });
    socket.once("error", (error: NodeJS.ErrnoException) => resolve(error.code === "ECONNREFUSED"));
  });
}

beforeAll(async () => {
  // The seeded databases only; the endpoint under test is the worker below, not the helper's in-process one.
  shards = await startTestShards(inject("postgres"), "dapi_worker");
  endpoint = await startDataApiWorker({ postgres: inject("postgres"), clusters: shards.clusters });
  client = dataApiClient(endpoint.url);
});

afterAll(async () => {
  client?.destroy();
  await endpoint?.stop();
  await shards?.stop();
});

describe("a Data API endpoint in a worker thread", () => {
  it("answers the SDK from PostgreSQL and counts the request", async () => {
    const before = endpoint.requests;
    expect((await select()).records).toEqual([[{ longValue: 1 }], [{ longValue: 2 }]]);
    expect(endpoint.requests - before).toBe(1);
    expect(endpoint.pending).toBe(0);
  });

  it("shows a hung request as pending until the client gives up", async () => {
    await endpoint.setFault({ mode: "hang" });
    expect(endpoint.fault).toEqual({ mode: "hang" });
    const error = await select(client, AbortSignal.timeout(200)).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(Error);
    expect(await eventually(() => endpoint.pending === 0)).toBe(true);
    await endpoint.setFault(undefined);
    expect(endpoint.fault).toBeUndefined();
  });

  it("fails calls with a 500 under the error fault", async () => {
    await endpoint.setFault({ mode: "error" });
    const single = dataApiClient(endpoint.url, { maxAttempts: 1 });
    await expect(select(single)).rejects.toBeInstanceOf(InternalServerErrorException);
    single.destroy();
    await endpoint.setFault(undefined);
  });

  it("refuses connections while down and serves again on the same URL", async () => {
    const { url, port } = endpoint;
    await endpoint.setFault({ mode: "down" });
    expect(await refused(port)).toBe(true);
    await endpoint.setFault(undefined);
    expect(endpoint.url).toBe(url);
    const fresh = dataApiClient(url);
    expect((await select(fresh)).records).toHaveLength(2);
    fresh.destroy();
  });

  it("counts open transactions", async () => {
    const { resourceArn, secretArn } = cluster();
    const { transactionId } = await client.send(new BeginTransactionCommand({ resourceArn, secretArn }));
    expect(endpoint.openTransactions).toBe(1);
    await client.send(new RollbackTransactionCommand({ resourceArn, secretArn, transactionId }));
    expect(endpoint.openTransactions).toBe(0);
  });

  it("fails to start on a port that is taken, with EADDRINUSE", async () => {
    const taken: Server = createServer();
    await new Promise<void>((resolve) => taken.listen(0, "127.0.0.1", resolve));
    const address = taken.address();
    const port = typeof address === "object" && address ? address.port : 0;
    try {
      const error = (await startDataApiWorker({
        postgres: inject("postgres"),
        clusters: shards.clusters,
        port,
      }).catch((e: unknown) => e)) as NodeJS.ErrnoException;
      expect(error).toBeInstanceOf(Error);
      expect(error.code).toBe("EADDRINUSE");
    } finally {
      await new Promise<void>((resolve) => taken.close(() => resolve()));
    }
  });

  it("stops once, closing its port; a fault change after that is a no-op", async () => {
    const other = await startDataApiWorker({ postgres: inject("postgres"), clusters: shards.clusters });
    await Promise.all([other.stop(), other.stop()]);
    expect(await refused(other.port)).toBe(true);
    await other.setFault({ mode: "hang" });
    expect(other.fault).toBeUndefined();
  });
});
