/**
 * The reshard scenario's tool (forked by `scenarios/reshard.ts`): one reshard command (`move …` or `resume`) in a
 * process of its own, as an operator runs `npm run reshard` beside the API and never inside it. Its output lines go
 * to the parent, and each step's start and end wait for the parent's answer, so the parent marks the phases and takes
 * its measures (CPU, WAL) at the very moment the step starts or ends, as the in-process hooks did.
 */
import { parseArgs } from "../reshard/cli.js";
import { runCommand } from "../reshard/run.js";
import { parseTargets } from "../reshard/targets.js";

export interface ReshardToolJob {
  readonly argv: readonly string[];
  /** The runtime's `adminTargets`, as `{shards: …}`. */
  readonly targets: unknown;
}

export type ReshardToolMessage =
  | { readonly kind: "out" | "err"; readonly line: string }
  | { readonly kind: "before" | "after"; readonly step: string }
  | { readonly kind: "done"; readonly code: number }
  | { readonly kind: "failed"; readonly error: string };

const send = (m: ReshardToolMessage) => process.send?.(m);

/** The parent answers every `before`/`after` with `"ack"`, in order. */
const acks: (() => void)[] = [];
const stepHook = (kind: "before" | "after") => (step: string) =>
  new Promise<void>((resolve) => {
    acks.push(resolve);
    send({ kind, step });
  });

process.on("message", (m: unknown) => {
  if (m === "ack") acks.shift()?.();
  else void run(m as ReshardToolJob);
});

async function run(job: ReshardToolJob): Promise<void> {
  try {
    const parsed = parseArgs(job.argv);
    if (!parsed) throw new Error(`reshard: no command in ${job.argv.join(" ")}`);
    const code = await runCommand(parsed.command, parseTargets(job.targets, "the local runtime"), {
      out: (line) => send({ kind: "out", line }),
      err: (line) => send({ kind: "err", line }),
      shardTimeoutMs: parsed.shardTimeoutMs,
      hooks: { beforeStep: stepHook("before"), afterStep: stepHook("after") },
    });
    send({ kind: "done", code });
  } catch (err) {
    send({ kind: "failed", error: err instanceof Error ? (err.stack ?? err.message) : String(err) });
  }
  process.disconnect?.();
}
