import type { Agent } from "node:http";
import type { LocalRuntime } from "../../local/runtime.js";

export interface BenchContext {
  readonly runtime: LocalRuntime;
  /** Keep-alive agent of the in-process client, for the light, latency-bound scenarios. */
  readonly agent: Agent;
  readonly log: (message: string) => void;
}

export interface ListBody {
  items: { id: number; name: string | null }[];
  next: number | null;
  partial: boolean;
  shards: { shard: number; status: string; error?: string; ms?: number; count?: number }[];
}

/** Resets every shard to healthy. */
export async function healAll(runtime: LocalRuntime): Promise<void> {
  for (const s of runtime.shards) await runtime.setFault(s.id, undefined);
}
