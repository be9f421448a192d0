/**
 * Fan-out: with every shard answering after 300 ms, `GET /data` should take about 300 ms (the shards are read in
 * parallel), not 900 ms. The baseline reads the same three shards one after the other through the same SDK client
 * factory, config and local Data API endpoints, with the statement the app sends: about 3.0x.
 */
import { loadConfig } from "../../functions/core/config.js";
import { createShardClients, execute } from "../../functions/core/data-api.js";
import { MAX_ID, MIN_ID } from "../../functions/core/shard-map.js";
import { selectRange } from "../../functions/core/sql.js";
import { LOCAL_CREDENTIALS } from "../../local/data-api/index.js";
import { type BenchContext, healAll, type ListBody } from "../lib/context.js";
import { send } from "../lib/http.js";
import type { ScenarioResult } from "../lib/report.js";
import { median, round } from "../lib/stats.js";

const SLOW_MS = 300;
const SAMPLES = 7;
const LIMIT = 100;

export async function fanout({ runtime, agent, log }: BenchContext): Promise<ScenarioResult> {
  const path = `/data?limit=${LIMIT}`;
  const healthy: number[] = [];
  for (let i = 0; i < SAMPLES + 2; i++) healthy.push((await send(agent, runtime.url, { path })).ms);

  for (const s of runtime.shards) await runtime.setFault(s.id, { mode: "slow", ms: SLOW_MS });
  const parallel: number[] = [];
  const problems: string[] = [];
  try {
    await send(agent, runtime.url, { path });
    for (let i = 0; i < SAMPLES; i++) {
      const r = await send(agent, runtime.url, { path });
      const body = JSON.parse(r.body) as ListBody;
      if (r.status !== 200 || body.partial || body.items.length !== 60) {
        problems.push(`status ${r.status}, partial ${body.partial}, ${body.items.length} items`);
      }
      parallel.push(r.ms);
    }

    // The baseline: the same client factory and config as the app, one shard after the other.
    const config = loadConfig(runtime.env);
    // Signed with the local credentials, as the runtime hands them to the app (never the environment's).
    const clients = createShardClients(config, LOCAL_CREDENTIALS);
    const sequential: number[] = [];
    try {
      const readAll = async () => {
        const started = performance.now();
        for (const shard of config.shards) {
          const client = clients.read.get(shard.id);
          if (!client) throw new Error(`no client for shard ${shard.id}`);
          const statement = selectRange(
            config.tableName,
            config.map.clip(shard.id, MIN_ID, MAX_ID),
            LIMIT + 1,
          );
          await execute(client, shard, statement, AbortSignal.timeout(10_000));
        }
        return performance.now() - started;
      };
      await readAll();
      for (let i = 0; i < SAMPLES; i++) sequential.push(await readAll());
    } finally {
      for (const c of [...clients.read.values(), ...clients.write.values()]) c.destroy();
    }

    const ratio = median(parallel) / SLOW_MS;
    const seqRatio = median(sequential) / SLOW_MS;
    log(`fan-out: GET /data ${round(median(parallel))} ms, sequential ${round(median(sequential))} ms`);
    return {
      figures: [
        {
          id: "fanout.ratio",
          figure: `fan-out: GET /data / slowest shard (3 x slow=${SLOW_MS})`,
          measured: `${round(ratio, 3)}x (${round(median(parallel), 1)} ms)`,
          value: ratio,
          goal: "<= 1.05",
          pass: ratio <= 1.05 && problems.length === 0,
          baseline: `sequential reader ${round(seqRatio, 2)}x (${round(median(sequential), 1)} ms); healthy GET /data ${round(median(healthy), 1)} ms`,
        },
      ],
      details: {
        slowMs: SLOW_MS,
        parallelMs: parallel.map((v) => round(v)),
        sequentialMs: sequential.map((v) => round(v)),
        healthyMs: healthy.map((v) => round(v)),
        ratio: round(ratio, 4),
        sequentialRatio: round(seqRatio, 4),
        problems,
      },
    };
  } finally {
    await healAll(runtime);
  }
}
