/**
 * Faults a local Data API endpoint can be put in, and their textual form (`SHARD_FAULTS=2:hang,3:slow=300`).
 * What each one does on the wire is decided in `local/data-api/server.ts`.
 */
import { ConfigError } from "../functions/core/errors.js";

export type Fault =
  | { mode: "hang" }
  | { mode: "down" }
  | { mode: "error" }
  | { mode: "resuming" }
  | { mode: "slow"; ms: number };

type PlainMode = Exclude<Fault["mode"], "slow">;

const PLAIN_MODES: readonly PlainMode[] = ["hang", "down", "error", "resuming"];

/** Ten minutes: anything longer is a typo, and it would outlive every client timeout anyway. */
const MAX_SLOW_MS = 600_000;

function isPlainMode(value: string): value is PlainMode {
  return (PLAIN_MODES as readonly string[]).includes(value);
}

/** The fault `text` names, or why it names none. */
function faultOrReason(text: string): Fault | string {
  if (isPlainMode(text)) return { mode: text };
  const slow = /^slow=(\d{1,9})$/.exec(text);
  if (slow) {
    const ms = Number(slow[1]);
    return ms <= MAX_SLOW_MS ? { mode: "slow", ms } : `slow delay must be at most ${MAX_SLOW_MS} ms`;
  }
  return "expected hang, down, error, resuming or slow=<ms>";
}

/** Parses one fault: `hang`, `down`, `error`, `resuming` or `slow=<ms>`. */
export function parseFault(spec: string): Fault {
  const fault = faultOrReason(spec.trim());
  if (typeof fault === "string") throw new ConfigError(`fault ${JSON.stringify(spec)}: ${fault}`);
  return fault;
}

/**
 * Parses `SHARD_FAULTS`: comma-separated `<shard>:<fault>` entries, e.g. `2:hang,3:slow=300`. Unset or blank means
 * no faults. Every error is a {@link ConfigError} that names the offending entry.
 */
export function parseFaults(spec: string | undefined): Map<number, Fault> {
  const faults = new Map<number, Fault>();
  if (spec === undefined) return faults;
  for (const raw of spec.split(",")) {
    const entry = raw.trim();
    // An empty entry (a trailing comma, a blank variable) is a harmless slip, not a fault.
    if (entry === "") continue;
    const at = `SHARD_FAULTS entry ${JSON.stringify(entry)}`;
    const colon = entry.indexOf(":");
    if (colon === -1) throw new ConfigError(`${at}: expected <shard>:<fault>, e.g. 2:hang`);
    const shardText = entry.slice(0, colon).trim();
    if (!/^[1-9]\d{0,8}$/.test(shardText)) {
      throw new ConfigError(`${at}: shard must be a positive integer, got ${JSON.stringify(shardText)}`);
    }
    const shard = Number(shardText);
    if (faults.has(shard)) throw new ConfigError(`${at}: shard ${shard} already has a fault`);
    const fault = faultOrReason(entry.slice(colon + 1).trim());
    if (typeof fault === "string") throw new ConfigError(`${at}: ${fault}`);
    faults.set(shard, fault);
  }
  return faults;
}

/** The inverse of {@link parseFault}: `formatFault(parseFault(s)) === s` for every canonical `s`. */
export function formatFault(fault: Fault): string {
  return fault.mode === "slow" ? `slow=${fault.ms}` : fault.mode;
}
