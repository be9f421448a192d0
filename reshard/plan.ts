/**
 * The planner: pure. From every shard's fence and one operation it computes the new map, every fence each step
 * writes (whole, as `set_fence` takes them) and the shards that hold the operation's row, or refuses with a message
 * that says why. The plan is stored in the operation's row, so a resumed tool re-runs a step with exactly the values
 * the first run used; `--dry-run` prints it and stops.
 */
import { type IdRange, MAX_ID, MIN_ID, type ShardRanges } from "../functions/core/shard-map.js";
import { RefusedError } from "./errors.js";
import type { Fence, FenceValues } from "./fence-state.js";
import { covers, describeIds, overlaps, sameIds, subtract, union } from "./ranges.js";

export type OpSpec =
  | { readonly kind: "assign"; readonly shard: number; readonly range: IdRange }
  | { readonly kind: "split"; readonly shard: number; readonly at: number }
  | { readonly kind: "merge"; readonly shard: number }
  | { readonly kind: "add-shard"; readonly shard: number }
  | { readonly kind: "move"; readonly range: IdRange; readonly from: number; readonly to: number };

export type OpKind = OpSpec["kind"];

export interface FenceWrite {
  readonly shard: number;
  readonly fence: FenceValues;
  /** The move's marker, written with the freeze. */
  readonly marker?: string;
}

export interface PlanStep {
  readonly name: string;
  /** What the step does, for `--dry-run` and `status`. */
  readonly does: string;
  readonly writes: readonly FenceWrite[];
}

export interface Plan {
  readonly id: string;
  readonly spec: OpSpec;
  /** Rows per DELETE and the pause between two (leftovers and cleanup). */
  readonly batch: number;
  readonly pauseMs: number;
  readonly fromVersion: number;
  readonly version: number;
  readonly before: readonly ShardRanges[];
  readonly after: readonly ShardRanges[];
  /** The shards that hold the operation's row (`sharding.operation`). */
  readonly involved: readonly number[];
  readonly steps: readonly PlanStep[];
  /** A move's way back, up to `catchup`: the source's fence as it was before the freeze. */
  readonly abortWrites?: readonly FenceWrite[];
}

/** Steps in order, per kind: the names the operation's row records. */
export const STEPS: Readonly<Record<OpKind, readonly string[]>> = {
  assign: ["check", "take", "publish", "open"],
  split: ["reshape", "publish"],
  merge: ["reshape", "publish"],
  "add-shard": ["join", "publish"],
  move: [
    "prepare",
    "copy",
    "freeze",
    "catchup",
    "switch-target",
    "switch-source",
    "open",
    "publish",
    "cleanup",
  ],
};

/** The last step of a move that `abort` may undo: after it, the target owns the range. */
export const LAST_ABORTABLE_MOVE_STEP = "catchup";

export interface PlanOptions {
  readonly id: string;
  readonly batch: number;
  readonly pauseMs: number;
}

/** What an operation with nothing to do says (`add-shard` of a shard already in the map). */
export interface NoOp {
  readonly noop: string;
}

const refuse = (message: string): never => {
  throw new RefusedError(message);
};

const rangeText = ([lo, hi]: IdRange) => `${lo}-${hi}`;

