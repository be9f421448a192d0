/**
 * Partial failure seen from a client: one shard (or all of them) hangs, is down, fails, is resuming or is slow, and
 * the API still answers 200 with the rows of the shards that answered, says which shard is missing and why, and
 * answers within the per-call timeout. Writes to a failing shard are 503s that change nothing.
 */
import { afterAll, afterEach, beforeAll, describe, expect, inject, it } from "vitest";
import type { Fault } from "../../local/faults.js";
import { type LocalRuntime, startLocalRuntime } from "../../local/runtime.js";
import { allRows, BREAKER_OFF, del, expectError, get, idsOf, post, put } from "../helpers/api-client.js";
import { ALL_IDS, idsWithout, SEED_ROWS, SHARD_IDS } from "../helpers/fixtures.js";
import { sleep } from "../helpers/wait.js";

/** Short, so the timeout cases stay quick, and long enough that error/resuming/down answers stay well under it. */
const TIMEOUT = 500;
/** What answering "within the timeout" may add on top of it: merging, serializing, HTTP on loopback. */
const SLACK = 250;
/** "At once": the SDK retries a 5xx or a socket error once, after a backoff of at most 100 ms. */
const FAST = 250;

let runtime: LocalRuntime;
/** A runtime with the default timeout (no SHARD_TIMEOUT_MS), to prove the 2000 ms default once. */
let defaults: LocalRuntime;

beforeAll(async () => {
  [runtime, defaults] = await Promise.all([
    startLocalRuntime({
      postgres: inject("postgres"),
      prefix: "api_faults",
      shardTimeoutMs: TIMEOUT,
      env: BREAKER_OFF,
    }),
    startLocalRuntime({ postgres: inject("postgres"), prefix: "api_faults_default", env: BREAKER_OFF }),
  ]);
  // The bounds below are about a warm API: the first call of a client resolves credentials and opens connections,
  // which alone can take longer than the slack.
  for (const { url } of [runtime, defaults]) {
    expect(await allRows(url)).toEqual(SEED_ROWS);
    expect((await put(url, 1, { name: "Test 1" })).status).toBe(200);
  }
});

afterEach(async () => {
  for (const shard of SHARD_IDS) {
    await runtime.setFault(shard, undefined);
    await defaults.setFault(shard, undefined);
  }
});

afterAll(async () => {
  await Promise.all([runtime?.stop(), defaults?.stop()]);
});

/** Requests shard `shard`'s Data API endpoint has received so far (faulted ones included, refused ones not). */
const requestsTo = (shard: number) => runtime.shards.find((s) => s.id === shard)?.endpoint.requests ?? 0;

interface ModeCase {
  readonly label: string;
  readonly fault: Fault;
  /** What the shard's report says: `ok`, `timeout`, or `error` with one of these names. */
  readonly status: "ok" | "timeout" | "error";
  readonly errors?: readonly string[];
  /** Requests the endpoint sees for one read; unset where it cannot count them (down: nothing listens). */
  readonly attempts?: number;
}

const MODES: readonly ModeCase[] = [
  { label: "hang", fault: { mode: "hang" }, status: "timeout", attempts: 1 },
  { label: `slow=${TIMEOUT * 2}`, fault: { mode: "slow", ms: TIMEOUT * 2 }, status: "timeout", attempts: 1 },
  // Connection refused. The keep-alive socket the SDK pooled before the shard went down fails first with a reset
  // (which @smithy/node-http-handler renames "TimeoutError"); the SDK retries it on a new connection, which is
  // refused, so a read's final name is ECONNREFUSED. ECONNRESET is accepted as the other truthful answer.
  { label: "down", fault: { mode: "down" }, status: "error", errors: ["ECONNREFUSED", "ECONNRESET"] },
  // A 5xx: the SDK retries it once (SHARD_MAX_ATTEMPTS=2), inside the one deadline.
  {
    label: "error",
    fault: { mode: "error" },
    status: "error",
    errors: ["InternalServerErrorException"],
    attempts: 2,
  },
  // A 400 the SDK does not retry.
  {
    label: "resuming",
    fault: { mode: "resuming" },
    status: "error",
    errors: ["DatabaseResumingException"],
    attempts: 1,
  },
  { label: `slow=${TIMEOUT / 5}`, fault: { mode: "slow", ms: TIMEOUT / 5 }, status: "ok", attempts: 1 },
];

