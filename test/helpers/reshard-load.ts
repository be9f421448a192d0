/**
 * Load and its checks for the online-resharding reliability test (`test/reliability/reshard-online.test.ts`):
 *
 * - readers that walk pages following `next` (each page recorded with its query, interval and answer);
 * - writers that make a seeded mix of POST, PUT and DELETE on a bounded set of keys (each write recorded with its
 *   interval, status and, for a 503, its outcome and reason);
 * - a second app instance composed from the runtime's environment whose every statement is logged, so a test can
 *   tell why it learnt a newer map;
 * - the checks: every page well formed, every complete walk saw every row no write touched while it was read, every
 *   key's history linearizable, and the rows as the shards store them (each on its owner, once).
 */
import { Logger } from "@aws-lambda-powertools/logger";
import { createApp } from "../../functions/app.js";
import { loadConfig } from "../../functions/core/config.js";
import { createShardClients } from "../../functions/core/data-api.js";
import { READ_MAP_SQL, STALE_MAP_STATE } from "../../functions/core/fence.js";
import type { IdRange } from "../../functions/core/shard-map.js";
import { ShardedTable } from "../../functions/core/sharded-table.js";
import { type ApiServer, startApiServer } from "../../local/api-server.js";
import { LOCAL_CREDENTIALS } from "../../local/data-api/index.js";
import type { LocalRuntime } from "../../local/runtime.js";
import { httpClient } from "./api-client.js";
import { prng } from "./prng.js";
import { linearize, type RowState, type WriteOp } from "./reliability-linearizability.js";
import { recordedWrite } from "./reliability-runtime.js";
import { fenceOf, sql } from "./reshard-tool.js";
import { sleep } from "./wait.js";

export type Client = ReturnType<typeof httpClient>;

/** One app instance as the load reaches it: over HTTP, named in reports. */
export interface Door {
  readonly name: string;
  readonly client: Client;
}

export interface Item {
  readonly id: number;
  readonly name: string | null;
}

export interface PageRecord {
  readonly door: string;
  readonly path: string;
  readonly after: number | null;
  readonly start: number;
  readonly end: number;
  readonly status: number;
  readonly partial: boolean;
  readonly items: readonly Item[];
  readonly next: number | null;
  readonly raw: string;
}

export interface WalkRecord {
  readonly reader: number;
  readonly door: string;
  readonly from?: number;
  readonly to?: number;
  readonly limit: number;
  readonly start: number;
  readonly end: number;
  readonly pages: readonly PageRecord[];
  /** It reached `next: null` (not cut short by the end of the load or a page bound). */
  readonly finished: boolean;
}

export interface WriteRecord extends WriteOp {
  readonly id: number;
  readonly door: string;
  readonly writer: number;
  readonly outcome?: string;
  readonly reason?: string;
}

export interface ReaderPlan {
  readonly door: Door;
  readonly from?: number;
  readonly to?: number;
}

export interface LoadPlan {
  readonly seed: number;
  /** Prefix of every name a writer writes, so a row tells which run wrote it. */
  readonly label: string;
  readonly readers: readonly ReaderPlan[];
  readonly writers: readonly Door[];
  /** Keys inside the moving range (picked with probability `hotShare`) and outside it. */
  readonly hot: readonly number[];
  readonly cold: readonly number[];
  readonly hotShare?: number;
  /** Page sizes a walk picks from. */
  readonly limits?: readonly number[];
  /** Bounds: pages per walk, writes per writer, and how long after `stop` a reader may finish its walk. */
  readonly maxPagesPerWalk?: number;
  readonly maxWritesPerWriter?: number;
  readonly graceMs?: number;
}

export interface LoadResult {
  readonly walks: WalkRecord[];
  readonly writes: WriteRecord[];
  readonly started: number;
  readonly stopped: number;
}

const nullableNumber = (v: unknown): number | null => (typeof v === "number" ? v : null);

/**
 * Starts readers and writers; `stop()` ends them (a reader finishes the walk it is in, within `graceMs`) and
 * resolves with everything they recorded. A reader or writer whose HTTP request itself fails (not an answer: a
 * socket error, the client's own 10 s timeout) fails the load.
 */
