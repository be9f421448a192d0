import { request } from "node:https";
import { ExecuteStatementCommand, RDSDataClient } from "@aws-sdk/client-rds-data";
import type { CloudFormationCustomResourceEvent, Context } from "aws-lambda";

/**
 * The schema step's custom-resource handler: runs one SQL statement on one shard through the RDS Data API and reports
 * the outcome to CloudFormation. It exists instead of an `AwsCustomResource` because that one makes a single SDK call
 * and the SDK never retries DatabaseResumingException: a schema update (or its rollback) that reached an auto-paused
 * demo cluster failed with it, and could leave the stack in UPDATE_ROLLBACK_FAILED.
 *
 * Properties: `ResourceArn`, `SecretArn`, `Database`, `Sql` and `PhysicalId` (stable per shard and statement, so a
 * changed statement updates the resource instead of replacing it). Delete runs nothing: removing the resource never
 * drops data.
 */

/** Errors that go away by waiting: a paused cluster waking up (about 15 s, longer after a long pause), a writer
 * instance not yet available, and IAM's eventual consistency right after the role's policy was created. */
export const RETRYABLE_ERRORS: ReadonlySet<string> = new Set([
  "DatabaseResumingException",
  "DatabaseUnavailableException",
  "ServiceUnavailableError",
  "AccessDeniedException",
  "ForbiddenException",
]);

/** How long the handler keeps retrying: far beyond a resume, well inside the Lambda timeout it is given. */
export const RETRY_BUDGET_MS = 8 * 60_000;
/** Kept free of the Lambda's remaining time to report a failure before Lambda kills the invocation. */
const REPORT_MARGIN_MS = 20_000;

export interface StatementProperties {
  readonly ResourceArn: string;
  readonly SecretArn: string;
  readonly Database: string;
  readonly Sql: string;
  readonly PhysicalId: string;
}

export interface HandlerDeps {
  readonly client: Pick<RDSDataClient, "send">;
  readonly sleep: (ms: number) => Promise<void>;
  readonly now: () => number;
  readonly respond: (url: string, body: string) => Promise<void>;
  readonly log: (message: string, detail?: Record<string, unknown>) => void;
}

function errorName(err: unknown): string {
  return err instanceof Error ? err.name : "UnknownError";
}

/** Runs the statement, retrying the errors that waiting cures until `deadline` (epoch ms). */
export async function executeWithRetry(
  props: Omit<StatementProperties, "PhysicalId">,
  deps: Pick<HandlerDeps, "client" | "sleep" | "now" | "log">,
  deadline: number,
): Promise<{ numberOfRecordsUpdated: number; attempts: number }> {
  for (let attempt = 1; ; attempt++) {
    try {
      const out = await deps.client.send(
        new ExecuteStatementCommand({
          resourceArn: props.ResourceArn,
          secretArn: props.SecretArn,
          database: props.Database,
          sql: props.Sql,
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

/** The CloudFormation custom-resource protocol: one response PUT to the pre-signed URL, whatever happened. */
export function createHandler(deps: HandlerDeps) {
  return async (
    event: CloudFormationCustomResourceEvent,
    context: Pick<Context, "getRemainingTimeInMillis">,
  ) => {
    const props = event.ResourceProperties as unknown as StatementProperties;
    const physicalId =
      event.RequestType === "Create" ? props.PhysicalId : (event.PhysicalResourceId ?? props.PhysicalId);
    const deadline =
      deps.now() + Math.min(RETRY_BUDGET_MS, context.getRemainingTimeInMillis() - REPORT_MARGIN_MS);
    let status: "SUCCESS" | "FAILED" = "SUCCESS";
    let reason = "";
    let data: Record<string, unknown> = {};
    if (event.RequestType !== "Delete") {
      try {
        const result = await executeWithRetry(props, deps, deadline);
        data = { numberOfRecordsUpdated: result.numberOfRecordsUpdated };
        deps.log("executed", { attempts: result.attempts, database: props.Database });
      } catch (err) {
        status = "FAILED";
        // The reason shows in the CloudFormation events; the SQL and the ARNs are already in the template.
        reason = `${errorName(err)}: ${err instanceof Error ? err.message : String(err)}`.slice(0, 1000);
        deps.log("failed", { reason });
      }
    }
    const body = JSON.stringify({
      Status: status,
      Reason: reason || `see CloudWatch log stream ${(context as Partial<Context>).logStreamName ?? ""}`,
      PhysicalResourceId: physicalId,
      StackId: event.StackId,
      RequestId: event.RequestId,
      LogicalResourceId: event.LogicalResourceId,
      Data: data,
    });
    await deps.respond(event.ResponseURL, body);
  };
}

/** PUT to the pre-signed S3 URL with an empty content type, as the URL's signature expects. */
function putResponse(url: string, body: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const req = request(
      url,
      { method: "PUT", headers: { "content-type": "", "content-length": Buffer.byteLength(body) } },
      (res) => {
        res.resume();
        res.on("end", () => resolve());
      },
    );
    req.on("error", reject);
    req.end(body);
  });
}

export const handler = createHandler({
  client: new RDSDataClient({}),
  sleep: (ms) => new Promise((resolve) => setTimeout(resolve, ms)),
  now: Date.now,
  respond: putResponse,
  log: (message, detail) => console.log(JSON.stringify({ message, ...detail })),
});