const CASES = SHARD_IDS.flatMap((shard) => MODES.map((mode) => ({ shard, ...mode })));

describe("GET /data with one failing shard", () => {
  it.each(CASES)("answers 200 within its bounds when shard $shard is $label", async (c) => {
    await runtime.setFault(c.shard, c.fault);
    const before = requestsTo(c.shard);
    const answer = await get(runtime.url, "/data?limit=1000");
    expect(answer.status).toBe(200);
    const report = answer.body.shards.find((s: { shard: number }) => s.shard === c.shard);
    const others = answer.body.shards.filter((s: { shard: number }) => s.shard !== c.shard);
    expect(others.map((s: { status: string }) => s.status)).toEqual(["ok", "ok"]);
    // A failed shard may hold later rows: the page is never the last, `next` resumes after the last row read.
    expect(answer.body.next).toBe(c.status === "ok" ? null : answer.body.items.at(-1).id);

    if (c.status === "ok") {
      expect(idsOf(answer.body.items)).toEqual(ALL_IDS);
      expect(answer.body.partial).toBe(false);
      expect(report).toEqual({ shard: c.shard, status: "ok", count: 20, ms: expect.any(Number) });
      expect(report.ms).toBeGreaterThanOrEqual(TIMEOUT / 5 - 1);
      expect(answer.ms).toBeGreaterThanOrEqual(TIMEOUT / 5);
      expect(answer.ms).toBeLessThan(TIMEOUT);
    } else {
      expect(idsOf(answer.body.items)).toEqual(idsWithout(c.shard));
      expect(answer.body.partial).toBe(true);
    }
    if (c.status === "timeout") {
      expect(report).toEqual({ shard: c.shard, status: "timeout", ms: expect.any(Number) });
      // A timer may fire up to 1 ms early by the clock the shard's ms is measured with.
      expect(report.ms).toBeGreaterThanOrEqual(TIMEOUT - 1);
      expect(answer.ms).toBeGreaterThanOrEqual(TIMEOUT);
      expect(answer.ms).toBeLessThan(TIMEOUT + SLACK);
    }
    if (c.status === "error") {
      expect(report).toEqual({
        shard: c.shard,
        status: "error",
        error: expect.any(String),
        ms: expect.any(Number),
      });
      expect(c.errors).toContain(report.error);
      expect(answer.ms).toBeLessThan(FAST);
    }
    if (c.attempts !== undefined) {
      // A timed-out call must not be retried after its abort: give a retry the time it would need to show up.
      if (c.status === "timeout") await sleep(150);
      expect(requestsTo(c.shard) - before).toBe(c.attempts);
    }
  });

  it("answers 200 with no rows, partial and a next that retries, when every shard fails at once in a different way", async () => {
    await runtime.setFault(1, { mode: "hang" });
    await runtime.setFault(2, { mode: "down" });
    await runtime.setFault(3, { mode: "resuming" });
    const answer = await get(runtime.url, "/data");
    expect(answer.status).toBe(200);
    expect(answer.body.items).toEqual([]);
    // Nothing was read, not even a shard's word that the ids below 1 still have no owner: following `next` asks again
    // from the very first id, instead of ending the walk.
    expect(answer.body.next).toBe(-2_147_483_649);
    expect(answer.body.partial).toBe(true);
    expect(answer.body.shards).toEqual([
      { shard: 1, status: "timeout", ms: expect.any(Number) },
      {
        shard: 2,
        status: "error",
        error: expect.stringMatching(/^ECONN(REFUSED|RESET)$/),
        ms: expect.any(Number),
      },
      { shard: 3, status: "error", error: "DatabaseResumingException", ms: expect.any(Number) },
    ]);
    // The shards are called in parallel: the slowest one alone decides the answer time.
    expect(answer.ms).toBeGreaterThanOrEqual(TIMEOUT);
    expect(answer.ms).toBeLessThan(TIMEOUT + SLACK);
  });

  it("times a hung shard out after the default 2000 ms when SHARD_TIMEOUT_MS is not set", async () => {
    await defaults.setFault(2, { mode: "hang" });
    const answer = await get(defaults.url, "/data?limit=1000");
    expect(answer.status).toBe(200);
    expect(idsOf(answer.body.items)).toEqual(idsWithout(2));
    expect(answer.body.partial).toBe(true);
    const report = answer.body.shards.find((s: { shard: number }) => s.shard === 2);
    expect(report).toEqual({ shard: 2, status: "timeout", ms: expect.any(Number) });
    expect(report.ms).toBeGreaterThanOrEqual(1999);
    expect(answer.ms).toBeGreaterThanOrEqual(2000);
    expect(answer.ms).toBeLessThan(2300);
  });

  it("reads complete again once the fault is cleared", async () => {
    await runtime.setFault(1, { mode: "down" });
    expect((await get(runtime.url, "/data")).body.partial).toBe(true);
    await runtime.setFault(1, undefined);
    expect(await allRows(runtime.url)).toEqual(SEED_ROWS);
  });
});