export function startLoad(plan: LoadPlan): { stop: () => Promise<LoadResult> } {
  const random = prng(plan.seed);
  const limits = plan.limits ?? [100, 250, 500, 1000];
  const maxPages = plan.maxPagesPerWalk ?? 400;
  const maxWrites = plan.maxWritesPerWriter ?? 2000;
  const graceMs = plan.graceMs ?? 3000;
  const hotShare = plan.hotShare ?? 0.6;
  const walks: WalkRecord[] = [];
  const writes: WriteRecord[] = [];
  const started = performance.now();
  let stopping = false;
  let hardStop = Number.POSITIVE_INFINITY;

  const reader = async (r: number, { door, from, to }: ReaderPlan) => {
    const draw = prng(plan.seed * 31 + r);
    while (!stopping) {
      const limit = limits[Math.floor(draw() * limits.length)] as number;
      const pages: PageRecord[] = [];
      let after: number | null = null;
      let finished = false;
      const start = performance.now();
      while (pages.length < maxPages && performance.now() < hardStop) {
        const params = new URLSearchParams({ limit: String(limit) });
        if (from !== undefined) params.set("from", String(from));
        if (to !== undefined) params.set("to", String(to));
        if (after !== null) params.set("after", String(after));
        const path = `/data?${params}`;
        const answer = await door.client.call("GET", path);
        const ok = answer.status === 200;
        const next = ok ? nullableNumber(answer.body.next) : null;
        pages.push({
          door: door.name,
          path,
          after,
          start: answer.startedAt,
          end: answer.endedAt,
          status: answer.status,
          partial: ok ? answer.body.partial === true : true,
          items: ok ? (answer.body.items as Item[]) : [],
          next,
          raw: ok ? "" : answer.raw.slice(0, 300),
        });
        if (!ok) break;
        if (next === null) {
          finished = true;
          break;
        }
        after = next;
      }
      walks.push({
        reader: r,
        door: door.name,
        ...(from === undefined ? {} : { from }),
        ...(to === undefined ? {} : { to }),
        limit,
        start,
        end: performance.now(),
        pages,
        finished,
      });
    }
  };

  const writer = async (w: number, door: Door) => {
    const draw = prng(plan.seed * 97 + w);
    for (let i = 0; i < maxWrites && !stopping; i++) {
      const keys = draw() < hotShare ? plan.hot : plan.cold;
      const id = keys[Math.floor(draw() * keys.length)] as number;
      const pick = draw();
      const method = pick < 0.4 ? "POST" : pick < 0.7 ? "PUT" : "DELETE";
      const { answer, op } = await recordedWrite(
        door.client,
        method,
        id,
        `${plan.label}-${door.name}-w${w}-${i}`,
      );
      const outcome = answer.status === 503 ? (answer.body?.outcome as string | undefined) : undefined;
      const reason =
        answer.status === 503
          ? /\(([A-Za-z_]+)\)/.exec(String(answer.body?.error?.message ?? ""))?.[1]
          : undefined;
      writes.push({
        ...op,
        id,
        door: door.name,
        writer: w,
        ...(outcome ? { outcome } : {}),
        ...(reason ? { reason } : {}),
      });
      await sleep(Math.floor(random() * 10));
    }
  };

  const all = Promise.all([
    ...plan.readers.map((r, i) => reader(i, r)),
    ...plan.writers.map((d, i) => writer(i, d)),
  ]);
  return {
    async stop() {
      stopping = true;
      hardStop = performance.now() + graceMs;
      await all;
      return { walks, writes, started, stopped: performance.now() };
    },
  };
}

/** The rows as the shards store them: each owned row once, and the rows a shard holds but does not own. */
export interface Stored {
  readonly rows: Map<number, string | null>;
  /** `id@shard` of rows stored on a shard that does not own them (a move's copy or leftovers). */
  readonly strays: string[];
  readonly version: number;
  readonly owners: Map<number, IdRange[]>;
}

const within = (id: number, ranges: readonly IdRange[]) => ranges.some(([lo, hi]) => id >= lo && id <= hi);

