import { once } from "node:events";
import { createServer, type IncomingHttpHeaders } from "node:http";
import type { AddressInfo } from "node:net";
import type { CloudFormationCustomResourceEvent } from "aws-lambda";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  failureReason,
  physicalIdOf,
  putResponse,
  RESPONSE_BODY_LIMIT_BYTES,
  ResponseNotDeliveredError,
  responseBody,
  sendResponse,
} from "../../infra/handlers/cloudformation-response.js";

const base = {
  ServiceToken: "arn:aws:lambda:us-east-1:123456789012:function:handler",
  ResponseURL: "https://cloudformation-custom-resource-response.example/response?X-Amz-Signature=abc",
  StackId: "arn:aws:cloudformation:us-east-1:123456789012:stack/ShardedDataApi/1",
  RequestId: "request-1",
  LogicalResourceId: "Resource1",
  ResourceType: "Custom::Thing",
  ResourceProperties: { ServiceToken: "arn:aws:lambda:us-east-1:123456789012:function:handler" },
};
const create: CloudFormationCustomResourceEvent = { ...base, RequestType: "Create" };
const update: CloudFormationCustomResourceEvent = {
  ...base,
  RequestType: "Update",
  PhysicalResourceId: "held/by/cloudformation",
  OldResourceProperties: base.ResourceProperties,
};
const remove: CloudFormationCustomResourceEvent = {
  ...base,
  RequestType: "Delete",
  PhysicalResourceId: "held/by/cloudformation",
};

const parse = (body: string) => JSON.parse(body) as Record<string, unknown>;

describe("the CloudFormation response", () => {
  it("names the resource by the handler's id on create and by CloudFormation's ever after", () => {
    expect(physicalIdOf(create, "mine")).toBe("mine");
    expect(physicalIdOf(update, "mine")).toBe("held/by/cloudformation");
    expect(physicalIdOf(remove, "mine")).toBe("held/by/cloudformation");
  });

  it("holds the status, reason, physical id, data and the request's own ids, and nothing else", () => {
    const body = responseBody(create, {
      status: "SUCCESS",
      reason: "ok",
      physicalResourceId: "shard1/function-role",
      data: { numberOfRecordsUpdated: 2 },
    });
    expect(parse(body)).toEqual({
      Status: "SUCCESS",
      Reason: "ok",
      PhysicalResourceId: "shard1/function-role",
      StackId: base.StackId,
      RequestId: "request-1",
      LogicalResourceId: "Resource1",
      Data: { numberOfRecordsUpdated: 2 },
    });
    expect(
      parse(responseBody(remove, { status: "FAILED", reason: "x", physicalResourceId: "p" })).Data,
    ).toEqual({});
  });

  it("says what failed by the error's name and message", () => {
    const error = new Error("syntax error");
    error.name = "BadRequestException";
    expect(failureReason(error)).toBe("BadRequestException: syntax error");
    expect(failureReason("thrown string")).toBe("UnknownError: thrown string");
  });

  it("cuts a reason too long for CloudFormation's 4096-byte body, on a whole character, and marks the cut", () => {
    for (const unit of ["x", "é", '"', "😀"]) {
      const reason = `BadRequestException: ${unit.repeat(5000)}`;
      const body = responseBody(update, { status: "FAILED", reason, physicalResourceId: "p" });
      expect(Buffer.byteLength(body)).toBeLessThanOrEqual(RESPONSE_BODY_LIMIT_BYTES);
      expect(Buffer.byteLength(body)).toBeGreaterThan(RESPONSE_BODY_LIMIT_BYTES - 64);
      const sent = parse(body);
      expect(sent).toMatchObject({ Status: "FAILED", PhysicalResourceId: "p" });
      expect(String(sent.Reason)).toMatch(/^BadRequestException: /);
      expect(String(sent.Reason).endsWith(`${unit} [cut]`)).toBe(true);
      expect(body).not.toMatch(/\\ud[89ab]/); // no half of a surrogate pair
    }
    const fits = "a".repeat(100);
    expect(
      parse(responseBody(update, { status: "FAILED", reason: fits, physicalResourceId: "p" })).Reason,
    ).toBe(fits);
  });

  it("turns data too large for the body into a failure that says so, rather than a response CloudFormation refuses", () => {
    const body = responseBody(create, {
      status: "SUCCESS",
      reason: "ok",
      physicalResourceId: "p",
      data: { big: "x".repeat(RESPONSE_BODY_LIMIT_BYTES) },
    });
    expect(Buffer.byteLength(body)).toBeLessThanOrEqual(RESPONSE_BODY_LIMIT_BYTES);
    expect(parse(body)).toMatchObject({ Status: "FAILED", PhysicalResourceId: "p", Data: {} });
    expect(String(parse(body).Reason)).toMatch(
      /^the response is \d+ bytes; CloudFormation takes 4096 at most$/,
    );
  });

  it("sends the body to the request's URL through the PUT it is given", async () => {
    const sent: [string, string][] = [];
    await sendResponse(
      create,
      { status: "SUCCESS", reason: "ok", physicalResourceId: "p" },
      async (url, body) => {
        sent.push([url, body]);
      },
    );
    expect(sent).toEqual([
      [base.ResponseURL, responseBody(create, { status: "SUCCESS", reason: "ok", physicalResourceId: "p" })],
    ]);
  });
});

describe("the response PUT, on the wire", () => {
  const received: { method?: string; url?: string; headers: IncomingHttpHeaders; body: string }[] = [];
  let answer = 200;
  const server = createServer((req, res) => {
    let body = "";
    req.setEncoding("utf8");
    req.on("data", (chunk: string) => {
      body += chunk;
    });
    req.on("end", () => {
      received.push({ method: req.method, url: req.url, headers: req.headers, body });
      res.statusCode = answer;
      res.end(answer === 200 ? "" : "<Error><Code>AccessDenied</Code></Error>");
    });
  });
  let origin = "";
  beforeAll(async () => {
    server.listen(0, "127.0.0.1");
    await once(server, "listening");
    origin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  afterAll(() => server.close());

  it("is a PUT of the body with an empty content type and its length in bytes, as the pre-signed URL expects", async () => {
    answer = 200;
    const body = responseBody(create, { status: "SUCCESS", reason: "café", physicalResourceId: "p" });
    await putResponse(`${origin}/response?X-Amz-Signature=abc`, body);
    const request = received.at(-1);
    expect(request).toMatchObject({ method: "PUT", url: "/response?X-Amz-Signature=abc", body });
    expect(request?.headers["content-type"]).toBe("");
    expect(request?.headers["content-length"]).toBe(String(Buffer.byteLength(body)));
  });

  it("throws a named error when the URL refuses the response (an expired URL), so the failure reaches the logs", async () => {
    answer = 403;
    await expect(putResponse(`${origin}/expired`, "{}")).rejects.toThrow(ResponseNotDeliveredError);
    await expect(putResponse(`${origin}/expired`, "{}")).rejects.toMatchObject({ status: 403 });
  });
});
