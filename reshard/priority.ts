/**
 * The tool is background work, so its process asks the operating system to run it after the API's: on a machine
 * it shares with the API and the shards (the local runtime), the copy's batches then wait for a core rather than the
 * API's requests. Measured locally (`npm run bench -- reshard`, docs/benchmarks.md): at equal priority the tool's
 * ~0.2 of a core during a copy was one of the things that doubled the API's p99 on two cores. In AWS the tool runs
 * on the operator's machine, apart from the function and the clusters, and this changes nothing there.
 */
import { getPriority, setPriority } from "node:os";

/** The tool's nice value (19 is the lowest priority, 0 the default); one already lower is kept. */
export const TOOL_NICE = 10;

/**
 * Lowers this process's scheduling priority to TOOL_NICE (never raises it, which would need privileges); threads
 * started afterwards inherit it. Returns the nice value now in force, or undefined where the system refused.
 */
export function lowerOwnPriority(): number | undefined {
  try {
    const current = getPriority();
    if (current < TOOL_NICE) setPriority(TOOL_NICE);
    return getPriority();
  } catch {
    return undefined;
  }
}
