/**
 * Large request bodies: the local API server stops reading a body once it passes the app's 16 KiB limit and
 * answers `413 body_too_large` at once, so memory stays flat under many concurrent large uploads and the server keeps
 * answering everyone else.
 */
import { request } from "node:http";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { MAX_BODY_BYTES } from "../../functions/http/body.js";
import type { LocalRuntime } from "../../local/runtime.js";
import { collectGarbage, startRuntime } from "../helpers/reliability-runtime.js";

const UPLOADS = 100;
const UPLOAD_BYTES = 9.9 * 1000 * 1000;
/** One shared chunk, written again and again: the client itself holds 1 MiB whatever it sends. */
const CHUNK = Buffer.alloc(1024 * 1024, "x");

let runtime: LocalRuntime;

beforeAll(async () => {
  runtime = await startRuntime("bodies");
});

afterAll(async () => {
  await runtime?.stop();
});

interface Upload {
  readonly status: number;
  readonly code: string | undefined;
  /** From the request's start to the response's headers. */
  readonly ms: number;
}

/**
 * POSTs `bytes` (with a content-length, or chunked when `chunked`) and resolves with the answer as soon as it
 * arrives, whether or not the body was all sent; a connection the server cuts after answering is not an error.
 */
function upload(bytes: number, opts: { chunked?: boolean; endBody?: boolean } = {}): Promise<Upload> {
  const url = new URL(runtime.url);
  return new Promise((resolve, reject) => {
    const started = performance.now();
    const headers: Record<string, string> = { "content-type": "application/json" };
    if (!opts.chunked) headers["content-length"] = String(bytes);
    const req = request({
      host: url.hostname,
      port: url.port,
      method: "POST",
      path: "/data",
      headers,
      agent: false,
    });
    let answered = false;
    req.on("response", (res) => {
      answered = true;
      const ms = performance.now() - started;
      const chunks: Buffer[] = [];
      res.on("data", (c: Buffer) => chunks.push(c));
      res.on("end", () => {
        const body = JSON.parse(Buffer.concat(chunks).toString("utf8") || "{}") as {
          error?: { code?: string };
        };
        resolve({ status: res.statusCode ?? 0, code: body.error?.code, ms });
        req.destroy();
      });
    });
    req.on("error", (error) => {
      if (!answered) reject(error);
    });
    let sent = 0;
    const write = () => {
      while (sent < bytes && !req.destroyed) {
        const piece = CHUNK.subarray(0, Math.min(CHUNK.length, bytes - sent));
        sent += piece.length;
        if (!req.write(piece)) {
          req.once("drain", write);
          return;
        }
      }
      if (opts.endBody !== false && !req.destroyed) req.end();
    };
    write();
  });
}

describe("the local API server with bodies over the app's limit", () => {
  it("answers 413 body_too_large at once to a chunked body it has not finished receiving", async () => {
    // The body never ends: a server that reads it to the end before answering never answers.
    const answer = await upload(64 * 1024, { chunked: true, endBody: false });
    expect([answer.status, answer.code]).toEqual([413, "body_too_large"]);
  });

  it("answers 413 body_too_large to a 9.9 MB body sent with its content-length", async () => {
    const answer = await upload(UPLOAD_BYTES);
    expect([answer.status, answer.code]).toEqual([413, "body_too_large"]);
  });

  it("still takes a body of exactly the limit", async () => {
    const answer = await upload(MAX_BODY_BYTES);
    // Not a 413: the body is read and judged by the app (here: not valid JSON).
    expect([answer.status, answer.code]).toEqual([400, "invalid_json"]);
  });

  it(`keeps RSS flat under ${UPLOADS} concurrent ${UPLOAD_BYTES / 1e6} MB uploads, and /health answers meanwhile`, async () => {
    await collectGarbage();
    const before = process.memoryUsage().rss;
    let peak = before;
    const sampler = setInterval(() => {
      peak = Math.max(peak, process.memoryUsage().rss);
    }, 10);
    const uploads = Promise.all(Array.from({ length: UPLOADS }, () => upload(UPLOAD_BYTES)));
    const healthStarted = performance.now();
    const health = await fetch(`${runtime.url}/health`);
    const healthMs = performance.now() - healthStarted;
    const answers = await uploads;
    clearInterval(sampler);
    const growthMb = (peak - before) / 1e6;
    console.log(
      `${UPLOADS} x ${UPLOAD_BYTES / 1e6} MB uploads: peak RSS growth ${growthMb.toFixed(1)} MB ` +
        `(RSS ${(before / 1e6).toFixed(0)} -> peak ${(peak / 1e6).toFixed(0)} MB); /health in ${healthMs.toFixed(0)} ms; ` +
        `slowest 413 after ${Math.max(...answers.map((a) => a.ms)).toFixed(0)} ms`,
    );
    expect(answers.every((a) => a.status === 413 && a.code === "body_too_large")).toBe(true);
    expect(health.status).toBe(200);
    // Before the fix each upload was buffered whole: about 1 GB of growth for these 990 MB.
    expect(growthMb).toBeLessThan(100);
  });
});