describe("GET /data/{id} when its shard fails", () => {
  it.each([
    { label: "hung", fault: { mode: "hang" } as Fault, report: { status: "timeout" } },
    {
      label: "resuming",
      fault: { mode: "resuming" } as Fault,
      report: { status: "error", error: "DatabaseResumingException" },
    },
  ])(
    "answers 503 shard_unavailable, never 404, whose shards say why when shard 2 is $label",
    async ({ fault, report }) => {
      await runtime.setFault(2, fault);
      const answer = await get(runtime.url, "/data/42");
      expectError(
        answer,
        503,
        "shard_unavailable",
        /^id 42 could not be read: shard 2 did not answer; retry later$/,
      );
      expect(answer.headers.get("retry-after")).toBe("1");
      expect(answer.body.shard).toBe(2);
      expect(answer.body.shards).toEqual([{ shard: 2, ...report, ms: expect.any(Number) }]);
      expect(answer.ms).toBeLessThan(TIMEOUT + SLACK);
    },
  );

  it("reads an id of a healthy shard at once while another shard hangs", async () => {
    await runtime.setFault(2, { mode: "hang" });
    const answer = await get(runtime.url, "/data/5");
    expect(answer.status).toBe(200);
    expect(answer.body).toEqual({ item: { id: 5, name: "Test 5" }, shard: 1 });
    expect(answer.ms).toBeLessThan(FAST);
  });
});

