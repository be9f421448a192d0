/**
 * `npm run reshard -- <command> …`: the command line (parsed and validated before anything is contacted: a wrong
 * argument is exit code 2 with a message naming it), the targets, and the exit code of the command (0 done, 1
 * refused or failed). Results go to stdout; progress, notes and errors to stderr.
 */

import { pathToFileURL } from "node:url";
import { DEFAULTS } from "../functions/core/config.js";
import { MAX_ID, MIN_ID } from "../functions/core/shard-map.js";
import { DEFAULT_PACING } from "./batches.js";
import { TargetError, UsageError } from "./errors.js";
import type { OpSpec } from "./plan.js";
import { lowerOwnPriority } from "./priority.js";
import { type Command, runCommand } from "./run.js";
import { fileTargets, localTargets, type ShardTarget } from "./targets.js";

export const USAGE = `usage: npm run reshard -- <command> [options] [--local [URL] | --shards FILE]

commands:
  status                                   every shard's fence, rows, and any unfinished operation
  assign --shard D --range LO-HI           give unowned ids to shard D (no rows move)
  split --shard S --at ID                  cut the range of S holding ID before ID (map shape only)
  merge --shard S                          join the adjacent ranges of S (map shape only)
  add-shard --shard D                      put a new, empty shard D into the map
  move --range LO-HI --from A --to B       move the ids and their rows from shard A to shard B
  resume                                   continue the unfinished operation from its recorded step
  abort                                    undo the unfinished operation (a move up to its catchup step)

options:
  --dry-run              print the plan (new map, every fence write) and change nothing
  --batch N              rows per batch copied or deleted (move, assign), default ${DEFAULT_PACING.batch}
  --pause-ms N           the shortest pause after a batch (move, assign), default ${DEFAULT_PACING.pauseMs}
  --nice R               pause after a batch at least R times as long as it took (move, assign), default ${DEFAULT_PACING.nice}
  --shard-timeout-ms N   the function's shard timeout; a move waits 5x this for its catch-up, default ${DEFAULTS.shardTimeoutMs}
  --local [URL]          the local runtime (default; URL default http://127.0.0.1:3000)
  --shards FILE          the shards' coordinates from a file (AWS: the stack's ReshardTargets output)

exit codes: 0 done, 1 refused or failed, 2 wrong command line`;

export const DEFAULT_LOCAL_URL = "http://127.0.0.1:3000";

export type Target = { readonly local: string } | { readonly file: string };

export interface Parsed {
  readonly command: Command;
  readonly target: Target;
  readonly shardTimeoutMs: number;
}

/** Options each command takes (besides the target options and --shard-timeout-ms). */
const OPTIONS: Readonly<Record<string, readonly string[]>> = {
  status: [],
  resume: [],
  abort: [],
  assign: ["shard", "range", "dry-run", "batch", "pause-ms", "nice"],
  split: ["shard", "at", "dry-run"],
  merge: ["shard", "dry-run"],
  "add-shard": ["shard", "dry-run"],
  move: ["range", "from", "to", "dry-run", "batch", "pause-ms", "nice"],
};
const COMMON = ["local", "shards", "shard-timeout-ms", "help"];
const FLAGS = new Set(["dry-run", "help"]);

function integer(name: string, text: string, min: number, max: number): number {
  if (!/^-?\d+$/.test(text))
    throw new UsageError(`--${name}: expected an integer, got ${JSON.stringify(text)}`);
  const value = Number(text);
  if (value < min || value > max) throw new UsageError(`--${name}: expected ${min} to ${max}, got ${text}`);
  return value;
}

/** A decimal from 0 to `max`. */
function ratio(name: string, text: string, max: number): number {
  if (!/^\d+(\.\d+)?$/.test(text))
    throw new UsageError(`--${name}: expected a number, got ${JSON.stringify(text)}`);
  const value = Number(text);
  if (value > max) throw new UsageError(`--${name}: expected 0 to ${max}, got ${text}`);
  return value;
}

const shardId = (name: string, text: string) => integer(name, text, 1, 2 ** 31 - 1);

/** `LO-HI`, inclusive, ids of the table's INT column (either may be negative: `-20--10`). */
export function parseRange(text: string): readonly [number, number] {
  const m = /^(-?\d+)-(-?\d+)$/.exec(text);
  if (!m) throw new UsageError(`--range: expected LO-HI (e.g. 61-100), got ${JSON.stringify(text)}`);
  const lo = integer("range", m[1] as string, MIN_ID, MAX_ID);
  const hi = integer("range", m[2] as string, MIN_ID, MAX_ID);
  if (lo > hi) throw new UsageError(`--range: ${lo} is above ${hi}`);
  return [lo, hi];
}

