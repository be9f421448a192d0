/**
 * `npx tsx bench/profile.ts [path] [requests]`: where the CPU of one request goes in the local stack. Starts a local
 * runtime (its own PostgreSQL), warms up, CPU-profiles `requests` sequential requests of `path` (default `/data`,
 * 300) with the inspector, and attributes every sample to the nearest frame that belongs to a package or to a
 * directory of this repository (so `writev` called by the SDK's HTTP handler counts for
 * `@smithy/node-http-handler`). Prints ms per request by owner and writes the `.cpuprofile` (open it in Chrome
 * DevTools) to a temporary directory.
 */
import { mkdtemp, writeFile } from "node:fs/promises";
import { Session } from "node:inspector/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Logger } from "@aws-lambda-powertools/logger";
import { startLocalRuntime } from "../local/runtime.js";
import { readLocalSettings } from "../local/settings.js";
import { keepAliveAgent, send } from "./lib/http.js";
import { attribute, type Profile } from "./lib/profile-attribution.js";

async function main() {
  const path = process.argv[2] ?? "/data";
  const n = Number(process.argv[3] ?? 300);
  // The local runtime's settings apply (SHARD_MAP, SEED, …), so a big map can be profiled.
  const settings = readLocalSettings(process.env);
  const runtime = await startLocalRuntime({
    logger: new Logger({ logLevel: "ERROR" }),
    map: settings.map,
    seed: settings.seed,
    faults: settings.faults,
    env: settings.functionEnv,
  });
  const agent = keepAliveAgent(4);
  const session = new Session();
  session.connect();
  try {
    for (let i = 0; i < 50; i++) await send(agent, runtime.url, { path });
    await session.post("Profiler.enable");
    await session.post("Profiler.setSamplingInterval", { interval: 100 });
    await session.post("Profiler.start");
    const cpu0 = process.cpuUsage();
    const t0 = performance.now();
    for (let i = 0; i < n; i++) await send(agent, runtime.url, { path });
    const wall = performance.now() - t0;
    const cpu = process.cpuUsage(cpu0);
    const { profile } = (await session.post("Profiler.stop")) as { profile: Profile };
    const dir = await mkdtemp(join(tmpdir(), "bench-profile-"));
    const file = join(dir, "requests.cpuprofile");
    await writeFile(file, JSON.stringify(profile));
    console.log(
      `${n} x GET ${path}: ${(wall / n).toFixed(2)} ms wall, ${((cpu.user + cpu.system) / 1000 / n).toFixed(2)} ms CPU per request`,
    );
    const rows = [...attribute(profile)].sort((a, b) => b[1] - a[1]);
    const total = rows.reduce((s, [, v]) => s + v, 0);
    for (const [key, ms] of rows.slice(0, 20)) {
      console.log(
        `${(ms / n).toFixed(3).padStart(8)} ms/req ${((100 * ms) / total).toFixed(1).padStart(5)}%  ${key}`,
      );
    }
    console.log(`profile: ${file}`);
  } finally {
    session.disconnect();
    agent.destroy();
    await runtime.stop();
  }
}

main().catch((error: unknown) => {
  console.error(error);
  process.exitCode = 1;
});
