import { RDSDataClient } from "@aws-sdk/client-rds-data";
import type { CloudFormationCustomResourceEvent, Context } from "aws-lambda";
import {
  type CustomResourceOutcome,
  failureReason,
  physicalIdOf,
  putResponse,
  sendResponse,
} from "./cloudformation-response.js";
import { executeWithRetry, RETRY_BUDGET_MS, type RetryDeps, type Statement } from "./statement-retry.js";

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

/** Kept free of the Lambda's remaining time to report a failure before Lambda kills the invocation. */
const REPORT_MARGIN_MS = 20_000;

export interface StatementProperties extends Statement {
  readonly PhysicalId: string;
}

export interface HandlerDeps extends RetryDeps {
  /** PUTs the response body to CloudFormation's pre-signed URL. */
  readonly respond: (url: string, body: string) => Promise<void>;
}

/** The CloudFormation custom-resource protocol: one response PUT to the pre-signed URL, whatever happened. */
export function createHandler(deps: HandlerDeps) {
  return async (
    event: CloudFormationCustomResourceEvent,
    context: Pick<Context, "getRemainingTimeInMillis">,
  ) => {
    const props = event.ResourceProperties as unknown as StatementProperties;
    const deadline =
      deps.now() + Math.min(RETRY_BUDGET_MS, context.getRemainingTimeInMillis() - REPORT_MARGIN_MS);
    let outcome: CustomResourceOutcome = {
      status: "SUCCESS",
      reason: `see CloudWatch log stream ${(context as Partial<Context>).logStreamName ?? ""}`,
      physicalResourceId: physicalIdOf(event, props.PhysicalId),
    };
    if (event.RequestType !== "Delete") {
      try {
        const result = await executeWithRetry(props, deps, deadline);
        outcome = { ...outcome, data: { numberOfRecordsUpdated: result.numberOfRecordsUpdated } };
        deps.log("executed", { attempts: result.attempts, database: props.Database });
      } catch (err) {
        // The reason shows in the CloudFormation events; the SQL and the ARNs are already in the template.
        outcome = { ...outcome, status: "FAILED", reason: failureReason(err) };
        deps.log("failed", { reason: outcome.reason });
      }
    }
    await sendResponse(event, outcome, deps.respond);
  };
}

export const handler = createHandler({
  client: new RDSDataClient({}),
  sleep: (ms) => new Promise((resolve) => setTimeout(resolve, ms)),
  now: Date.now,
  respond: putResponse,
  log: (message, detail) => console.log(JSON.stringify({ message, ...detail })),
});
