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

/** What the load child sends back: its result, or why it has none. */
export type LoadReply =
  | { readonly ok: true; readonly result: ClosedLoopResult | OpenLoopResult }
  | { readonly ok: false; readonly error: string };

/** The load process died or misbehaved; the message says how, with the end of its stderr. */
export class LoadProcessError extends Error {
  override readonly name = "LoadProcessError";
}

/** How much of the child's stderr a failure quotes. */
const STDERR_TAIL = 2000;

/**
 * Runs one load job in a forked Node process (with tsx) and resolves with its result; killed if it overruns.
 *
 * The verdict waits for `close`, not `exit`: `exit` can fire before the last IPC message has been read, while
 * `close` comes only after the IPC channel and stdio have ended, so a reply the child sent is never lost to the race.
 */
export function runLoadProcess(job: LoadJob & { kind: "closed" }): Promise<ClosedLoopResult>;
export function runLoadProcess(job: LoadJob & { kind: "open" }): Promise<OpenLoopResult>;
export function runLoadProcess(job: LoadJob): Promise<ClosedLoopResult | OpenLoopResult> {
  return new Promise((resolve, reject) => {
    const child = fork(new URL("../load-child.ts", import.meta.url), [], {
      execArgv: ["--import", "tsx"],
      stdio: ["ignore", "inherit", "pipe", "ipc"],
    });
    let stderr = "";
    child.stderr?.on("data", (chunk: Buffer) => {
      process.stderr.write(chunk);
      stderr = (stderr + chunk.toString("utf8")).slice(-STDERR_TAIL);
    });
    let reply: LoadReply | undefined;
    let overran = false;
    const limitMs = job.durationMs + 30_000;
    const limit = setTimeout(() => {
      overran = true;
      child.kill("SIGKILL");
    }, limitMs);
    const fail = (what: string) => {
      const tail = stderr.trim();
      reject(new LoadProcessError(tail ? `${what}; its stderr ends with:\n${tail}` : what));
    };
    child.once("message", (msg: LoadReply) => {
      reply = msg;
    });
    child.once("error", (error) => {
      clearTimeout(limit);
      child.kill("SIGKILL");
      fail(`load process could not run: ${error.message}`);
    });
    child.once("close", (code, signal) => {
      clearTimeout(limit);
      if (overran) fail(`load process overran ${limitMs} ms and was killed`);
      else if (reply?.ok) resolve(reply.result);
      else if (reply) fail(`load process failed: ${reply.error}`);
      else fail(`load process ended (${signal ?? `exit code ${code}`}) without sending a result`);
    });
    child.send(job);
  });
}