/** The map all shards agree on, its version, and the highest version any fence holds. */
interface Current {
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
function currentState(fences: readonly Fence[], newShard?: number): Current {
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

function fenceOf(current: Current, shard: number): Fence {
  return (
    current.fences.get(shard) ??
    refuse(`there is no shard ${shard} (shards: ${[...current.fences.keys()].join(", ")})`)
  );
}

const sortRanges = (ranges: readonly IdRange[]) => [...ranges].sort((a, b) => a[0] - b[0]);

/** The map with `range` added to shard `id` as a range of its own (the map's shape is only changed by split/merge). */
function withRange(shards: readonly ShardRanges[], id: number, range: IdRange): ShardRanges[] {
  return shards.map((s) => (s.id === id ? { id, ranges: sortRanges([...s.ranges, range]) } : s));
}

/** The map with `range` cut out of shard `id`'s ranges, each range keeping what is left of it. */
function withoutRange(shards: readonly ShardRanges[], id: number, range: IdRange): ShardRanges[] {
  return shards.map((s) =>
    s.id === id ? { id, ranges: s.ranges.flatMap((r) => subtract([r], [range])) } : s,
  );
}

const values = (f: Fence, change: Partial<FenceValues>): FenceValues => ({
  version: f.version,
  owned: f.owned,
  frozen: f.frozen,
  unowned: f.unowned,
  map: f.map,
  ...change,
});

const ids = (current: Current) => [...current.fences.keys()].sort((a, b) => a - b);

/** The plan of one operation, or a refusal (RefusedError) that changes nothing. */
export function planOperation(fences: readonly Fence[], spec: OpSpec, opts: PlanOptions): Plan | NoOp {
  const newShard = spec.kind === "add-shard" ? spec.shard : undefined;
  if (newShard !== undefined && !fences.some((f) => f.shard === newShard)) {
    refuse(
      `there is no shard ${newShard} among the targets: deploy it first (SHARD_MAP locally, cdk deploy in AWS)`,
    );
  }
  const current = currentState(fences, newShard);
  // Above every fence, the new shard's too: set_fence never goes back to an older version.
  const version = Math.max(...fences.map((f) => f.version)) + 1;
  const base = {
    id: opts.id,
    spec,
    batch: opts.batch,
    pauseMs: opts.pauseMs,
    fromVersion: current.version,
    version,
  };
  switch (spec.kind) {
    case "assign":
      return planAssign(current, spec, base);
    case "split":
    case "merge":
      return planReshape(current, spec, base);
    case "add-shard":
      return planAddShard(current, fences, spec, base);
    case "move":
      return planMove(current, spec, base);
  }
}

type Base = Pick<Plan, "id" | "spec" | "batch" | "pauseMs" | "fromVersion" | "version">;

/** Every shard but `except` gets the new map and version, its ids unchanged (or with `change` applied). */
function publishWrites(
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

function planAssign(current: Current, spec: Extract<OpSpec, { kind: "assign" }>, base: Base): Plan {
  const target = fenceOf(current, spec.shard);
  const range = [spec.range];
  for (const f of current.fences.values()) {
    if (!covers(f.unowned, range)) {
      const owner = current.shards.find((s) => overlaps(s.ranges, range));
      refuse(
        `${rangeText(spec.range)} is not unowned: ${owner ? `shard ${owner.id} owns ${describeIds(subtract(range, subtract(range, owner.ranges)))}` : `shard ${f.shard}'s fence does not list it as unowned`}`,
      );
    }
  }
  const after = withRange(current.shards, spec.shard, spec.range);
  const { version } = base;
  const taken = values(target, {
    version,
    map: after,
    owned: union(target.owned, range),
    frozen: union(target.frozen, range),
    unowned: subtract(target.unowned, range),
  });
  return {
    ...base,
    before: current.shards,
    after,
    involved: ids(current),
    steps: [
      {
        name: "check",
        does: `check ${rangeText(spec.range)} is unowned; delete leftovers on shard ${spec.shard}`,
        writes: [],
      },
      {
        name: "take",
        does: `shard ${spec.shard} owns ${rangeText(spec.range)}, frozen`,
        writes: [{ shard: spec.shard, fence: taken }],
      },
      {
        name: "publish",
        does: `every other shard: map version ${version}, ${rangeText(spec.range)} no longer unowned`,
        writes: publishWrites(current, [spec.shard], version, after, (f) => ({
          unowned: subtract(f.unowned, range),
        })),
      },
      {
        name: "open",
        does: `shard ${spec.shard} opens ${rangeText(spec.range)} for writes`,
        writes: [{ shard: spec.shard, fence: { ...taken, frozen: target.frozen } }],
      },
    ],
  };
}

/** The ranges after split (the range holding `at` cut before it) or merge (adjacent ranges joined). */
function reshaped(
  ranges: readonly IdRange[],
  spec: Extract<OpSpec, { kind: "split" | "merge" }>,
  shard: number,
): IdRange[] {
  if (spec.kind === "split") {
    const holding = ranges.find(([s, e]) => s <= spec.at && spec.at <= e);
    if (!holding)
      refuse(`shard ${shard} owns no range holding ${spec.at} (its ranges: ${describeIds(ranges)})`);
    const [start, end] = holding as IdRange;
    if (start === spec.at) refuse(`${spec.at} already starts a range of shard ${shard} (${start}-${end})`);
    return sortRanges([...ranges.filter((r) => r !== holding), [start, spec.at - 1], [spec.at, end]]);
  }
  const out: [number, number][] = [];
  for (const [s, e] of sortRanges(ranges)) {
    const last = out.at(-1);
    if (last && s === last[1] + 1) last[1] = e;
    else out.push([s, e]);
  }
  if (out.length === ranges.length)
    refuse(`shard ${shard} has no adjacent ranges to merge (its ranges: ${describeIds(ranges)})`);
  return out;
}

function planReshape(current: Current, spec: Extract<OpSpec, { kind: "split" | "merge" }>, base: Base): Plan {
  const target = fenceOf(current, spec.shard);
  const own = current.shards.find((s) => s.id === spec.shard)?.ranges ?? [];
  const after = current.shards.map((s) =>
    s.id === spec.shard ? { id: s.id, ranges: reshaped(own, spec, s.id) } : s,
  );
  const { version } = base;
  const what = spec.kind === "split" ? `split at ${spec.at}` : "adjacent ranges merged";
  return {
    ...base,
    before: current.shards,
    after,
    involved: ids(current),
    steps: [
      {
        name: "reshape",
        does: `shard ${spec.shard}: map version ${version} (${what}), ownership unchanged`,
        writes: [{ shard: spec.shard, fence: values(target, { version, map: after }) }],
      },
      {
        name: "publish",
        does: `every other shard: map version ${version}`,
        writes: publishWrites(current, [spec.shard], version, after),
      },
    ],
  };
}

function planAddShard(
  current: Current,
  fences: readonly Fence[],
  spec: Extract<OpSpec, { kind: "add-shard" }>,
  base: Base,
): Plan | NoOp {
  if (current.shards.some((s) => s.id === spec.shard)) {
    return { noop: `shard ${spec.shard} is already in the map (version ${current.version}): nothing to do` };
  }
  const added = fences.find((f) => f.shard === spec.shard) as Fence;
  if (added.owned.length > 0) {
    refuse(
      `shard ${spec.shard}'s fence owns ${describeIds(added.owned)}: a new shard must own nothing (deploy it with "ranges": [])`,
    );
  }
  const after = sortShards([...current.shards, { id: spec.shard, ranges: [] }]);
  const { version } = base;
  // The ids no shard owns, as the current map says (every known fence agrees on it).
  const unowned = subtract(
    [[MIN_ID, MAX_ID]],
    current.shards.flatMap((s) => s.ranges),
  );
  const joined: FenceValues = { version, owned: [], frozen: [], unowned, map: after };
  const withNew: Current = { ...current, fences: new Map([...current.fences, [spec.shard, added]]) };
  return {
    ...base,
    before: current.shards,
    after,
    involved: ids(withNew),
    steps: [
      {
        name: "join",
        does: `shard ${spec.shard}: owns nothing, map version ${version}`,
        writes: [{ shard: spec.shard, fence: joined }],
      },
      {
        name: "publish",
        does: `every other shard: map version ${version}`,
        writes: publishWrites(current, [spec.shard], version, after),
      },
    ],
  };
}

const sortShards = (shards: readonly ShardRanges[]) => [...shards].sort((a, b) => a.id - b.id);

function planMove(current: Current, spec: Extract<OpSpec, { kind: "move" }>, base: Base): Plan {
  if (spec.from === spec.to) refuse(`shard ${spec.from} is both source and target: a move needs two shards`);
  const source = fenceOf(current, spec.from);
  const target = fenceOf(current, spec.to);
  const range = [spec.range];
  if (!covers(source.owned, range)) {
    refuse(
      `shard ${spec.from} does not own all of ${rangeText(spec.range)} (it owns ${describeIds(source.owned)}; ${describeIds(subtract(range, source.owned))} is not its)`,
    );
  }
  const after = withRange(withoutRange(current.shards, spec.from, spec.range), spec.to, spec.range);
  const { version, id } = base;
  const frozenSource = values(source, { frozen: union(source.frozen, range) });
  const switchedTarget = values(target, {
    version,
    map: after,
    owned: union(target.owned, range),
    frozen: union(target.frozen, range),
  });
  const r = rangeText(spec.range);
  return {
    ...base,
    before: current.shards,
    after,
    involved: [spec.from, spec.to],
    steps: [
      {
        name: "prepare",
        does: `delete leftovers of ${r} on shard ${spec.to}; publication, slot (shard ${spec.from}) and subscription (shard ${spec.to}) reshard_${id}`,
        writes: [],
      },
      { name: "copy", does: `wait until shard ${spec.to} has copied ${r}`, writes: [] },
      {
        name: "freeze",
        does: `shard ${spec.from} freezes ${r} (writes wait), marker ${id}`,
        writes: [{ shard: spec.from, fence: frozenSource, marker: id }],
      },
      {
        name: "catchup",
        does: `wait for the marker on shard ${spec.to}; drop subscription, slot, publication`,
        writes: [],
      },
      {
        name: "switch-target",
        does: `shard ${spec.to} owns ${r}, frozen; map version ${version}`,
        writes: [{ shard: spec.to, fence: switchedTarget }],
      },
      {
        name: "switch-source",
        does: `shard ${spec.from} no longer owns ${r}; map version ${version}`,
        writes: [
          {
            shard: spec.from,
            fence: values(source, {
              version,
              map: after,
              owned: subtract(source.owned, range),
              frozen: subtract(source.frozen, range),
            }),
          },
        ],
      },
      {
        name: "open",
        does: `shard ${spec.to} opens ${r} for writes`,
        writes: [{ shard: spec.to, fence: { ...switchedTarget, frozen: target.frozen } }],
      },
      {
        name: "publish",
        does: `every other shard: map version ${version}`,
        writes: publishWrites(current, [spec.from, spec.to], version, after),
      },
      { name: "cleanup", does: `shard ${spec.from} deletes its rows of ${r}`, writes: [] },
    ],
    abortWrites: [{ shard: spec.from, fence: values(source, {}) }],
  };
}
