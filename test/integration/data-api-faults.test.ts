/**
 * Fault injection on the local Data API endpoint, seen from the real `RDSDataClient`: what a caller gets from a
 * shard that hangs, is down, fails, is resuming or is slow.
 */
import { connect } from "node:net";
import {
  DatabaseResumingException,
  ExecuteStatementCommand,
  InternalServerErrorException,
  type RDSDataClient,
} from "@aws-sdk/client-rds-data";
import { afterAll, afterEach, beforeAll, describe, expect, inject, it } from "vitest";
import { ConfigError } from "../../functions/core/errors.js";
import { startDataApiEndpoint } from "../../local/data-api/index.js";
import { formatFault, parseFault, parseFaults } from "../../local/faults.js";
import { dataApiClient, startTestShards, type TestShards } from "../helpers/data-api.js";
import { eventually } from "../helpers/wait.js";

let shards: TestShards;

function select(client: RDSDataClient = shards.client, abortSignal?: AbortSignal) {
  const cluster = shards.clusters[0];
  const command = new ExecuteStatementCommand({
    resourceArn: cluster?.resourceArn,
    secretArn: cluster?.secretArn,
    sql: "SELECT id FROM data_1 ORDER BY id LIMIT 2",
  });
  return client.send(command, { abortSignal });
}

const SEEDED = [[{ longValue: 1 }], [{ longValue: 2 }]];

/** Whether a TCP connection to the port is refused. */
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
  shards = await startTestShards(inject("postgres"), "dapi_faults");
});

afterEach(async () => {
  await shards.endpoint.setFault(undefined);
});

afterAll(async () => {
  await shards?.stop();
});

describe("hang", () => {
  it("accepts the request and never answers, so the caller's abort ends the call after one attempt", async () => {
    await shards.endpoint.setFault({ mode: "hang" });
    const client = dataApiClient(shards.endpoint.url, { maxAttempts: 3 });
    const before = shards.endpoint.requests;
    const started = Date.now();
    const error = await select(client, AbortSignal.timeout(300)).catch((e: unknown) => e);
    expect((error as Error).name).toBe("AbortError");
    expect(Date.now() - started).toBeLessThan(2000);
    expect(shards.endpoint.requests - before).toBe(1);
    // The SDK destroys the socket on abort, and the endpoint sees the connection go.
    expect(await eventually(() => shards.endpoint.pending === 0)).toBe(true);
    client.destroy();
  });

  it("applies a fault change to new requests at once while a hung request keeps hanging", async () => {
    await shards.endpoint.setFault({ mode: "hang" });
    const controller = new AbortController();
    const hung = select(shards.client, controller.signal).catch((e: unknown) => e);
    expect(await eventually(() => shards.endpoint.pending === 1)).toBe(true);
    await shards.endpoint.setFault(undefined);
    const fresh = dataApiClient(shards.endpoint.url);
    expect((await select(fresh)).records).toEqual(SEEDED);
    expect(shards.endpoint.pending).toBe(1);
    controller.abort();
    expect(((await hung) as Error).name).toBe("AbortError");
    fresh.destroy();
  });

  it("stop() destroys hung connections and resolves quickly", async () => {
    const cluster = shards.clusters[0];
    if (!cluster) throw new Error("no cluster");
    const endpoint = await startDataApiEndpoint({
      postgres: inject("postgres"),
      clusters: [cluster],
      fault: { mode: "hang" },
    });
    const client = dataApiClient(endpoint.url);
    const hung = select(client).catch((e: unknown) => e);
    expect(await eventually(() => endpoint.pending === 1)).toBe(true);
    const started = Date.now();
    await endpoint.stop();
    expect(Date.now() - started).toBeLessThan(1000);
    const error = (await hung) as NodeJS.ErrnoException;
    expect(error).toBeInstanceOf(Error);
    expect(error.name).not.toBe("AbortError");
    client.destroy();
  });
});

