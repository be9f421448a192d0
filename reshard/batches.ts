/**
 * Deleting one range's rows on one shard in small batches, with a pause between two: a big DELETE would hold its
 * locks and write its WAL in one go, and through the Data API one call must end within 45 s; small batches keep the
 * shard's other work flowing.
 */
import type { IdRange } from "../functions/core/shard-map.js";
import { quoteIdent } from "../functions/core/sql-identifier.js";
import { Progress } from "./progress.js";
import { long, type ShardAdmin } from "./shard-admin.js";

/** The one table the shards hold (functions/core's TABLE_NAME default; the stack and the local runtime use it). */
export const TABLE = "data_1";
const T = quoteIdent(TABLE);

const bounds = ([lo, hi]: IdRange) => [long("lo", lo), long("hi", hi)];

/**
 * A move is background work: a count of its range would otherwise be a parallel scan, two or three processes taking
 * the CPU the API's queries need on that shard at once (measured locally: every shard's requests waited about 200 ms
 * when a copy or a cleanup began). Set in every transaction the tool counts or copies in; one process, a little
 * longer, is the pace a move should keep.
 */
export const NO_PARALLEL_WORKERS = "SET LOCAL max_parallel_workers_per_gather = 0";

/**
 * Ends the transaction, on the shard, once it has been idle for `limit` (a PostgreSQL interval such as "10s"): a
 * tool killed between two calls of it then lets go of its locks and snapshot within that, not after the Data API's
 * three idle minutes.
 */
export const idleLimit = (limit: string) => `SET LOCAL idle_in_transaction_session_timeout = '${limit}'`;

/** A count's calls take milliseconds; its share lock on the table would otherwise hold off a DDL for minutes. */
export const COUNT_IDLE = "10s";

/** The rows of `range` on `shard`, counted by one process (`NO_PARALLEL_WORKERS`). */
export async function countRows(shard: ShardAdmin, range: IdRange): Promise<number> {
  const tx = await shard.begin();
  try {
    await shard.run(NO_PARALLEL_WORKERS, [], tx);
    await shard.run(idleLimit(COUNT_IDLE), [], tx);
    const row = await shard.one(
      `SELECT count(*) AS n FROM ${T} WHERE id BETWEEN :lo AND :hi`,
      bounds(range),
      tx,
    );
    await shard.commit(tx);
    return Number(row.n);
  } catch (err) {
    await shard.rollback(tx);
    throw err;
  }
}

/** How a step goes through rows: `batch` rows at a time, then a pause. */
export interface Pacing {
  readonly batch: number;
  /** The shortest pause after a batch. */
  readonly pauseMs: number;
  /**
   * The pause after a batch is at least `nice` times as long as the batch took (gh-ost's `--nice-ratio`): 1 halves
   * the step's pressure on the shard whatever the batch costs there, where a fixed pause does not. Unset (a plan
   * stored by an earlier tool): 0.
   */
  readonly nice?: number;
}

/**
 * The tool's pacing unless told otherwise: small batches, each followed by a pause as long as it took and at least
 * 20 ms, so a copy or a cleanup takes at most about half of what the shard could give it, and about a third at 500
 * rows a batch (a batch of 500 takes about 10 ms locally). Why 500, not 1000: each batch is a burst of a whole core
 * on the source's and the target's servers, and the API's requests that meet one wait; measured with 1,000,000 rows
 * under 100 req/s (`npm run bench -- reshard`, two full runs of three moves each), the API's p99 during the copy went
 * from 1.37-1.93x its baseline at 1000 rows (28,000 rows/s) to 1.16-1.54x at 500 (17,000 rows/s), and during cleanup
 * from up to 1.86x to at most 1.35x; at 250 the rate fell to 9,200 rows/s for no better p99 (docs/benchmarks.md, "The
 * batch size, compared").
 */
export const DEFAULT_PACING = { batch: 500, pauseMs: 20, nice: 1 } as const;

/** The pause after a batch that took `batchMs`. */
export function pauseAfter(pacing: Pacing, batchMs: number): number {
  return Math.max(pacing.pauseMs, (pacing.nice ?? 0) * batchMs);
}

export const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

export interface DeleteOptions extends Pacing {
  /** Progress lines go here (the label says what is deleted); unset: none. */
  readonly progress?: { readonly label: string; readonly write: (line: string) => void };
}

/**
 * One batch: the next `batch` rows by id above `after`, deleted; how many, and the highest id among them. The next
 * batch starts above that id (keyset), so it does not walk again over the index entries of the rows deleted before
 * it: with `id BETWEEN lo AND hi LIMIT n` every batch starts at `lo`, and the k-th one steps over k batches of
 * dead entries (measured on 1,000,000 rows: the last tenth of the batches took 1.7x as long as the first).
 */
const DELETE_BATCH = `
  WITH deleted AS (
    DELETE FROM ${T} WHERE id IN (SELECT id FROM ${T} WHERE id > :after AND id <= :hi ORDER BY id LIMIT :batch)
    RETURNING id)
  SELECT count(*) AS n, max(id) AS last FROM deleted`;

/**
 * Deletes every row of `range` on `shard`, `batch` rows per statement; returns how many it deleted. It ends only
 * after a pass from the range's start found nothing: the shard does not own the range while this runs, so no row
 * should appear behind the keyset; if one did, that pass deletes it.
 */
export async function deleteRange(shard: ShardAdmin, range: IdRange, opts: DeleteOptions): Promise<number> {
  const total = opts.progress ? await countRows(shard, range) : 0;
  const progress =
    opts.progress && total > 0
      ? new Progress(opts.progress.label, opts.progress.write, { startDone: 0 })
      : undefined;
  const [lo, hi] = range;
  let deleted = 0;
  let after = lo - 1;
  let fromStart = true;
  for (;;) {
    const started = performance.now();
    const row = await shard.one(DELETE_BATCH, [
      long("after", after),
      long("hi", hi),
      long("batch", opts.batch),
    ]);
    const n = Number(row.n);
    if (n === 0) {
      if (fromStart) break;
      after = lo - 1;
      fromStart = true;
      continue;
    }
    deleted += n;
    after = Number(row.last);
    fromStart = false;
    progress?.update(deleted, Math.max(total, deleted));
    await sleep(pauseAfter(opts, performance.now() - started));
  }
  progress?.update(deleted, Math.max(total, deleted), true);
  return deleted;
}
