/**
 * `npx tsx bench/shard-cpu.ts [shardCounts] [requests]`: the function's CPU per shard call. For each shard count
 * (default `3,24`) starts a local runtime whose map deals 9,600 ids in blocks of 100 round-robin to the shards, then
 * forks a process that holds only the function (`composeApp` over the runtime's environment, the very objects the
 * Lambda builds) and calls it `requests` times (default 300) for `GET /data?limit=100`, one after the other. That
 * process's CPU (user + system) per request, divided by the shard calls it made, is the function's CPU per shard call:
 * our code plus the SDK's, without the Data API endpoints or PostgreSQL. `PROFILE=1` also CPU-profiles the measured
 * requests and prints ms per request by owner (package or directory of this repository).
 */
import { fork } from "node:child_process";
import { mkdtemp, writeFile } from "node:fs/promises";
import { Session } from "node:inspector/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Logger } from "@aws-lambda-powertools/logger";
import type { APIGatewayProxyEventV2 } from "aws-lambda";
import { composeApp } from "../functions/app.js";
import { createShardMap } from "../functions/core/shard-map.js";
import { startLocalRuntime } from "../local/runtime.js";
import { attribute, type Profile } from "./lib/profile-attribution.js";

const ROWS = 9_600;
const BLOCK = 100;

interface Job {
  readonly env: Record<string, string>;
  readonly requests: number;
  readonly profile: boolean;
}

interface Result {
  readonly cpuMsPerRequest: number;
  readonly wallMsPerRequest: number;
  readonly calls: number;
  readonly owners: [string, number][];
  readonly profileFile?: string;
}

function event(): APIGatewayProxyEventV2 {
  return {
    version: "2.0",
    routeKey: "$default",
    rawPath: "/data",
    rawQueryString: "limit=100",
    headers: { host: "127.0.0.1" },
    queryStringParameters: { limit: "100" },
    requestContext: {
      accountId: "000000000000",
      apiId: "local",
      domainName: "127.0.0.1",
      domainPrefix: "local",
      http: { method: "GET", path: "/data", protocol: "HTTP/1.1", sourceIp: "127.0.0.1", userAgent: "bench" },
      requestId: "bench",
      routeKey: "$default",
      stage: "$default",
      time: new Date().toISOString(),
      timeEpoch: Date.now(),
    },
    isBase64Encoded: false,
  };
}

async function child(job: Job): Promise<Result> {
  const { app } = composeApp(job.env, { logger: new Logger({ logLevel: "ERROR" }) });
  let calls = 0;
  const once = async () => {
    const res = await app(event());
    const body = JSON.parse(res.body ?? "{}") as { partial?: boolean; shards?: { status: string }[] };
    if (res.statusCode !== 200 || body.partial) throw new Error(`unexpected answer ${res.statusCode}`);
    calls += body.shards?.filter((s) => s.status !== "skipped").length ?? 0;
  };
  for (let i = 0; i < 100; i++) await once();
  calls = 0;
  const session = new Session();
  if (job.profile) {
    session.connect();
    await session.post("Profiler.enable");
    await session.post("Profiler.setSamplingInterval", { interval: 100 });
    await session.post("Profiler.start");
  }
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  for (let i = 0; i < job.requests; i++) await once();
  const wall = performance.now() - t0;
  const cpu = process.cpuUsage(cpu0);
  let owners: [string, number][] = [];
  let profileFile: string | undefined;
  if (job.profile) {
    const { profile } = (await session.post("Profiler.stop")) as { profile: Profile };
    session.disconnect();
    profileFile = join(await mkdtemp(join(tmpdir(), "shard-cpu-")), "requests.cpuprofile");
    await writeFile(profileFile, JSON.stringify(profile));
    owners = [...attribute(profile)].sort((a, b) => b[1] - a[1]).map(([k, ms]) => [k, ms / job.requests]);
  }
  return {
    cpuMsPerRequest: (cpu.user + cpu.system) / 1000 / job.requests,
    wallMsPerRequest: wall / job.requests,
    calls: calls / job.requests,
    owners,
    ...(profileFile ? { profileFile } : {}),
  };
}

function runChild(job: Job): Promise<Result> {
  return new Promise((resolve, reject) => {
    const proc = fork(new URL(import.meta.url), ["--child"], {
      execArgv: ["--import", "tsx"],
      stdio: ["ignore", "inherit", "inherit", "ipc"],
    });
    proc.once("message", (msg: { ok: boolean; result?: Result; error?: string }) => {
      if (msg.ok && msg.result) resolve(msg.result);
      else reject(new Error(msg.error));
    });
    proc.once("exit", (code) => (code === 0 ? undefined : reject(new Error(`child exited ${code}`))));
    proc.send(job);
  });
}

async function main() {
  const counts = (process.argv[2] ?? "3,24").split(",").map(Number);
  const requests = Number(process.argv[3] ?? 300);
  const profile = process.env.PROFILE === "1";
  for (const shards of counts) {
    const map = Array.from({ length: shards }, (_, i) => ({ id: i + 1, ranges: [] as [number, number][] }));
    for (let k = 0; k * BLOCK < ROWS; k++) map[k % shards]?.ranges.push([k * BLOCK + 1, (k + 1) * BLOCK]);
    const runtime = await startLocalRuntime({
      map: createShardMap(map),
      logger: new Logger({ logLevel: "ERROR" }),
    });
    try {
      const r = await runChild({ env: { ...runtime.env }, requests, profile });
      console.log(
        `${shards} shards: ${r.cpuMsPerRequest.toFixed(2)} ms CPU and ${r.wallMsPerRequest.toFixed(2)} ms wall per request, ` +
          `${r.calls} shard calls: ${(r.cpuMsPerRequest / r.calls).toFixed(3)} ms CPU per shard call`,
      );
      for (const [owner, ms] of r.owners.slice(0, 15))
        console.log(`  ${ms.toFixed(3).padStart(7)} ms/req  ${owner}`);
      if (r.profileFile) console.log(`  profile: ${r.profileFile}`);
    } finally {
      await runtime.stop();
    }
  }
}

if (process.argv.includes("--child")) {
  process.once("message", async (job: Job) => {
    try {
      process.send?.({ ok: true, result: await child(job) });
    } catch (error) {
      process.send?.({ ok: false, error: String(error) });
    } finally {
      process.disconnect?.();
    }
  });
} else {
  main().catch((error: unknown) => {
    console.error(error);
    process.exitCode = 1;
  });
}