/** Reads every shard's fence and rows straight from its database (the ground truth the API must agree with). */
export async function storedRows(runtime: LocalRuntime): Promise<Stored> {
  const rows = new Map<number, string | null>();
  const strays: string[] = [];
  const owners = new Map<number, IdRange[]>();
  let version = 0;
  for (const shard of runtime.shards) {
    const fence = await fenceOf(runtime, shard.id);
    version = Math.max(version, fence.version);
    owners.set(
      shard.id,
      fence.owned.map(([lo, hi]) => [lo, hi] as IdRange),
    );
    const stored = await sql<{ id: number; name: string | null }>(
      runtime,
      shard.id,
      "SELECT id, name FROM data_1 ORDER BY id",
    );
    for (const r of stored) {
      if (!within(r.id, fence.owned)) strays.push(`${r.id}@${shard.id}`);
      else if (rows.has(r.id)) strays.push(`${r.id}@${shard.id} (owned twice)`);
      else rows.set(r.id, r.name);
    }
  }
  return { rows, strays, version, owners };
}

const stateOf = (rows: ReadonlyMap<number, string | null>, id: number): RowState =>
  rows.has(id) ? { present: true, name: rows.get(id) ?? null } : { present: false };

/** Writes that may have taken effect: a 503 `not_applied` provably did not, so the checker must do without it. */
export const mayHaveApplied = (w: WriteRecord) => !(w.status === 503 && w.outcome === "not_applied");

/**
 * Every page, partial or not: answered 200, ids strictly increasing (so no duplicate), every row inside the page's
 * bounds (`from`, `to`, after the cursor, at most `next`). And every walk: ids strictly increasing across its pages
 * (no row served twice, none before the cursor). Returns what is wrong, as readable lines.
 */
export function checkPages(walks: readonly WalkRecord[]): string[] {
  const problems: string[] = [];
  for (const walk of walks) {
    let last = Number.NEGATIVE_INFINITY;
    for (const page of walk.pages) {
      const where = `${page.door} ${page.path}`;
      if (page.status !== 200) {
        problems.push(`${where}: ${page.status} ${page.raw}`);
        continue;
      }
      for (const { id } of page.items) {
        if (id <= last) problems.push(`${where}: id ${id} after ${last} (duplicate or out of order)`);
        if (page.after !== null && id <= page.after) problems.push(`${where}: id ${id} not after the cursor`);
        if (walk.from !== undefined && id < walk.from) problems.push(`${where}: id ${id} below from`);
        if (walk.to !== undefined && id > walk.to) problems.push(`${where}: id ${id} above to`);
        if (page.next !== null && id > page.next)
          problems.push(`${where}: id ${id} beyond next ${page.next}`);
        last = Math.max(last, id);
      }
      if (page.next !== null && page.after !== null && page.next < page.after)
        problems.push(`${where}: next ${page.next} goes back before the cursor`);
    }
  }
  return problems;
}

/**
 * Every walk that finished with only non-partial pages saw the table: each id, read by the page whose span
 * (`(after, next]`) covers it, is there exactly when it existed, with its name, whenever no write to it overlapped
 * that page's interval. For an id no write touched at all that is its initial row; for a written one, the row seen
 * must split its history in two that are each linearizable (the writes done before the page, from the initial row
 * to what the page saw; those after, from there to the final row). Returns problems and how many ids were checked.
 */
