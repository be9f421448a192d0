/**
 * `openapi.yaml` is the API's contract: it must be a sound OpenAPI 3.1 document that lists exactly the routes the
 * router serves, and every response the running API gives must match it, status by status.
 */
import { request as httpRequest } from "node:http";
import { afterAll, afterEach, beforeAll, describe, expect, inject, it, vi } from "vitest";
import type { ListResult } from "../../functions/core/sharded-table.js";
import { MAX_BODY_BYTES } from "../../functions/http/body.js";
import { Router } from "../../functions/http/router.js";
import { createRoutes } from "../../functions/http/routes.js";
import { ROUTES } from "../../infra/constructs/api.js";
import type { Fault } from "../../local/faults.js";
import { type LocalRuntime, startLocalRuntime } from "../../local/runtime.js";
import { BREAKER_OFF } from "../helpers/api-client.js";
import {
  ContractSchemas,
  collectRefs,
  collectSchemas,
  contract,
  deref,
  documentedStatuses,
  expectMatchesContract,
  observedStatuses,
  operations,
  resolvePointer,
  schemaErrors,
} from "../helpers/openapi-contract.js";

type ErrorBody = { error: { code: string; message: string } };
type ReportBody = { shard: number; status: string; error?: string };
type GetBody = { item: { id: number; name: string | null }; shard: number };
type NotFoundBody = ErrorBody & { shard?: number; shards?: ReportBody[] };

const JSON_TYPE = { "content-type": "application/json" };

let runtime: LocalRuntime;

beforeAll(async () => {
  runtime = await startLocalRuntime({
    postgres: inject("postgres"),
    prefix: "openapi",
    shardTimeoutMs: 300,
    env: BREAKER_OFF,
  });
});

afterEach(async () => {
  for (const shard of runtime?.shards ?? []) await runtime.setFault(shard.id, undefined);
});

afterAll(async () => {
  await runtime?.stop();
});

/** Sends a request to the local runtime and checks the response against the contract of `template`. */
async function call<T = unknown>(
  method: string,
  template: string,
  path: string,
  init: { body?: string | Uint8Array; headers?: Record<string, string> } = {},
): Promise<{ res: Response; body: T }> {
  const res = await fetch(`${runtime.url}${path}`, { method, ...init });
  const text = await res.text();
  const body = (text === "" ? undefined : JSON.parse(text)) as T;
  expectMatchesContract(method, template, res, body);
  return { res, body };
}

/** A request with any method and body (fetch refuses a body on GET), as a fetch `Response`. */
function rawRequest(
  method: string,
  path: string,
  body: string,
  headers: Record<string, string>,
): Promise<Response> {
  return new Promise((resolve, reject) => {
    // Node sends no length for a GET, DELETE or OPTIONS body unless told: say how long it is, as clients do.
    const length = { "content-length": String(Buffer.byteLength(body)) };
    const req = httpRequest(
      `${runtime.url}${path}`,
      { method, headers: { ...headers, ...length } },
      (res) => {
        const chunks: Buffer[] = [];
        res.on("data", (c: Buffer) => chunks.push(c));
        res.on("end", () => {
          const responseHeaders = new Headers();
          for (const [name, value] of Object.entries(res.headers)) {
            if (typeof value === "string") responseHeaders.set(name, value);
          }
          resolve(
            new Response(Buffer.concat(chunks), { status: res.statusCode ?? 0, headers: responseHeaders }),
          );
        });
      },
    );
    // The server may answer and close before reading the whole body.
    req.on("error", reject);
    req.end(body);
  });
}

const send = (method: string, template: string, path: string, body: unknown) =>
  call<ErrorBody>(method, template, path, { body: JSON.stringify(body), headers: JSON_TYPE });

async function withFault<T>(shard: number, fault: Fault, run: () => Promise<T>): Promise<T> {
  await runtime.setFault(shard, fault);
  try {
    return await run();
  } finally {
    await runtime.setFault(shard, undefined);
  }
}

/** The routes the router registers, captured from `createRoutes` itself. */
function routerRoutes(): string[] {
  const on = vi.spyOn(Router.prototype, "on");
  try {
    createRoutes({} as Parameters<typeof createRoutes>[0]);
    return on.mock.calls.map(([method, pattern]) => `${method} ${pattern}`).sort();
  } finally {
    on.mockRestore();
  }
}

