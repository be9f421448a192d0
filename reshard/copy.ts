/**
 * A move's copy: the tool's own, in batches with a pause between two, read from one snapshot of the source whose
 * place in the WAL is known exactly; the subscription then streams every change committed after that place and
 * none before it, so the target ends up with each row once and current.
 *
 * Why not the subscription's own initial copy (`copy_data = true`): that is one COPY at full speed, which the
 * operator cannot slow down. Measured locally (`npm run bench -- reshard`, 1,000,000 rows) it kept both cores busy
 * and the API's p99 went 6-20x up while it ran; the batched deletes of `cleanup` kept it under 2x. The same pacing
 * serves the copy here. (Copying in batches under a running subscription instead would be wrong: the subscription
 * skips an update of a row not copied yet, and a batch read before that update then writes the old row.)
 *
 * How the snapshot and the WAL place agree (`pg_createsubscriber` and Vitess' VReplication pair a snapshot with a
 * position the same way):
 * 1. the slot is created first, so it holds every change from before the snapshot on;
 * 2. one transaction takes `LOCK TABLE … IN SHARE MODE`: it waits for the writes in flight and holds new ones;
 * 3. a second, REPEATABLE READ, transaction takes its snapshot and reads `pg_current_wal_insert_lsn()` in one
 *    statement: every write of the table committed before it is in the snapshot and its commit record before that
 *    LSN; every later one commits after it;
 * 4. the lock is let go (it was held for two calls), and the slot is advanced to the LSN;
 * 5. the batches are read in the snapshot's transaction and inserted on the target;
 * 6. the subscription is created last: its existence says the copy is whole.
 * A copy cut short (the tool killed) starts over: its slot and rows are dropped first. Both transactions set
 * `idle_in_transaction_session_timeout`, so a tool that dies holding them lets go within seconds, not after the
 * Data API's three idle minutes; and the lock is asked with a `lock_timeout`, so a long write delays it rather than
 * every write waiting behind it.
 */
import type { IdRange } from "../functions/core/shard-map.js";
import { quoteIdent } from "../functions/core/sql-identifier.js";
import {
  deleteRange,
  idleLimit,
  NO_PARALLEL_WORKERS,
  type Pacing,
  pauseAfter,
  sleep,
  TABLE,
} from "./batches.js";
import { ShardCallError, StepTimeoutError } from "./errors.js";
import { Progress } from "./progress.js";
import { advanceSlot, createSlot, dropSlot } from "./replication.js";
import { long, type ShardAdmin } from "./shard-admin.js";

const T = quoteIdent(TABLE);

/**
 * Bytes of rows (as text) one batch reads, about: the Data API answers at most 1 MiB, and its JSON records name every
 * column in every row, which about doubles small rows.
 */
export const BATCH_BYTES = 256 * 1024;

/** How long the lock of step 2 may wait for writes in flight, and how often it is tried before the step fails. */
const LOCK_WAIT = "500ms";
const LOCK_TRIES = 5;
/** A dead tool's lock lasts this long at most; the calls it spans take milliseconds. */
const LOCK_IDLE = "2s";
/** A dead tool's snapshot lasts this long at most; a batch and its pause take far less. */
const SNAPSHOT_IDLE = "60s";

export interface CopyOptions extends Pacing {
  readonly log: (line: string) => void;
}

export interface CopyResult {
  readonly rows: number;
  /** How long writes to the source's table were held while the snapshot was taken. */
  readonly lockMs: number;
}

/** The target's rows of the range and the source's slot of an earlier try go first: this try starts over. */
export async function startOver(
  source: ShardAdmin,
  target: ShardAdmin,
  slot: string,
  range: IdRange,
  opts: CopyOptions,
): Promise<number> {
  await dropSlot(source, slot);
  return deleteRange(target, range, opts);
}

interface Snapshot {
  readonly transactionId: string;
  readonly lsn: string;
  readonly lockMs: number;
}

/** Steps 2 and 3: a REPEATABLE READ transaction on the source, and the WAL place its snapshot stands for. */
export async function takeSnapshot(source: ShardAdmin): Promise<Snapshot> {
  const snap = await source.begin();
  try {
    // Utility statements: none takes the snapshot, which the SELECT below does.
    await source.run("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ", [], snap);
    await source.run(idleLimit(SNAPSHOT_IDLE), [], snap);
    // The count of the range and every batch read in this transaction: by one process each (batches.ts).
    await source.run(NO_PARALLEL_WORKERS, [], snap);
    for (let attempt = 1; ; attempt++) {
      const taken = await underLock(source, snap);
      if (taken) return { transactionId: snap, ...taken };
      if (attempt === LOCK_TRIES) {
        throw new StepTimeoutError(
          `copy: shard ${source.id} had writes in flight for ${LOCK_WAIT} at each of ${LOCK_TRIES} tries; resume later`,
        );
      }
      await sleep(200 * attempt);
    }
  } catch (err) {
    await source.rollback(snap);
    throw err;
  }
}

