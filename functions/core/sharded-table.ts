import type { AppConfig, ShardConfig } from "./config.js";
import { execute, type ShardClients } from "./data-api.js";
import { ClientError, MalformedResultError, ShardUnavailableError } from "./errors.js";
import { mergePages, type ShardRows } from "./merge.js";
import { isFailure, report, type ShardOutcome, type ShardReport } from "./outcome.js";
import type { Row } from "./row.js";
import { type Clock, callWithDeadline } from "./shard-call.js";
import { MAX_ID, MIN_ID } from "./shard-map.js";
import { long, parseRows, quoteIdent, type Statement, selectOne, selectRange, text } from "./sql.js";

/**
 * The most rows one shard call returns. The Data API fails a result over 1 MiB, and AWS describes the JSON result
 * (`formattedRecords`) as ASCII-encoded: a character outside ASCII may then take a 12-byte surrogate-pair escape
 * (`\ud83d\ude00`), 14 once the response escapes the string again. A row of 255 such characters is about 3.6 KB, so
 * 250 rows stay under 1 MiB whatever the names hold (real text stays far below: 255 ASCII characters are ~0.3 KB).
 */
export const MAX_ROWS_PER_CALL = 250;

export interface ListQuery {
  readonly limit: number;
  readonly after?: number;
  readonly from?: number;
  readonly to?: number;
}

export interface ListResult {
  readonly items: Row[];
  readonly next: number | null;
  readonly partial: boolean;
  readonly shards: ShardReport[];
}

export interface GetResult {
  readonly item: Row | null;
  readonly shard: number;
  readonly shards: ShardReport[];
}

export interface TableDeps {
  readonly config: AppConfig;
  readonly clients: ShardClients;
  readonly now?: Clock;
}

/**
 * Budget for one request: how long a shard call may take at most. `remainingMs` is the Lambda's remaining time; the
 * margin keeps enough of it to answer, so a slow shard never turns into a Lambda timeout.
 */
export type Budget = { readonly remainingMs?: number };

/**
 * The one logical table, spread over the shards of the map. Reads scatter to every shard whose ranges can match and
 * gather tagged outcomes (a failed shard is missing data, not a failed request); writes go to the one owning shard and
 * are reported done only when that shard confirmed them.
 */
export class ShardedTable {
  readonly #config: AppConfig;
  readonly #clients: ShardClients;
  readonly #now: Clock | undefined;

  constructor(deps: TableDeps) {
    this.#config = deps.config;
    this.#clients = deps.clients;
    this.#now = deps.now;
  }

