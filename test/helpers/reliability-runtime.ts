/**
 * Fixtures for the reliability tests (`test/reliability`): one local runtime per file on the suite's shared
 * PostgreSQL, an HTTP client with a keep-alive pool of a known size, and watchers for what a leak or a forgotten
 * promise leaves behind: unhandled rejections, process warnings, live timers and sockets.
 */
import { createHook } from "node:async_hooks";
import { Logger } from "@aws-lambda-powertools/logger";
import { inject } from "vitest";
import type { Fault } from "../../local/faults.js";
import { type LocalRuntime, startLocalRuntime } from "../../local/runtime.js";
import type { Answer, httpClient } from "./api-client.js";
import { SHARD_IDS } from "./fixtures.js";
import type { WriteOp } from "./reliability-linearizability.js";

/**
 * A runtime on the suite's PostgreSQL (`inject("postgres")`) with its own databases and a quiet logger; `env` is extra
 * function environment (the circuit breaker's settings).
 */
export function startRuntime(
  prefix: string,
  opts: {
    shardTimeoutMs?: number;
    faults?: ReadonlyMap<number, Fault>;
    env?: Readonly<Record<string, string>>;
  } = {},
): Promise<LocalRuntime> {
  return startLocalRuntime({
    postgres: inject("postgres"),
    prefix: `rel_${prefix}_${process.pid}`,
    logger: new Logger({ serviceName: "reliability", logLevel: "ERROR" }),
    ...opts,
  });
}

export async function healAll(runtime: LocalRuntime): Promise<void> {
  for (const id of SHARD_IDS) await runtime.setFault(id, undefined);
}

export type BreakerState = "closed" | "open" | "half_open";

/** Each shard's circuit breaker state in the app, as `GET /_local/faults` lists it. */
export async function breakerStates(
  client: ReturnType<typeof httpClient>,
): Promise<Map<number, BreakerState>> {
  const answer = await client.call("GET", "/_local/faults");
  if (answer.status !== 200)
    throw new Error(`GET /_local/faults: ${answer.status} ${answer.raw.slice(0, 300)}`);
  return new Map(
    (answer.body.faults as { shard: number; breaker: BreakerState }[]).map((f) => [f.shard, f.breaker]),
  );
}

/**
 * Once the shards are healed, reads until every breaker is closed again: a shard whose breaker is open is skipped
 * until its cool-down ends, then the next read probes it and closes it. False if that takes longer than `boundMs`.
 */
