/**
 * Circuit breaker: what a hung shard costs once the function has learnt it is hung. Its own runtime with the
 * function's defaults (2000 ms timeout, breaker opening after 3 failures, 5000 ms cool-down) on the bench's
 * PostgreSQL, and a twin with the breaker off for the "before" figure, both driven by 10 concurrent clients:
 *
 * - steady state with shard 2 hung: p50 and p99 over the healthy p50 of the same run (goals <= 2x and <= 5x);
 * - requests that still wait the whole timeout while the shard stays hung: at most one probe per cool-down;
 * - from the shard healing to its rows being back: at most the cool-down plus one healthy call;
 * - a shard flapping between hung and healthy every 500 ms: no answer reports it `unavailable` (it still answers).
 *   Requests arrive at a steady rate here (an open loop), as they do at a real API: in a closed loop every client
 *   would soon sit in a hung call, nobody would ask the shard during its healthy moments, and it would look silent.
 */
import { Logger } from "@aws-lambda-powertools/logger";
import { DEFAULTS } from "../../functions/core/config.js";
import type { PostgresServer } from "../../local/postgres.js";
import { type LocalRuntime, startLocalRuntime } from "../../local/runtime.js";
import type { ListBody } from "../lib/context.js";
import { dropDatabases } from "../lib/databases.js";
import { closedLoop, keepAliveAgent, openLoop, send } from "../lib/http.js";
import type { ScenarioResult } from "../lib/report.js";
import { round, summarize } from "../lib/stats.js";

const HUNG = 2;
const CONCURRENCY = 10;
const TIMEOUT_MS = DEFAULTS.shardTimeoutMs;
const COOLDOWN_MS = DEFAULTS.breakerCooldownMs;
const HUNG_MS = 20_000;
const FLAP_MS = 10_000;
const FLAP_EVERY_MS = 500;
const FLAP_RATE = 40;
const POLL_MS = 20;

const HUNG_IDS = (id: number) => (id >= 11 && id <= 20) || (id >= 41 && id <= 50);
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const statusOf = (body: ListBody, shard: number) => body.shards.find((s) => s.shard === shard)?.status;

