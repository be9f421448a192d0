import { fork } from "node:child_process";
import type { LoopResult } from "./http.js";

interface Common {
  readonly base: string;
  /** Cycled through in order, one per request. */
  readonly paths: readonly string[];
  readonly durationMs: number;
  readonly warmup: number;
  readonly timeoutMs?: number;
}

export type LoadJob =
  | (Common & { readonly kind: "closed"; readonly concurrency: number; readonly maxRequests: number })
  | (Common & { readonly kind: "open"; readonly ratePerSec: number; readonly maxInFlight: number });

/** `warmup`: requests sent before the measured loop (not in its latencies). */
export type ClosedLoopResult = LoopResult & { warmup: number };
export type OpenLoopResult = LoopResult & { dropped: number; lateStartP99Ms: number; warmup: number };

/** Runs one load job in a forked Node process (with tsx) and resolves with its result; killed if it overruns. */
export function runLoadProcess(job: LoadJob & { kind: "closed" }): Promise<ClosedLoopResult>;
export function runLoadProcess(job: LoadJob & { kind: "open" }): Promise<OpenLoopResult>;
export function runLoadProcess(job: LoadJob): Promise<ClosedLoopResult | OpenLoopResult> {
  return new Promise((resolve, reject) => {
    const child = fork(new URL("../load-child.ts", import.meta.url), [], {
      execArgv: ["--import", "tsx"],
      stdio: ["ignore", "inherit", "inherit", "ipc"],
    });
    const limit = setTimeout(() => {
      child.kill("SIGKILL");
      reject(new Error(`load process overran ${job.durationMs + 30_000} ms`));
    }, job.durationMs + 30_000);
    let settled = false;
    child.once("message", (msg: { ok: boolean; result?: ClosedLoopResult; error?: string }) => {
      settled = true;
      clearTimeout(limit);
      if (msg.ok && msg.result) resolve(msg.result);
      else reject(new Error(`load process failed: ${msg.error}`));
    });
    child.once("exit", (code) => {
      clearTimeout(limit);
      if (!settled) reject(new Error(`load process exited with ${code} before answering`));
    });
    child.send(job);
  });
}
