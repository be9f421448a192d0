/**
 * The per-shard circuit breaker seen from a client, on the real local runtime: a hung shard costs a request the whole
 * timeout only until the breaker has seen it fail; then it is skipped at once (`unavailable`), writes to it are
 * refused unsent, and once it heals one read probes it and its rows are back.
 */
import { afterAll, afterEach, beforeAll, describe, expect, inject, it } from "vitest";
import { type LocalRuntime, startLocalRuntime } from "../../local/runtime.js";
import { type Answer, get, idsOf, post, put } from "../helpers/api-client.js";
import { ALL_IDS, idsWithout, seedIdsOf } from "../helpers/fixtures.js";
import { expectMatchesContract } from "../helpers/openapi-contract.js";
import { eventually, sleep } from "../helpers/wait.js";

const TIMEOUT = 300;
const THRESHOLD = 2;
const COOLDOWN = 1500;

let runtime: LocalRuntime;

beforeAll(async () => {
  runtime = await startLocalRuntime({
    postgres: inject("postgres"),
    prefix: "api_breaker",
    shardTimeoutMs: TIMEOUT,
    env: { BREAKER_FAILURE_THRESHOLD: String(THRESHOLD), BREAKER_COOLDOWN_MS: String(COOLDOWN) },
  });
  // Warm: the first call of each client resolves credentials and opens connections.
  expect((await get(runtime.url, "/data?limit=1000")).status).toBe(200);
});

afterEach(async () => {
  await runtime.setFault(2, undefined);
  // Leave every breaker closed for the next test: after the cool-down, a read readmits a healed shard.
  const healed = await eventually(
    async () => !(await get(runtime.url, "/data?limit=1000")).body.partial,
    COOLDOWN * 3,
  );
  expect(healed).toBe(true);
});

afterAll(async () => {
  await runtime?.stop();
});

const requestsTo = (shard: number) => runtime.shards.find((s) => s.id === shard)?.endpoint.requests ?? 0;
const reportOf = (answer: Answer, shard: number) =>
  answer.body.shards.find((s: { shard: number }) => s.shard === shard);
const breakers = async () =>
  (await get(runtime.url, "/_local/faults")).body.faults.map((f: { breaker: string }) => f.breaker);

/** Hangs shard 2 and reads until its breaker opens: THRESHOLD reads that each wait the whole timeout. */
async function openShard2(): Promise<void> {
  await runtime.setFault(2, { mode: "hang" });
  for (let i = 0; i < THRESHOLD; i++) {
    const page = await get(runtime.url, "/data?limit=1000");
    expect(reportOf(page, 2)).toMatchObject({ status: "timeout" });
    expect(page.ms).toBeGreaterThanOrEqual(TIMEOUT - 5);
  }
  expect(await breakers()).toEqual(["closed", "open", "closed"]);
}

describe("a hung shard behind its circuit breaker", () => {
  it("is skipped at once, as unavailable, once it has failed THRESHOLD times in a row", async () => {
    await openShard2();
    const before = requestsTo(2);
    const page = await get(runtime.url, "/data?limit=1000");
    expect(page.status).toBe(200);
    expect(page.ms).toBeLessThan(TIMEOUT);
    expect(requestsTo(2)).toBe(before);
    expect(reportOf(page, 2)).toEqual({
      shard: 2,
      status: "unavailable",
      reason: "circuit_open",
      lastFailure: "timeout",
      retryAfterMs: expect.any(Number),
    });
    expect(reportOf(page, 2).retryAfterMs).toBeLessThanOrEqual(COOLDOWN);
    // Exact about what is present: every row of the healthy shards, none of the skipped one's, and a page that
    // does not claim to be the last.
    expect(idsOf(page.body.items)).toEqual(idsWithout(2));
    expect(page.body.partial).toBe(true);
    expect(page.body.next).not.toBeNull();
    expectMatchesContract("GET", "/data", page as unknown as Response, page.body);
  });

  it("answers a point read of its ids with 503 and the remaining cool-down, without calling it", async () => {
    await openShard2();
    const before = requestsTo(2);
    const id = seedIdsOf(2)[0] as number;
    const answer = await get(runtime.url, `/data/${id}`);
    expect(answer.status).toBe(503);
    expect(answer.body.error.code).toBe("shard_unavailable");
    expect(answer.body.shards).toEqual([expect.objectContaining({ shard: 2, status: "unavailable" })]);
    expect(Number(answer.headers.get("retry-after"))).toBeGreaterThanOrEqual(1);
    expect(Number(answer.headers.get("retry-after"))).toBeLessThanOrEqual(Math.ceil(COOLDOWN / 1000));
    expect(requestsTo(2)).toBe(before);
    expectMatchesContract("GET", "/data/{id}", answer as unknown as Response, answer.body);
  });

  it("refuses writes to it at once, not_applied, never sent", async () => {
    await openShard2();
    const before = requestsTo(2);
    const answer = await post(runtime.url, { id: 15, name: "never sent" });
    expect(answer.status).toBe(503);
    expect(answer.ms).toBeLessThan(TIMEOUT);
    expect(answer.body).toMatchObject({ outcome: "not_applied", shard: 2 });
    expect(Number(answer.headers.get("retry-after"))).toBeGreaterThanOrEqual(1);
    expect(requestsTo(2)).toBe(before);
    expectMatchesContract("POST", "/data", answer as unknown as Response, answer.body);
  });

  it("is probed by one read after the cool-down and readmitted when it answers", async () => {
    await openShard2();
    await runtime.setFault(2, undefined);
    // Healed, but the breaker does not know yet: skipped until the cool-down ends.
    expect(reportOf(await get(runtime.url, "/data?limit=1000"), 2)).toMatchObject({ status: "unavailable" });
    await sleep(COOLDOWN);
    const page = await get(runtime.url, "/data?limit=1000");
    expect(reportOf(page, 2)).toMatchObject({ status: "ok" });
    expect(idsOf(page.body.items)).toEqual(ALL_IDS);
    expect(await breakers()).toEqual(["closed", "closed", "closed"]);
  });

  it("stays skipped for another cool-down when the probe fails", async () => {
    await openShard2();
    await sleep(COOLDOWN);
    const probe = await get(runtime.url, "/data?limit=1000");
    expect(reportOf(probe, 2)).toMatchObject({ status: "timeout" });
    const after = await get(runtime.url, "/data?limit=1000");
    expect(reportOf(after, 2)).toMatchObject({ status: "unavailable" });
    expect(reportOf(after, 2).retryAfterMs).toBeGreaterThan(COOLDOWN - TIMEOUT * 2);
  });

  it("lets a write through after the cool-down once a read has found the shard back", async () => {
    await openShard2();
    await runtime.setFault(2, undefined);
    await sleep(COOLDOWN);
    const renamed = await put(runtime.url, 16, { name: "after the probe" });
    try {
      expect(renamed.status).toBe(200);
      expect((await get(runtime.url, "/data/16")).body.item).toEqual({ id: 16, name: "after the probe" });
    } finally {
      await put(runtime.url, 16, { name: "Test 16" });
    }
  });
});
