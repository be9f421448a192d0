/**
 * How a write the function has given up on is kept from taking effect later, in AWS as locally, without trusting
 * that aborting a call cancels anything (it does not: the Data API runs a statement it has received to its end).
 *
 * 1. Each write statement carries its own deadline, a wall-clock instant, and does nothing when the database starts
 *    it later (`statement_timestamp() <= :deadline`). The deadline is `sent + timeout - statementTimeout - safety`.
 * 2. The function's database role has `statement_timeout` (and a shorter `lock_timeout`) set on it, so a statement
 *    that started in time ends, committed or cancelled, within `statementTimeout` of its start: by
 *    `sent + timeout - safety`, before the function's own deadline `sent + timeout`. And whatever a session's
 *    timeouts are (cleared, or a lock waited on past them), the shard checks the same instant again at COMMIT
 *    (`commitBy = deadline + statementTimeout`, a deferred constraint trigger: infra/fence-sql.ts) and rolls a later
 *    commit back.
 * 3. When a write's outcome is unknown (the call failed after it may have reached the database), the function waits
 *    until that horizon has passed before it answers 503, so a read after the 503 shows the final state.
 *
 * Clock assumption: the deadline is compared by the database with its own clock. Lambda and Aurora both keep time
 * with the Amazon Time Sync Service (microsecond-level accuracy on current hosts, at worst a few ms), so the
 * `safety` margin (15 % of the shard timeout, 300 ms by default) covers clock error plus the commit itself.
 * The residual window, said honestly: a commit that takes longer than `safety` after a statement ran to the very
 * end of its `statement_timeout`, or clocks further apart than `safety`, could still land after the 503. Both are
 * far outside what these services do, but they are assumptions, not proofs.
 */

export interface WriteTimings {
  /** The role's `statement_timeout`: the longest a write statement may run once started. */
  readonly statementTimeoutMs: number;
  /** The role's `lock_timeout`: a write waiting for a row lock gives up well within its statement timeout. */
  readonly lockTimeoutMs: number;
  /** Kept between the latest possible end of a statement and the function's own deadline. */
  readonly safetyMs: number;
}

/**
 * The timings for a shard timeout, one pure function shared by the function, the CDK stack (which sets them on the
 * role) and the local runtime (which does the same), so the three can never disagree. With 2000 ms: statements may
 * start within 1200 ms of sending (a burst queued behind the Data API's connections still gets in), run 500 ms at
 * most (a single-row write by primary key takes milliseconds; lock waits 300 ms), and 300 ms are left for clocks and
 * the commit.
 */
export function writeTimings(shardTimeoutMs: number): WriteTimings {
  return {
    statementTimeoutMs: Math.max(1, Math.floor(shardTimeoutMs * 0.25)),
    lockTimeoutMs: Math.max(1, Math.floor(shardTimeoutMs * 0.15)),
    safetyMs: Math.max(1, Math.floor(shardTimeoutMs * 0.15)),
  };
}

/** The wall-clock deadline for a write sent now with `timeoutMs` left, per {@link writeTimings}. */
export function writeDeadline(nowMs: number, timeoutMs: number, timings: WriteTimings): number {
  return nowMs + timeoutMs - timings.statementTimeoutMs - timings.safetyMs;
}

/**
 * The instant after which a write with this deadline can no longer commit (its latest start, plus its statement
 * timeout, plus the safety margin for clocks and commit): the function's own deadline for the call.
 */
export function writeHorizon(deadlineMs: number, timings: WriteTimings): number {
  return deadlineMs + timings.statementTimeoutMs + timings.safetyMs;
}

/** `YYYY-MM-DD HH:MM:SS.FFF` in UTC: the Data API's `TIMESTAMP` type hint format. */
export function sqlTimestamp(ms: number): string {
  return new Date(ms).toISOString().replace("T", " ").replace("Z", "");
}
