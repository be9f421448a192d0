import {
  DatabaseErrorException,
  ExecuteStatementCommand,
  type ExecuteStatementCommandInput,
  type ExecuteStatementCommandOutput,
  RDSDataClient,
  type SqlParameter,
} from "@aws-sdk/client-rds-data";
import { type AwsClientStub, mockClient } from "aws-sdk-client-mock";
import { type AppConfig, loadConfig } from "../../functions/core/config.js";
import { createShardClients, type ShardClients } from "../../functions/core/data-api.js";
import type { Row } from "../../functions/core/row.js";
import { createShardMap, MAX_ID, MIN_ID } from "../../functions/core/shard-map.js";
import { ShardedTable } from "../../functions/core/sharded-table.js";
import { DEFAULT_MAP, ownerOfSeed, SEED_ROWS, SHARD_ARNS, SHARD_IDS, testEnv } from "./fixtures.js";

export type DataApiMock = AwsClientStub<RDSDataClient>;

/** One shard's rows, as its PostgreSQL database would hold them: id -> name. */
export type ShardStore = Map<number, string | null>;

/**
 * One shard's fence (infra/fence-sql.ts) as the fake checks it: the ids it owns and vouches unowned, those frozen,
 * and the map it hands out. Mutable, so a test can move a range "between" two calls.
 */
export interface FakeFence {
  owned: [number, number][];
  unowned: [number, number][];
  frozen: [number, number][];
  version: number;
  shards: { id: number; ranges: [number, number][] }[];
}

const covers = (ranges: readonly [number, number][], [lo, hi]: readonly [number, number]) => {
  // Ranges are disjoint but may be adjacent: walk from lo and see whether hi is reached.
  let next = lo;
  for (const [a, b] of [...ranges].sort((x, y) => x[0] - y[0])) {
    if (a > next) break;
    if (b >= next) next = b + 1;
    if (next > hi) return true;
  }
  return next > hi;
};

/** The ranges of a multirange literal `{[1,10],[31,40]}`. */
const parseMultirange = (literal: unknown): [number, number][] =>
  [...String(literal ?? "{}").matchAll(/\[(-?\d+),(-?\d+)\]/g)].map((m) => [Number(m[1]), Number(m[2])]);

/** The Data API's rendering of a failed statement (`DatabaseErrorException`, `...; SQLState: XXXXX`). */
export function sqlError(message: string, state: string): DatabaseErrorException {
  return new DatabaseErrorException({ message: `ERROR: ${message}; SQLState: ${state}`, $metadata: {} });
}

/** Throws the fence's SF001 unless `fence` owns all of `:owned` and vouches for all of `:unowned`. */
function admitRead(input: ExecuteStatementCommandInput, fence: FakeFence | undefined): void {
  if (!fence) return;
  const owned = parseMultirange(param(input, "owned"));
  const unowned = parseMultirange(param(input, "unowned"));
  if (!owned.every((r) => covers(fence.owned, r)) || !unowned.every((r) => covers(fence.unowned, r)))
    throw sqlError("shard fence: not owned", "SF001");
}

function admitWrite(id: number, fence: FakeFence | undefined): void {
  if (!fence) return;
  if (!covers(fence.owned, [id, id])) throw sqlError(`shard fence: does not own id ${id}`, "SF001");
  if (covers(fence.frozen, [id, id])) throw sqlError(`shard fence: id ${id} is frozen`, "SF002");
}

/** The fences of the shards of `shards` (every id a shard does not own is unowned), version 1. */
export function fencesOf(shards: readonly { id: number; ranges: readonly (readonly [number, number])[] }[]) {
  const unowned = createShardMap(shards)
    .unownedIn(MIN_ID, MAX_ID)
    .map(([a, b]): [number, number] => [a, b]);
  const map = shards.map((s) => ({ id: s.id, ranges: s.ranges.map(([a, b]) => [a, b] as [number, number]) }));
  return new Map(
    shards.map((s): [number, FakeFence] => [
      s.id,
      { owned: s.ranges.map(([a, b]) => [a, b]), unowned, frozen: [], version: 1, shards: map },
    ]),
  );
}

/** The bound value of parameter `name`, which must be a `longValue` or `stringValue` of the expected kind. */
function param(input: ExecuteStatementCommandInput, name: string): number | string | undefined {
  const p = (input.parameters ?? []).find((x: SqlParameter) => x.name === name);
  if (!p?.value) return undefined;
  const v = p.value as { longValue?: number; stringValue?: string };
  return v.longValue ?? v.stringValue;
}

function longParam(input: ExecuteStatementCommandInput, name: string): number {
  const v = param(input, name);
  if (typeof v !== "number") throw new Error(`fake Data API: parameter :${name} is not a bound long`);
  return v;
}

