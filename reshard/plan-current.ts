/**
 * What every operation's planner starts from: the shards' current state, checked, and the helpers that build new
 * maps and fence values from it. Pure.
 */
import type { IdRange, ShardRanges } from "../functions/core/shard-map.js";
import { RefusedError } from "./errors.js";
import type { Fence, FenceValues } from "./fence-state.js";
import type { FenceWrite, Plan } from "./plan-types.js";
import { describeIds, sameIds, subtract } from "./ranges.js";

export const refuse = (message: string): never => {
  throw new RefusedError(message);
};

export const rangeText = ([lo, hi]: IdRange) => `${lo}-${hi}`;

/** The map every shard agrees on, its version, and every shard's fence by id. */
export interface Current {
  readonly version: number;
  readonly shards: readonly ShardRanges[];
  readonly fences: ReadonlyMap<number, Fence>;
}

const mapKey = (shards: readonly ShardRanges[]) =>
  JSON.stringify([...shards].sort((a, b) => a.id - b.id).map((s) => [s.id, s.ranges]));

/**
 * The current state, checked: every shard at the same version with the same map, every shard of the map among the
 * targets and the other way round, each fence owning exactly its ranges of the map, nothing frozen. Anything else is
 * an operation that did not finish (or a new shard not added yet): the tool refuses rather than guess. `newShard`
 * (add-shard's) is left out of the checks: its fence is whatever its deploy wrote.
 */
export function currentState(fences: readonly Fence[], newShard?: number): Current {
  const known = fences.filter((f) => f.shard !== newShard);
  if (known.length === 0) refuse("no shard with a map: every target is the shard being added");
  const version = Math.max(...known.map((f) => f.version));
  const first = known.find((f) => f.version === version) as Fence;
  for (const f of known) {
    if (f.version !== version) {
      refuse(
        `shard ${f.shard} is at map version ${f.version}, shard ${first.shard} at ${version}: an operation did not finish (run resume)`,
      );
    }
    if (mapKey(f.map) !== mapKey(first.map)) {
      refuse(`shards ${first.shard} and ${f.shard} hold different maps at version ${version}`);
    }
  }
  const byId = new Map(fences.map((f) => [f.shard, f]));
  for (const s of first.map) {
    if (!byId.has(s.id)) refuse(`the map has shard ${s.id}, which is not among the targets`);
  }
  for (const f of known) {
    const own = first.map.find((s) => s.id === f.shard);
    if (!own)
      refuse(`shard ${f.shard} is not in the map (version ${version}): run add-shard --shard ${f.shard}`);
    if (!sameIds(f.owned, own?.ranges ?? [])) {
      refuse(
        `shard ${f.shard}'s fence owns ${describeIds(f.owned)} but the map gives it ${describeIds(own?.ranges ?? [])}`,
      );
    }
    if (f.frozen.length > 0)
      refuse(`shard ${f.shard} has frozen ids (${describeIds(f.frozen)}): an operation did not finish`);
  }
  return { version, shards: first.map, fences: byId };
}

export function fenceOf(current: Current, shard: number): Fence {
  return (
    current.fences.get(shard) ??
    refuse(`there is no shard ${shard} (shards: ${[...current.fences.keys()].join(", ")})`)
  );
}

export const sortRanges = (ranges: readonly IdRange[]) => [...ranges].sort((a, b) => a[0] - b[0]);

/** The map with `range` added to shard `id` as a range of its own (the map's shape is only changed by split/merge). */
export function withRange(shards: readonly ShardRanges[], id: number, range: IdRange): ShardRanges[] {
  return shards.map((s) => (s.id === id ? { id, ranges: sortRanges([...s.ranges, range]) } : s));
}

/** The map with `range` cut out of shard `id`'s ranges, each range keeping what is left of it. */
export function withoutRange(shards: readonly ShardRanges[], id: number, range: IdRange): ShardRanges[] {
  return shards.map((s) =>
    s.id === id ? { id, ranges: s.ranges.flatMap((r) => subtract([r], [range])) } : s,
  );
}

export const values = (f: Fence, change: Partial<FenceValues>): FenceValues => ({
  version: f.version,
  owned: f.owned,
  frozen: f.frozen,
  unowned: f.unowned,
  map: f.map,
  ...change,
});

export const ids = (current: Current) => [...current.fences.keys()].sort((a, b) => a - b);

export type Base = Pick<Plan, "id" | "spec" | "batch" | "pauseMs" | "nice" | "fromVersion" | "version">;

/** Every shard but `except` gets the new map and version, its ids unchanged (or with `change` applied). */
export function publishWrites(
  current: Current,
  except: readonly number[],
  version: number,
  map: readonly ShardRanges[],
  change: (f: Fence) => Partial<FenceValues> = () => ({}),
): FenceWrite[] {
  return ids(current)
    .filter((id) => !except.includes(id))
    .map((id) => {
      const f = fenceOf(current, id);
      return { shard: id, fence: values(f, { version, map, ...change(f) }) };
    });
}

export const sortShards = (shards: readonly ShardRanges[]) => [...shards].sort((a, b) => a.id - b.id);
