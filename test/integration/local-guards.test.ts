/**
 * Issue 22, findings 5, 6 and 7: every local listener (the API server, every route; each Data API endpoint) answers
 * only requests addressed to a loopback name (DNS rebinding); the local API refuses writes a browser sends for
 * another site's page and keeps reads open to every origin; a Data API endpoint decides what the headers alone can
 * decide (host, browser, signature's headers, size) before it reads any of the body, and caps its connections.
 */
import { request as httpRequest } from "node:http";
import { connect, type Socket } from "node:net";
import { Logger } from "@aws-lambda-powertools/logger";
import { SignatureV4 } from "@smithy/signature-v4";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { LOCAL_CREDENTIALS, Sha256, startDataApiEndpoint } from "../../local/data-api/index.js";
import { type LocalRuntime, startLocalRuntime } from "../../local/runtime.js";
import { request } from "../helpers/api-client.js";
import { startTestShards, TEST_REGION, type TestShards } from "../helpers/data-api.js";
import { eventually } from "../helpers/wait.js";

let runtime: LocalRuntime;
let shards: TestShards;

beforeAll(async () => {
  [runtime, shards] = await Promise.all([
    startLocalRuntime({
      postgres: inject("postgres"),
      prefix: "local_guards",
      logger: new Logger({ serviceName: "local-guards", logLevel: "CRITICAL" }),
    }),
    startTestShards(inject("postgres"), "local_guards_dapi"),
  ]);
});

afterAll(async () => {
  await runtime?.stop();
  await shards?.stop();
});

interface Raw {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: string;
}

/** A request with any headers, `host` included (fetch cannot set it). */
function raw(
  url: string,
  opts: { method?: string; headers?: Record<string, string>; body?: string } = {},
): Promise<Raw> {
  const target = new URL(url);
  return new Promise((resolve, reject) => {
    const req = httpRequest(
      {
        host: target.hostname,
        port: target.port,
        path: `${target.pathname}${target.search}`,
        method: opts.method ?? "GET",
        headers: opts.headers,
        agent: false,
      },
      (res) => {
        let body = "";
        res.on("data", (c: Buffer) => {
          body += c.toString("utf8");
        });
        res.on("end", () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }));
      },
    );
    req.on("error", reject);
    req.end(opts.body);
  });
}

const errorCode = (r: Raw) => (JSON.parse(r.body) as { error: { code: string } }).error.code;
/** The row's name as the API reads it now. */
async function rowName(id: number): Promise<string | undefined> {
  return (await request(runtime.url, `/data/${id}`)).body?.item?.name;
}

describe("DNS rebinding: every local listener answers only loopback host names", () => {
  const evil = () => `evil.example:${new URL(runtime.url).port}`;

  it("the API refuses a read and a write addressed to another name, and writes nothing", async () => {
    const read = await raw(`${runtime.url}/data/3`, { headers: { host: evil() } });
    expect([read.status, errorCode(read)]).toEqual([403, "host_refused"]);
    const write = await raw(`${runtime.url}/data/3`, {
      method: "PUT",
      headers: { host: evil(), origin: `http://${evil()}`, "content-type": "application/json" },
      body: JSON.stringify({ name: "rebound" }),
    });
    expect([write.status, errorCode(write)]).toEqual([403, "host_refused"]);
    expect(await rowName(3)).toBe("Test 3");
  });

  it("the fault route refuses PUT /_local/faults/2 with Host evil.example and a matching Origin", async () => {
    const put = await raw(`${runtime.url}/_local/faults/2`, {
      method: "PUT",
      headers: { host: evil(), origin: `http://${evil()}`, "content-type": "application/json" },
      body: JSON.stringify({ fault: "down" }),
    });
    expect(put.status).toBe(403);
    expect(runtime.shards[1]?.endpoint.fault).toBeUndefined();
  });

  it("the API still answers localhost, 127.0.0.1 and [::1]-named requests", async () => {
    const port = new URL(runtime.url).port;
    for (const host of [`localhost:${port}`, `127.0.0.1:${port}`, `[::1]:${port}`]) {
      expect((await raw(`${runtime.url}/health`, { headers: { host } })).status).toBe(200);
    }
  });

  it("a Data API endpoint refuses a correctly signed request addressed to another name", async () => {
    const cluster = shards.clusters[0];
    const url = new URL(`${shards.endpoint.url}/Execute`);
    const host = `evil.example:${url.port}`;
    const body = JSON.stringify({
      resourceArn: cluster?.resourceArn,
      secretArn: cluster?.secretArn,
      sql: "SELECT 1",
    });
    const signer = new SignatureV4({
      service: "rds-data",
      region: TEST_REGION,
      credentials: LOCAL_CREDENTIALS,
      sha256: Sha256,
    });
    const signed = await signer.sign({
      method: "POST",
      protocol: "http:",
      hostname: "evil.example",
      port: Number(url.port),
      path: "/Execute",
      query: {},
      headers: { host, "content-type": "application/json" },
      body,
    });
    const answer = await raw(url.href, {
      method: "POST",
      headers: signed.headers as Record<string, string>,
      body,
    });
    expect(answer.status).toBe(403);
    expect(String(answer.headers["x-amzn-errortype"]).split(":")[0]).toBe("AccessDeniedException");
  });
});