/** Rows as the Data API returns them for `formatRecordsAs: "JSON"`: one JSON string, column names as keys. */
export const formatted = (rows: readonly Row[]): string =>
  JSON.stringify(rows.map((r) => ({ id: r.id, name: r.name })));

/**
 * Answers an `ExecuteStatement` the way PostgreSQL would for the statements the core sends, from an in-memory store
 * and only from the bound parameters (`lo0`/`hi0`/…/`rest`/`limit`, `id`, `name`): a query whose bounds were not pushed
 * down as parameters gets no help from here. Throws on SQL it does not know, so a changed statement fails loudly.
 */
export function answerFrom(store: ShardStore, fence?: FakeFence) {
  return (input: ExecuteStatementCommandInput): Partial<ExecuteStatementCommandOutput> => {
    const sql = input.sql ?? "";
    if (sql === "SELECT version::int AS version, map::text AS map FROM sharding.fence") {
      if (!fence) throw new Error("fake Data API: no fence to read");
      const map = JSON.stringify({ shards: fence.shards });
      return {
        formattedRecords: JSON.stringify([{ version: fence.version, map }]),
        numberOfRecordsUpdated: 0,
      };
    }
    if (sql === "SELECT (SELECT sharding.admit_read(:owned, :unowned)) AS ok") {
      admitRead(input, fence);
      return { formattedRecords: JSON.stringify([{ ok: true }]), numberOfRecordsUpdated: 0 };
    }
    if (
      /^SELECT id, name FROM \S+ WHERE id BETWEEN :lo0 AND :hi0 /.test(sql) ||
      /^SELECT id, name FROM \(/.test(sql)
    ) {
      const ranges: [number, number][] = [];
      for (let i = 0; param(input, `lo${i}`) !== undefined; i++) {
        ranges.push([longParam(input, `lo${i}`), longParam(input, `hi${i}`)]);
      }
      const rest = param(input, "rest");
      if (rest !== undefined) {
        // The ranges past the first few, as one multirange literal `{[lo,hi],…}` inside [restLo, restHi].
        const [restLo, restHi] = [longParam(input, "restLo"), longParam(input, "restHi")];
        for (const m of String(rest).matchAll(/\[(-?\d+),(-?\d+)\]/g)) {
          ranges.push([Math.max(Number(m[1]), restLo), Math.min(Number(m[2]), restHi)]);
        }
      }
      if (ranges.length === 0) throw new Error("fake Data API: a range query without ranges");
      admitRead(input, fence);
      const limit = longParam(input, "limit");
      const rows = [...store]
        .filter(([id]) => ranges.some(([lo, hi]) => id >= lo && id <= hi))
        .sort(([a], [b]) => a - b)
        .slice(0, limit)
        .map(([id, name]) => ({ id, name }));
      return { formattedRecords: formatted(rows), numberOfRecordsUpdated: 0 };
    }
    if (
      /^SELECT id, name FROM \S+ WHERE id = :id AND \(SELECT sharding\.admit_read\(:owned, :unowned\)\)$/.test(
        sql,
      )
    ) {
      const id = longParam(input, "id");
      admitRead(input, fence);
      const rows = store.has(id) ? [{ id, name: store.get(id) ?? null }] : [];
      return { formattedRecords: formatted(rows), numberOfRecordsUpdated: 0 };
    }
    const write =
      /^WITH admitted AS \(SELECT statement_timestamp\(\) <= \(:deadline AT TIME ZONE 'UTC'\) AND sharding\.admit_write\(:id\) AND set_config\('sharding\.commit_by', :commitBy, true\) <> '' AS in_time\), written AS \((.*) RETURNING 1\) SELECT in_time, \(SELECT count\(\*\) FROM written\)::int AS changed FROM admitted$/.exec(
        sql,
      );
    if (write) {
      // The statement's own deadline, as PostgreSQL checks it: against the time the statement arrives.
      const deadline = Date.parse(`${String(param(input, "deadline")).replace(" ", "T")}Z`);
      if (Number.isNaN(deadline)) throw new Error("fake Data API: a write without a TIMESTAMP :deadline");
      const inTime = Date.now() <= deadline;
      // As PostgreSQL evaluates `in time AND admit_write(:id)`: a late write is not even checked.
      if (inTime) admitWrite(longParam(input, "id"), fence);
      const answer = (changed: number) => ({
        formattedRecords: JSON.stringify([{ in_time: inTime, changed: inTime ? changed : 0 }]),
        numberOfRecordsUpdated: 0,
      });
      const body = write[1] ?? "";
      const id = longParam(input, "id");
      if (
        /^INSERT INTO \S+ \(id, name\) SELECT :id, :name WHERE \(SELECT in_time FROM admitted\) ON CONFLICT \(id\) DO NOTHING$/.test(
          body,
        )
      ) {
        if (!inTime || store.has(id)) return answer(0);
        store.set(id, String(param(input, "name")));
        return answer(1);
      }
      if (/^UPDATE \S+ SET name = :name WHERE id = :id AND \(SELECT in_time FROM admitted\)$/.test(body)) {
        if (!inTime || !store.has(id)) return answer(0);
        store.set(id, String(param(input, "name")));
        return answer(1);
      }
      if (/^DELETE FROM \S+ WHERE id = :id AND \(SELECT in_time FROM admitted\)$/.test(body)) {
        return answer(inTime && store.delete(id) ? 1 : 0);
      }
    }
    throw new Error(`fake Data API: unexpected SQL ${sql}`);
  };
}

/** Answers from `store` after `ms`, like a slow but healthy cluster. */
export function answerAfter(store: ShardStore | undefined, ms: number) {
  const answer = answerFrom(store ?? new Map());
  return async (input: ExecuteStatementCommandInput) => {
    await new Promise((resolve) => setTimeout(resolve, ms));
    return answer(input);
  };
}

/** One store per shard, seeded as the local runtime seeds the default map (docs/architecture.md: id N named `Test N` on its owner). */
export function seededStores(rows: readonly Row[] = SEED_ROWS): Map<number, ShardStore> {
  const stores = new Map<number, ShardStore>(SHARD_IDS.map((s) => [s, new Map()]));
  for (const r of rows) stores.get(ownerOfSeed(r.id))?.set(r.id, r.name);
  return stores;
}

/** Points every shard's ARN at its in-memory store; later `.on(…, { resourceArn })` calls override one shard. */
export function serveStores(
  mock: DataApiMock,
  stores: Map<number, ShardStore>,
  fences: ReadonlyMap<number, FakeFence> = DEFAULT_FENCES(),
): void {
  for (const [shard, store] of stores) {
    const resourceArn = SHARD_ARNS[shard];
    if (resourceArn === undefined) throw new Error(`no ARN for shard ${shard}`);
    mock.on(ExecuteStatementCommand, { resourceArn }).callsFake(answerFrom(store, fences.get(shard)));
  }
}

/** Fresh fences of the default map, one per call (tests change them). */
export const DEFAULT_FENCES = () => fencesOf(DEFAULT_MAP.shards);

/** A call that never answers, like a hung connection (the mock ignores the abort signal, as a bad driver might). */
export const hang = () => new Promise<never>(() => {});

export interface TestTable {
  readonly config: AppConfig;
  readonly clients: ShardClients;
  readonly table: ShardedTable;
  readonly stores: Map<number, ShardStore>;
  readonly fences: Map<number, FakeFence>;
}

/**
 * The real `ShardedTable` over real SDK clients (from `createShardClients`) whose `send` the mock replaces: seeded
 * stores answer every shard unless a test overrides one.
 */
export function seededTable(
  mock: DataApiMock,
  env: Record<string, string | undefined> = {},
  now?: () => number,
): TestTable {
  const config = loadConfig(testEnv(env));
  const clients = createShardClients(config);
  const stores = seededStores();
  const fences = fencesOf(config.map.shards);
  serveStores(mock, stores, fences);
  const table = new ShardedTable({ config, clients, ...(now ? { now } : {}) });
  return { config, clients, table, stores, fences };
}

/** The commands the mock received, as `ExecuteStatement` inputs. */
export function statements(mock: DataApiMock): ExecuteStatementCommandInput[] {
  return mock.commandCalls(ExecuteStatementCommand).map((c) => c.args[0].input);
}

/** The one statement the mock received; fails when there were none or several. */
export function onlyStatement(mock: DataApiMock): ExecuteStatementCommandInput {
  const all = statements(mock);
  const [first] = all;
  if (all.length !== 1 || first === undefined) throw new Error(`expected one statement, got ${all.length}`);
  return first;
}

/** The `resourceArn`s the mock was called with, in call order. */
export function calledArns(mock: DataApiMock): (string | undefined)[] {
  return statements(mock).map((s) => s.resourceArn);
}

/** The abort signals handed to `send` (its second argument), in call order. */
export function abortSignals(mock: DataApiMock): (AbortSignal | undefined)[] {
  return mock
    .calls()
    .map((c) => ((c.args as unknown[])[1] as { abortSignal?: AbortSignal } | undefined)?.abortSignal);
}

/** The bound parameters of a statement as a plain name -> value record. */
export function boundParams(
  input: ExecuteStatementCommandInput,
): Record<string, number | string | undefined> {
  return Object.fromEntries(
    (input.parameters ?? []).map((p) => [p.name ?? "", param(input, p.name ?? "")] as const),
  );
}

/** A fresh mock of every `RDSDataClient` (the prototype's `send`), reset by the caller's `beforeEach`. */
export function mockDataApi(): DataApiMock {
  return mockClient(RDSDataClient);
}