describe("the OpenAPI document", () => {
  it("declares OpenAPI 3.1 with a title, a version and the local and API Gateway servers", () => {
    expect(contract.openapi).toMatch(/^3\.1\.\d+$/);
    const info = contract.info as { title?: string; version?: string };
    expect(info.title).toBeTruthy();
    expect(info.version).toBeTruthy();
    const servers = contract.servers as { url: string; variables?: Record<string, { default: string }> }[];
    expect(servers.map((s) => s.url)).toContain("http://127.0.0.1:3000");
    const gateway = servers.find((s) => s.url.includes("execute-api"));
    for (const name of gateway?.url.match(/\{(\w+)\}/g) ?? []) {
      expect(gateway?.variables?.[name.slice(1, -1)]?.default, name).toBeTruthy();
    }
    expect(gateway?.url).toMatch(/^https:\/\/\{apiId\}\.execute-api\.\{region\}\.amazonaws\.com$/);
  });

  it("resolves every $ref inside the document", () => {
    const refs = collectRefs(contract);
    expect(refs.length).toBeGreaterThan(50);
    const broken = refs.filter(({ ref }) => resolvePointer(contract, ref) === undefined);
    expect(broken).toEqual([]);
  });

  it("documents exactly the routes the router serves", () => {
    const documented = operations(contract)
      .map((o) => `${o.method} ${o.path}`)
      .sort();
    expect(documented).toEqual(routerRoutes());
  });

  it("gives every operation a unique operationId, declared path parameters and described responses", () => {
    const ops = operations(contract);
    const ids = ops.map((o) => o.op.operationId);
    expect(new Set(ids).size).toBe(ops.length);
    for (const { method, path, op } of ops) {
      const item = deref(contract, (contract.paths as Record<string, unknown>)[path]);
      const params = [...((item.parameters as unknown[]) ?? []), ...((op.parameters as unknown[]) ?? [])].map(
        (p) => deref(contract, p),
      );
      for (const name of path.match(/\{(\w+)\}/g) ?? []) {
        const param = params.find((p) => p.in === "path" && `{${p.name}}` === name);
        expect(param?.required, `${method} ${path} ${name}`).toBe(true);
      }
      for (const [status, response] of Object.entries(deref(contract, op.responses))) {
        expect(deref(contract, response).description, `${method} ${path} ${status}`).toBeTruthy();
      }
    }
  });

  it("requires SigV4 on exactly the routes the stack puts behind IAM, with the scheme AWS documents", () => {
    const scheme = deref(contract, { $ref: "#/components/securitySchemes/sigv4" });
    expect(scheme).toMatchObject({
      type: "apiKey",
      in: "header",
      name: "Authorization",
      "x-amazon-apigateway-authtype": "awsSigv4",
    });
    expect(contract.security).toBeUndefined();
    const signed = (o: { op: Record<string, unknown> }) =>
      JSON.stringify(o.op.security ?? []) === JSON.stringify([{ sigv4: [] }]);
    const documented = operations(contract).map(
      (o) => `${o.method} ${o.path} ${signed(o) ? "write" : "read"}`,
    );
    expect(documented.sort()).toEqual(
      ROUTES.map((r) => `${r.method} ${r.path} ${r.auth === "iam" ? "write" : "read"}`).sort(),
    );
  });

  it("compiles every schema with Ajv 2020-12 in strict mode", () => {
    const compiler = new ContractSchemas(contract);
    const found = collectSchemas(contract);
    expect(found.length).toBeGreaterThan(40);
    const failures = found.flatMap(({ at, schema }) => {
      try {
        compiler.compile(schema);
        return [];
      } catch (err) {
        return [`${at}: ${(err as Error).message}`];
      }
    });
    expect(failures).toEqual([]);
  });

  it("has examples that match their own schemas", () => {
    const mediaTypes: { at: string; media: Record<string, unknown> }[] = [];
    const walk = (value: unknown, at: string) => {
      if (typeof value !== "object" || value === null) return;
      for (const [key, child] of Object.entries(value)) {
        if (key === "content" && typeof child === "object" && child !== null) {
          for (const [type, media] of Object.entries(child as Record<string, Record<string, unknown>>)) {
            mediaTypes.push({ at: `${at}/${type}`, media });
          }
        } else walk(child, `${at}/${key}`);
      }
    };
    walk(contract, "#");
    const compiler = new ContractSchemas(contract);
    const failures: string[] = [];
    let checked = 0;
    for (const { at, media } of mediaTypes) {
      const validate = compiler.compile(media.schema);
      const examples = Object.entries((media.examples ?? {}) as Record<string, { value: unknown }>).map(
        ([name, e]) => [name, e.value] as const,
      );
      if ("example" in media) examples.push(["example", media.example]);
      for (const [name, value] of examples) {
        checked++;
        if (!validate(value)) failures.push(`${at} ${name}: ${compiler.ajv.errorsText(validate.errors)}`);
      }
    }
    expect(checked).toBeGreaterThan(15);
    expect(failures).toEqual([]);
  });

  it("describes the pagination rules: next, partial pages and limit + 1 rows per shard", () => {
    const list = operations(contract).find((o) => o.method === "GET" && o.path === "/data");
    const text = String(list?.op.description);
    expect(text).toContain("`limit + 1`");
    expect(text).toContain("`next`");
    expect(text).toContain("`partial`");
    expect(text).toContain("`after`");
  });
});

