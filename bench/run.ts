/**
 * `npm run bench`: measures the figures of bench/README.md against their goals, prints one table and writes
 * `bench/results/latest.json`. One PostgreSQL server and one local runtime serve every scenario (the memory
 * scenario runs its own runtime in a child process, on the same PostgreSQL); everything is stopped at the end, on
 * an error too.
 *
 * `npm run bench -- fanout timeout` runs only the named scenarios and writes no JSON (`scale` always writes its own
 * `bench/results/scale.json` and charts).
 *
 * The shared runtime runs the local runtime's settings (SHARD_MAP, SEED, SHARD_FAULTS, the function's settings),
 * validated before anything starts; the scenarios' figures and goals are written for the default map.
 */
import { loadavg } from "node:os";
import { fileURLToPath } from "node:url";
import { Logger } from "@aws-lambda-powertools/logger";
import { stopOnSignals } from "../local/lifecycle.js";
import { type PostgresServer, startPostgres } from "../local/postgres.js";
import { type LocalRuntime, startLocalRuntime } from "../local/runtime.js";
import { readLocalSettings } from "../local/settings.js";
import type { BenchContext } from "./lib/context.js";
import { keepAliveAgent } from "./lib/http.js";
import { type Figure, formatTable, machine, type ScenarioResult, writeResults } from "./lib/report.js";
import { breaker } from "./scenarios/breaker.js";
import { bundleFigures } from "./scenarios/bundle.js";
import { clientFigures } from "./scenarios/client.js";
import { cpu } from "./scenarios/cpu.js";
import { fanout } from "./scenarios/fanout.js";
import { memory } from "./scenarios/memory.js";
import { refused } from "./scenarios/refused.js";
import { reshard } from "./scenarios/reshard.js";
import { scale } from "./scenarios/scale.js";
import { throughput } from "./scenarios/throughput.js";
import { TIMEOUT_MS, timeout } from "./scenarios/timeout.js";

const RESULTS = fileURLToPath(new URL("./results/latest.json", import.meta.url));
/** The whole bench must finish in under 3 minutes; past this, it stops and reports what it has. */
const HARD_LIMIT_MS = 170_000;
/** Extra time when `scale` runs: seeding 6,000,000 rows and two walks of 3,000,000 (the walks stop at 10 minutes each). */
const SCALE_LIMIT_MS = 30 * 60_000;
/** Extra time when `breaker` runs: about a minute of load with a hung, then healing, then flapping shard. */
const BREAKER_LIMIT_MS = 90_000;
/** Extra time when `reshard` runs: four servers, 2,200,000 rows seeded, three moves of 1,000,000 rows under load. */
const RESHARD_LIMIT_MS = 20 * 60_000;
/** Extra time when `client` runs: walks of 100,000 rows, live and replayed, with and without the client. */
const CLIENT_LIMIT_MS = 90_000;

interface Env {
  ctx: BenchContext;
  postgres: PostgresServer;
}

/**
 * In run order. `refused` comes first: the SDK's retry quota of a shard's client drains while that shard refuses
 * connections, and the figure should see a client in its normal state.
 */
const SCENARIOS: Record<string, (env: Env) => Promise<ScenarioResult>> = {
  refused: ({ ctx }) => refused(ctx),
  fanout: ({ ctx }) => fanout(ctx),
  timeout: ({ ctx }) => timeout(ctx),
  throughput: ({ ctx }) => throughput(ctx),
  cpu: ({ ctx }) => cpu(ctx),
  bundle: ({ ctx }) => bundleFigures(ctx),
  memory: ({ ctx, postgres }) => memory({ postgres, log: ctx.log }),
  breaker: ({ ctx, postgres }) => breaker({ postgres, log: ctx.log }),
  scale: ({ ctx, postgres }) => scale({ postgres, log: ctx.log }),
  reshard: ({ ctx }) => reshard({ log: ctx.log }),
  client: ({ ctx, postgres }) => clientFigures({ postgres, log: ctx.log }),
};