describe("cross-site writes from browsers", () => {
  const crossSite = { origin: "https://evil.example", "sec-fetch-site": "cross-site" };

  it("refuses a cross-site JSON POST and a cross-site DELETE: 403 cross_site_refused, nothing written", async () => {
    const post = await request(runtime.url, "/data", {
      method: "POST",
      body: { id: 1_000_001, name: "from a page" },
      headers: crossSite,
    });
    expect([post.status, post.body?.error?.code]).toEqual([403, "cross_site_refused"]);
    const del = await request(runtime.url, "/data/4", { method: "DELETE", headers: crossSite });
    expect([del.status, del.body?.error?.code]).toEqual([403, "cross_site_refused"]);
    expect(await rowName(4)).toBe("Test 4");
    // An older browser sends Origin only.
    const put = await request(runtime.url, "/data/4", {
      method: "PUT",
      body: { name: "from a page" },
      headers: { origin: "https://evil.example" },
    });
    expect(put.status).toBe(403);
    expect(await rowName(4)).toBe("Test 4");
  });

  it("keeps cross-site reads as they are: 200 with access-control-allow-origin *", async () => {
    const read = await request(runtime.url, "/data/5", { headers: crossSite });
    expect(read.status).toBe(200);
    expect(read.headers.get("access-control-allow-origin")).toBe("*");
  });

  it("takes writes from curl and scripts (no Origin) and from the API's own origin", async () => {
    const own = await request(runtime.url, "/data/6", {
      method: "PUT",
      body: { name: "same origin" },
      headers: { origin: runtime.url, "sec-fetch-site": "same-origin" },
    });
    expect(own.status).toBe(200);
    const script = await request(runtime.url, "/data/6", { method: "PUT", body: { name: "Test 6" } });
    expect(script.status).toBe(200);
    expect(await rowName(6)).toBe("Test 6");
  });
});

/**
 * A request line and headers whose signature's headers pass every check the headers alone decide (the local access
 * key, this service, a current date): only the body could still fail it.
 */
function signedHead(contentLength: number): string {
  const date = new Date().toISOString().replace(/[-:]|\.\d{3}/g, "");
  return (
    "POST /Execute HTTP/1.1\r\nhost: 127.0.0.1\r\ncontent-type: application/json\r\n" +
    `x-amz-date: ${date}\r\n` +
    `authorization: AWS4-HMAC-SHA256 Credential=${LOCAL_CREDENTIALS.accessKeyId}/${date.slice(0, 8)}/${TEST_REGION}/rds-data/aws4_request, SignedHeaders=host;x-amz-date, Signature=${"0".repeat(64)}\r\n` +
    `content-length: ${contentLength}\r\n\r\n`
  );
}

/** Sends raw bytes on a new connection; resolves with whatever the server answered once it answers or closes. */
function openRaw(port: number): { socket: Socket; answer: Promise<string> } {
  const socket = connect({ host: "127.0.0.1", port });
  socket.on("error", () => undefined);
  const answer = new Promise<string>((resolve) => {
    let text = "";
    socket.on("data", (c: Buffer) => {
      text += c.toString("latin1");
      if (text.includes("\r\n\r\n")) resolve(text);
    });
    socket.on("close", () => resolve(text));
  });
  return { socket, answer };
}

describe("a Data API endpoint reads no body it would refuse", () => {
  it("answers an unsigned request with a 4 MiB body before the body arrives", async () => {
    const { socket, answer } = openRaw(shards.endpoint.port);
    socket.write(
      "POST /Execute HTTP/1.1\r\nhost: 127.0.0.1\r\ncontent-type: application/json\r\n" +
        `content-length: ${4 * 1024 * 1024 - 1024}\r\n\r\n{"sql":"`,
    );
    // Only a few bytes of the body are ever sent: the answer cannot wait for the rest.
    const text = await answer;
    socket.destroy();
    expect(text).toMatch(/^HTTP\/1\.1 403 /);
    expect(text).toMatch(/x-amzn-errortype: MissingAuthenticationTokenException/i);
  });

  it("refuses a signed request whose declared body would pass 4 MiB with its headers, before reading it", async () => {
    const { socket, answer } = openRaw(shards.endpoint.port);
    socket.write(signedHead(4 * 1024 * 1024));
    socket.write("{");
    const text = await answer;
    socket.destroy();
    expect(text).toMatch(/^HTTP\/1\.1 400 /);
    expect(text).toMatch(/x-amzn-errortype: BadRequestException/i);
  });

  it("caps its connections: one over the cap is closed as it arrives", async () => {
    const capped = await startDataApiEndpoint({
      postgres: inject("postgres"),
      clusters: shards.clusters,
      maxConnections: 2,
    });
    const held: Socket[] = [];
    try {
      // Two requests whose bodies never come: the endpoint holds both connections.
      for (let i = 0; i < 2; i++) {
        const { socket } = openRaw(capped.port);
        held.push(socket);
        socket.write(signedHead(10));
      }
      expect(await eventually(() => capped.pending === 2)).toBe(true);
      const extra = openRaw(capped.port);
      held.push(extra.socket);
      extra.socket.write("POST /Execute HTTP/1.1\r\nhost: 127.0.0.1\r\ncontent-length: 0\r\n\r\n");
      expect(await extra.answer).toBe("");
      expect(capped.requests).toBe(2);
    } finally {
      for (const s of held) s.destroy();
      await capped.stop();
    }
  });
});
