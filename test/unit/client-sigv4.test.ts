/**
 * `client/sigv4.ts`: requests signed by the client's signer (the SDK's `@smithy/signature-v4` over Web Crypto) are
 * accepted by an independent verifier, the local Data API's (`local/data-api/sigv4.ts`, the same SDK signer over
 * `node:crypto`), and refused once a signed part changes. The payload hash is the body's, temporary credentials add
 * their token, and the credential chain is the SDK's (read from the environment here).
 */
import { createHash, createHmac } from "node:crypto";
import { afterEach, describe, expect, it, vi } from "vitest";
import { createClient } from "../../client/index.js";
import { sigv4Signer, WebCryptoSha256 } from "../../client/sigv4.js";
import { LOCAL_CREDENTIALS, verifySignature } from "../../local/data-api/index.js";

const NOW = new Date("2026-03-04T05:06:07Z");
const URL_ = new URL("https://abcdef1234.execute-api.eu-west-1.amazonaws.com/data/7?x=1&x=2");
const BODY = '{"name":"Sieben"}';

afterEach(() => {
  vi.unstubAllEnvs();
});

describe("sigv4Signer", () => {
  it("signs so that an independent verifier accepts it, and refuses any change to what was signed", async () => {
    // The local Data API's verifier checks the service `rds-data`; the client signs for any service.
    const sign = sigv4Signer({
      region: "eu-west-1",
      service: "rds-data",
      credentials: LOCAL_CREDENTIALS,
      now: () => NOW,
    });
    const headers = await sign({
      method: "PUT",
      url: URL_,
      headers: { "content-type": "application/json" },
      body: BODY,
    });
    expect(headers.host).toBeUndefined();
    expect(headers.authorization).toMatch(
      /^AWS4-HMAC-SHA256 Credential=local\/20260304\/eu-west-1\/rds-data\/aws4_request, SignedHeaders=content-type;host;x-amz-content-sha256;x-amz-date, Signature=[0-9a-f]{64}$/,
    );
    expect(headers["x-amz-date"]).toBe("20260304T050607Z");
    expect(headers["x-amz-content-sha256"]).toBe(createHash("sha256").update(BODY).digest("hex"));
    const request = (body: string, path = `${URL_.pathname}${URL_.search}`) => ({
      method: "PUT",
      url: path,
      headers: { ...headers, host: URL_.host },
      body: Buffer.from(body),
    });
    await expect(verifySignature(request(BODY), LOCAL_CREDENTIALS, NOW)).resolves.toBeUndefined();
    await expect(verifySignature(request('{"name":"Other"}'), LOCAL_CREDENTIALS, NOW)).rejects.toThrow(
      /signature/,
    );
    await expect(verifySignature(request(BODY, "/data/8?x=1&x=2"), LOCAL_CREDENTIALS, NOW)).rejects.toThrow(
      /signature/,
    );
  });

  it("signs for execute-api by default, with the session token of temporary credentials", async () => {
    const sign = sigv4Signer({
      region: "us-east-1",
      credentials: async () => ({
        accessKeyId: "AKIDEXAMPLE",
        secretAccessKey: "secret",
        sessionToken: "token",
      }),
      now: () => NOW,
    });
    const headers = await sign({
      method: "DELETE",
      url: new URL("https://api.test/data/7"),
      headers: {},
      body: undefined,
    });
    expect(headers.authorization).toContain(
      "Credential=AKIDEXAMPLE/20260304/us-east-1/execute-api/aws4_request",
    );
    expect(headers["x-amz-security-token"]).toBe("token");
    expect(headers.authorization).toContain("x-amz-security-token");
  });

  it("takes credentials from the standard AWS chain when none are given (the environment here)", async () => {
    vi.stubEnv("AWS_ACCESS_KEY_ID", "AKIDFROMENV");
    vi.stubEnv("AWS_SECRET_ACCESS_KEY", "secretfromenv");
    vi.stubEnv("AWS_SESSION_TOKEN", "");
    vi.stubEnv("AWS_PROFILE", "");
    const sign = sigv4Signer({ region: "us-east-1", now: () => NOW });
    const headers = await sign({
      method: "POST",
      url: new URL("https://api.test/data"),
      headers: {},
      body: "{}",
    });
    expect(headers.authorization).toContain("Credential=AKIDFROMENV/");
  });

  it("a client with the signer sends the signed headers on writes", async () => {
    const seen: Record<string, string>[] = [];
    const fetch = (async (_: unknown, init?: RequestInit) => {
      seen.push(init?.headers as Record<string, string>);
      return new Response(null, { status: 204 });
    }) as typeof globalThis.fetch;
    const signer = sigv4Signer({ region: "us-east-1", credentials: LOCAL_CREDENTIALS });
    await createClient({ baseUrl: "https://api.test", fetch, signer }).remove(7);
    expect(seen[0]?.authorization).toMatch(/^AWS4-HMAC-SHA256 Credential=local\//);
    expect(seen[0]?.accept).toBe("application/json");
  });

  it("WebCryptoSha256 hashes and HMACs as node:crypto does", async () => {
    const hash = new WebCryptoSha256();
    hash.update(new TextEncoder().encode("abc"));
    hash.update(new TextEncoder().encode("def"));
    expect(Buffer.from(await hash.digest()).toString("hex")).toBe(
      createHash("sha256").update("abcdef").digest("hex"),
    );
    const hmac = new WebCryptoSha256("key");
    hmac.update(new TextEncoder().encode("data"));
    expect(Buffer.from(await hmac.digest()).toString("hex")).toBe(
      createHmac("sha256", "key").update("data").digest("hex"),
    );
  });
});