export function checkWalks(
  walks: readonly WalkRecord[],
  initial: ReadonlyMap<number, string | null>,
  final: ReadonlyMap<number, string | null>,
  writes: readonly WriteRecord[],
): {
  problems: string[];
  complete: number;
  completeWalks: WalkRecord[];
  checkedIds: number;
  checkedWritten: number;
} {
  const problems: string[] = [];
  const byKey = new Map<number, WriteRecord[]>();
  for (const w of writes.filter(mayHaveApplied)) byKey.set(w.id, [...(byKey.get(w.id) ?? []), w]);
  const known = new Set([...initial.keys(), ...final.keys(), ...byKey.keys()]);
  const universe = [...known].sort((a, b) => a - b);
  const completeWalks: WalkRecord[] = [];
  let checkedIds = 0;
  let checkedWritten = 0;
  for (const walk of walks) {
    if (!walk.finished || walk.pages.some((p) => p.partial || p.status !== 200)) continue;
    completeWalks.push(walk);
    const seen = new Map<number, { name: string | null; page: PageRecord }>();
    for (const page of walk.pages)
      for (const item of page.items) seen.set(item.id, { name: item.name, page });
    const lo = walk.from ?? Number.NEGATIVE_INFINITY;
    const hi = walk.to ?? Number.POSITIVE_INFINITY;
    // The pages' spans `(after, next]` follow each other (checkPages), and the universe is sorted: one pass.
    let p = 0;
    const pageOf = (id: number) => {
      for (; p < walk.pages.length; p++) {
        const page = walk.pages[p] as PageRecord;
        if (page.after !== null && id <= page.after) return undefined;
        if (page.next === null || id <= page.next) return page;
      }
      return undefined;
    };
    const label = `walk of reader ${walk.reader} (${walk.door}, limit ${walk.limit}, ${walk.pages.length} pages)`;
    for (const id of seen.keys()) {
      if (!known.has(id)) problems.push(`${label}: saw id ${id}, which never existed`);
    }
    for (const id of universe) {
      if (id < lo || id > hi) continue;
      const page = pageOf(id);
      if (!page) {
        problems.push(`${label}: no page covers id ${id}`);
        continue;
      }
      const got = seen.get(id);
      const ops = byKey.get(id) ?? [];
      if (ops.length === 0) {
        checkedIds++;
        const want = initial.has(id);
        if (want !== (got !== undefined) || (got && got.name !== initial.get(id)))
          problems.push(
            `${label}: id ${id}, untouched, was ${want ? JSON.stringify(initial.get(id)) : "absent"}; the page ${page.path} saw ${got ? JSON.stringify(got.name) : "nothing"}`,
          );
        continue;
      }
      if (ops.some((op) => op.start < page.end && op.end > page.start)) continue;
      checkedWritten++;
      checkedIds++;
      const seenState: RowState = got ? { present: true, name: got.name } : { present: false };
      const before = ops.filter((op) => op.end <= page.start);
      const after = ops.filter((op) => op.start >= page.end);
      const fits =
        linearize(before, stateOf(initial, id), seenState) !== undefined &&
        linearize(after, seenState, stateOf(final, id)) !== undefined;
      if (!fits)
        problems.push(
          `${label}: id ${id}: the page ${page.path} [${page.start.toFixed(1)}, ${page.end.toFixed(1)}] saw ${JSON.stringify(seenState)}, which no order of its writes explains:\n${ops.map((o) => o.label).join("\n")}`,
        );
    }
  }
  return { problems, complete: completeWalks.length, completeWalks, checkedIds, checkedWritten };
}

/**
 * Each key's history: an order of its writes that respects real time, explains every answer and ends in the stored
 * row (a 503 `unknown` may have taken effect within its interval or not at all; a 503 `not_applied` must not have).
 */
export function checkHistories(
  keys: readonly number[],
  writes: readonly WriteRecord[],
  initial: ReadonlyMap<number, string | null>,
  final: ReadonlyMap<number, string | null>,
): string[] {
  const problems: string[] = [];
  for (const id of keys) {
    const ops = writes.filter((w) => w.id === id && mayHaveApplied(w));
    if (linearize(ops, stateOf(initial, id), stateOf(final, id)) !== undefined) continue;
    problems.push(
      `id ${id}: no order explains these answers from ${JSON.stringify(stateOf(initial, id))} to ${JSON.stringify(stateOf(final, id))}:\n${writes
        .filter((w) => w.id === id)
        .sort((a, b) => a.start - b.start)
        .map((w) => `  ${w.door}: ${w.label}${w.reason ? ` (${w.reason})` : ""}`)
        .join("\n")}`,
    );
  }
  return problems;
}

