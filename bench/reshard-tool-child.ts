/**
 * The reshard scenario's tool (forked by `scenarios/reshard.ts`): one reshard command (`move …` or `resume`) in a
 * process of its own, as an operator runs `npm run reshard` beside the API and never inside it. Its output lines go
 * to the parent, and each step's start and end wait for the parent's answer, so the parent marks the phases and takes
 * its measures (CPU, WAL) at the very moment the step starts or ends, as the in-process hooks did. The process is
 * started, and its endpoints listen, before the parent's baseline begins: starting Node and compiling the tool takes
 * a whole core for over a second here, a cost of starting a program on this machine, not of the move.
 *
 * The tool reaches the shards through local Data API endpoints of its own, started here against the same servers,
 * databases and owner role as the runtime's. In AWS the Data API is a service of its own: the tool's calls (256 KiB
 * batches both ways) never run on the function's CPU. The runtime's endpoints run inside the API's process, so
 * through them every batch of the copy would be parsed and written on the API's own event loop, a cost the function
 * never pays in AWS and that the API's p99 would wrongly charge to the move.
 */
import { LOCAL_CREDENTIALS, runtimeCredentials, startDataApiEndpoint } from "../local/data-api/index.js";
import type { LocalAdminTarget } from "../local/shards-route.js";
import { parseArgs } from "../reshard/cli.js";
import { lowerOwnPriority } from "../reshard/priority.js";
import { runCommand } from "../reshard/run.js";
import { parseTargets } from "../reshard/targets.js";

/** First the targets (the child starts its endpoints and answers `ready`), then one command. */
export type ReshardToolJob =
  | {
      readonly kind: "setup";
      /** The runtime's `adminTargets`, as `{shards: …}`. */
      readonly targets: { readonly shards: readonly LocalAdminTarget[] };
    }
  | { readonly kind: "run"; readonly argv: readonly string[] };

export type ReshardToolMessage =
  | { readonly kind: "ready" }
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

// As `npm run reshard` does (reshard/priority.ts): the tool, and here the Data API endpoints that stand for AWS's
// service, run after the API's process and the shards when the two cores are busy.
lowerOwnPriority();
let own: Awaited<ReturnType<typeof ownEndpoints>> | undefined;
process.on("message", (m: unknown) => {
  if (m === "ack") {
    acks.shift()?.();
    return;
  }
  const job = m as ReshardToolJob;
  if (job.kind === "setup") {
    ownEndpoints(job.targets).then(
      (endpoints) => {
        own = endpoints;
        send({ kind: "ready" });
      },
      (err: unknown) => send({ kind: "failed", error: String(err) }),
    );
  } else if (own) void run(job.argv, own);
});

/** The same targets, each reached through an endpoint of this process (see above); `stop` closes them. */
async function ownEndpoints(targets: { shards: readonly LocalAdminTarget[] }) {
  const endpoints = await Promise.all(
    targets.shards.map((t) => {
      const { host, port, user, password } = t.replication;
      return startDataApiEndpoint({
        postgres: { host, port, user, password },
        clusters: [
          {
            resourceArn: t.resourceArn,
            secretArn: t.secretArn,
            secrets: [{ secretArn: t.secretArn, user, password }],
            database: t.database,
          },
        ],
        credentials: [runtimeCredentials(), LOCAL_CREDENTIALS],
      });
    }),
  );
  return {
    targets: { shards: targets.shards.map((t, i) => ({ ...t, endpoint: endpoints[i]?.url })) },
    stop: () => Promise.all(endpoints.map((e) => e.stop())),
  };
}

async function run(argv: readonly string[], own: Awaited<ReturnType<typeof ownEndpoints>>): Promise<void> {
  try {
    const parsed = parseArgs(argv);
    if (!parsed) throw new Error(`reshard: no command in ${argv.join(" ")}`);
    const code = await runCommand(parsed.command, parseTargets(own.targets, "the local runtime"), {
      out: (line) => send({ kind: "out", line }),
      err: (line) => send({ kind: "err", line }),
      shardTimeoutMs: parsed.shardTimeoutMs,
      hooks: { beforeStep: stepHook("before"), afterStep: stepHook("after") },
    });
    send({ kind: "done", code });
  } catch (err) {
    send({ kind: "failed", error: err instanceof Error ? (err.stack ?? err.message) : String(err) });
  }
  await own.stop();
  process.disconnect?.();
}