export async function readmitAll(client: ReturnType<typeof httpClient>, boundMs: number): Promise<boolean> {
  const deadline = performance.now() + boundMs;
  for (;;) {
    const states = await breakerStates(client);
    if ([...states.values()].every((s) => s === "closed")) return true;
    if (performance.now() > deadline) return false;
    await client.call("GET", "/data?limit=1000");
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

/**
 * Every row of the table through the API (one page: the seed has 60 rows), as `id -> name`. Taken once the shards are
 * healed: a shard whose circuit breaker is still open is skipped (`unavailable`, `circuit_open`) until its cool-down
 * ends, so the read is repeated once that has passed (the read then probes the shard and readmits it).
 */
export async function snapshot(client: ReturnType<typeof httpClient>): Promise<Map<number, string | null>> {
  let answer = await client.call("GET", "/data?limit=1000");
  for (let retry = 0; retry < 3 && answer.status === 200; retry++) {
    const skipped = (answer.body.shards as { reason?: string; retryAfterMs?: number }[]).filter(
      (s) => s.reason === "circuit_open",
    );
    if (skipped.length === 0) break;
    const wait = Math.max(...skipped.map((s) => s.retryAfterMs ?? 0));
    await new Promise((resolve) => setTimeout(resolve, wait + 20));
    answer = await client.call("GET", "/data?limit=1000");
  }
  if (answer.status !== 200 || answer.body.partial || answer.body.next !== null) {
    throw new Error(`snapshot read failed: ${answer.status} ${answer.raw.slice(0, 300)}`);
  }
  return new Map((answer.body.items as { id: number; name: string | null }[]).map((r) => [r.id, r.name]));
}

/**
 * Sends one write and records it as an entry of the history the linearizability check reads: its method, answer
 * and name, and when it was sent and answered.
 */
export async function recordedWrite(
  client: ReturnType<typeof httpClient>,
  method: WriteOp["method"],
  id: number,
  name: string,
): Promise<{ answer: Answer; op: WriteOp }> {
  const start = performance.now();
  const answer =
    method === "POST"
      ? await client.json("POST", "/data", { id, name })
      : method === "PUT"
        ? await client.json("PUT", `/data/${id}`, { name })
        : await client.call("DELETE", `/data/${id}`);
  const end = performance.now();
  const outcome = answer.status === 503 ? (answer.body?.outcome as string | undefined) : undefined;
  const written = method === "DELETE" ? "" : name;
  return {
    answer,
    op: {
      method,
      status: answer.status,
      ...(method === "DELETE" ? {} : { name }),
      start,
      end,
      label: `${method} ${id} ${written} -> ${answer.status}${outcome ? ` ${outcome}` : ""} [${start.toFixed(1)}, ${end.toFixed(1)}]`,
    },
  };
}

/**
 * Collects what must never happen while the tests run: unhandled rejections, and process warnings such as
 * `MaxListenersExceededWarning` (a listener added per request to a long-lived emitter, e.g. a keep-alive socket or an
 * abort signal) or Node's `TimeoutNegativeWarning`.
 */
export function watchProcess() {
  const unhandled: unknown[] = [];
  const warnings: { name: string; message: string }[] = [];
  const onRejection = (reason: unknown) => unhandled.push(reason);
  const onWarning = (w: Error) => warnings.push({ name: w.name, message: w.message });
  process.on("unhandledRejection", onRejection);
  process.on("warning", onWarning);
  return {
    unhandled,
    warnings,
    stop() {
      process.off("unhandledRejection", onRejection);
      process.off("warning", onWarning);
    },
  };
}

export type ResourceCounts = Record<string, number>;

/** `process.getActiveResourcesInfo()` as counts: `Timeout` counts ref'd timers, `TCPSocketWrap` open TCP sockets. */
export function resourceCounts(): ResourceCounts {
  const out: ResourceCounts = {};
  for (const r of process.getActiveResourcesInfo()) out[r] = (out[r] ?? 0) + 1;
  return out;
}

/**
 * Tracks the timers created while it is on and reports those still pending, with the stack that created them, so a
 * test can say *which code* left a timer behind instead of only that a count moved. Only timers created by our code
 * or the SDK are reported (`functions/`, `local/`, `@smithy`, `@aws-sdk`): Node's own socket and server timers and
 * the test runner's are not ours to judge. Socket idle timers (they live and die with their socket, which the socket
 * count covers) and pg-pool's idle-client timers (bounded by the pool size) are excluded too.
 */
export function trackTimers() {
  const live = new Map<number, string>();
  const ours = /\/(functions|local)\/|node_modules\/@(smithy|aws-sdk)\//;
  const hook = createHook({
    init(asyncId, type) {
      if (type !== "Timeout") return;
      const holder: { stack?: string } = {};
      const limit = Error.stackTraceLimit;
      Error.stackTraceLimit = 20;
      Error.captureStackTrace(holder);
      Error.stackTraceLimit = limit;
      const stack = holder.stack ?? "";
      // A socket's idle timer belongs to its socket (counted with the sockets); pg-pool's are bounded by the pool.
      const excluded = /setStreamTimeout|Socket\.setTimeout|node_modules\/pg-pool\//.test(stack);
      if (ours.test(stack) && !excluded) live.set(asyncId, stack);
    },
    destroy(asyncId) {
      live.delete(asyncId);
    },
  });
  hook.enable();
  return {
    /** Stacks of our timers that are still pending. */
    pending: () => [...live.values()],
    stop: () => hook.disable(),
  };
}

/**
 * A full garbage collection, also without `--expose-gc`: the flag can be set at run time and the `gc` function taken
 * from a fresh context.
 */
export async function collectGarbage(): Promise<void> {
  let gc = (globalThis as { gc?: () => void }).gc;
  if (!gc) {
    const { setFlagsFromString } = await import("node:v8");
    const { runInNewContext } = await import("node:vm");
    setFlagsFromString("--expose-gc");
    gc = runInNewContext("gc") as () => void;
  }
  await new Promise((resolve) => setImmediate(resolve));
  gc();
  await new Promise((resolve) => setImmediate(resolve));
  gc();
}
