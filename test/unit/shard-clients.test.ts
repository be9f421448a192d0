/**
 * The real SDK client (no aws-sdk-client-mock in this file) against tiny local HTTP servers speaking the Data API's
 * wire protocol: what the deadline and the retry settings do to actual requests and sockets.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import type { ExecuteStatementCommandInput } from "@aws-sdk/client-rds-data";
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it, vi } from "vitest";
import { loadConfig } from "../../functions/core/config.js";
import { createShardClients } from "../../functions/core/data-api.js";
import { ShardedTable } from "../../functions/core/sharded-table.js";
import { type RawShard, rawShards, SEED_ROWS, SHARD_ARNS, seedIdsOf } from "../helpers/fixtures.js";
import { answerFrom, seededStores } from "../helpers/unit-data-api.js";
import { eventually, sleep } from "../helpers/wait.js";

interface FakeEndpoint {
  readonly url: string;
  /** When each request arrived and when its socket closed (performance.now()). */
  readonly arrivals: number[];
  readonly closes: number[];
  close(): Promise<void>;
}

type Responder = (req: IncomingMessage, res: ServerResponse, body: string) => void;

const servers: Server[] = [];

function closeServer(server: Server): Promise<void> {
  server.closeAllConnections();
  return new Promise((resolve) => server.close(() => resolve()));
}

async function startEndpoint(answer: Responder): Promise<FakeEndpoint> {
  const arrivals: number[] = [];
  const closes: number[] = [];
  const server = createServer((req, res) => {
    arrivals.push(performance.now());
    req.socket.once("close", () => closes.push(performance.now()));
    let body = "";
    req.setEncoding("utf8");
    req.on("data", (chunk: string) => {
      body += chunk;
    });
    req.on("end", () => answer(req, res, body));
  });
  servers.push(server);
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  return { url: `http://127.0.0.1:${port}`, arrivals, closes, close: () => closeServer(server) };
}

/** Answers like the Data API would, from the seeded stores, for whichever shard the resourceArn names. */
const stores = seededStores();
const healthy: Responder = (_req, res, body) => {
  const input = JSON.parse(body) as ExecuteStatementCommandInput;
  const shard = Number(Object.entries(SHARD_ARNS).find(([, arn]) => arn === input.resourceArn)?.[0]);
  const store = stores.get(shard);
  if (!store) {
    res.writeHead(400, { "content-type": "application/json", "x-amzn-errortype": "BadRequestException" });
    res.end(JSON.stringify({ message: "unknown resourceArn" }));
    return;
  }
  res.writeHead(200, { "content-type": "application/json" });
  res.end(JSON.stringify(answerFrom(store)(input)));
};

/** Answers every request with the Data API error `errorType`, the way the service sends one. */
function failing(status: number, errorType: string): Responder {
  return (_req, res) => {
    res.writeHead(status, { "content-type": "application/json", "x-amzn-ErrorType": errorType });
    res.end(JSON.stringify({ message: `${errorType} from the fake endpoint` }));
  };
}

const never: Responder = () => {};

/** A table over real clients whose shard 2 lives at `shard2Url` and the others at the healthy endpoint. */
function tableWithShard2At(shard2Url: string, okUrl: string, env: Record<string, string> = {}) {
  const patch: Record<number, Partial<RawShard>> = {
    1: { endpoint: okUrl },
    2: { endpoint: shard2Url },
    3: { endpoint: okUrl },
  };
  const config = loadConfig({ SHARDS: JSON.stringify(rawShards(patch)), ...env });
  const clients = createShardClients(config);
  return { config, clients, table: new ShardedTable({ config, clients }) };
}

const withoutShard2 = () => {
  const missing = new Set(seedIdsOf(2));
  return SEED_ROWS.filter((r) => !missing.has(r.id));
};

let ok: FakeEndpoint;

beforeAll(async () => {
  ok = await startEndpoint(healthy);
});
beforeEach(() => {
  // Static test credentials, so the SDK signs requests without looking for a real identity.
  vi.stubEnv("AWS_ACCESS_KEY_ID", "AKIDEXAMPLE");
  vi.stubEnv("AWS_SECRET_ACCESS_KEY", "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY");
  vi.stubEnv("AWS_EC2_METADATA_DISABLED", "true");
});
afterEach(() => {
  vi.unstubAllEnvs();
});
afterAll(async () => {
  await Promise.all(servers.filter((s) => s.listening).map(closeServer));
});