  #timeoutMs(budget: Budget): number {
    const { shardTimeoutMs, deadlineMarginMs } = this.#config;
    if (budget.remainingMs === undefined) return shardTimeoutMs;
    return Math.max(1, Math.min(shardTimeoutMs, budget.remainingMs - deadlineMarginMs));
  }

  #call<T>(
    kind: keyof ShardClients,
    shard: ShardConfig,
    statement: Statement,
    budget: Budget,
    parse: (out: Awaited<ReturnType<typeof execute>>) => T,
  ): Promise<ShardOutcome<T>> {
    const client = this.#clients[kind].get(shard.id);
    if (!client) throw new Error(`no ${kind} client for shard ${shard.id}`);
    return callWithDeadline(
      shard.id,
      this.#timeoutMs(budget),
      async (signal) => parse(await execute(client, shard, statement, signal)),
      this.#now,
    );
  }

  #shard(id: number): ShardConfig {
    const shard = this.#config.shards.find((s) => s.id === id);
    if (!shard) throw new Error(`shard ${id} is in the map but not configured`);
    return shard;
  }

  /**
   * A page of rows in id order across all shards. The query's bounds and cursor are pushed down into each shard's
   * ranges; a shard left with nothing to match is not called (`skipped`).
   *
   * Each called shard may contribute up to `want` rows and is asked for one more (`limit + 1`, at most
   * {@link MAX_ROWS_PER_CALL}): the extra row is never returned, it only proves that the shard holds more. So a shard that
   * returned exactly `want` rows is known to be done, and a walk never ends with an empty page, also with `limit` above
   * the per-call cap (where a shard that returned the cap used to be taken as "may have more").
   *
   * `next` is `null` only when every shard that could hold later rows answered and has none left. When a shard failed,
   * the page's `next` is the cursor up to which the healthy shards were read; when they have nothing left, it is the
   * page's last id or, if greater, one below the first id a failed shard could hold, so following it asks the failed
   * shards again instead of ending the walk as if the table had ended (README, "Paging when a shard fails").
   */
  async list(query: ListQuery, budget: Budget = {}): Promise<ListResult> {
    const lower = Math.max(query.from ?? MIN_ID, query.after === undefined ? MIN_ID : query.after + 1);
    const upper = query.to ?? MAX_ID;
    const want = Math.min(query.limit, MAX_ROWS_PER_CALL - 1);
    // The first id each called shard could hold: where a failed shard's missing rows begin.
    const firstIds = new Map<number, number>();
    const outcomes = await Promise.all(
      this.#config.shards.map((shard): Promise<ShardOutcome<Row[]>> => {
        const ranges = this.#config.map.clip(shard.id, lower, upper);
        const first = ranges[0];
        if (first === undefined) return Promise.resolve({ shard: shard.id, status: "skipped" });
        firstIds.set(shard.id, first[0]);
        const statement = selectRange(this.#config.tableName, ranges, want + 1);
        return this.#call("read", shard, statement, budget, (out) => parseRows(out.formattedRecords));
      }),
    );
    const parts: ShardRows[] = [];
    let firstMissing = Number.POSITIVE_INFINITY;
    for (const o of outcomes) {
      if (o.status === "ok") {
        const truncated = o.value.length > want;
        parts.push({ shard: o.shard, rows: truncated ? o.value.slice(0, want) : o.value, truncated });
      } else if (isFailure(o)) firstMissing = Math.min(firstMissing, firstIds.get(o.shard) ?? lower);
    }
    const page = mergePages(parts, this.#config.map, query.limit);
    const failed = firstMissing !== Number.POSITIVE_INFINITY;
    let next = page.next;
    // The healthy shards are done but a failed one may hold later rows: resume after what was read (and nothing that
    // only the failed shards could hold is skipped), never end here.
    if (failed && next === null) next = Math.max(page.items.at(-1)?.id ?? MIN_ID - 1, firstMissing - 1);
    return {
      items: page.items,
      next,
      partial: failed,
      shards: outcomes.map((o) => report(o, (rows) => rows.length)),
    };
  }

  /** The owner of `id`; an id no shard can hold is a 404 for reads and a 422 for writes (DESIGN.md). */
  #owner(id: number, status: 404 | 422): ShardConfig {
    const owner = this.#config.map.ownerOf(id);
    if (owner === undefined) {
      throw new ClientError(status, "id_out_of_range", `id ${id} is outside every shard's range`);
    }
    return this.#shard(owner);
  }

  /** One row from the one shard that owns its id. A failed shard reads as absent; `shards` says why. */
  async get(id: number, budget: Budget = {}): Promise<GetResult> {
    const shard = this.#owner(id, 404);
    const outcome = await this.#call("read", shard, selectOne(this.#config.tableName, id), budget, (out) =>
      parseRows(out.formattedRecords),
    );
    const item = outcome.status === "ok" ? (outcome.value.find((r) => r.id === id) ?? null) : null;
    return { item, shard: shard.id, shards: [report(outcome, (rows) => rows.length)] };
  }

  /** Runs a write on the owning shard and returns how many rows it changed, or throws a 503-bound error. */
  async #write(shard: ShardConfig, statement: Statement, budget: Budget): Promise<number> {
    const outcome = await this.#call("write", shard, statement, budget, (out) => {
      // Without a count the shard has confirmed nothing: a 503, not a "0 rows changed" 404 or 409.
      if (typeof out.numberOfRecordsUpdated !== "number")
        throw new MalformedResultError("no numberOfRecordsUpdated");
      return out.numberOfRecordsUpdated;
    });
    switch (outcome.status) {
      case "ok":
        return outcome.value;
      case "error":
        throw new ShardUnavailableError(shard.id, outcome.error);
      default:
        throw new ShardUnavailableError(shard.id, outcome.status);
    }
  }

  /** Inserts a row; a 409 when the id exists. `ON CONFLICT DO NOTHING` makes the duplicate a count, not an error. */
  async create(
    row: { id: number; name: string },
    budget: Budget = {},
  ): Promise<{ item: Row; shard: number }> {
    const shard = this.#owner(row.id, 422);
    const table = quoteIdent(this.#config.tableName);
    const sql = `INSERT INTO ${table} (id, name) VALUES (:id, :name) ON CONFLICT (id) DO NOTHING`;
    const changed = await this.#write(
      shard,
      { sql, parameters: [long("id", row.id), text("name", row.name)] },
      budget,
    );
    if (changed === 0) throw new ClientError(409, "duplicate_id", `id ${row.id} already exists`);
    return { item: { id: row.id, name: row.name }, shard: shard.id };
  }

  /** Replaces the name of an existing row; a 404 when there is none. */
  async replace(id: number, name: string, budget: Budget = {}): Promise<{ item: Row; shard: number }> {
    const shard = this.#owner(id, 422);
    const sql = `UPDATE ${quoteIdent(this.#config.tableName)} SET name = :name WHERE id = :id`;
    const changed = await this.#write(
      shard,
      { sql, parameters: [long("id", id), text("name", name)] },
      budget,
    );
    if (changed === 0) throw new ClientError(404, "not_found", `id ${id} does not exist`);
    return { item: { id, name }, shard: shard.id };
  }

  /** Deletes a row; a 404 when there is none. */
  async remove(id: number, budget: Budget = {}): Promise<{ shard: number }> {
    const shard = this.#owner(id, 422);
    const sql = `DELETE FROM ${quoteIdent(this.#config.tableName)} WHERE id = :id`;
    const changed = await this.#write(shard, { sql, parameters: [long("id", id)] }, budget);
    if (changed === 0) throw new ClientError(404, "not_found", `id ${id} does not exist`);
    return { shard: shard.id };
  }
}