/** `undefined` for --help. */
export function parseArgs(argv: readonly string[]): Parsed | undefined {
  const [name, ...rest] = argv;
  if (name === undefined || name === "--help" || name === "-h" || name === "help") return undefined;
  const allowed = OPTIONS[name];
  if (!allowed)
    throw new UsageError(
      `unknown command ${JSON.stringify(name)} (commands: ${Object.keys(OPTIONS).join(", ")})`,
    );
  const given = new Map<string, string>();
  for (let i = 0; i < rest.length; i++) {
    const arg = rest[i] as string;
    if (!arg.startsWith("--")) throw new UsageError(`unexpected argument ${JSON.stringify(arg)}`);
    const eq = arg.indexOf("=");
    const key = arg.slice(2, eq < 0 ? undefined : eq);
    if (!allowed.includes(key) && !COMMON.includes(key)) {
      throw new UsageError(
        `${name} takes no option --${key} (it takes: ${[...allowed].map((o) => `--${o}`).join(", ") || "none"})`,
      );
    }
    if (given.has(key)) throw new UsageError(`--${key} is given twice`);
    let value: string;
    if (eq >= 0) value = arg.slice(eq + 1);
    else if (FLAGS.has(key)) value = "";
    else if (key === "local" && (rest[i + 1] === undefined || rest[i + 1]?.startsWith("--")))
      value = DEFAULT_LOCAL_URL;
    else {
      const next = rest[i + 1];
      if (next === undefined || (next.startsWith("--") && !/^--?\d/.test(next)))
        throw new UsageError(`--${key} needs a value`);
      value = next;
      i++;
    }
    if (FLAGS.has(key) && eq >= 0) throw new UsageError(`--${key} takes no value`);
    given.set(key, value);
  }
  if (given.has("help")) return undefined;
  const required = (key: string): string => {
    const value = given.get(key);
    if (value === undefined || value === "") throw new UsageError(`${name} needs --${key}`);
    return value;
  };
  if (given.has("local") && given.has("shards"))
    throw new UsageError("--local and --shards: give one target, not both");
  const file = given.get("shards");
  if (file === "") throw new UsageError("--shards needs a file");
  const local = given.get("local") ?? DEFAULT_LOCAL_URL;
  if (file === undefined && !/^https?:\/\/[^/\s]+/.test(local))
    throw new UsageError(`--local: expected an http(s) URL, got ${JSON.stringify(local)}`);
  const shardTimeoutMs = given.has("shard-timeout-ms")
    ? integer("shard-timeout-ms", required("shard-timeout-ms"), 1, 600_000)
    : DEFAULTS.shardTimeoutMs;
  const target: Target = file === undefined ? { local } : { file };

  let spec: OpSpec;
  switch (name) {
    case "status":
    case "resume":
    case "abort":
      return { command: { name }, target, shardTimeoutMs };
    case "assign":
      spec = {
        kind: "assign",
        shard: shardId("shard", required("shard")),
        range: parseRange(required("range")),
      };
      break;
    case "split":
      spec = {
        kind: "split",
        shard: shardId("shard", required("shard")),
        at: integer("at", required("at"), MIN_ID, MAX_ID),
      };
      break;
    case "merge":
      spec = { kind: "merge", shard: shardId("shard", required("shard")) };
      break;
    case "add-shard":
      spec = { kind: "add-shard", shard: shardId("shard", required("shard")) };
      break;
    default:
      spec = {
        kind: "move",
        range: parseRange(required("range")),
        from: shardId("from", required("from")),
        to: shardId("to", required("to")),
      };
      if (spec.from === spec.to)
        throw new UsageError(`--from and --to are both shard ${spec.from}: a move needs two shards`);
  }
  const batch = given.has("batch") ? integer("batch", required("batch"), 1, 100_000) : DEFAULT_PACING.batch;
  const pauseMs = given.has("pause-ms")
    ? integer("pause-ms", required("pause-ms"), 0, 60_000)
    : DEFAULT_PACING.pauseMs;
  const nice = given.has("nice") ? ratio("nice", required("nice"), 100) : DEFAULT_PACING.nice;
  return {
    command: { name: "operation", spec, dryRun: given.has("dry-run"), batch, pauseMs, nice },
    target,
    shardTimeoutMs,
  };
}

export async function loadTargets(target: Target): Promise<ShardTarget[]> {
  return "file" in target ? fileTargets(target.file) : localTargets(target.local);
}

/** The whole tool: returns the exit code. */
export async function main(argv: readonly string[]): Promise<number> {
  const out = (line: string) => process.stdout.write(`${line}\n`);
  const err = (line: string) => process.stderr.write(`${line}\n`);
  let parsed: Parsed | undefined;
  try {
    parsed = parseArgs(argv);
  } catch (e) {
    if (!(e instanceof UsageError)) throw e;
    err(`reshard: ${e.message}`);
    err("run `npm run reshard -- --help` for the commands and options");
    return 2;
  }
  if (!parsed) {
    out(USAGE);
    return 0;
  }
  let targets: ShardTarget[];
  try {
    targets = await loadTargets(parsed.target);
  } catch (e) {
    if (!(e instanceof TargetError)) throw e;
    err(`reshard: ${e.message}`);
    return 1;
  }
  return runCommand(parsed.command, targets, { out, err, shardTimeoutMs: parsed.shardTimeoutMs });
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  // Only when run as the tool (`npm run reshard`): a test that calls `main` keeps its own priority.
  lowerOwnPriority();
  main(process.argv.slice(2)).then(
    (code) => {
      process.exitCode = code;
    },
    (e: unknown) => {
      process.stderr.write(`reshard: ${(e as Error).stack ?? String(e)}\n`);
      process.exitCode = 1;
    },
  );
}
