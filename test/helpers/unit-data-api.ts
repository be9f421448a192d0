import {
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
import { ShardedTable } from "../../functions/core/sharded-table.js";
import { ownerOfSeed, SEED_ROWS, SHARD_ARNS, SHARD_IDS, testEnv } from "./fixtures.js";

export type DataApiMock = AwsClientStub<RDSDataClient>;

/** One shard's rows, as its PostgreSQL database would hold them: id -> name. */
export type ShardStore = Map<number, string | null>;

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
export function answerFrom(store: ShardStore) {
  return (input: ExecuteStatementCommandInput): Partial<ExecuteStatementCommandOutput> => {
    const sql = input.sql ?? "";
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
      const limit = longParam(input, "limit");
      const rows = [...store]
        .filter(([id]) => ranges.some(([lo, hi]) => id >= lo && id <= hi))
        .sort(([a], [b]) => a - b)
        .slice(0, limit)
        .map(([id, name]) => ({ id, name }));
      return { formattedRecords: formatted(rows), numberOfRecordsUpdated: 0 };
    }
    if (/^SELECT id, name FROM \S+ WHERE id = :id$/.test(sql)) {
      const id = longParam(input, "id");
      const rows = store.has(id) ? [{ id, name: store.get(id) ?? null }] : [];
      return { formattedRecords: formatted(rows), numberOfRecordsUpdated: 0 };
    }
    const write =
      /^WITH go AS \(SELECT statement_timestamp\(\) <= \(:deadline AT TIME ZONE 'UTC'\) AS in_time\), w AS \((.*) RETURNING 1\) SELECT in_time, \(SELECT count\(\*\) FROM w\)::int AS changed FROM go$/.exec(
        sql,
      );
    if (write) {
      // The statement's own deadline, as PostgreSQL checks it: against the time the statement arrives.
      const deadline = Date.parse(`${String(param(input, "deadline")).replace(" ", "T")}Z`);
      if (Number.isNaN(deadline)) throw new Error("fake Data API: a write without a TIMESTAMP :deadline");
      const inTime = Date.now() <= deadline;
      const answer = (changed: number) => ({
        formattedRecords: JSON.stringify([{ in_time: inTime, changed: inTime ? changed : 0 }]),
        numberOfRecordsUpdated: 0,
      });
      const body = write[1] ?? "";
      const id = longParam(input, "id");
      if (
        /^INSERT INTO \S+ \(id, name\) SELECT :id, :name WHERE \(SELECT in_time FROM go\) ON CONFLICT \(id\) DO NOTHING$/.test(
          body,
        )
      ) {
        if (!inTime || store.has(id)) return answer(0);
        store.set(id, String(param(input, "name")));
        return answer(1);
      }
      if (/^UPDATE \S+ SET name = :name WHERE id = :id AND \(SELECT in_time FROM go\)$/.test(body)) {
        if (!inTime || !store.has(id)) return answer(0);
        store.set(id, String(param(input, "name")));
        return answer(1);
      }
      if (/^DELETE FROM \S+ WHERE id = :id AND \(SELECT in_time FROM go\)$/.test(body)) {
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
export function serveStores(mock: DataApiMock, stores: Map<number, ShardStore>): void {
  for (const [shard, store] of stores) {
    const resourceArn = SHARD_ARNS[shard];
    if (resourceArn === undefined) throw new Error(`no ARN for shard ${shard}`);
    mock.on(ExecuteStatementCommand, { resourceArn }).callsFake(answerFrom(store));
  }
}

/** A call that never answers, like a hung connection (the mock ignores the abort signal, as a bad driver might). */
export const hang = () => new Promise<never>(() => {});

export interface TestTable {
  readonly config: AppConfig;
  readonly clients: ShardClients;
  readonly table: ShardedTable;
  readonly stores: Map<number, ShardStore>;
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
  serveStores(mock, stores);
  const table = new ShardedTable({ config, clients, ...(now ? { now } : {}) });
  return { config, clients, table, stores };
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
