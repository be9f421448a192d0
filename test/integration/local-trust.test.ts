/**
 * Safe to leave running: the local Data API endpoints accept only requests SigV4-signed with the local credentials
 * (refusing others as AWS does), refuse web browsers' cross-site requests, and the `/_local/faults` admin route
 * takes only JSON, from no other site, with no permissive CORS headers. The runtime signs with the local credentials
 * whatever AWS credentials the user's environment holds.
 */
import { ExecuteStatementCommand, RDSDataClient } from "@aws-sdk/client-rds-data";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { LOCAL_CREDENTIALS } from "../../local/data-api/index.js";
import { type LocalRuntime, startLocalRuntime } from "../../local/runtime.js";
import { signedPost, startTestShards, TEST_REGION, type TestShards } from "../helpers/data-api.js";

let shards: TestShards;
let cluster: { resourceArn: string; secretArn: string };

beforeAll(async () => {
  shards = await startTestShards(inject("postgres"), "local_trust");
  const first = shards.clusters[0];
  if (!first) throw new Error("no cluster");
  cluster = { resourceArn: first.resourceArn, secretArn: first.secretArn };
});

afterAll(async () => {
  await shards?.stop();
});

const errorType = (response: Response) => response.headers.get("x-amzn-errortype")?.split(":")[0];
const statement = (sql: string) => JSON.stringify({ ...cluster, sql });

describe("the local Data API endpoint verifies SigV4", () => {
  it("refuses an unsigned request with 403 MissingAuthenticationTokenException, and runs nothing", async () => {
    const response = await fetch(`${shards.endpoint.url}/Execute`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: statement("CREATE TABLE unsigned_was_here (id int)"),
    });
    expect([response.status, errorType(response)]).toEqual([403, "MissingAuthenticationTokenException"]);
    expect(await response.json()).toEqual({ message: "Missing Authentication Token" });
    const check = await signedPost(
      `${shards.endpoint.url}/Execute`,
      statement("SELECT to_regclass('unsigned_was_here') IS NULL AS absent"),
    );
    expect(((await check.json()) as { records: unknown }).records).toEqual([[{ booleanValue: true }]]);
  });

  it("refuses another access key with 403 UnrecognizedClientException, through the real SDK", async () => {
    const stranger = new RDSDataClient({
      endpoint: shards.endpoint.url,
      region: TEST_REGION,
      credentials: { accessKeyId: "AKIASTRANGER", secretAccessKey: "local" },
      maxAttempts: 1,
    });
    const error = await stranger
      .send(new ExecuteStatementCommand({ ...cluster, sql: "SELECT 1" }))
      .catch((e) => e);
    stranger.destroy();
    expect((error as Error).name).toBe("UnrecognizedClientException");
    expect((error as { $metadata: { httpStatusCode: number } }).$metadata.httpStatusCode).toBe(403);
    expect((error as Error).message).toBe("The security token included in the request is invalid.");
  });

  it("refuses a wrong secret key, and a body changed after signing, with 403 InvalidSignatureException", async () => {
    const wrongSecret = await signedPost(`${shards.endpoint.url}/Execute`, statement("SELECT 1"), {
      credentials: { accessKeyId: LOCAL_CREDENTIALS.accessKeyId, secretAccessKey: "guess" },
    });
    expect([wrongSecret.status, errorType(wrongSecret)]).toEqual([403, "InvalidSignatureException"]);
    expect(((await wrongSecret.json()) as { message: string }).message).toMatch(
      /^The request signature we calculated does not match the signature you provided/,
    );

    const tampered = await signedPost(`${shards.endpoint.url}/Execute`, statement("SELECT 1"), {
      tamperedBody: statement("SELECT 2"),
    });
    expect([tampered.status, errorType(tampered)]).toEqual([403, "InvalidSignatureException"]);
  });

  it("refuses a signature dated more than 15 minutes ago with 403 InvalidSignatureException", async () => {
    const response = await signedPost(`${shards.endpoint.url}/Execute`, statement("SELECT 1"), {
      date: new Date(Date.now() - 16 * 60 * 1000),
    });
    expect([response.status, errorType(response)]).toEqual([403, "InvalidSignatureException"]);
    expect(((await response.json()) as { message: string }).message).toMatch(/^Signature expired/);
  });

  it("accepts what the SDK signs with the local credentials", async () => {
    const out = await shards.client.send(new ExecuteStatementCommand({ ...cluster, sql: "SELECT 1 AS one" }));
    expect(out.records).toEqual([[{ longValue: 1 }]]);
  });
});

