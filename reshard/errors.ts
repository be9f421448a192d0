/**
 * The tool's named errors. The CLI turns them into exit codes: a wrong command line is 2 (nothing was contacted); a
 * refusal or a failure once the shards were reached is 1.
 */

/** The command line is wrong: the message says which argument and what it expects. */
export class UsageError extends Error {
  override name = "UsageError";
}

/** The operation does not fit the shards' current state (a range not owned, an unfinished operation…). */
export class RefusedError extends Error {
  override name = "OperationRefused";
}

/** A statement failed on one shard; the message names the shard and carries the database's message. */
export class ShardCallError extends Error {
  override name = "ShardCallFailed";
  constructor(
    readonly shard: number,
    message: string,
    options?: ErrorOptions,
  ) {
    super(`shard ${shard}: ${message}`, options);
  }
}

/** A step waited longer than its bound (the copy stalled, the freeze's marker never reached the target). */
export class StepTimeoutError extends Error {
  override name = "StepTimeout";
}

/** The shards' targets could not be read (`--local` URL, `--shards` file, Secrets Manager). */
export class TargetError extends Error {
  override name = "TargetError";
}
