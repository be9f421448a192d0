/**
 * The one answer every custom resource handler here gives CloudFormation: a JSON document PUT to the request's
 * pre-signed S3 URL ("Custom resource response objects", CloudFormation User Guide, crpg-ref-responses.html).
 *
 * Our handlers answer CloudFormation themselves (each resource's service token is the handler's own function) rather
 * than through the CDK's provider framework (`custom-resources.Provider`): that framework puts one more Lambda function
 * per provider in front of each handler, with its own role, log group and wildcard grants, only to send this request.
 */
import type { CloudFormationCustomResourceEvent } from "aws-lambda";

/** "The total size of the response body can't exceed 4096 bytes." */
export const RESPONSE_BODY_LIMIT_BYTES = 4096;

/** Appended to a reason cut short to fit the body. */
const CUT = " [cut]";

export interface CustomResourceOutcome {
  readonly status: "SUCCESS" | "FAILED";
  /** Shown in the stack's events; required by CloudFormation when the status is FAILED. */
  readonly reason: string;
  /** The same for every response about one resource: a different one on update means a replacement. */
  readonly physicalResourceId: string;
  /** What `Fn::GetAtt` reads from the resource. */
  readonly data?: Record<string, unknown>;
}

/** The physical id of a resource: the handler's own on create, the one CloudFormation holds ever after. */
export function physicalIdOf(event: CloudFormationCustomResourceEvent, onCreate: string): string {
  return event.RequestType === "Create" ? onCreate : event.PhysicalResourceId;
}

/** An error's name and message, the text a failed resource shows in the stack's events. */
export function failureReason(error: unknown): string {
  return error instanceof Error ? `${error.name}: ${error.message}` : `UnknownError: ${String(error)}`;
}

function render(event: CloudFormationCustomResourceEvent, outcome: CustomResourceOutcome): string {
  return JSON.stringify({
    Status: outcome.status,
    Reason: outcome.reason,
    PhysicalResourceId: outcome.physicalResourceId,
    StackId: event.StackId,
    RequestId: event.RequestId,
    LogicalResourceId: event.LogicalResourceId,
    Data: outcome.data ?? {},
  });
}

/**
 * The response document, within CloudFormation's size limit: a reason too long for it is cut (an SDK message can be
 * long); data too large for it turns the response into a failure that says so, since CloudFormation would refuse it
 * anyway and the deploy would only learn why from this function's logs.
 */
export function responseBody(
  event: CloudFormationCustomResourceEvent,
  outcome: CustomResourceOutcome,
): string {
  const fits = (body: string) => Buffer.byteLength(body) <= RESPONSE_BODY_LIMIT_BYTES;
  const full = render(event, outcome);
  if (fits(full)) return full;
  // The first `keep` UTF-16 units of the reason, never ending on half of a surrogate pair (JSON would spell it `\ud83d`).
  const cut = (keep: number) => {
    const last = outcome.reason.charCodeAt(keep - 1);
    const end = last >= 0xd800 && last <= 0xdbff ? keep - 1 : keep;
    return render(event, { ...outcome, reason: `${outcome.reason.slice(0, end)}${CUT}` });
  };
  if (!fits(cut(0))) {
    return render(event, {
      status: "FAILED",
      reason: `the response is ${Buffer.byteLength(full)} bytes; CloudFormation takes ${RESPONSE_BODY_LIMIT_BYTES} at most`,
      physicalResourceId: outcome.physicalResourceId,
    });
  }
  // The longest cut that fits: its size grows with `keep`, and a few renders of a 4 KiB document cost nothing.
  let [low, high] = [0, outcome.reason.length];
  while (low < high) {
    const mid = Math.ceil((low + high) / 2);
    if (fits(cut(mid))) low = mid;
    else high = mid - 1;
  }
  return cut(low);
}

/** S3 refused the response (an expired URL, most likely): CloudFormation never heard the outcome. */
export class ResponseNotDeliveredError extends Error {
  override name = "ResponseNotDeliveredError";
  constructor(readonly status: number) {
    super(`the response URL answered ${status}`);
  }
}

/**
 * PUT to the pre-signed S3 URL with an empty content type, as the URL's signature expects (cfn-response sends the
 * same); fetch would otherwise add `text/plain;charset=UTF-8`.
 */
export async function putResponse(url: string, body: string): Promise<void> {
  const response = await fetch(url, { method: "PUT", body, headers: { "content-type": "" } });
  await response.arrayBuffer(); // read to the end, so the connection is free before Lambda freezes the process
  if (!response.ok) throw new ResponseNotDeliveredError(response.status);
}

/** Sends the outcome of `event` to CloudFormation, by `put` (the real PUT unless a test passes its own). */
export async function sendResponse(
  event: CloudFormationCustomResourceEvent,
  outcome: CustomResourceOutcome,
  put: (url: string, body: string) => Promise<void> = putResponse,
): Promise<void> {
  await put(event.ResponseURL, responseBody(event, outcome));
}