describe("the local Data API endpoint refuses browsers", () => {
  it("refuses a cross-site text/plain POST (no preflight needed) before reading it: 403, nothing runs", async () => {
    const response = await fetch(`${shards.endpoint.url}/Execute`, {
      method: "POST",
      headers: {
        "content-type": "text/plain",
        origin: "https://evil.example",
        "sec-fetch-site": "cross-site",
      },
      body: statement("COPY (SELECT 1) TO PROGRAM 'touch /tmp/pwned'"),
    });
    expect([response.status, errorType(response)]).toEqual([403, "AccessDeniedException"]);
    expect(response.headers.get("access-control-allow-origin")).toBeNull();
  });

  it("refuses a signed request that carries an Origin: no page may use the endpoint", async () => {
    const response = await signedPost(`${shards.endpoint.url}/Execute`, statement("SELECT 1"), {
      headers: { origin: "http://localhost:8080" },
    });
    expect([response.status, errorType(response)]).toEqual([403, "AccessDeniedException"]);
  });
});

describe("the local runtime", () => {
  let runtime: LocalRuntime;
  const saved: Record<string, string | undefined> = {};
  const userCredentials = {
    AWS_ACCESS_KEY_ID: "AKIAUSERSOWNKEY",
    AWS_SECRET_ACCESS_KEY: "users-own-secret",
    AWS_SESSION_TOKEN: "users-own-session-token",
  };

  beforeAll(async () => {
    for (const [name, value] of Object.entries(userCredentials)) {
      saved[name] = process.env[name];
      process.env[name] = value;
    }
    runtime = await startLocalRuntime({ postgres: inject("postgres"), prefix: "local_trust_rt" });
  });

  afterAll(async () => {
    await runtime?.stop();
    for (const [name, value] of Object.entries(saved)) {
      if (value === undefined) delete process.env[name];
      else process.env[name] = value;
    }
  });

  it("signs with the local credentials, whatever AWS credentials the user's environment holds", async () => {
    const response = await fetch(`${runtime.url}/data?limit=3`);
    const body = (await response.json()) as { items: unknown[]; shards: { status: string }[] };
    expect(body.shards.map((s) => s.status)).toEqual(["ok", "ok", "ok"]);
    expect(body.items).toHaveLength(3);
    expect(process.env.AWS_ACCESS_KEY_ID).toBe(userCredentials.AWS_ACCESS_KEY_ID);
  });

  it("listens on 127.0.0.1 only: the API and every Data API endpoint", () => {
    expect(new URL(runtime.url).hostname).toBe("127.0.0.1");
    for (const shard of runtime.shards) expect(new URL(shard.endpoint.url).hostname).toBe("127.0.0.1");
  });

  it("/_local/faults takes only application/json: a text/plain PUT is a 415 and changes nothing", async () => {
    const response = await fetch(`${runtime.url}/_local/faults/2`, {
      method: "PUT",
      headers: { "content-type": "text/plain" },
      body: JSON.stringify({ fault: "down" }),
    });
    expect(response.status).toBe(415);
    expect(runtime.shards[1]?.endpoint.fault).toBeUndefined();
  });

  it("/_local/faults refuses cross-site requests and sends no CORS headers, not even to a preflight", async () => {
    const crossSite = await fetch(`${runtime.url}/_local/faults/2`, {
      method: "PUT",
      headers: {
        "content-type": "application/json",
        origin: "https://evil.example",
        "sec-fetch-site": "cross-site",
      },
      body: JSON.stringify({ fault: "down" }),
    });
    expect(crossSite.status).toBe(403);
    expect(runtime.shards[1]?.endpoint.fault).toBeUndefined();
    const preflight = await fetch(`${runtime.url}/_local/faults/2`, {
      method: "OPTIONS",
      headers: {
        origin: "https://evil.example",
        "access-control-request-method": "PUT",
        "access-control-request-headers": "content-type",
      },
    });
    const listing = await fetch(`${runtime.url}/_local/faults`);
    for (const response of [crossSite, preflight, listing]) {
      expect([...response.headers.keys()].filter((h) => h.startsWith("access-control-"))).toEqual([]);
    }
    expect(listing.status).toBe(200);
    // The API itself still allows any origin: it is a public read API.
    const data = await fetch(`${runtime.url}/health`);
    expect(data.headers.get("access-control-allow-origin")).toBe("*");
  });

  it("/_local/faults still works for curl and scripts (no Origin), and from its own origin", async () => {
    const set = await fetch(`${runtime.url}/_local/faults/3`, {
      method: "PUT",
      headers: { "content-type": "application/json", origin: runtime.url, "sec-fetch-site": "same-origin" },
      body: JSON.stringify({ fault: "error" }),
    });
    expect(set.status).toBe(200);
    expect(runtime.shards[2]?.endpoint.fault).toEqual({ mode: "error" });
    const cleared = await fetch(`${runtime.url}/_local/faults`, { method: "DELETE" });
    expect(cleared.status).toBe(200);
    expect(runtime.shards[2]?.endpoint.fault).toBeUndefined();
  });
});
