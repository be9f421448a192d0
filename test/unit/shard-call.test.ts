import { ExecuteStatementCommand } from "@aws-sdk/client-rds-data";
import { afterAll, afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { ShardTimeoutError } from "../../functions/core/errors.js";
import { callWithDeadline, errorName } from "../../functions/core/shard-call.js";
import { ARN_1, ARN_2, ARN_3, SEED_ROWS, seedIdsOf } from "../helpers/fixtures.js";
import {
  abortSignals,
  answerAfter,
  answerFrom,
  calledArns,
  hang,
  mockDataApi,
  seededTable,
} from "../helpers/unit-data-api.js";

const mock = mockDataApi();
beforeEach(() => {
  mock.reset();
});
afterEach(() => {
  vi.useRealTimers();
});
afterAll(() => {
  mock.restore();
});

const onShard = (resourceArn: string) => mock.on(ExecuteStatementCommand, { resourceArn });

/** The abort signal `send` received for the shard behind `arn`. */
function signalFor(arn: string): AbortSignal {
  const index = calledArns(mock).indexOf(arn);
  const signal = abortSignals(mock)[index];
  if (!signal) throw new Error(`no abort signal was passed for ${arn}`);
  return signal;
}

describe("per-shard deadlines", () => {
  it("answers when a hung shard's timeout fires, not later, with the healthy shards' rows", async () => {
    const { table } = seededTable(mock, { SHARD_TIMEOUT_MS: "50" });
    onShard(ARN_2).callsFake(hang);

    const started = performance.now();
    const result = await table.list({ limit: 100 });
    const elapsed = performance.now() - started;

    expect(elapsed).toBeGreaterThanOrEqual(40);
    expect(elapsed).toBeLessThan(50 + 200);
    const missing = new Set(seedIdsOf(2));
    expect(result.items).toEqual(SEED_ROWS.filter((r) => !missing.has(r.id)));
    expect(result.partial).toBe(true);
    const report = result.shards[1];
    expect(report).toEqual({ shard: 2, status: "timeout", ms: expect.any(Number) });
    expect(report?.status === "timeout" && report.ms).toBeGreaterThanOrEqual(40);
  });

  it("waits for a slow shard that answers inside its timeout", async () => {
    const { table, stores } = seededTable(mock, { SHARD_TIMEOUT_MS: "1000" });
    onShard(ARN_3).callsFake(answerAfter(stores.get(3), 30));
    const result = await table.list({ limit: 100 });
    expect(result.items).toEqual(SEED_ROWS);
    expect(result.partial).toBe(false);
    expect(result.shards[2]).toMatchObject({ shard: 3, status: "ok", count: 20 });
  });

  it("runs the shards in parallel, so three slow shards cost one delay, not three", async () => {
    const { table, stores } = seededTable(mock, { SHARD_TIMEOUT_MS: "1000" });
    onShard(ARN_1).callsFake(answerAfter(stores.get(1), 80));
    onShard(ARN_2).callsFake(answerAfter(stores.get(2), 80));
    onShard(ARN_3).callsFake(answerAfter(stores.get(3), 80));
    const started = performance.now();
    const result = await table.list({ limit: 100 });
    expect(performance.now() - started).toBeLessThan(200);
    expect(result.items).toHaveLength(60);
  });

  it("aborts the signal handed to send when the shard times out, with a ShardTimeoutError as reason", async () => {
    const { table } = seededTable(mock, { SHARD_TIMEOUT_MS: "50" });
    onShard(ARN_2).callsFake(hang);
    await table.list({ limit: 100 });

    expect(abortSignals(mock)).toHaveLength(3);
    const hung = signalFor(ARN_2);
    expect(hung.aborted).toBe(true);
    expect(hung.reason).toBeInstanceOf(ShardTimeoutError);
    expect(hung.reason).toMatchObject({ shard: 2, timeoutMs: 50 });
    expect(hung.reason.message).toBe("shard 2 did not answer within 50 ms");
    expect(signalFor(ARN_1).aborted).toBe(false);
    expect(signalFor(ARN_3).aborted).toBe(false);
  });

  it("reports a timeout, not an error, when the call rejects because its signal was aborted", async () => {
    const { table } = seededTable(mock, { SHARD_TIMEOUT_MS: "50" });
    const aborted = Object.assign(new Error("Request aborted"), { name: "AbortError" });
    onShard(ARN_2).callsFake(() => {
      const signal = abortSignals(mock).at(-1);
      return new Promise((_, reject) => {
        signal?.addEventListener("abort", () => reject(aborted));
      });
    });
    const result = await table.list({ limit: 100 });
    expect(result.shards[1]).toEqual({ shard: 2, status: "timeout", ms: expect.any(Number) });
    expect(result.items).toHaveLength(40);
  });

  it("gives every shard call the default 2 s deadline", async () => {
    vi.useFakeTimers();
    const { table } = seededTable(mock);
    onShard(ARN_1).callsFake(hang);
    let settled = false;
    const pending = table.list({ limit: 100 }).then((r) => {
      settled = true;
      return r;
    });
    await vi.advanceTimersByTimeAsync(1999);
    expect(settled).toBe(false);
    await vi.advanceTimersByTimeAsync(1);
    expect(settled).toBe(true);
    const result = await pending;
    expect(result.shards[0]).toMatchObject({ shard: 1, status: "timeout" });
    expect(result.items).toHaveLength(40);
  });

  it("leaves no timer pending once every shard has answered", async () => {
    vi.useFakeTimers();
    const { table } = seededTable(mock);
    const pending = table.list({ limit: 100 });
    // The calls are sent on the next turn of the (fake) event loop.
    await vi.advanceTimersByTimeAsync(0);
    expect((await pending).shards.map((r) => r.status)).toEqual(["ok", "ok", "ok"]);
    expect(vi.getTimerCount()).toBe(0);
  });

  it("measures each shard's ms with the injected clock", async () => {
    let t = 1000;
    const { table, stores } = seededTable(mock, {}, () => t);
    const store1 = stores.get(1) ?? new Map();
    onShard(ARN_1).callsFake((input) => {
      t += 25;
      return answerFrom(store1)(input);
    });
    const result = await table.list({ limit: 100, to: 10 });
    expect(result.shards[0]).toEqual({ shard: 1, status: "ok", count: 10, ms: 25 });
  });
});

describe("arming deadlines before sending", () => {
  it("arms the deadline of every call dispatched together before it sends any of them", async () => {
    const events: string[] = [];
    const send = (name: string) => async () => {
      events.push(`send ${name}`);
      return name;
    };
    const a = callWithDeadline(1, 2000, send("a"));
    events.push("a armed");
    const b = callWithDeadline(2, 2000, send("b"));
    events.push("b armed");
    expect(await Promise.all([a, b])).toEqual([
      { shard: 1, status: "ok", value: "a", ms: expect.any(Number) },
      { shard: 2, status: "ok", value: "b", ms: expect.any(Number) },
    ]);
    expect(events).toEqual(["a armed", "b armed", "send a", "send b"]);
  });

  it("never sends a call whose deadline passed before the event loop got to it", async () => {
    let sent = false;
    const send = async () => {
      sent = true;
      return "too late";
    };
    // Dispatched from the check phase, the send waits for the next loop's check phase; the loop stalls for 5 ms
    // first, so the next timers phase fires the 1 ms deadline before the send's turn.
    const { pending } = await new Promise<{ pending: ReturnType<typeof callWithDeadline<string>> }>(
      (resolve) =>
        setImmediate(() => {
          const call = callWithDeadline(1, 1, send);
          const until = performance.now() + 5;
          while (performance.now() < until) {
            // a stalled loop
          }
          resolve({ pending: call });
        }),
    );
    expect(await pending).toEqual({ shard: 1, status: "timeout", ms: expect.any(Number) });
    // The outcome is in before the check phase where the send would run: let that phase pass first.
    await new Promise((resolve) => setImmediate(resolve));
    await new Promise((resolve) => setImmediate(resolve));
    expect(sent).toBe(false);
  });

  it("counts the time before the send against the deadline", async () => {
    let t = 0;
    const pending = callWithDeadline(
      1,
      2000,
      async () => {
        t += 30;
        return "late";
      },
      () => t,
    );
    t += 5; // work of other requests before this call is sent
    expect(await pending).toEqual({ shard: 1, status: "ok", value: "late", ms: 35 });
  });
});

describe("the Lambda's remaining time", () => {
  it("caps the shard timeout at the remaining time minus DEADLINE_MARGIN_MS", async () => {
    const { table } = seededTable(mock, { DEADLINE_MARGIN_MS: "250" });
    onShard(ARN_2).callsFake(hang);
    const started = performance.now();
    const result = await table.list({ limit: 100 }, { remainingMs: 330 });
    const elapsed = performance.now() - started;

    expect(signalFor(ARN_2).reason).toMatchObject({ timeoutMs: 80 });
    expect(elapsed).toBeLessThan(330 - 100);
    expect(result.shards[1]).toMatchObject({ shard: 2, status: "timeout" });
    expect(result.items).toHaveLength(40);
  });

  it("leaves the configured timeout alone when there is time to spare", async () => {
    const { table } = seededTable(mock, { SHARD_TIMEOUT_MS: "40" });
    onShard(ARN_3).callsFake(hang);
    await table.list({ limit: 100 }, { remainingMs: 60_000 });
    expect(signalFor(ARN_3).reason).toMatchObject({ timeoutMs: 40 });
  });

  it("still gives each shard 1 ms when the margin has already eaten the remaining time", async () => {
    // Fake timers make the order certain: the calls are sent (at 0 ms) before the 1 ms deadline fires.
    vi.useFakeTimers();
    const { table } = seededTable(mock);
    onShard(ARN_1).callsFake(hang);
    const pending = table.list({ limit: 100 }, { remainingMs: 100 });
    await vi.advanceTimersByTimeAsync(1);
    const result = await pending;
    expect(signalFor(ARN_1).reason).toMatchObject({ timeoutMs: 1 });
    expect(result.shards[0]).toMatchObject({ status: "timeout" });
  });

  it("caps the deadline of single-row reads and writes too", async () => {
    const { table } = seededTable(mock, { DEADLINE_MARGIN_MS: "100" });
    mock.on(ExecuteStatementCommand).callsFake(hang);
    // 1400 ms instead of 2000: still room for a write's 500 ms statement timeout and 300 ms margin.
    await expect(table.get(5, { remainingMs: 1500 })).rejects.toMatchObject({
      name: "RowUnknownError",
      shards: [{ shard: 1, status: "timeout", ms: expect.any(Number) }],
    });
    await expect(table.remove(5, { remainingMs: 1500 })).rejects.toMatchObject({
      name: "ShardUnavailableError",
      reason: "timeout",
    });
    // Each call gets what is left of the request's one deadline: 1400 ms at the start, a millisecond less after the
    // write's own preparations.
    const timeouts = abortSignals(mock).map(
      (s) => (s?.reason as ShardTimeoutError | undefined)?.timeoutMs ?? 0,
    );
    expect(timeouts).toHaveLength(2);
    for (const ms of timeouts) expect(ms).toBeGreaterThanOrEqual(1395);
    for (const ms of timeouts) expect(ms).toBeLessThanOrEqual(1400);
  });

  it("does not send a write when the time left cannot hold its statement timeout and safety margin", async () => {
    const { table } = seededTable(mock, { DEADLINE_MARGIN_MS: "100", SHARD_TIMEOUT_MS: "2000" });
    // 700 ms left, but a write needs 500 ms of statement timeout and 300 ms of margin after it starts.
    await expect(table.remove(5, { remainingMs: 800 })).rejects.toMatchObject({
      reason: "WriteNotSentError",
      outcome: "not_applied",
    });
    expect(mock).toHaveReceivedCommandTimes(ExecuteStatementCommand, 0);
  });
});

const withCode = (error: Error, code: string) => Object.assign(error, { code });
const named = (name: string, code?: string) => {
  const error = new Error("details that must not reach a client");
  error.name = name;
  return code === undefined ? error : withCode(error, code);
};

describe("errorName", () => {
  it("names an SDK exception by its class name", () => {
    expect(errorName(named("DatabaseResumingException"))).toBe("DatabaseResumingException");
  });

  it("names a plain network error by its system code", () => {
    expect(errorName(withCode(new Error("connect ECONNREFUSED"), "ECONNREFUSED"))).toBe("ECONNREFUSED");
  });

  it("names a socket error the SDK renamed to TimeoutError by its code, so a reset never reads like a timeout", () => {
    expect(errorName(named("TimeoutError", "ECONNRESET"))).toBe("ECONNRESET");
    expect(errorName(named("TimeoutError"))).toBe("TimeoutError");
  });

  it("never passes on a name that is not a plain identifier, nor anything that is not an Error", () => {
    expect(errorName(named("<script>"))).toBe("UnknownError");
    expect(errorName("boom")).toBe("UnknownError");
  });
});
