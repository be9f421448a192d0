import { describe, expect, it } from "vitest";
import { type BreakerChange, meansUnavailable, ShardBreakers } from "../../functions/core/circuit-breaker.js";

/** Breakers on a clock the test moves by hand. */
function breakers(failureThreshold = 3, cooldownMs = 5000, quietMs = 2000) {
  let now = 0;
  const changes: BreakerChange[] = [];
  const b = new ShardBreakers(
    { failureThreshold, cooldownMs, quietMs },
    () => now,
    (c) => changes.push(c),
  );
  return {
    b,
    changes,
    advance: (ms: number) => {
      now += ms;
    },
  };
}

const ok = { ok: true } as const;
const fail = (failure = "timeout") => ({ ok: false, failure }) as const;

function openShard(b: ShardBreakers, shard = 1, times = 3, failure = "timeout") {
  for (let i = 0; i < times; i++) b.record(shard, fail(failure));
}

describe("which failures mean a shard is unavailable", () => {
  it.each([
    "timeout",
    "ECONNREFUSED",
    "ECONNRESET",
    "DatabaseResumingException",
    "InternalServerErrorException",
    "StatementTimeoutException",
  ])("counts %s", (name) => {
    expect(meansUnavailable(name)).toBe(true);
  });

  it.each(["BadRequestException", "ForbiddenException", "MalformedResultError", "UnknownError"])(
    "does not count %s: the shard answered, or the fault is ours",
    (name) => {
      expect(meansUnavailable(name)).toBe(false);
    },
  );
});

describe("a shard's circuit breaker", () => {
  it("lets every call through while the shard answers", () => {
    const { b } = breakers();
    for (let i = 0; i < 10; i++) {
      expect(b.admit(1, true)).toEqual({ call: true, probe: false });
      b.record(1, ok);
    }
    expect(b.state(1)).toBe("closed");
  });

  it("opens after the threshold of consecutive failures, and then skips the shard at once", () => {
    const { b, changes } = breakers(3, 5000);
    b.record(1, fail());
    b.record(1, fail("ECONNREFUSED"));
    expect(b.state(1)).toBe("closed");
    b.record(1, fail("timeout"));
    expect(b.state(1)).toBe("open");
    expect(b.admit(1, true)).toEqual({ call: false, retryAfterMs: 5000, lastFailure: "timeout" });
    expect(changes).toEqual([{ shard: 1, from: "closed", to: "open", cause: "timeout" }]);
  });

  it("is not opened by failures separated by answers: one slow request or one failure is not a pattern", () => {
    const { b } = breakers(3);
    for (let i = 0; i < 10; i++) {
      b.record(1, fail());
      b.record(1, fail());
      b.record(1, ok);
    }
    expect(b.state(1)).toBe("closed");
  });

  it("is not opened while the shard answered within the quiet window: a flapping shard still answers", () => {
    const { b, advance } = breakers(3, 5000, 2000);
    b.record(1, ok);
    advance(1500);
    for (let i = 0; i < 10; i++) b.record(1, fail());
    expect(b.state(1)).toBe("closed");
    advance(500);
    b.record(1, fail());
    expect(b.state(1)).toBe("open");
  });

  it("opens at the threshold when the shard has been silent for the quiet window", () => {
    const { b, advance } = breakers(3, 5000, 2000);
    b.record(1, ok);
    advance(2000); // the hung calls time out a whole timeout after the last answer
    openShard(b, 1, 3);
    expect(b.state(1)).toBe("open");
  });

  it("is not opened by a statement's own errors: the shard answered them", () => {
    const { b } = breakers(2);
    for (let i = 0; i < 5; i++) b.record(1, fail("BadRequestException"));
    expect(b.state(1)).toBe("closed");
  });

  it("is not opened by failures of another shard", () => {
    const { b } = breakers(2);
    openShard(b, 2, 5);
    expect(b.state(2)).toBe("open");
    expect(b.state(1)).toBe("closed");
    expect(b.admit(1, true)).toEqual({ call: true, probe: false });
  });

  it("counts down the cool-down it reports", () => {
    const { b, advance } = breakers(1, 5000);
    openShard(b, 1, 1);
    advance(1200);
    expect(b.admit(1, true)).toMatchObject({ call: false, retryAfterMs: 3800 });
  });

  it("admits exactly one read as the probe after the cool-down; others skip while it runs", () => {
    const { b, advance, changes } = breakers(1, 5000);
    openShard(b, 1, 1);
    advance(5000);
    expect(b.admit(1, true)).toEqual({ call: true, probe: true });
    expect(b.state(1)).toBe("half_open");
    expect(b.admit(1, true)).toMatchObject({ call: false });
    expect(b.admit(1, true)).toMatchObject({ call: false });
    expect(changes.map((c) => c.to)).toEqual(["open", "half_open"]);
  });

  it("closes when the probe succeeds", () => {
    const { b, advance, changes } = breakers(1, 5000);
    openShard(b, 1, 1);
    advance(5000);
    b.admit(1, true);
    b.record(1, ok);
    expect(b.state(1)).toBe("closed");
    expect(b.admit(1, true)).toEqual({ call: true, probe: false });
    expect(changes.map((c) => c.to)).toEqual(["open", "half_open", "closed"]);
  });

  it("reopens for a whole new cool-down when the probe fails", () => {
    const { b, advance } = breakers(3, 5000);
    openShard(b, 1, 3);
    advance(6000);
    b.admit(1, true);
    advance(2000); // the probe waits its timeout
    b.record(1, fail());
    expect(b.state(1)).toBe("open");
    expect(b.admit(1, true)).toMatchObject({ call: false, retryAfterMs: 5000 });
  });

  it("never lets a write be the probe", () => {
    const { b, advance } = breakers(1, 5000);
    openShard(b, 1, 1);
    advance(10_000);
    expect(b.admit(1, false)).toEqual({ call: false, retryAfterMs: 0, lastFailure: "timeout" });
    expect(b.state(1)).toBe("open");
  });

  it("closes as soon as any call answers, even one sent before it opened", () => {
    const { b } = breakers(1, 5000);
    openShard(b, 1, 1);
    b.record(1, ok);
    expect(b.state(1)).toBe("closed");
  });

  it("closes when the probe's statement fails on its own: the shard answered", () => {
    const { b, advance } = breakers(1, 5000);
    openShard(b, 1, 1);
    advance(5000);
    b.admit(1, true);
    b.record(1, fail("BadRequestException"));
    expect(b.state(1)).toBe("closed");
  });

  it("logs each change once: more failures of an open shard change nothing", () => {
    const { b, changes } = breakers(1, 5000);
    openShard(b, 1, 4);
    expect(changes).toHaveLength(1);
  });

  it("is off with a threshold of 0", () => {
    const { b } = breakers(0, 5000);
    openShard(b, 1, 100);
    expect(b.state(1)).toBe("closed");
    expect(b.admit(1, false)).toEqual({ call: true, probe: false });
  });
});
