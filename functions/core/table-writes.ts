/**
 * The table's writes: each goes to the one shard that owns its id and is reported done only when that shard confirmed
 * it. The rules that decide a write's outcome live here: the breaker's write admission, the retries of fence
 * refusals, which failures prove the write was never sent (`not_applied`) and which leave it `unknown`.
 */
import type { ShardConfig } from "./config.js";
import { execute } from "./data-api.js";
import { DuplicateIdError, RowNotFoundError, ShardUnavailableError } from "./errors.js";
import type { Row } from "./row.js";
import {
  breakerResult,
  fenced,
  type RemainingTime,
  type RequestDeadline,
  type RowResult,
  refusedBy,
  type ShardAccess,
  ShardNotConfiguredError,
} from "./shard-access.js";
import {
  type Clock,
  callWithDeadline,
  type ShardOutcome,
  type ShardReport,
  toShardReport,
} from "./shard-call.js";
import { type Statement, selectOne } from "./sql.js";
import { type WriteTimings, writeDeadline, writeHorizon, writeTimings } from "./write-deadline.js";
import {
  deleteRow,
  insertRow,
  parseWriteResult,
  updateRow,
  type WriteResult,
  type WriteTimes,
} from "./write-sql.js";

/**
 * Errors that prove a write did nothing: it was never sent (so nothing can take effect), or the shard rolled it
 * back because it reached its commit too late.
 */
const NEVER_SENT = new Set(["ECONNREFUSED", "WriteNotSentError", "CommitDeadlinePassed"]);

/** A write whose deadline left no time to run it; never sent. */
class WriteNotSentError extends Error {
  override name = "WriteNotSentError";
}

/** A write to a range that is switching shards waits this long between tries (doubling up to the maximum). */
const FROZEN_RETRY_MS = { first: 20, max: 200 } as const;

/** What clients are told to wait when a write met a frozen range for its whole deadline. */
const FROZEN_RETRY_AFTER_MS = 1000;

/** A write the owning shard confirmed: how many rows it changed, the shard, and its report. */
type Written = { changed: number; shard: number; shards: ShardReport[] };

/** Builds a write's statement for the table and the write's deadlines (write-sql.ts). */
type BuildWrite = (table: string, times: WriteTimes) => Statement;

export class TableWrites {
  readonly #shards: ShardAccess;
  readonly #timings: WriteTimings;
  readonly #wallClock: Clock;

  /** `wallClock`: ms since the epoch, for write deadlines, which the database compares with its own clock. */
  constructor(shards: ShardAccess, wallClock: Clock) {
    this.#shards = shards;
    this.#timings = writeTimings(shards.config.shardTimeoutMs);
    this.#wallClock = wallClock;
  }