export async function breaker({
  postgres,
  log,
}: {
  postgres: PostgresServer;
  log: (m: string) => void;
}): Promise<ScenarioResult> {
  const logger = new Logger({ logLevel: "ERROR" });
  const prefix = `bench_breaker_${process.pid}`;
  const [on, off] = await Promise.all([
    startLocalRuntime({ postgres, prefix, logger }),
    startLocalRuntime({ postgres, prefix: `${prefix}_off`, logger, env: { BREAKER_FAILURE_THRESHOLD: "0" } }),
  ]);
  const agent = keepAliveAgent(CONCURRENCY * 2);
  const loop = (runtime: LocalRuntime, durationMs: number, check?: (body: ListBody, ms: number) => void) =>
    closedLoop({
      base: runtime.url,
      agent,
      concurrency: CONCURRENCY,
      durationMs,
      maxRequests: 1_000_000,
      timeoutMs: TIMEOUT_MS + 5000,
      next: () => ({ path: "/data" }),
      ...(check ? { check: (r) => check(JSON.parse(r.body) as ListBody, r.ms) } : {}),
    });
  try {
    await Promise.all([loop(on, 2000), loop(off, 2000)]);
    log("breaker: healthy baseline");
    const healthy = summarize((await loop(on, 5000)).latencies);

    log("breaker: shard 2 hung, breaker off (before)");
    await off.setFault(HUNG, { mode: "hang" });
    const before = summarize((await loop(off, 6000)).latencies);
    await off.setFault(HUNG, undefined);

    log("breaker: shard 2 hung, breaker on");
    await on.setFault(HUNG, { mode: "hang" });
    let openedAt: number | undefined;
    const steady: number[] = [];
    let probes = 0;
    let wrong = 0;
    await loop(on, HUNG_MS, (body, ms) => {
      const status = statusOf(body, HUNG);
      // Exact about what is present: every row of shards 1 and 3, none of shard 2's (ids 11-20 and 41-50).
      if (!body.partial || body.items.length !== 40 || body.items.some((r) => HUNG_IDS(r.id))) wrong++;
      const sentAt = performance.now() - ms;
      if (status === "unavailable") openedAt ??= sentAt;
      if (openedAt === undefined || sentAt < openedAt) return;
      steady.push(ms);
      if (status === "timeout") probes++;
    });
    const steadyMs = openedAt === undefined ? 0 : performance.now() - openedAt;
    const hung = summarize(steady);
    const coolDowns = Math.max(1, Math.ceil(steadyMs / COOLDOWN_MS));

    log("breaker: healing");
    // Heal while the breaker is open, not while a probe is waiting out its timeout on the hung endpoint.
    const faults = async () => {
      const listing = JSON.parse((await send(agent, on.url, { path: "/_local/faults" })).body) as {
        faults: { shard: number; breaker: string }[];
      };
      return listing.faults.find((f) => f.shard === HUNG)?.breaker === "open";
    };
    while (!(await faults())) await sleep(POLL_MS);
    const healedAt = performance.now();
    await on.setFault(HUNG, undefined);
    let backMs = Number.POSITIVE_INFINITY;
    while (performance.now() - healedAt < COOLDOWN_MS + TIMEOUT_MS * 2) {
      const r = await send(agent, on.url, { path: "/data" }, TIMEOUT_MS + 5000);
      if (statusOf(JSON.parse(r.body) as ListBody, HUNG) === "ok") {
        backMs = performance.now() - healedAt;
        break;
      }
      await sleep(POLL_MS);
    }

    log("breaker: flapping shard");
    let flapping = true;
    const flapper = (async () => {
      for (let i = 0; flapping; i++) {
        await on.setFault(HUNG, i % 2 === 0 ? { mode: "hang" } : undefined);
        await sleep(FLAP_EVERY_MS);
      }
      await on.setFault(HUNG, undefined);
    })();
    let unavailable = 0;
    const statuses: Record<string, number> = {};
    const flapAgent = keepAliveAgent(FLAP_RATE * 4);
    const flap = await openLoop({
      base: on.url,
      agent: flapAgent,
      ratePerSec: FLAP_RATE,
      durationMs: FLAP_MS,
      maxInFlight: FLAP_RATE * 4,
      timeoutMs: TIMEOUT_MS + 5000,
      next: () => ({ path: "/data" }),
      check: (r) => {
        const status = statusOf(JSON.parse(r.body) as ListBody, HUNG) ?? "missing";
        statuses[status] = (statuses[status] ?? 0) + 1;
        if (status === "unavailable") unavailable++;
      },
    }).finally(() => flapAgent.destroy());
    flapping = false;
    await flapper;

    const p50x = hung.p50 / healthy.p50;
    const p99x = hung.p99 / healthy.p50;
    const backGoal = COOLDOWN_MS + healthy.p99 + POLL_MS;
    log(
      `breaker: healthy p50 ${round(healthy.p50, 1)} ms; hung p50 ${round(hung.p50, 1)} / p99 ${round(hung.p99, 1)} ms (before: p50 ${round(before.p50, 1)} ms); probes ${probes} in ${coolDowns} cool-downs; back in ${round(backMs)} ms; flapping: ${JSON.stringify(statuses)}`,
    );
    return {
      figures: [
        {
          id: "breaker.hung",
          figure: `breaker: shard ${HUNG} hung, steady state, p50 / p99 over healthy p50 (${CONCURRENCY} conc.)`,
          measured: `${round(p50x, 2)}x / ${round(p99x, 2)}x (${round(hung.p50, 1)} / ${round(hung.p99, 1)} ms)`,
          value: p99x,
          goal: "<= 2x / <= 5x",
          pass: wrong === 0 && steady.length > 0 && p50x <= 2 && p99x <= 5,
          baseline: `healthy p50 ${round(healthy.p50, 1)} ms; breaker off: p50 ${round(before.p50, 1)} ms (${round(before.p50 / healthy.p50, 0)}x)`,
        },
        {
          id: "breaker.probes",
          figure: "breaker: requests that waited the whole timeout while the shard stayed hung",
          measured: `${probes} in ${round(steadyMs / 1000, 1)} s`,
          value: probes,
          goal: `<= 1 per cool-down (${coolDowns})`,
          pass: probes <= coolDowns,
          baseline: `${steady.length} requests in the steady state`,
        },
        {
          id: "breaker.heal",
          figure: "breaker: from the shard healing to its rows being back",
          measured: `${round(backMs)} ms`,
          value: backMs,
          goal: `<= cool-down + one healthy call (${round(backGoal)} ms)`,
          pass: backMs <= backGoal,
          baseline: `cool-down ${COOLDOWN_MS} ms, healthy p99 ${round(healthy.p99, 1)} ms`,
        },
        {
          id: "breaker.flapping",
          figure: `breaker: shard flapping every ${FLAP_EVERY_MS} ms (${FLAP_RATE} req/s), answers reporting it unavailable`,
          measured: `${unavailable} of ${flap.latencies.length}`,
          value: unavailable,
          goal: "0",
          pass: unavailable === 0 && flap.latencies.length > 0,
          baseline: JSON.stringify(statuses),
        },
      ],
      details: {
        healthy,
        before,
        hung,
        probes,
        coolDowns,
        steadyMs: round(steadyMs),
        wrong,
        backMs: round(backMs),
        flapping: statuses,
      },
    };
  } finally {
    agent.destroy();
    await Promise.all([on.stop(), off.stop()]);
    await dropDatabases(
      postgres,
      [...on.shards, ...off.shards].map((s) => s.database),
    );
  }
}
