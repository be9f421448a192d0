/**
 * One SQL statement through the RDS Data API, retried while waiting can cure its error: what the schema step, the
 * function-role resource and the secret rotation all run, in a file of its own so no handler imports another.
 */
import { ExecuteStatementCommand, type RDSDataClient } from "@aws-sdk/client-rds-data";

/** Errors that go away by waiting: a paused cluster waking up (about 15 s, longer after a long pause), a writer
 * instance not yet available, and IAM's eventual consistency right after the role's policy was created. */
export const RETRYABLE_ERRORS: ReadonlySet<string> = new Set([
  "DatabaseResumingException",
  "DatabaseUnavailableException",
  "ServiceUnavailableError",
  "AccessDeniedException",
  "ForbiddenException",
]);

/** How long a deploy-time handler keeps retrying: far beyond a resume, well inside the Lambda timeout it is given. */
export const RETRY_BUDGET_MS = 8 * 60_000;

export interface Statement {
  readonly ResourceArn: string;
  readonly SecretArn: string;
  readonly Database: string;
  readonly Sql: string;
}

export interface RetryDeps {
  readonly client: Pick<RDSDataClient, "send">;
  readonly sleep: (ms: number) => Promise<void>;
  readonly now: () => number;
  readonly log: (message: string, detail?: Record<string, unknown>) => void;
}

function errorName(err: unknown): string {
  return err instanceof Error ? err.name : "UnknownError";
}

/** Runs the statement, retrying the errors that waiting cures until `deadline` (epoch ms). */
export async function executeWithRetry(
  statement: Statement,
  deps: RetryDeps,
  deadline: number,
): Promise<{ numberOfRecordsUpdated: number; attempts: number }> {
  for (let attempt = 1; ; attempt++) {
    try {
      const out = await deps.client.send(
        new ExecuteStatementCommand({
          resourceArn: statement.ResourceArn,
          secretArn: statement.SecretArn,
          database: statement.Database,
          sql: statement.Sql,
        }),
      );
      return { numberOfRecordsUpdated: out.numberOfRecordsUpdated ?? 0, attempts: attempt };
    } catch (err) {
      const name = errorName(err);
      const wait = Math.min(2_000 * 2 ** (attempt - 1), 15_000);
      if (!RETRYABLE_ERRORS.has(name) || deps.now() + wait >= deadline) throw err;
      deps.log("retrying", { name, attempt, waitMs: wait });
      await deps.sleep(wait);
    }
  }
}