describe("writes when the owning shard fails", () => {
  const FAILING: readonly { label: string; fault: Fault }[] = [
    { label: "hang", fault: { mode: "hang" } },
    { label: "down", fault: { mode: "down" } },
    { label: "error", fault: { mode: "error" } },
    { label: "resuming", fault: { mode: "resuming" } },
  ];

  /** What each fault lets the API know: only a refused connection proves the write never reached the database. */
  const OUTCOME: Record<Fault["mode"], "not_applied" | "unknown"> = {
    hang: "unknown",
    down: "not_applied",
    error: "unknown",
    resuming: "unknown",
    slow: "unknown",
  };

  function expectUnavailable(answer: Awaited<ReturnType<typeof get>>, shard: number, fault: Fault) {
    const outcome = OUTCOME[fault.mode];
    const message =
      outcome === "not_applied"
        ? `^shard ${shard} did not apply the write`
        : `^shard ${shard} did not confirm the write`;
    expectError(answer, 503, "shard_unavailable", new RegExp(message));
    expect(answer.body.outcome).toBe(outcome);
    expect(answer.body.shard).toBe(shard);
    expect(answer.headers.get("retry-after")).toBe("1");
    // An unknown outcome is answered once the write can no longer commit: at the shard deadline, not before.
    if (outcome === "unknown") expect(answer.ms).toBeGreaterThanOrEqual(TIMEOUT - 5);
    expect(answer.ms).toBeLessThan(TIMEOUT + SLACK);
  }

  it.each(FAILING)("answers POST with 503 and creates nothing when shard 1 is $label", async ({ fault }) => {
    expect((await del(runtime.url, 7)).status).toBe(204);
    await runtime.setFault(1, fault);
    const before = requestsTo(1);
    expectUnavailable(await post(runtime.url, { id: 7, name: "Never 7" }), 1, fault);
    // Writes make exactly one attempt: a retried INSERT could come back as a false duplicate.
    if (fault.mode !== "down") expect(requestsTo(1) - before).toBe(1);
    await runtime.setFault(1, undefined);
    expectError(await get(runtime.url, "/data/7"), 404, "not_found", /does not exist/);
    expect((await post(runtime.url, { id: 7, name: "Test 7" })).status).toBe(201);
    expect(await allRows(runtime.url)).toEqual(SEED_ROWS);
  });

  it.each(FAILING)("answers PUT with 503 and changes nothing when shard 2 is $label", async ({ fault }) => {
    await runtime.setFault(2, fault);
    expectUnavailable(await put(runtime.url, 42, { name: "Never 42" }), 2, fault);
    await runtime.setFault(2, undefined);
    expect(await allRows(runtime.url)).toEqual(SEED_ROWS);
  });

  it.each(FAILING)(
    "answers DELETE with 503 and deletes nothing when shard 3 is $label",
    async ({ fault }) => {
      await runtime.setFault(3, fault);
      expectUnavailable(await del(runtime.url, 55), 3, fault);
      await runtime.setFault(3, undefined);
      expect(await allRows(runtime.url)).toEqual(SEED_ROWS);
    },
  );

  it("writes to a healthy shard at once while another shard hangs", async () => {
    await runtime.setFault(2, { mode: "hang" });
    const answer = await put(runtime.url, 5, { name: "Renamed 5" });
    expect(answer.status).toBe(200);
    expect(answer.body).toEqual({ item: { id: 5, name: "Renamed 5" }, shard: 1 });
    expect(answer.ms).toBeLessThan(FAST);
    expect((await put(runtime.url, 5, { name: "Test 5" })).status).toBe(200);
  });

  it("never applies a write that reaches a slow shard after its deadline: the 503 says not_applied", async () => {
    // The shard runs the statement after its delay although the API gave up; the statement's own deadline
    // (statement_timestamp() <= :deadline) makes it do nothing, and says so, so it is never taken for a 404.
    await runtime.setFault(3, { mode: "slow", ms: TIMEOUT + 200 });
    expectUnavailable(await put(runtime.url, 55, { name: "Late 55" }), 3, { mode: "slow", ms: 0 });
    await runtime.setFault(3, undefined);
    await sleep(400);
    expect((await get(runtime.url, "/data/55")).body.item).toEqual({ id: 55, name: "Test 55" });
    expect(await allRows(runtime.url)).toEqual(SEED_ROWS);
  });

  it("answers not_applied at once when the statement itself reports it ran too late", async () => {
    // Slower than the deadline (60 % of the timeout) but faster than the timeout: the shard answers "late, did nothing".
    await runtime.setFault(3, { mode: "slow", ms: Math.round(TIMEOUT * 0.75) });
    const answer = await del(runtime.url, 55);
    await runtime.setFault(3, undefined);
    expectError(answer, 503, "shard_unavailable", /^shard 3 did not apply the write \(deadline\)/);
    expect(answer.body.outcome).toBe("not_applied");
    expect(await allRows(runtime.url)).toEqual(SEED_ROWS);
  });
});
