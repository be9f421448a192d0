/**
 * How the local runtime's commands (`npm start`, `npm run invoke`, `npm run bench`) end: on SIGINT (Ctrl+C),
 * SIGTERM or SIGHUP, and when the process that started them dies, they stop what they started (API server, Data API
 * endpoints, PostgreSQL and its data directory) and exit.
 *
 * The signal has to reach this process first. `npm run` runs a script with `sh -c "<script>"`; npm forwards SIGTERM
 * and SIGINT to that shell and exits at once, and dash (Debian's `sh`) dies of the signal without passing it on, so
 * with `"start": "tsx local/start.ts"` the tsx process and everything below it were orphaned, still holding the
 * ports. The scripts therefore `exec` node (`exec node --import tsx …`): the shell becomes this process, npm's
 * forwarded signal lands here, and no tsx wrapper process sits in between. The parent watch below covers what no
 * signal announces (npm killed with SIGKILL, a shell without `exec`).
 */

export type StopReason = NodeJS.Signals | "parent exited";

const SIGNALS = ["SIGINT", "SIGTERM", "SIGHUP"] as const;
/** How often the parent is checked; the cost is one syscall. */
const PARENT_POLL_MS = 500;
/** Exit codes as a shell reports death by these signals (128 + number), used when a second signal forces the exit. */
const FORCED_EXIT = { SIGINT: 130, SIGTERM: 143, SIGHUP: 129 } as const;
/**
 * A second signal this soon after the first is the same request arriving twice, not a user insisting: Ctrl+C sends
 * SIGINT to the whole process group, and npm, in that group too, forwards its own copy to this process.
 */
const ECHO_MS = 2000;

export interface Lifecycle {
  /** What to run on a stop; before it is set, a signal exits at once (the postgres module's handlers clean up). */
  onStop(stop: () => Promise<void>): void;
  /** Resolves with the reason once a stop was asked for. */
  readonly stopped: Promise<StopReason>;
  /** Removes the handlers and the parent watch (a command that finished on its own). */
  dispose(): void;
}

/**
 * Installs the handlers. On the first signal (or the parent's death) it logs why, runs the stop function and exits
 * with `exitCode` (0 by default: asked to stop, stopped cleanly); a second signal while stopping exits at once.
 */
export function stopOnSignals(
  opts: { log?: (message: string) => void; exitCode?: number; parentPid?: number } = {},
): Lifecycle {
  let stop: (() => Promise<void>) | undefined;
  let stopping = false;
  let resolveStopped: (reason: StopReason) => void = () => undefined;
  const stopped = new Promise<StopReason>((resolve) => {
    resolveStopped = resolve;
  });

  let firstAt = 0;
  const begin = (reason: StopReason) => {
    if (stopping) {
      const echo = performance.now() - firstAt < ECHO_MS;
      if (reason !== "parent exited" && !echo)
        process.exit(FORCED_EXIT[reason as keyof typeof FORCED_EXIT] ?? 1);
      return;
    }
    stopping = true;
    firstAt = performance.now();
    resolveStopped(reason);
    if (!stop) process.exit(FORCED_EXIT[reason as keyof typeof FORCED_EXIT] ?? 1);
    opts.log?.(`${reason}: stopping the API, the Data API endpoints and PostgreSQL...`);
    void stop()
      .catch((error: unknown) => opts.log?.(`while stopping: ${String(error)}`))
      .finally(() => process.exit(opts.exitCode ?? 0));
  };

  const handlers = SIGNALS.map((signal) => {
    const handler = () => begin(signal);
    process.on(signal, handler);
    return [signal, handler] as const;
  });

  // Orphaned, a process is re-parented (to init or a subreaper): its parent pid changes.
  const parent = opts.parentPid ?? process.ppid;
  const watch =
    parent > 1
      ? setInterval(() => {
          if (process.ppid !== parent) begin("parent exited");
        }, PARENT_POLL_MS)
      : undefined;
  watch?.unref();

  return {
    onStop(fn) {
      stop = fn;
    },
    stopped,
    dispose() {
      for (const [signal, handler] of handlers) process.removeListener(signal, handler);
      if (watch) clearInterval(watch);
    },
  };
}
