/**
 * `DATA_API_HOST`: the local Data API endpoints listen on the address they are given (here 127.0.0.2, a loopback
 * address other than the default, so the test exposes nothing), and the API still reaches every shard.
 */
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { type LocalRuntime, startLocalRuntime } from "../../local/runtime.js";
import { get } from "../helpers/api-client.js";
import { SHARD_IDS } from "../helpers/fixtures.js";

let runtime: LocalRuntime;

beforeAll(async () => {
  runtime = await startLocalRuntime({
    postgres: inject("postgres"),
    prefix: "sam_endpoints",
    dataApiHost: "127.0.0.2",
  });
});

afterAll(async () => {
  await runtime?.stop();
});

describe("Data API endpoints bound to another address", () => {
  it("listen on that address and not on 127.0.0.1", async () => {
    for (const shard of runtime.shards) {
      expect(shard.endpoint.url).toBe(`http://127.0.0.2:${shard.endpoint.port}`);
      const there = await fetch(`http://127.0.0.2:${shard.endpoint.port}/Execute`, { method: "POST" });
      expect(there.status).toBeGreaterThanOrEqual(400); // an answer (an unsigned, empty request is refused)
      await expect(
        fetch(`http://127.0.0.1:${shard.endpoint.port}/Execute`, { method: "POST" }),
      ).rejects.toThrow();
    }
  });

  it("are what the API calls: every shard answers", async () => {
    const answer = await get(runtime.url, "/data?limit=1000");
    expect(answer.status).toBe(200);
    expect(answer.body.shards.map((s: { status: string }) => s.status)).toEqual(SHARD_IDS.map(() => "ok"));
    expect(JSON.parse(runtime.env.SHARDS ?? "[]").map((s: { endpoint: string }) => s.endpoint)).toEqual(
      runtime.shards.map((s) => `http://127.0.0.2:${s.endpoint.port}`),
    );
  });
});
