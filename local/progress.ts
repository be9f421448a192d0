import type { ShardMap } from "../functions/core/shard-map.js";
import { planSeed, type Seed } from "./seed.js";

/** Below this many rows the seed takes well under a second: no progress line. */
const QUIET_BELOW_ROWS = 200_000;
/** A line at most this often when the output is not a terminal (a log file, CI). */
const LINE_EVERY_MS = 2000;

/**
 * A progress reporter for `createShardDatabases`' `onSeedProgress`: on a terminal one line rewritten in place, in a
 * log a line every two seconds, and nothing for a small seed. Returns undefined when there is nothing to show.
 */
export function seedProgress(
  map: ShardMap,
  seed: Seed,
  out: NodeJS.WriteStream,
): ((loaded: number, total: number) => void) | undefined {
  const { rows } = planSeed(map, seed);
  if (rows < QUIET_BELOW_ROWS) return undefined;
  const began = performance.now();
  let lastLine = 0;
  const fmt = (n: number) => n.toLocaleString("en-US");
  out.write(`Seeding ${fmt(rows)} rows over ${map.shards.length} shards...\n`);
  return (loaded, total) => {
    const now = performance.now();
    const done = loaded >= total;
    const seconds = ((now - began) / 1000).toFixed(1);
    const line = `  ${fmt(loaded)} / ${fmt(total)} rows (${Math.floor((100 * loaded) / total)} %), ${seconds} s`;
    if (out.isTTY) out.write(`\r${line}${done ? "\n" : ""}`);
    else if (done || now - lastLine >= LINE_EVERY_MS) {
      lastLine = now;
      out.write(`${line}\n`);
    }
  };
}