describe("the request body schemas", () => {
  // Ids outside the shard map: a body the API accepts then fails with 422, so nothing is written.
  const bodies: [string, unknown][] = [
    ["a plain row", { id: 5000, name: "Five thousand" }],
    ["a 255-character name", { id: 5000, name: "x".repeat(255) }],
    ["a 255-character name of astral characters", { id: 5000, name: "😀".repeat(255) }],
    ["a name with inner spaces", { id: 5000, name: " a b " }],
    ["a 256-character name", { id: 5000, name: "x".repeat(256) }],
    ["a blank name", { id: 5000, name: " \t" }],
    ["an empty name", { id: 5000, name: "" }],
    ["a null name", { id: 5000, name: null }],
    ["a name holding NUL", { id: 5000, name: "a\u0000b" }],
    ["a name holding an unpaired surrogate", { id: 5000, name: "a\uD800b" }],
    ["a missing name", { id: 5000 }],
    ["a missing id", { name: "x" }],
    ["a fractional id", { id: 1.5, name: "x" }],
    ["an id over 32 bits", { id: 2 ** 31, name: "x" }],
    ["a string id", { id: "5000", name: "x" }],
    ["an unknown field", { id: 5000, name: "x", extra: 1 }],
  ];

  it.each(bodies)("agree with POST /data on %s", async (_, body) => {
    const { res } = await send("POST", "/data", "/data", body);
    const accepted = res.status !== 400;
    expect(accepted ? [422] : [400]).toContain(res.status);
    expect(schemaErrors("CreateRow", body) === null).toBe(accepted);
  });

  it.each([
    ["a name alone", { name: "x" }, true],
    ["a name and the path id", { id: 5000, name: "x" }, true],
    ["an unknown field", { name: "x", extra: 1 }, false],
    ["a missing name", { id: 5000 }, false],
  ] as const)("agree with PUT /data/{id} on %s", async (_, body, valid) => {
    const { res } = await send("PUT", "/data/{id}", "/data/5000", body);
    expect(res.status).toBe(valid ? 422 : 400);
    expect(schemaErrors("ReplaceRow", body) === null).toBe(valid);
  });
});

