import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import {
  createBreakerMetrics,
  createMetricsObserver,
  METRIC,
} from "../../functions/observability/metrics.js";
import type { RequestSummary } from "../../functions/request-summary.js";

interface EmfLine {
  _aws: { CloudWatchMetrics: { Namespace: string; Dimensions: string[][]; Metrics: { Name: string }[] }[] };
  [key: string]: unknown;
}

/** Captures the EMF lines Powertools writes to stdout. */
function captureStdout(): { lines: () => EmfLine[] } {
  const chunks: string[] = [];
  vi.spyOn(process.stdout, "write").mockImplementation((chunk: string | Uint8Array) => {
    chunks.push(String(chunk));
    return true;
  });
  return {
    lines: () =>
      chunks
        .join("")
        .split("\n")
        .filter((l) => l.startsWith("{"))
        .map((l) => JSON.parse(l) as EmfLine),
  };
}

const summary = (over: Partial<RequestSummary>): RequestSummary => ({
  method: "GET",
  route: "GET /data",
  status: 200,
  ms: 42,
  shards: [],
  partial: false,
  ...over,
});

describe("the metrics observer", () => {
  beforeEach(() => {
    vi.stubEnv("POWERTOOLS_METRICS_NAMESPACE", "ShardedDataApiTest");
    vi.stubEnv("POWERTOOLS_SERVICE_NAME", "sharded-data-api");
    vi.stubEnv("POWERTOOLS_METRICS_DISABLED", "false");
    vi.stubEnv("POWERTOOLS_DEV", "false");
  });
  afterEach(() => {
    vi.restoreAllMocks();
    vi.unstubAllEnvs();
  });

  it("emits per-shard latency, timeouts and errors with a shard dimension, and whether the answer was partial", () => {
    const out = captureStdout();
    const observe = createMetricsObserver();
    observe(
      summary({
        partial: true,
        shards: [
          { shard: 1, status: "ok", count: 20, ms: 11 },
          { shard: 2, status: "timeout", ms: 2000 },
          { shard: 3, status: "error", error: "DatabaseResumingException", ms: 35 },
        ],
      }),
    );
    const lines = out.lines();
    expect(lines).toHaveLength(4);
    const byShard = new Map(lines.filter((l) => l.shard !== undefined).map((l) => [l.shard, l]));
    expect(byShard.get("1")).toMatchObject({
      [METRIC.shardLatency]: 11,
      [METRIC.shardTimeouts]: 0,
      [METRIC.shardErrors]: 0,
    });
    expect(byShard.get("2")).toMatchObject({
      [METRIC.shardLatency]: 2000,
      [METRIC.shardTimeouts]: 1,
      [METRIC.shardErrors]: 0,
    });
    expect(byShard.get("3")).toMatchObject({
      [METRIC.shardLatency]: 35,
      [METRIC.shardTimeouts]: 0,
      [METRIC.shardErrors]: 1,
    });
    for (const line of byShard.values()) {
      const [directive] = line._aws.CloudWatchMetrics;
      expect(directive?.Namespace).toBe("ShardedDataApiTest");
      expect(directive?.Dimensions[0]).toEqual(expect.arrayContaining(["service", "shard"]));
    }
    const request = lines.find((l) => l.shard === undefined);
    expect(request).toMatchObject({ [METRIC.partialResponses]: 1, [METRIC.requestLatency]: 42 });
  });

  it("says nothing about skipped shards, and nothing at all for requests that touched no shard", () => {
    const out = captureStdout();
    const observe = createMetricsObserver();
    observe(summary({ route: "GET /health", shards: [] }));
    expect(out.lines()).toEqual([]);
    observe(
      summary({
        shards: [
          { shard: 1, status: "skipped" },
          { shard: 2, status: "ok", count: 1, ms: 3 },
        ],
      }),
    );
    const lines = out.lines();
    expect(lines.map((l) => l.shard).filter(Boolean)).toEqual(["2"]);
    expect(lines.find((l) => l.shard === undefined)).toMatchObject({ [METRIC.partialResponses]: 0 });
  });

  it("counts a shard skipped by its open circuit breaker as ShardUnavailable, with no latency of a call never made", () => {
    const out = captureStdout();
    createMetricsObserver()(
      summary({
        partial: true,
        shards: [
          { shard: 1, status: "ok", count: 20, ms: 11 },
          {
            shard: 2,
            status: "unavailable",
            reason: "circuit_open",
            lastFailure: "timeout",
            retryAfterMs: 3000,
          },
        ],
      }),
    );
    const skipped = out.lines().find((l) => l.shard === "2");
    expect(skipped).toMatchObject({ [METRIC.shardUnavailable]: 1 });
    expect(skipped).not.toHaveProperty(METRIC.shardLatency);
    expect(out.lines().find((l) => l.shard === undefined)).toMatchObject({ [METRIC.partialResponses]: 1 });
  });

  it("counts each opening and closing of a shard's breaker, not its half-open probes", () => {
    const out = captureStdout();
    const changed = createBreakerMetrics();
    changed({ shard: 2, from: "closed", to: "open", cause: "timeout" });
    changed({ shard: 2, from: "open", to: "half_open" });
    changed({ shard: 2, from: "half_open", to: "closed" });
    const lines = out.lines();
    expect(lines).toHaveLength(2);
    expect(lines[0]).toMatchObject({ shard: "2", [METRIC.breakerOpened]: 1 });
    expect(lines[1]).toMatchObject({ shard: "2", [METRIC.breakerClosed]: 1 });
  });
});
