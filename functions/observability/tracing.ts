/**
 * One X-Ray subsegment per shard call, sent to the X-Ray daemon that Lambda runs beside the function when active
 * tracing is on, with no tracing library: a subsegment is a small JSON document on UDP ("Sending segment documents to
 * the X-Ray daemon" and "AWS X-Ray segment documents", X-Ray Developer Guide, xray-api-sendingdata.html and
 * xray-api-segmentdocuments.html). The X-Ray SDK (or Powertools Tracer, which wraps it) would do the same through
 * dependencies every cold start would import, against an import-time budget of 1.2x the SDK's (docs/observability.md,
 * "Tracing").
 *
 * Each request's trace shows the Lambda segments (initialization, invocation, overhead) that Lambda records itself,
 * and under the invocation one subsegment `shard <id>` per shard called, annotated with `shard` and `outcome` (`ok`,
 * `timeout`, `error`), so X-Ray's filter expressions find them (`annotation.shard = 2 AND annotation.outcome =
 * "timeout"`). Its duration is the call's own (`ms` of the shard report); it starts when the request did, since every
 * shard is called at once (reads) or right after validation (writes). Skipped shards and shards whose breaker was open
 * are not called and get no subsegment.
 *
 * Nothing is sent unless Lambda says the request is sampled (`Sampled=1` in `_X_AMZN_TRACE_ID`) and names the daemon
 * (`AWS_XRAY_DAEMON_ADDRESS`); locally and with tracing off this is a no-op. Sending never throws into the request.
 */
import { randomBytes } from "node:crypto";
import { createSocket, type Socket } from "node:dgram";
import type { RequestSummary } from "../request-summary.js";

const HEADER = '{"format": "json", "version": 1}\n';

export interface TraceContext {
  readonly root: string;
  readonly parent: string;
}

/** The trace and the parent segment of the current invocation, when it is sampled. */
export function sampledTrace(header: string | undefined): TraceContext | undefined {
  if (!header) return undefined;
  const fields = Object.fromEntries(
    header.split(";").map((part) => {
      const at = part.indexOf("=");
      return [part.slice(0, at).trim(), part.slice(at + 1).trim()];
    }),
  );
  if (fields.Sampled !== "1" || !fields.Root || !fields.Parent) return undefined;
  return { root: fields.Root, parent: fields.Parent };
}

/** The daemon's UDP address, `host:port` (Lambda sets it when active tracing is on). */
export function daemonAddress(value: string | undefined): { host: string; port: number } | undefined {
  const match = /^([^:\s]+):(\d{1,5})$/.exec(value ?? "");
  if (!match?.[1] || !match[2]) return undefined;
  return { host: match[1], port: Number(match[2]) };
}

/** The subsegment documents of one request: one per shard that was called. */
export function shardSubsegments(
  summary: RequestSummary,
  trace: TraceContext,
  endedAtSeconds: number,
  newId: () => string = () => randomBytes(8).toString("hex"),
): Record<string, unknown>[] {
  const start = endedAtSeconds - summary.ms / 1000;
  return summary.shards.flatMap((report) => {
    if (report.status !== "ok" && report.status !== "timeout" && report.status !== "error") return [];
    return [
      {
        name: `shard ${report.shard}`,
        id: newId(),
        trace_id: trace.root,
        parent_id: trace.parent,
        type: "subsegment",
        namespace: "remote",
        start_time: start,
        end_time: start + report.ms / 1000,
        annotations: { shard: report.shard, outcome: report.status, route: summary.route },
        ...(report.status === "error" ? { error: true, metadata: { default: { error: report.error } } } : {}),
        ...(report.status === "timeout" ? { error: true } : {}),
      },
    ];
  });
}

/**
 * An observer that sends each request's shard subsegments, or `undefined` when the environment names no daemon (no
 * active tracing): then it costs nothing at all.
 */
export function createTracingObserver(
  env: NodeJS.ProcessEnv = process.env,
): ((summary: RequestSummary) => void) | undefined {
  const daemon = daemonAddress(env.AWS_XRAY_DAEMON_ADDRESS);
  if (!daemon) return undefined;
  let socket: Socket | undefined;
  return (summary) => {
    try {
      // Lambda sets the header per invocation; read it now, not at init.
      const trace = sampledTrace(env._X_AMZN_TRACE_ID);
      if (!trace) return;
      const docs = shardSubsegments(summary, trace, Date.now() / 1000);
      if (docs.length === 0) return;
      if (!socket) {
        socket = createSocket("udp4");
        socket.on("error", () => {});
        socket.unref();
      }
      for (const doc of docs) socket.send(HEADER + JSON.stringify(doc), daemon.port, daemon.host, () => {});
    } catch {
      // Tracing is best effort: a request never fails because a trace could not be sent.
    }
  };
}