describe("responses of the running API match the contract", () => {
  it("GET /health", async () => {
    const { body } = await call("GET", "/health", "/health");
    expect(body).toEqual({ status: "ok" });
  });

  it("GET /data with every shard healthy, page by page", async () => {
    const first = await call<ListResult>("GET", "/data", "/data?limit=3");
    expect(first.body.items.map((r) => r.id)).toEqual([1, 2, 3]);
    expect(first.body).toMatchObject({ next: 3, partial: false });
    const last = await call<ListResult>("GET", "/data", "/data?after=55");
    expect(last.body.items.map((r) => r.id)).toEqual([56, 57, 58, 59, 60]);
    expect(last.body.next).toBeNull();
    await call("GET", "/data", "/data");
  });

  it("GET /data with a range that skips shards", async () => {
    const { body } = await call<ListResult>("GET", "/data", "/data?from=12&to=18");
    expect(body.shards.map((s) => s.status)).toEqual(["skipped", "ok", "skipped"]);
  });

  it.each([
    ["hang", { mode: "hang" }, "timeout", undefined],
    ["down", { mode: "down" }, "error", "ECONNREFUSED"],
    ["error", { mode: "error" }, "error", "InternalServerErrorException"],
    ["resuming", { mode: "resuming" }, "error", "DatabaseResumingException"],
  ] as const)("GET /data with shard 2 %s is a partial 200", async (_, fault, status, error) => {
    const { body } = await withFault(2, fault, () => call<ListResult>("GET", "/data", "/data?limit=5"));
    expect(body.partial).toBe(true);
    expect(body.shards[1]).toMatchObject({ shard: 2, status, ...(error ? { error } : {}) });
    expect(body.items.map((r) => r.id)).toEqual([1, 2, 3, 4, 5]);
  });

  it.each([
    "/data?size=3",
    "/data?limit=0",
    "/data?limit=1001",
    "/data?limit=1e3",
    "/data?after=x",
    "/data?from=20&to=10",
    "/data?limit=1&limit=2",
  ])("GET %s is a 400", async (path) => {
    const { res, body } = await call<ErrorBody>("GET", "/data", path);
    expect(res.status).toBe(400);
    expect(body.error.code).toBe("invalid_query");
  });

  it("GET /data/{id} of a seeded row", async () => {
    const { body } = await call<GetBody>("GET", "/data/{id}", "/data/42");
    expect(body).toEqual({ item: { id: 42, name: "Test 42" }, shard: 2 });
  });

  it("GET /data/{id} of an absent row and of an id outside the map are 404s; of a row whose shard fails, 503", async () => {
    await call("DELETE", "/data/{id}", "/data/33");
    const absent = await call<NotFoundBody>("GET", "/data/{id}", "/data/33");
    expect(absent.res.status).toBe(404);
    expect(absent.body.shards).toEqual([expect.objectContaining({ shard: 1, status: "ok" })]);

    // Unknown is not absent: a shard that failed is a 503 with its report, never a 404.
    const failed = await withFault(2, { mode: "down" }, () =>
      call<NotFoundBody>("GET", "/data/{id}", "/data/42"),
    );
    expect(failed.res.status).toBe(503);
    expect(failed.res.headers.get("retry-after")).toBe("1");
    expect(failed.body.error.code).toBe("shard_unavailable");
    expect(failed.body.shards).toEqual([expect.objectContaining({ shard: 2, status: "error" })]);

    const hung = await withFault(2, { mode: "hang" }, () =>
      call<NotFoundBody>("GET", "/data/{id}", "/data/42"),
    );
    expect(hung.res.status).toBe(503);
    expect(hung.body.shards).toEqual([expect.objectContaining({ shard: 2, status: "timeout" })]);

    const outside = await call<NotFoundBody>("GET", "/data/{id}", "/data/1000");
    expect(outside.res.status).toBe(404);
    expect(outside.body).toEqual({ error: { code: "id_out_of_range", message: expect.any(String) } });
  });

  it.each(["/data/abc", "/data/1.5", "/data/+1", "/data/2147483648"])("GET %s is a 400", async (path) => {
    const { res } = await call("GET", "/data/{id}", path);
    expect(res.status).toBe(400);
  });

  it("POST /data creates a row with a location, then PUT replaces it and DELETE removes it", async () => {
    await call("DELETE", "/data/{id}", "/data/7");
    const created = await send("POST", "/data", "/data", { id: 7, name: "Seven" });
    expect(created.res.status).toBe(201);
    expect(created.res.headers.get("location")).toBe("/data/7");
    expect(created.body).toEqual({ item: { id: 7, name: "Seven" }, shard: 1 });

    const replaced = await send("PUT", "/data/{id}", "/data/7", { id: 7, name: "Sieben" });
    expect(replaced.res.status).toBe(200);
    expect(replaced.body).toEqual({ item: { id: 7, name: "Sieben" }, shard: 1 });

    const deleted = await call("DELETE", "/data/{id}", "/data/7");
    expect(deleted.res.status).toBe(204);
    expect(deleted.body).toBeUndefined();
  });

  it("POST /data of an existing id is a 409", async () => {
    const { res, body } = await send("POST", "/data", "/data", { id: 8, name: "Eight" });
    expect(res.status).toBe(409);
    expect(body.error.code).toBe("duplicate_id");
  });

  it.each([
    ["malformed JSON", "{", "invalid_json"],
    ["an array", "[]", "invalid_body"],
    ["an empty body", "", "invalid_body"],
    ["a missing name", '{"id": 9}', "invalid_body"],
  ])("POST /data with %s is a 400", async (_, raw, code) => {
    const { res, body } = await call<ErrorBody>("POST", "/data", "/data", { body: raw, headers: JSON_TYPE });
    expect(res.status).toBe(400);
    expect(body.error.code).toBe(code);
  });

  it("writes with a body over 16 KiB are 413s, up to payloads over API Gateway's 10 MB, with one code", async () => {
    const big = JSON.stringify({ id: 9, name: "x".repeat(MAX_BODY_BYTES) });
    const post = await call<ErrorBody>("POST", "/data", "/data", { body: big, headers: JSON_TYPE });
    expect([post.res.status, post.body.error.code]).toEqual([413, "body_too_large"]);
    const put = await call<ErrorBody>("PUT", "/data/{id}", "/data/9", { body: big, headers: JSON_TYPE });
    expect([put.res.status, put.body.error.code]).toEqual([413, "body_too_large"]);
    const huge = "x".repeat(10 * 1024 * 1024 + 1);
    const refused = await call<ErrorBody>("POST", "/data", "/data", { body: huge, headers: JSON_TYPE });
    expect([refused.res.status, refused.body.error.code]).toEqual([413, "body_too_large"]);
  });

  it("a body over 16 KiB is a 413 on every route, reads, DELETE, OPTIONS and unknown paths included", async () => {
    const big = { body: "x".repeat(MAX_BODY_BYTES + 1), headers: JSON_TYPE };
    for (const [method, template, path] of [
      ["GET", "/health", "/health"],
      ["GET", "/data", "/data"],
      ["GET", "/data/{id}", "/data/42"],
      ["DELETE", "/data/{id}", "/data/42"],
      ["OPTIONS", "/data", "/data"],
      ["GET", "/nope", "/nope"],
    ] as const) {
      // fetch refuses a GET with a body; node:http sends one, as any client may.
      const res = await rawRequest(method, path, big.body, big.headers);
      const text = await res.text();
      const body = JSON.parse(text) as ErrorBody;
      expectMatchesContract(method, template, res, body);
      expect([method, path, res.status, body.error.code]).toEqual([method, path, 413, "body_too_large"]);
    }
  });

  it("writes without a JSON content-type are 415s", async () => {
    const body = JSON.stringify({ id: 9, name: "Nine" });
    const post = await call("POST", "/data", "/data", { body }); // fetch sends text/plain
    expect(post.res.status).toBe(415);
    const untyped = await call("PUT", "/data/{id}", "/data/9", { body: new TextEncoder().encode(body) });
    expect(untyped.res.status).toBe(415);
  });

  it("writes whose body is not valid UTF-8 are 400s, and a charset other than utf-8 is a 415; nothing is stored", async () => {
    // {"id":9,"name":"N\xffne"}: one byte that is no UTF-8 at all.
    const bytes = Buffer.concat([Buffer.from('{"id":9,"name":"N'), Buffer.from([0xff]), Buffer.from('ne"}')]);
    await call("DELETE", "/data/{id}", "/data/9");
    const invalid = await call<ErrorBody>("POST", "/data", "/data", { body: bytes, headers: JSON_TYPE });
    expect([invalid.res.status, invalid.body.error]).toEqual([
      400,
      { code: "invalid_encoding", message: "body: not valid UTF-8" },
    ]);
    const latin1 = { "content-type": "application/json; charset=iso-8859-1" };
    const declared = await call<ErrorBody>("PUT", "/data/{id}", "/data/9", { body: "{}", headers: latin1 });
    expect([declared.res.status, declared.body.error.code]).toEqual([415, "unsupported_charset"]);
    expect((await call("GET", "/data/{id}", "/data/9")).res.status).toBe(404);
    expect((await send("POST", "/data", "/data", { id: 9, name: "Test 9" })).res.status).toBe(201);
  });

  it("writes of an id outside the shard map are 422s", async () => {
    expect((await send("POST", "/data", "/data", { id: 1000, name: "x" })).res.status).toBe(422);
    expect((await send("PUT", "/data/{id}", "/data/1000", { name: "x" })).res.status).toBe(422);
    expect((await call("DELETE", "/data/{id}", "/data/1000")).res.status).toBe(422);
  });

  it("writes to a shard that fails or times out are 503s with retry-after", async () => {
    const post = await withFault(1, { mode: "down" }, () =>
      send("POST", "/data", "/data", { id: 9, name: "x" }),
    );
    const put = await withFault(1, { mode: "hang" }, () =>
      send("PUT", "/data/{id}", "/data/9", { name: "x" }),
    );
    const del = await withFault(1, { mode: "error" }, () => call("DELETE", "/data/{id}", "/data/9"));
    for (const { res } of [post, put, del]) {
      expect(res.status).toBe(503);
      expect(res.headers.get("retry-after")).toBe("1");
    }
    // A refused connection proves the write never reached the database; a hang or an error does not.
    expect([post, put, del].map(({ body }) => (body as { outcome?: string }).outcome)).toEqual([
      "not_applied",
      "unknown",
      "unknown",
    ]);
  });

  it("PUT and DELETE of an absent row are 404s", async () => {
    await call("DELETE", "/data/{id}", "/data/34");
    const put = await send("PUT", "/data/{id}", "/data/34", { name: "x" });
    expect([put.res.status, put.body.error.code]).toEqual([404, "not_found"]);
    const del = await call<ErrorBody>("DELETE", "/data/{id}", "/data/34");
    expect([del.res.status, del.body.error.code]).toEqual([404, "not_found"]);
  });

  it("PUT with a bad path id, a mismatched body id or malformed JSON, and DELETE with a bad id, are 400s", async () => {
    expect((await send("PUT", "/data/{id}", "/data/x", { name: "x" })).body.error.code).toBe("invalid_id");
    expect((await send("PUT", "/data/{id}", "/data/9", { id: 10, name: "x" })).body.error.code).toBe(
      "invalid_body",
    );
    const malformed = await call<ErrorBody>("PUT", "/data/{id}", "/data/9", {
      body: "{",
      headers: JSON_TYPE,
    });
    expect(malformed.body.error.code).toBe("invalid_json");
    const del = await call<ErrorBody>("DELETE", "/data/{id}", "/data/1.5");
    expect([del.res.status, del.body.error.code]).toEqual([400, "invalid_id"]);
  });

  it("a known path with another method is a 405 with allow, and OPTIONS is a preflight", async () => {
    const patch = await call("PATCH", "/data/{id}", "/data/7");
    expect(patch.res.status).toBe(405);
    expect(patch.res.headers.get("allow")).toBe("GET, PUT, DELETE, OPTIONS");
    expect((await call("DELETE", "/data", "/data")).res.headers.get("allow")).toBe("GET, POST, OPTIONS");
    expect((await call("POST", "/health", "/health")).res.status).toBe(405);
    const preflight = await call("OPTIONS", "/data", "/data");
    expect(preflight.res.status).toBe(204);
  });

  it("an unknown path is a 404 route_not_found", async () => {
    for (const path of ["/nope", "/data/1/2", "/"]) {
      const { body } = await call<ErrorBody>("GET", path, path);
      expect(body.error.code).toBe("route_not_found");
    }
  });
});

describe("the documented statuses", () => {
  // 500 cannot be provoked through the running API; it is documented on every operation (the function's own, and
  // API Gateway's when the function does not answer).
  const UNOBSERVABLE = new Set(["500"]);

  it("are exactly the statuses the tests above observed, per operation", () => {
    const mismatches = operations(contract).flatMap(({ method, path }) => {
      const documented = documentedStatuses(method, path)
        .filter((s) => !UNOBSERVABLE.has(s))
        .sort();
      const observed = [...(observedStatuses.get(`${method} ${path}`) ?? [])].sort();
      return JSON.stringify(documented) === JSON.stringify(observed)
        ? []
        : [`${method} ${path}: documented ${documented}, observed ${observed}`];
    });
    expect(mismatches).toEqual([]);
    for (const name of ["RouteNotFound", "MethodNotAllowed", "Preflight", "PayloadTooLarge OPTIONS"]) {
      expect(observedStatuses.has(name), name).toBe(true);
    }
  });
});