  /** Inserts a row; a {@link DuplicateIdError} when the id exists. */
  async create(row: { id: number; name: string }, time: RemainingTime): Promise<RowResult & { item: Row }> {
    const { changed, ...written } = await this.#write(
      row.id,
      (t, d) => insertRow(t, row.id, row.name, d),
      time,
    );
    if (changed === 0) throw new DuplicateIdError(`id ${row.id} already exists`, written.shards);
    return { item: { id: row.id, name: row.name }, ...written };
  }

  /** Replaces the name of an existing row; a {@link RowNotFoundError} when there is none. */
  async replace(id: number, name: string, time: RemainingTime): Promise<RowResult & { item: Row }> {
    const written = requireChangedRow(id, await this.#write(id, (t, d) => updateRow(t, id, name, d), time));
    return { item: { id, name }, ...written };
  }

  /** Deletes a row; a {@link RowNotFoundError} when there is none. */
  async remove(id: number, time: RemainingTime): Promise<Omit<RowResult, "item">> {
    return requireChangedRow(id, await this.#write(id, (t, d) => deleteRow(t, id, d), time));
  }

  /**
   * Runs one write on the owning shard under its own deadline (see `write-deadline.ts`) and returns how many rows it
   * changed with the shard's report, or throws a {@link ShardUnavailableError} that says whether the write provably
   * did not happen (`not_applied`) or may have (`unknown`). An `unknown` one is thrown only once the write can no
   * longer take effect, so a read after the error's answer shows the final state.
   *
   * A fence refusal did nothing (the statement failed whole), so it is tried again within the request's deadline:
   * with the newer map the refusing shard hands over, or, for a range frozen while it switches shards, after a short
   * wait. A write that found the range frozen until its deadline is `not_applied`, with a `retry-after`.
   */
  async #write(id: number, build: BuildWrite, time: RemainingTime): Promise<Written> {
    const deadline = this.#shards.deadline(time);
    // The last attempt's answer: its result, or the error that says why the write was not applied.
    const answer = await this.#shards.withMap<Written | ShardUnavailableError>(deadline, async (map) => {
      const owner = map.ownerOf(id);
      if (owner === undefined) {
        const { shard, shards, refusing } = await this.#shards.vouchUnowned(map, id, deadline);
        const reason = refusing.length > 0 ? "ShardMapChanged" : failureReason(shards[0]);
        return { result: new ShardUnavailableError(shard, reason, "not_applied", shards), refusing };
      }
      const attempt = await this.#writeUntilOpen(owner, id, build, deadline);
      if ("changed" in attempt) return { result: attempt, refusing: [] };
      const refused = new ShardUnavailableError(owner, "ShardMapChanged", "not_applied", attempt.shards);
      return { result: refused, refusing: [owner] };
    });
    if (answer instanceof ShardUnavailableError) throw answer;
    return answer;
  }

  /**
   * A write on `owner`, tried again while its range is frozen for a move's switch, as long as a retry could still be
   * sent in time (the write's own deadline leaves room to run it); then `not_applied` with a `retry-after`.
   */
  async #writeUntilOpen(
    owner: number,
    id: number,
    build: BuildWrite,
    deadline: RequestDeadline,
  ): Promise<Written | { shards: ShardReport[] }> {
    for (let pause: number = FROZEN_RETRY_MS.first; ; pause = Math.min(FROZEN_RETRY_MS.max, pause * 2)) {
      const attempt = await this.#writeOnce(owner, id, build, deadline);
      if (!("refusal" in attempt) || attempt.refusal === "stale") return attempt;
      const room = this.#shards.left(deadline) - this.#timings.statementTimeoutMs - this.#timings.safetyMs;
      if (room <= pause) {
        const { shards } = attempt;
        throw new ShardUnavailableError(owner, "RangeFrozen", "not_applied", shards, FROZEN_RETRY_AFTER_MS);
      }
      await new Promise((resolve) => setTimeout(resolve, pause));
    }
  }

  /** One attempt of a write on `owner`: its result, a fence refusal (nothing done), or a thrown unavailability. */
  async #writeOnce(
    owner: number,
    id: number,
    build: BuildWrite,
    deadline: RequestDeadline,
  ): Promise<Written | { refusal: "stale" | "frozen"; shards: ShardReport[] }> {
    const { config, clients, breakers } = this.#shards;
    const shard = config.shards.find((s) => s.id === owner);
    const client = clients.write.get(owner);
    if (!shard || !client) {
      const failed: ShardOutcome<never> = {
        shard: owner,
        status: "error",
        error: new ShardNotConfiguredError().name,
        ms: 0,
      };
      throw new ShardUnavailableError(owner, failed.error, "not_applied", [toShardReport(failed, () => 0)]);
    }
    await this.#admitWrite(shard, id, deadline);
    const timeoutMs = this.#shards.left(deadline);
    const deadlineMs = writeDeadline(this.#wallClock(), timeoutMs, this.#timings);
    let sent = false;
    const outcome = await callWithDeadline(
      shard.id,
      timeoutMs,
      async (signal): Promise<WriteResult> => {
        // Checked at the moment of sending: a stalled process must not send a write that can only arrive late.
        if (this.#wallClock() >= deadlineMs)
          throw new WriteNotSentError("the write deadline passed before sending");
        sent = true;
        // The latest commit a statement that started by its deadline may make under the role's statement_timeout;
        // the shard refuses any later one (infra/fence-sql.ts), whatever the session's timeouts are.
        const commitByMs = deadlineMs + this.#timings.statementTimeoutMs;
        const statement = build(config.tableName, { deadlineMs, commitByMs });
        return parseWriteResult((await fenced(execute(client, shard, statement, signal))).formattedRecords);
      },
      this.#shards.now,
    );
    const shards = [toShardReport(outcome, (r) => r.changed)];
    // A write that was never sent says nothing about the shard.
    if (sent) breakers.record(shard.id, breakerResult(outcome));
    if (outcome.status === "ok") {
      if (outcome.value.inTime) return { changed: outcome.value.changed, shard: shard.id, shards };
      throw new ShardUnavailableError(shard.id, "deadline", "not_applied", shards);
    }
    // Refused by the fence: the statement failed whole, nothing was written.
    if (outcome.status === "error" && outcome.error === "RangeFrozen") return { refusal: "frozen", shards };
    if (outcome.status === "error" && outcome.error === "ShardMapChanged")
      return { refusal: "stale", shards };
    const reason = outcome.status === "error" ? outcome.error : outcome.status;
    const neverSent = !sent || (outcome.status === "error" && NEVER_SENT.has(outcome.error));
    if (neverSent) throw new ShardUnavailableError(shard.id, reason, "not_applied", shards);
    // It may have reached the database: wait out the instant after which it cannot commit any more.
    const wait = writeHorizon(deadlineMs, this.#timings) - this.#wallClock();
    if (wait > 0) await new Promise((resolve) => setTimeout(resolve, wait));
    throw new ShardUnavailableError(shard.id, reason, "unknown", shards);
  }

  /**
   * Lets a write through unless its shard's breaker is open: then it is refused at once, `not_applied`, with the
   * remaining cool-down as `retry-after`. A write is never the probe (a write sent to a shard that then hangs has an
   * unknown outcome): once the cool-down is over, a read of the row finds out first whether the shard is back.
   */
  async #admitWrite(shard: ShardConfig, id: number, deadline: RequestDeadline): Promise<void> {
    const { breakers } = this.#shards;
    let admission = breakers.admit(shard.id, false);
    if (admission.call) return;
    if (admission.retryAfterMs === 0) {
      const statement = selectOne(this.#shards.config.tableName, id);
      const probe = await this.#shards.read(
        shard.id,
        statement,
        this.#shards.left(deadline),
        () => undefined,
      );
      // Any answer, a fence refusal too, shows the shard is back.
      if (probe.status === "ok" || refusedBy([probe]).length > 0) return;
      admission = breakers.admit(shard.id, false);
      if (admission.call) return;
    }
    const refused: ShardOutcome<never> = {
      shard: shard.id,
      status: "unavailable",
      lastFailure: admission.lastFailure,
      retryAfterMs: admission.retryAfterMs,
    };
    const shards = [toShardReport(refused, () => 0)];
    throw new ShardUnavailableError(shard.id, "circuit_open", "not_applied", shards, admission.retryAfterMs);
  }
}

/** Why a write to an id no shard owns was not applied, from the report of the shard asked to vouch for it. */
function failureReason(r: ShardReport | undefined): string {
  if (r === undefined) return "error";
  if (r.status === "error") return r.error;
  if (r.status === "unavailable") return "circuit_open";
  return r.status;
}

/** A replace or delete's result without its count, once it changed a row; a {@link RowNotFoundError} if none. */
function requireChangedRow(id: number, { changed, ...written }: Written): Omit<RowResult, "item"> {
  if (changed === 0) throw new RowNotFoundError(`id ${id} does not exist`, written.shards);
  return written;
}
