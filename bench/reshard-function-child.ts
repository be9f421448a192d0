/**
 * The function alone, for the reshard scenario's fencing figure (forked by `scenarios/reshard.ts`): a process that
 * holds only `composeApp` over the runtime's environment (the very objects the Lambda builds) and calls it with API
 * Gateway events, one request after the other, against the runtime's local Data API endpoints in the parent. This
 * process's CPU (user + system) per request is the function's CPU per request: routing, the core, the SDK's
 * serialize/sign/parse, and the HTTP client, without the Data API endpoints or PostgreSQL. Kinds are measured in
 * alternating rounds, so a burst of load from elsewhere hits them alike.
 */
import { Logger } from "@aws-lambda-powertools/logger";
import type { APIGatewayProxyEventV2 } from "aws-lambda";
import { composeApp } from "../functions/app.js";
import { LOCAL_CREDENTIALS } from "../local/data-api/index.js";
import type { RequestSpec } from "./lib/http.js";

export interface FunctionCpuJob {
  readonly env: Record<string, string>;
  readonly kinds: readonly { readonly kind: string; readonly specs: readonly RequestSpec[] }[];
  readonly rounds: number;
  readonly perRound: number;
}

export interface FunctionCpuResult {
  /** Per kind: CPU ms per request of each round, and shard calls per request. */
  readonly kinds: readonly {
    kind: string;
    cpuMs: number[];
    wallMs: number[];
    calls: number;
    statuses: Record<string, number>;
  }[];
}

function event(spec: RequestSpec): APIGatewayProxyEventV2 {
  const url = new URL(spec.path, "http://127.0.0.1");
  const method = spec.method ?? "GET";
  const query = Object.fromEntries(url.searchParams);
  return {
    version: "2.0",
    routeKey: `${method} ${url.pathname.replace(/\/\d+$/, "/{id}")}`,
    rawPath: url.pathname,
    rawQueryString: url.search.slice(1),
    headers: { host: "127.0.0.1", ...(spec.body ? { "content-type": "application/json" } : {}) },
    ...(Object.keys(query).length ? { queryStringParameters: query } : {}),
    requestContext: {
      accountId: "000000000000",
      apiId: "local",
      domainName: "127.0.0.1",
      domainPrefix: "local",
      http: { method, path: url.pathname, protocol: "HTTP/1.1", sourceIp: "127.0.0.1", userAgent: "bench" },
      requestId: "bench",
      routeKey: "$default",
      stage: "$default",
      time: new Date().toISOString(),
      timeEpoch: Date.now(),
    },
    ...(spec.body === undefined ? {} : { body: spec.body }),
    isBase64Encoded: false,
  } as APIGatewayProxyEventV2;
}

async function measure(job: FunctionCpuJob): Promise<FunctionCpuResult> {
  let calls = 0;
  const { app } = composeApp(job.env, {
    logger: new Logger({ logLevel: "ERROR" }),
    credentials: LOCAL_CREDENTIALS,
    observe: (s) => {
      calls += s.shards.filter((r) => r.status !== "skipped").length;
    },
  });
  const events = job.kinds.map((k) => k.specs.map(event));
  const out = job.kinds.map((k) => ({
    kind: k.kind,
    cpuMs: [] as number[],
    wallMs: [] as number[],
    calls: 0,
    statuses: {} as Record<string, number>,
  }));
  const cursor = job.kinds.map(() => 0);
  const once = async (k: number) => {
    const list = events[k] as APIGatewayProxyEventV2[];
    const at = cursor[k] ?? 0;
    cursor[k] = at + 1;
    const res = await app(list[at % list.length] as APIGatewayProxyEventV2);
    const o = out[k] as (typeof out)[number];
    o.statuses[res.statusCode] = (o.statuses[res.statusCode] ?? 0) + 1;
  };
  // Warm-up: V8 optimizes, every client opens its keep-alive sockets.
  for (let k = 0; k < job.kinds.length; k++) for (let i = 0; i < 60; i++) await once(k);
  for (const o of out) o.statuses = {};
  const callsPer = job.kinds.map(() => [0, 0]);
  for (let r = 0; r < job.rounds; r++) {
    for (let k = 0; k < job.kinds.length; k++) {
      const c0 = calls;
      const cpu0 = process.cpuUsage();
      const t0 = performance.now();
      for (let i = 0; i < job.perRound; i++) await once(k);
      const wall = performance.now() - t0;
      const cpu = process.cpuUsage(cpu0);
      const o = out[k] as (typeof out)[number];
      o.cpuMs.push((cpu.user + cpu.system) / 1000 / job.perRound);
      o.wallMs.push(wall / job.perRound);
      const cp = callsPer[k] as number[];
      cp[0] = (cp[0] ?? 0) + (calls - c0);
      cp[1] = (cp[1] ?? 0) + job.perRound;
    }
  }
  out.forEach((o, k) => {
    const cp = callsPer[k] as number[];
    o.calls = (cp[0] ?? 0) / (cp[1] ?? 1);
  });
  return { kinds: out };
}

process.once("disconnect", () => process.exit(0));
process.once("message", (job: FunctionCpuJob) => {
  measure(job).then(
    (result) => process.send?.({ ok: true, result }, undefined, {}, () => process.disconnect?.()),
    (error: unknown) =>
      process.send?.({ ok: false, error: (error as Error)?.stack ?? String(error) }, undefined, {}, () =>
        process.disconnect?.(),
      ),
  );
});
