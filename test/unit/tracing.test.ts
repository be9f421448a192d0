import { createSocket } from "node:dgram";
import type { AddressInfo } from "node:net";
import { describe, expect, it } from "vitest";
import {
  createTracingObserver,
  daemonAddress,
  sampledTrace,
  shardSubsegments,
} from "../../functions/observability/tracing.js";
import type { RequestSummary } from "../../functions/request-summary.js";

const ROOT = "1-5759e988-bd862e3fe1be46a994272793";
const PARENT = "53995c3f42cd8ad8";
const HEADER = `Root=${ROOT};Parent=${PARENT};Sampled=1`;

const summary: RequestSummary = {
  method: "GET",
  route: "GET /data",
  status: 200,
  ms: 2100,
  partial: true,
  shards: [
    { shard: 1, status: "ok", count: 3, ms: 12 },
    { shard: 2, status: "timeout", ms: 2000 },
    { shard: 3, status: "error", error: "DatabaseResumingException", ms: 40 },
    { shard: 4, status: "skipped" },
    {
      shard: 5,
      status: "unavailable",
      reason: "circuit_open",
      lastFailure: "timeout",
      retryAfterMs: 1000,
    },
  ],
};

describe("shard subsegments for X-Ray", () => {
  it("read the sampled trace and the daemon's address from Lambda's environment", () => {
    expect(sampledTrace(HEADER)).toEqual({ root: ROOT, parent: PARENT });
    expect(sampledTrace(`Root=${ROOT};Parent=${PARENT};Sampled=0`)).toBeUndefined();
    expect(sampledTrace(`Root=${ROOT};Sampled=1`)).toBeUndefined();
    expect(sampledTrace(undefined)).toBeUndefined();
    expect(daemonAddress("169.254.79.129:2000")).toEqual({ host: "169.254.79.129", port: 2000 });
    expect(daemonAddress("nonsense")).toBeUndefined();
    expect(daemonAddress(undefined)).toBeUndefined();
  });

  it("give each called shard its own subsegment with the shard id and outcome; uncalled shards none", () => {
    let n = 0;
    const docs = shardSubsegments(summary, { root: ROOT, parent: PARENT }, 1000, () => `id${n++}`);
    expect(docs.map((d) => d.name)).toEqual(["shard 1", "shard 2", "shard 3"]);
    expect(docs[0]).toEqual({
      name: "shard 1",
      id: "id0",
      trace_id: ROOT,
      parent_id: PARENT,
      type: "subsegment",
      namespace: "remote",
      start_time: expect.closeTo(997.9, 6),
      end_time: expect.closeTo(997.912, 6),
      annotations: { shard: 1, outcome: "ok", route: "GET /data" },
    });
    expect(docs[1]).toMatchObject({ annotations: { shard: 2, outcome: "timeout" }, error: true });
    expect(docs[2]).toMatchObject({
      annotations: { shard: 3, outcome: "error" },
      error: true,
      metadata: { default: { error: "DatabaseResumingException" } },
    });
  });

  it("send them to the daemon over UDP when the request is sampled, and do nothing otherwise", async () => {
    const daemon = createSocket("udp4");
    const received: string[] = [];
    await new Promise<void>((resolve) => daemon.bind(0, "127.0.0.1", resolve));
    const { port } = daemon.address() as AddressInfo;
    daemon.on("message", (msg) => received.push(msg.toString()));
    try {
      expect(createTracingObserver({})).toBeUndefined();
      const env: NodeJS.ProcessEnv = { AWS_XRAY_DAEMON_ADDRESS: `127.0.0.1:${port}` };
      const observe = createTracingObserver(env);
      observe?.(summary); // no trace header yet: nothing sent
      env._X_AMZN_TRACE_ID = `Root=${ROOT};Parent=${PARENT};Sampled=0`;
      observe?.(summary); // not sampled
      env._X_AMZN_TRACE_ID = HEADER;
      observe?.({ ...summary, shards: [] }); // no shard called
      observe?.(summary);
      await expect.poll(() => received.length).toBe(3);
      for (const packet of received) {
        const [header, body] = packet.split("\n");
        expect(JSON.parse(header ?? "")).toEqual({ format: "json", version: 1 });
        expect(JSON.parse(body ?? "")).toMatchObject({
          trace_id: ROOT,
          parent_id: PARENT,
          type: "subsegment",
        });
      }
    } finally {
      daemon.close();
    }
  });
});