describe("the real SDK client under the per-call deadline", () => {
  it("reads every shard through real HTTP when all of them answer", async () => {
    const { table } = tableWithShard2At(ok.url, ok.url);
    const result = await table.list({ limit: 100 });
    expect(result.items).toEqual(SEED_ROWS);
    expect(result.partial).toBe(false);
  });

  it("attempts a timed-out call exactly once, though reads allow 2 attempts, and destroys its socket", async () => {
    const hung = await startEndpoint(never);
    const { config, clients, table } = tableWithShard2At(hung.url, ok.url, { SHARD_TIMEOUT_MS: "200" });
    expect(config.maxAttempts).toBe(2);
    expect(await clients.read.get(2)?.config.maxAttempts()).toBe(2);

    const started = performance.now();
    const result = await table.list({ limit: 100 });
    const elapsed = performance.now() - started;

    expect(result.shards[1]).toMatchObject({ shard: 2, status: "timeout" });
    expect(result.items).toEqual(withoutShard2());
    expect(elapsed).toBeGreaterThanOrEqual(190);
    expect(elapsed).toBeLessThan(200 + 300);

    expect(await eventually(() => hung.closes.length > 0, 1000, 5)).toBe(true);
    const closedAfter = (hung.closes[0] ?? Number.NaN) - started;
    expect(closedAfter).toBeGreaterThanOrEqual(190);
    expect(closedAfter).toBeLessThan(200 + 250);

    // A retry of the aborted attempt would arrive within the SDK's backoff; give it the chance to show up.
    await sleep(350);
    expect(hung.arrivals).toHaveLength(1);
    await hung.close();
  });

  it("retries a quick 500 InternalServerErrorException once: 2 requests, then reports the error", async () => {
    const broken = await startEndpoint(failing(500, "InternalServerErrorException"));
    const { table } = tableWithShard2At(broken.url, ok.url, { SHARD_TIMEOUT_MS: "3000" });
    const result = await table.list({ limit: 100 });
    expect(result.shards[1]).toEqual({
      shard: 2,
      status: "error",
      error: "InternalServerErrorException",
      ms: expect.any(Number),
    });
    expect(broken.arrivals).toHaveLength(2);
    expect(result.items).toEqual(withoutShard2());
    await broken.close();
  });

  it("does not retry a DatabaseResumingException", async () => {
    const resuming = await startEndpoint(failing(400, "DatabaseResumingException"));
    const { table } = tableWithShard2At(resuming.url, ok.url, { SHARD_TIMEOUT_MS: "3000" });
    const result = await table.list({ limit: 100, from: 11, to: 20 });
    expect(result.shards[1]).toMatchObject({ shard: 2, status: "error", error: "DatabaseResumingException" });
    expect(resuming.arrivals).toHaveLength(1);
    await resuming.close();
  });

  it("makes a single attempt for a write even when the shard answers a retryable 500", async () => {
    const broken = await startEndpoint(failing(500, "InternalServerErrorException"));
    const { table } = tableWithShard2At(broken.url, ok.url, { SHARD_TIMEOUT_MS: "3000" });
    await expect(table.create({ id: 12, name: "x" })).rejects.toMatchObject({
      name: "ShardUnavailableError",
      reason: "InternalServerErrorException",
    });
    expect(broken.arrivals).toHaveLength(1);
    await broken.close();
  });

  it("reports ECONNREFUSED when nothing listens at a shard's endpoint", async () => {
    const gone = await startEndpoint(never);
    await gone.close();
    const { table } = tableWithShard2At(gone.url, ok.url, { SHARD_TIMEOUT_MS: "3000" });
    const result = await table.list({ limit: 100 });
    expect(result.shards[1]).toMatchObject({ shard: 2, status: "error", error: "ECONNREFUSED" });
    expect(result.items).toEqual(withoutShard2());
  });
});