/** Counts by a key, as a sorted object for printing. */
export function countBy<T>(xs: readonly T[], key: (x: T) => string): Record<string, number> {
  const out: Record<string, number> = {};
  for (const x of xs) out[key(x)] = (out[key(x)] ?? 0) + 1;
  return Object.fromEntries(Object.entries(out).sort(([a], [b]) => a.localeCompare(b)));
}

/** One statement an app instance sent to a shard, with how it ended. */
export interface StatementRecord {
  readonly shard: number;
  readonly sql: string;
  readonly start: number;
  readonly end: number;
  /** The fence refused it because the caller's map is stale (SQLSTATE SF001). */
  readonly refusedStale: boolean;
  readonly error?: string;
}

export const readsMap = (s: StatementRecord) => s.sql === READ_MAP_SQL;

/**
 * A second app instance, composed from the runtime's environment exactly as `composeApp` does (config, clients,
 * table, app), behind its own local HTTP server, with every statement its Data API clients send logged: so a test
 * can see when and why it read a shard's stored map.
 */
export async function secondInstance(runtime: LocalRuntime, name: string, sockets: number) {
  const config = loadConfig(runtime.env);
  const clients = createShardClients(config, LOCAL_CREDENTIALS);
  const statements: StatementRecord[] = [];
  for (const byShard of [clients.read, clients.write]) {
    for (const [shard, client] of byShard) {
      client.middlewareStack.add(
        (next) => async (args) => {
          const text = String((args.input as { sql?: unknown }).sql ?? "");
          const start = performance.now();
          try {
            const out = await next(args);
            statements.push({ shard, sql: text, start, end: performance.now(), refusedStale: false });
            return out;
          } catch (err) {
            const e = err as Error;
            statements.push({
              shard,
              sql: text,
              start,
              end: performance.now(),
              refusedStale: String(e.message).endsWith(`SQLState: ${STALE_MAP_STATE}`),
              error: e.name,
            });
            throw err;
          }
        },
        { step: "initialize", name: "logStatements" },
      );
    }
  }
  const table = new ShardedTable({ config, clients });
  const logger = new Logger({ serviceName: "reliability", logLevel: "ERROR" });
  const app = createApp({ table, logger });
  const server: ApiServer = await startApiServer({ app });
  const client = httpClient(server.url, sockets);
  return {
    door: { name, client } satisfies Door,
    table,
    statements,
    async stop() {
      client.close();
      await server.stop();
      for (const byShard of [clients.read, clients.write]) for (const c of byShard.values()) c.destroy();
    },
  };
}

/**
 * Why the instance read a shard's stored map, if not because that shard had refused it: each map read must follow
 * (start after the end of) a refusal by the same shard. Returns the reads that had no such refusal before them.
 */
export function unforcedMapReads(statements: readonly StatementRecord[]): string[] {
  return statements
    .filter(readsMap)
    .filter(
      (read) => !statements.some((s) => s.refusedStale && s.shard === read.shard && s.end <= read.start),
    )
    .map((read) => `map read on shard ${read.shard} at ${read.start.toFixed(1)} with no refusal before it`);
}

/**
 * Replication objects left on any shard's server (subscriptions, slots, publications): none once a move is done or
 * aborted. Per shard, as each shard may have a server of its own (`replicationLeftovers` of reshard-tool.ts looks
 * at the first shard's server only).
 */
export async function leftoversPerShard(runtime: LocalRuntime): Promise<string[]> {
  const out: string[] = [];
  for (const shard of runtime.shards) {
    const [subs, slots, pubs] = await Promise.all([
      sql<{ name: string }>(runtime, shard.id, "SELECT subname AS name FROM pg_subscription"),
      sql<{ name: string }>(runtime, shard.id, "SELECT slot_name AS name FROM pg_replication_slots"),
      sql<{ name: string }>(runtime, shard.id, "SELECT pubname AS name FROM pg_publication"),
    ]);
    out.push(
      ...subs.map((r) => `subscription ${r.name} on shard ${shard.id}`),
      ...slots.map((r) => `slot ${r.name} on shard ${shard.id}`),
      ...pubs.map((r) => `publication ${r.name} on shard ${shard.id}`),
    );
  }
  return out;
}