describe("down", () => {
  it("refuses connections while down and serves again on the same port once the fault is cleared", async () => {
    const { url, port } = shards.endpoint;
    expect((await select()).records).toEqual(SEEDED);
    await shards.endpoint.setFault({ mode: "down" });
    expect(await refused(port)).toBe(true);
    // A fresh client: a pooled keep-alive socket of the old listener would fail with ECONNRESET instead.
    const fresh = dataApiClient(url);
    const error = (await select(fresh).catch((e: unknown) => e)) as NodeJS.ErrnoException;
    fresh.destroy();
    expect(error.code).toBe("ECONNREFUSED");
    await shards.endpoint.setFault(undefined);
    expect(shards.endpoint.url).toBe(url);
    expect(await refused(port)).toBe(false);
    expect((await select()).records).toEqual(SEEDED);
  });

  it("can start down on a known port and come up there later", async () => {
    const cluster = shards.clusters[0];
    if (!cluster) throw new Error("no cluster");
    const endpoint = await startDataApiEndpoint({
      postgres: inject("postgres"),
      clusters: [cluster],
      fault: { mode: "down" },
    });
    try {
      expect(endpoint.port).toBeGreaterThan(0);
      expect(await refused(endpoint.port)).toBe(true);
      await endpoint.setFault(undefined);
      const client = dataApiClient(endpoint.url);
      expect((await select(client)).records).toEqual(SEEDED);
      client.destroy();
    } finally {
      await endpoint.stop();
    }
  });
});

describe("error", () => {
  it("answers 500 InternalServerErrorException, which the SDK retries up to maxAttempts", async () => {
    await shards.endpoint.setFault({ mode: "error" });
    const client = dataApiClient(shards.endpoint.url, { maxAttempts: 2 });
    const before = shards.endpoint.requests;
    const error = await select(client).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(InternalServerErrorException);
    expect((error as InternalServerErrorException).$metadata.httpStatusCode).toBe(500);
    expect(shards.endpoint.requests - before).toBe(2);
    client.destroy();
  });
});

describe("resuming", () => {
  it("answers 400 DatabaseResumingException with AWS's message, which the SDK does not retry", async () => {
    await shards.endpoint.setFault({ mode: "resuming" });
    const client = dataApiClient(shards.endpoint.url, { maxAttempts: 3 });
    const before = shards.endpoint.requests;
    const error = await select(client).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(DatabaseResumingException);
    expect((error as Error).message).toMatch(
      /^The Aurora DB instance db-[A-Z2-7]{26} is resuming after being auto-paused\. Please wait a few seconds and try again\.$/,
    );
    expect((error as DatabaseResumingException).$metadata.httpStatusCode).toBe(400);
    expect(shards.endpoint.requests - before).toBe(1);
    client.destroy();
  });
});

describe("SHARD_FAULTS", () => {
  it("parses shard faults and formats them back", () => {
    const faults = parseFaults("2:hang, 3:slow=300,1:down,4:error,5:resuming,");
    expect([...faults]).toEqual([
      [2, { mode: "hang" }],
      [3, { mode: "slow", ms: 300 }],
      [1, { mode: "down" }],
      [4, { mode: "error" }],
      [5, { mode: "resuming" }],
    ]);
    expect([...faults.values()].map(formatFault)).toEqual(["hang", "slow=300", "down", "error", "resuming"]);
    expect(parseFaults(undefined).size).toBe(0);
    expect(parseFault("slow=0")).toEqual({ mode: "slow", ms: 0 });
  });

  it("rejects a bad entry with a ConfigError that names it", () => {
    for (const [spec, entry] of [
      ["2:hang,3:sleepy", "3:sleepy"],
      ["x:hang", "x:hang"],
      ["2", "2"],
      ["2:slow=", "2:slow="],
      ["2:hang,2:down", "2:down"],
    ] as const) {
      expect(() => parseFaults(spec)).toThrow(ConfigError);
      expect(() => parseFaults(spec)).toThrow(`SHARD_FAULTS entry "${entry}"`);
    }
  });
});

describe("slow", () => {
  it("answers normally, after the delay", async () => {
    await shards.endpoint.setFault({ mode: "slow", ms: 300 });
    expect(shards.endpoint.fault).toEqual({ mode: "slow", ms: 300 });
    const started = performance.now();
    const out = await select();
    expect(performance.now() - started).toBeGreaterThanOrEqual(295);
    expect(out.records).toEqual(SEEDED);
  });
});
