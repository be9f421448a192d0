/**
 * The client's typed errors. Every failure is one of these: an answer of the API (`ApiError` and its kinds), a request
 * that got no answer (`NetworkError`), or a walk that could not read everything (`IncompleteReadError`).
 */
import type { FailedShard, Row, ShardReport, WriteOutcome } from "./types.js";

/** An answer of the API other than success: its status, its error `code` and `message` (or API Gateway's). */
export class ApiError extends Error {
  override name = "ApiError";
  readonly status: number;
  /** The API's error code (`invalid_query`, …), or `http_<status>` for an answer without one (API Gateway's own). */
  readonly code: string;
  /** The parsed body, when it was JSON. */
  readonly body: unknown;

  constructor(status: number, code: string, message: string, body: unknown) {
    super(message);
    this.status = status;
    this.code = code;
    this.body = body;
  }
}

/** `404`: the row does not exist (its shard answered), or the id is outside the shard map (`id_out_of_range`). */
export class NotFoundError extends ApiError {
  override name = "NotFoundError";
}

/** `409 duplicate_id`: a create of an id that exists (or, after an unknown outcome, a row with another name). */
export class ConflictError extends ApiError {
  override name = "ConflictError";
}

/** What the client learnt by reading a row back after a write whose outcome was `unknown`. */
export interface ReadBack {
  /** Whether the row is as the write would leave it. */
  readonly applied: boolean;
  /** The row as read back (`null`: absent). */
  readonly row: Row | null;
}

/**
 * `503`: the owning shard did not answer. For a write, `outcome` says what happened to it (`not_applied`: retry as
 * is; `unknown`: it may have happened, but can no longer happen); `readBack` says what reading the row afterwards
 * showed, when the client did. For a read, `shards` holds the shard's report.
 */
export class UnavailableError extends ApiError {
  override name = "UnavailableError";
  readonly outcome: WriteOutcome | undefined;
  readonly shard: number | undefined;
  /** From the `retry-after` header, in milliseconds (undefined when absent). */
  readonly retryAfterMs: number | undefined;
  readonly shards: readonly ShardReport[];
  /** Set when the outcome was `unknown` and the client read the row back; `applied` is then `false`. */
  readonly readBack: ReadBack | undefined;
  /** How many times the request was sent. */
  readonly attempts: number;

  constructor(
    status: number,
    code: string,
    message: string,
    body: unknown,
    details: {
      outcome?: WriteOutcome;
      shard?: number;
      retryAfterMs?: number;
      shards?: readonly ShardReport[];
      readBack?: ReadBack;
      attempts?: number;
    },
  ) {
    super(status, code, message, body);
    this.outcome = details.outcome;
    this.shard = details.shard;
    this.retryAfterMs = details.retryAfterMs;
    this.shards = details.shards ?? [];
    this.readBack = details.readBack;
    this.attempts = details.attempts ?? 1;
  }

  /** The same error with what the client learnt since (a read back, the attempts made). */
  with(details: { readBack?: ReadBack; attempts?: number }): UnavailableError {
    const error = new UnavailableError(this.status, this.code, this.message, this.body, {
      ...(this.outcome === undefined ? {} : { outcome: this.outcome }),
      ...(this.shard === undefined ? {} : { shard: this.shard }),
      ...(this.retryAfterMs === undefined ? {} : { retryAfterMs: this.retryAfterMs }),
      shards: this.shards,
      attempts: details.attempts ?? this.attempts,
      ...(details.readBack
        ? { readBack: details.readBack }
        : this.readBack
          ? { readBack: this.readBack }
          : {}),
    });
    if (details.readBack) {
      error.message = `${this.message}; read back: ${details.readBack.applied ? "applied" : "not applied"} (row ${details.readBack.row === null ? "absent" : JSON.stringify(details.readBack.row)})`;
    }
    return error;
  }
}

/**
 * The request got no answer: the connection failed, or no answer came within the request timeout. For a write the
 * outcome is not known, and not final either (the request may still be on its way): the client does not guess.
 */
export class NetworkError extends Error {
  override name = "NetworkError";
}

/** An id range, both ends inclusive. */
export interface IdSpan {
  readonly from: number;
  readonly to: number;
}

/**
 * A walk (`rows()`, `pages()`) that could not read a page completely within its retry budget. Everything up to
 * `resumeAfter` was yielded, in order, exactly once; nothing after it was. `missing` is the id range in which the
 * `shards` named did not answer; `rows({ after: resumeAfter, … })` resumes the walk.
 */
export class IncompleteReadError extends Error {
  override name = "IncompleteReadError";
  /** The shards whose rows could not be read, as their last report said. */
  readonly shards: readonly FailedShard[];
  /** The ids the failed shards may hold rows in that were not read. */
  readonly missing: IdSpan;
  /** The last id the walk yielded through (the cursor to resume after); undefined when nothing was read yet. */
  readonly resumeAfter: number | undefined;
  readonly attempts: number;
  readonly elapsedMs: number;

  constructor(args: {
    shards: readonly FailedShard[];
    missing: IdSpan;
    resumeAfter: number | undefined;
    attempts: number;
    elapsedMs: number;
    cause?: unknown;
  }) {
    const names = args.shards
      .map(
        (s) =>
          `shard ${s.shard} (${s.status === "error" ? s.error : s.status === "unavailable" ? `unavailable: ${s.lastFailure}` : s.status})`,
      )
      .join(", ");
    super(
      `could not read ids ${args.missing.from}..${args.missing.to} from ${names || "the API"} after ${args.attempts} attempts in ${Math.round(args.elapsedMs)} ms; ` +
        `every row up to ${args.resumeAfter ?? "the start"} was read, nothing after it`,
      args.cause === undefined ? undefined : { cause: args.cause },
    );
    this.shards = args.shards;
    this.missing = args.missing;
    this.resumeAfter = args.resumeAfter;
    this.attempts = args.attempts;
    this.elapsedMs = args.elapsedMs;
  }
}

/** The API broke a promise of its contract (rows out of order, a cursor going back): a bug, never retried. */
export class ProtocolError extends Error {
  override name = "ProtocolError";
}
