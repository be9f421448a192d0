import { describe, expect, it } from "vitest";
import { jsonBody, MAX_BODY_BYTES } from "../../functions/http/body.js";
import { ClientError } from "../../functions/http/errors.js";

const JSON_TYPE = { "content-type": "application/json" };
const NOT_UTF8 = Buffer.from([0x7b, 0xc3, 0x28, 0x7d]).toString("base64");

function refusal(req: Parameters<typeof jsonBody>[0]): Pick<ClientError, "status" | "code" | "message"> {
  try {
    jsonBody(req);
  } catch (err) {
    if (!(err instanceof ClientError)) throw err;
    return { status: err.status, code: err.code, message: err.message };
  }
  throw new Error("expected a ClientError");
}

describe("jsonBody: a request's body as a JSON object, or the 4xx that says what is wrong", () => {
  it("reads a text body and a base64 one alike", () => {
    const text = JSON.stringify({ id: 6, name: "Sechs ✓" });
    expect(jsonBody({ headers: JSON_TYPE, body: text, bodyBase64: false })).toEqual({
      id: 6,
      name: "Sechs ✓",
    });
    const base64 = Buffer.from(text).toString("base64");
    expect(jsonBody({ headers: JSON_TYPE, body: base64, bodyBase64: true })).toEqual({
      id: 6,
      name: "Sechs ✓",
    });
  });

  it("checks in order: content type, charset, encoding, presence, size, JSON, object", () => {
    // Each request fails every check after the one it is meant to fail, so only the order picks the answer.
    const huge = "x".repeat(MAX_BODY_BYTES + 1);
    expect(
      refusal({
        headers: { "content-type": "text/plain; charset=latin1" },
        body: NOT_UTF8,
        bodyBase64: true,
      }),
    ).toEqual({
      status: 415,
      code: "unsupported_media_type",
      message: "content-type: must be application/json",
    });
    expect(
      refusal({
        headers: { "content-type": "application/json; charset=latin1" },
        body: NOT_UTF8,
        bodyBase64: true,
      }),
    ).toEqual({
      status: 415,
      code: "unsupported_charset",
      message: "content-type: charset must be utf-8, got latin1",
    });
    expect(refusal({ headers: JSON_TYPE, body: NOT_UTF8, bodyBase64: true })).toEqual({
      status: 400,
      code: "invalid_encoding",
      message: "body: not valid UTF-8",
    });
    expect(refusal({ headers: JSON_TYPE, body: "", bodyBase64: true })).toEqual({
      status: 400,
      code: "invalid_body",
      message: "body: required",
    });
    expect(refusal({ headers: JSON_TYPE, body: huge, bodyBase64: false })).toEqual({
      status: 413,
      code: "body_too_large",
      message: `body: must be at most ${MAX_BODY_BYTES} bytes`,
    });
    expect(refusal({ headers: JSON_TYPE, body: "[1", bodyBase64: false })).toEqual({
      status: 400,
      code: "invalid_json",
      message: "body: not valid JSON",
    });
    expect(refusal({ headers: JSON_TYPE, body: "[1]", bodyBase64: false })).toEqual({
      status: 400,
      code: "invalid_body",
      message: "body: must be a JSON object",
    });
  });

  it("refuses a missing body and a missing content type", () => {
    expect(refusal({ headers: JSON_TYPE, body: undefined, bodyBase64: false })).toMatchObject({
      status: 400,
      message: "body: required",
    });
    expect(refusal({ headers: {}, body: "{}", bodyBase64: false })).toMatchObject({
      status: 415,
      code: "unsupported_media_type",
    });
  });

  it("counts the limit in UTF-8 bytes of the decoded text, for base64 bodies too", () => {
    const name = "é".repeat(MAX_BODY_BYTES / 2);
    const text = JSON.stringify({ id: 5, name });
    expect(text.length).toBeLessThan(MAX_BODY_BYTES);
    expect(Buffer.byteLength(text)).toBeGreaterThan(MAX_BODY_BYTES);
    for (const [body, bodyBase64] of [
      [text, false],
      [Buffer.from(text).toString("base64"), true],
    ] as const) {
      expect(refusal({ headers: JSON_TYPE, body, bodyBase64 })).toMatchObject({ status: 413 });
    }
  });

  it("keeps a byte-order mark, which is not JSON: bytes are decoded strictly, not cleaned up", () => {
    const withBom = Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), Buffer.from("{}")]).toString("base64");
    expect(refusal({ headers: JSON_TYPE, body: withBom, bodyBase64: true })).toMatchObject({
      code: "invalid_json",
    });
  });
});