async function main(): Promise<number> {
  const wanted = process.argv.slice(2);
  const unknown = wanted.filter((w) => !(w in SCENARIOS));
  if (unknown.length) {
    console.error(`unknown scenario(s): ${unknown.join(", ")}; known: ${Object.keys(SCENARIOS).join(", ")}`);
    return 2;
  }
  const names = wanted.length ? wanted : Object.keys(SCENARIOS);
  const settings = readLocalSettings(process.env);
  const lifecycle = stopOnSignals({ log: (m) => console.error(m), exitCode: 130 });
  const hardLimitMs =
    HARD_LIMIT_MS +
    (names.includes("scale") ? SCALE_LIMIT_MS : 0) +
    (names.includes("breaker") ? BREAKER_LIMIT_MS : 0) +
    (names.includes("reshard") ? RESHARD_LIMIT_MS : 0) +
    (names.includes("client") ? CLIENT_LIMIT_MS : 0);
  const host = machine();
  const started = performance.now();
  const log = (m: string) => console.error(`[${((performance.now() - started) / 1000).toFixed(1)}s] ${m}`);
  const figures: Figure[] = [];
  const details: Record<string, unknown> = {};
  let failed = false;

  let postgres: PostgresServer | undefined;
  let runtime: LocalRuntime | undefined;
  const agent = keepAliveAgent(16);
  const hardLimit = setTimeout(() => {
    console.error(`bench: over ${hardLimitMs / 1000} s, stopping`);
    void Promise.allSettled([runtime?.stop(), postgres?.stop()]).then(() => process.exit(3));
  }, hardLimitMs);
  hardLimit.unref();
  lifecycle.onStop(async () => {
    agent.destroy();
    await Promise.allSettled([runtime?.stop()]);
    await postgres?.stop();
  });
  try {
    postgres = await startPostgres();
    runtime = await startLocalRuntime({
      postgres,
      prefix: `bench_${process.pid}`,
      shardTimeoutMs: TIMEOUT_MS,
      logger: new Logger({ logLevel: "ERROR" }),
      map: settings.map,
      seed: settings.seed,
      faults: settings.faults,
      // The scenarios set their own shard timeout; the function's other settings apply as in `npm start`.
      // The circuit breaker is off here: these scenarios measure what one call to a failing shard costs (the timeout's
      // precision, a refused connection), which an open breaker would skip; `breaker` runs its own runtime with it on.
      env: {
        ...Object.fromEntries(Object.entries(settings.functionEnv).filter(([k]) => k !== "SHARD_TIMEOUT_MS")),
        BREAKER_FAILURE_THRESHOLD: "0",
      },
    });
    log(`runtime at ${runtime.url}`);
    const env: Env = { ctx: { runtime, agent, log }, postgres };
    for (const name of names) {
      const scenario = SCENARIOS[name];
      if (!scenario) continue;
      const t = performance.now();
      try {
        const result = await scenario(env);
        figures.push(...result.figures);
        details[name] = { ...result.details, seconds: Math.round((performance.now() - t) / 100) / 10 };
      } catch (error) {
        failed = true;
        log(`${name} failed: ${(error as Error)?.stack ?? error}`);
        figures.push({
          id: `${name}.error`,
          figure: `${name}: did not complete`,
          measured: String((error as Error)?.message ?? error).slice(0, 80),
          value: Number.NaN,
          goal: "completes",
          pass: false,
        });
      }
    }
  } finally {
    lifecycle.dispose();
    agent.destroy();
    await runtime?.stop();
    await postgres?.stop();
    clearTimeout(hardLimit);
  }

  const seconds = Math.round((performance.now() - started) / 100) / 10;
  console.log(formatTable(figures));
  const misses = figures.filter((f) => f.pass === false).length;
  const load = loadavg().map((l) => Math.round(l * 100) / 100);
  console.log(
    `\n${figures.length} figures, ${misses} missed, ${seconds} s; load average at the end ${load.join(" ")}`,
  );
  if (!wanted.length) {
    await writeResults(RESULTS, {
      date: new Date().toISOString(),
      seconds,
      machine: { ...host, loadavgAtEnd: load },
      figures: figures.map((f) => ({
        ...f,
        value: Number.isFinite(f.value) ? Math.round(f.value * 1e4) / 1e4 : null,
      })),
      details,
    });
    console.log(`written to ${RESULTS}`);
  }
  return failed ? 1 : 0;
}

main().then(
  (code) => {
    process.exitCode = code;
  },
  (error: unknown) => {
    console.error(error);
    process.exitCode = 1;
  },
);
