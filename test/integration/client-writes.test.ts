/**
 * Point reads and writes through the client against a local runtime (default map, ids 1-60 seeded): typed errors,
 * a shard down during writes (`not_applied`, retried after `retry-after` with `writeRetry`), and a shard hanging
 * during a write (`unknown`, settled by reading the row back, then retried).
 */
import { afterAll, afterEach, beforeAll, describe, expect, inject, it } from "vitest";
import {
  type ClientEvent,
  ConflictError,
  createClient,
  NotFoundError,
  UnavailableError,
} from "../../client/index.js";
import { type LocalRuntime, startLocalRuntime } from "../../local/runtime.js";
import { BREAKER_OFF } from "../helpers/api-client.js";

let runtime: LocalRuntime;

beforeAll(async () => {
  // Each case pins what one call to a failing shard answers: the breaker is off.
  runtime = await startLocalRuntime({
    postgres: inject("postgres"),
    prefix: "client_writes",
    shardTimeoutMs: 300,
    env: BREAKER_OFF,
  });
});

afterEach(async () => {
  for (const shard of [1, 2, 3]) await runtime.setFault(shard, undefined);
});

afterAll(async () => {
  await runtime?.stop();
});

describe("client point reads and writes against the local runtime", () => {
  it("get, create, replace, remove, and their typed errors", async () => {
    const client = createClient(runtime.url);
    expect(await client.get(42)).toEqual({ id: 42, name: "Test 42" });
    expect(await client.getResult(42)).toEqual({ item: { id: 42, name: "Test 42" }, shard: 2 });
    await expect(client.create({ id: 7, name: "Seven" })).rejects.toBeInstanceOf(ConflictError);
    await expect(client.get(1000)).rejects.toMatchObject({ name: "NotFoundError", code: "id_out_of_range" });
    await client.remove(7);
    await expect(client.get(7)).rejects.toMatchObject({ name: "NotFoundError", code: "not_found" });
    await expect(client.remove(7)).rejects.toBeInstanceOf(NotFoundError);
    await expect(client.replace(7, "x")).rejects.toBeInstanceOf(NotFoundError);
    expect(await client.create({ id: 7, name: "Seven" })).toEqual({ id: 7, name: "Seven" });
    expect(await client.replace(7, "Sieben")).toEqual({ id: 7, name: "Sieben" });
    await expect(client.create({ id: 7, name: "" })).rejects.toMatchObject({
      status: 400,
      code: "invalid_body",
    });
  });

  it("a shard down: a read is retried, then Unavailable; a write is not_applied with its shard and retry-after", async () => {
    await runtime.setFault(1, { mode: "down" });
    const client = createClient({ baseUrl: runtime.url, retry: { attempts: 2, baseDelayMs: 10 } });
    const read = await client.get(5).catch((e: unknown) => e);
    expect(read).toBeInstanceOf(UnavailableError);
    expect(read).toMatchObject({ shard: 1, retryAfterMs: 1000, attempts: 2, outcome: undefined });
    expect((read as UnavailableError).shards).toMatchObject([
      { shard: 1, status: "error", error: "ECONNREFUSED" },
    ]);
    const write = await client.replace(5, "Five").catch((e: unknown) => e);
    expect(write).toBeInstanceOf(UnavailableError);
    expect(write).toMatchObject({ status: 503, outcome: "not_applied", shard: 1, retryAfterMs: 1000 });
  });

  it("a shard down during writes: with writeRetry the write is sent again after retry-after and lands", async () => {
    await runtime.setFault(3, { mode: "down" });
    const events: ClientEvent[] = [];
    const client = createClient({ baseUrl: runtime.url, writeRetry: true, onEvent: (e) => events.push(e) });
    // The shard comes back after the first refusal; the client waits the 1 s retry-after and sends it again.
    const pending = client.replace(25, "Twenty-five");
    const healed = (async () => {
      while (!events.some((e) => e.type === "retry")) await new Promise((r) => setTimeout(r, 20));
      await runtime.setFault(3, undefined);
    })();
    expect(await pending).toEqual({ id: 25, name: "Twenty-five" });
    await healed;
    expect(events).toMatchObject([
      { type: "retry", method: "PUT", status: 503, outcome: "not_applied", delayMs: 1000 },
    ]);
    expect(await client.get(25)).toEqual({ id: 25, name: "Twenty-five" });
  });

  it("a shard hanging during a write: unknown, read back (absent: not applied), then sent again", async () => {
    await runtime.setFault(2, { mode: "hang" });
    const events: ClientEvent[] = [];
    const client = createClient({
      baseUrl: runtime.url,
      writeRetry: true,
      onEvent: (e) => events.push(e),
      // The shard is back as soon as the API has answered the write's 503, so the read back can see it.
      fetch: async (input, init) => {
        const res = await fetch(input, init);
        if (init?.method === "DELETE" && res.status === 503) await runtime.setFault(2, undefined);
        return res;
      },
    });
    await client.remove(44);
    expect(events).toEqual([
      {
        type: "readBack",
        method: "DELETE",
        id: 44,
        readBack: { applied: false, row: { id: 44, name: "Test 44" } },
      },
      {
        type: "retry",
        method: "DELETE",
        path: "/data/44",
        status: 503,
        attempt: 2,
        delayMs: expect.any(Number),
        outcome: "unknown",
      },
    ]);
    await expect(client.get(44)).rejects.toBeInstanceOf(NotFoundError);
  });

  it("without writeRetry, an unknown write read back as not applied is thrown with what the read showed", async () => {
    const client = createClient({
      baseUrl: runtime.url,
      fetch: async (input, init) => {
        const res = await fetch(input, init);
        if (init?.method === "POST" && res.status === 503) await runtime.setFault(2, undefined);
        return res;
      },
    });
    await client.remove(45);
    await runtime.setFault(2, { mode: "hang" });
    const error = await client.create({ id: 45, name: "Forty-five" }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(UnavailableError);
    expect(error).toMatchObject({ outcome: "unknown", shard: 2, readBack: { applied: false, row: null } });
    await expect(client.get(45)).rejects.toBeInstanceOf(NotFoundError);
  });
});