/** The lock, the snapshot under it, and the lock let go; undefined when the lock was not had in time. */
async function underLock(
  source: ShardAdmin,
  snap: string,
): Promise<Omit<Snapshot, "transactionId"> | undefined> {
  const lock = await source.begin();
  let committed = false;
  try {
    await source.run(`SET LOCAL lock_timeout = '${LOCK_WAIT}'`, [], lock);
    await source.run(idleLimit(LOCK_IDLE), [], lock);
    try {
      await source.run(`LOCK TABLE ${T} IN SHARE MODE`, [], lock);
    } catch (err) {
      if (err instanceof ShardCallError && /lock timeout/i.test(err.message)) return undefined;
      throw err;
    }
    const held = performance.now();
    const row = await source.one(
      `SELECT pg_current_wal_insert_lsn()::text AS lsn, current_setting('transaction_isolation') AS isolation`,
      [],
      snap,
    );
    await source.commit(lock);
    committed = true;
    const lockMs = performance.now() - held;
    if (row.isolation !== "repeatable read") {
      throw new ShardCallError(
        source.id,
        `the copy's transaction runs at ${String(row.isolation)}, not repeatable read`,
      );
    }
    return { lsn: String(row.lsn), lockMs };
  } finally {
    if (!committed) await source.rollback(lock);
  }
}

/**
 * Copies the source's rows of `range` to the target and readies the slot for the subscription (steps 1 to 5). The
 * caller has started over and creates the subscription after.
 */
export async function copyRange(
  source: ShardAdmin,
  target: ShardAdmin,
  slot: string,
  range: IdRange,
  opts: CopyOptions,
): Promise<CopyResult> {
  await createSlot(source, slot);
  const snap = await takeSnapshot(source);
  try {
    await advanceSlot(source, slot, snap.lsn);
    const total = Number(
      (
        await source.one(
          `SELECT count(*) AS n FROM ${T} WHERE id BETWEEN :lo AND :hi`,
          [long("lo", range[0]), long("hi", range[1])],
          snap.transactionId,
        )
      ).n,
    );
    opts.log(
      `copy: snapshot of shard ${source.id} at ${snap.lsn} (its writes held ${Math.round(snap.lockMs)} ms); ${total.toLocaleString("en-US")} rows`,
    );
    const rows = await copyBatches(source, target, snap.transactionId, range, total, opts);
    await source.commit(snap.transactionId);
    return { rows, lockMs: snap.lockMs };
  } catch (err) {
    await source.rollback(snap.transactionId);
    throw err;
  }
}

/**
 * Step 5. Each batch is the next rows by id, at most `batch` of them and about BATCH_BYTES of JSON. The source hands
 * them over as JSON arrays of at most CHUNK_BYTES each (the Data API's 64 KB per row), which the tool joins into one
 * array without parsing it, and the target takes that array whole (`json_populate_recordset` fills the table's
 * columns by name): the rows' own work is done by the two databases, not by the Data API's JSON for every column
 * of every row and the tool's parsing of it, which measured 0.9 of a core locally and held up the API.
 */
async function copyBatches(
  source: ShardAdmin,
  target: ShardAdmin,
  snap: string,
  [lo, hi]: IdRange,
  total: number,
  opts: CopyOptions,
): Promise<number> {
  const progress = new Progress("copy", opts.log, { startDone: 0 });
  let after = lo - 1;
  let copied = 0;
  for (;;) {
    const started = performance.now();
    const chunks = await source.query(
      READ_BATCH,
      [
        long("after", after),
        long("hi", hi),
        long("batch", opts.batch),
        long("bytes", BATCH_BYTES),
        long("chunk", CHUNK_BYTES),
      ],
      snap,
    );
    if (chunks.length === 0) break;
    const rows = chunks.reduce((n, c) => n + Number(c.n), 0);
    const { updated } = await target.run(
      `INSERT INTO ${T} SELECT * FROM json_populate_recordset(NULL::${T}, CAST(:rows AS json))`,
      [{ name: "rows", value: { stringValue: joinArrays(chunks.map((c) => String(c.rows))) } }],
    );
    if (updated !== rows) {
      throw new ShardCallError(target.id, `copy: inserted ${updated} of a batch of ${rows} rows`);
    }
    copied += rows;
    after = Math.max(...chunks.map((c) => Number(c.last)));
    progress.update(copied, Math.max(total, copied));
    await sleep(pauseAfter(opts, performance.now() - started));
  }
  progress.update(copied, Math.max(total, copied), true);
  return copied;
}

/** Bytes of JSON in one chunk, at most about: under the Data API's 64 KB per row, with the response's escapes. */
export const CHUNK_BYTES = 32 * 1024;

/**
 * The next batch in chunks: each row's JSON length (plus a separator) summed in id order says which chunk it falls in
 * and whether it still fits in the batch; the first row always does.
 */
const READ_BATCH = `
  SELECT json_agg(j ORDER BY id)::text AS rows, count(*) AS n, max(id) AS last
    FROM (
      SELECT id, j, sum(octet_length(j::text) + 2) OVER (ORDER BY id) - octet_length(j::text) - 2 AS bytes_before
        FROM (SELECT r.id, row_to_json(r) AS j
                FROM (SELECT * FROM ${T} WHERE id > :after AND id <= :hi ORDER BY id LIMIT :batch) r) rows
    ) sized
   WHERE bytes_before < :bytes
   GROUP BY bytes_before / :chunk
   ORDER BY min(id)`;

/** JSON arrays joined into one, as text: `[a, b]` and `[c]` make `[a, b,c]`. Empty arrays do not come here. */
export function joinArrays(arrays: readonly string[]): string {
  return `[${arrays.map((a) => a.trim().slice(1, -1)).join(",")}]`;
}
