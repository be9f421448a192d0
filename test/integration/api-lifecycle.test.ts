/**
 * The local runtime as a whole: runtimes sharing one PostgreSQL stay apart, the sample events of `events/` drive the
 * app as API Gateway would, `npm run invoke` runs the real Lambda entry once, and a fault for a shard that does not
 * exist fails the start.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { readFile } from "node:fs/promises";
import type { APIGatewayProxyEventV2 } from "aws-lambda";
import pg from "pg";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { ConfigError } from "../../functions/core/errors.js";
import { parseFaults } from "../../local/faults.js";
import { type LocalRuntime, startLocalRuntime } from "../../local/runtime.js";
import { allRows, del, get, idsOf, post, put } from "../helpers/api-client.js";
import { callApp } from "../helpers/events.js";
import { SEED_ROWS } from "../helpers/fixtures.js";

interface Invocation {
  readonly code: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

const INVOKE_TIMEOUT_MS = 60_000;

/**
 * Runs `npx tsx local/invoke.ts <event>` as a user would run `npm run invoke -- <event>`. Its own process group, so a
 * run that outlives the timeout is ended with everything it started (npx, tsx, PostgreSQL).
 */
function invoke(event: string, env: Record<string, string> = {}): Promise<Invocation> {
  return new Promise((resolve) => {
    const child: ChildProcess = spawn("npx", ["tsx", "local/invoke.ts", event], {
      cwd: process.cwd(),
      env: { ...process.env, ...env },
      stdio: ["ignore", "pipe", "pipe"],
      detached: true,
    });
    let stdout = "";
    let stderr = "";
    child.stdout?.on("data", (chunk: Buffer) => {
      stdout += chunk.toString("utf8");
    });
    child.stderr?.on("data", (chunk: Buffer) => {
      stderr += chunk.toString("utf8");
    });
    const timer = setTimeout(() => {
      if (child.pid !== undefined) process.kill(-child.pid, "SIGTERM");
    }, INVOKE_TIMEOUT_MS);
    child.on("close", (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

/**
 * The handler's result, which invoke prints as indented JSON after the one-line structured logs and metrics: from
 * the first line that is only `{` to the end.
 */
function printedResult(stdout: string): {
  statusCode: number;
  headers: Record<string, string>;
  body: string;
} {
  const lines = stdout.split("\n");
  const start = lines.indexOf("{");
  if (start === -1) throw new Error(`no result in the output:\n${stdout}`);
  return JSON.parse(lines.slice(start).join("\n"));
}

let a: LocalRuntime;
let b: LocalRuntime;
/** Started before the in-process tests so their PostgreSQL start-ups overlap with them. */
let invocations: {
  getData: Promise<Invocation>;
  getItem: Promise<Invocation>;
  badFault: Promise<Invocation>;
};

beforeAll(async () => {
  invocations = {
    getData: invoke("events/get-data.json"),
    getItem: invoke("events/get-item.json"),
    badFault: invoke("events/get-data.json", { SHARD_FAULTS: "9:hang" }),
  };
  [a, b] = await Promise.all([
    startLocalRuntime({ postgres: inject("postgres"), prefix: "api_life_a" }),
    startLocalRuntime({ postgres: inject("postgres"), prefix: "api_life_b" }),
  ]);
});

afterAll(async () => {
  await Promise.all([a?.stop(), b?.stop()]);
  // Never leave a child running, even when a test failed before awaiting it.
  await Promise.all(Object.values(invocations ?? {}));
});

describe("two runtimes on one PostgreSQL", () => {
  it("start at once, each on its own URL and databases, and both serve the 60 seeded rows", async () => {
    expect(a.url).not.toBe(b.url);
    const databases = [...a.shards, ...b.shards].map((s) => s.database);
    expect(new Set(databases).size).toBe(6);
    expect(await allRows(a.url)).toEqual(SEED_ROWS);
    expect(await allRows(b.url)).toEqual(SEED_ROWS);
  });

  it("do not see each other's writes", async () => {
    expect((await put(a.url, 3, { name: "Only in A" })).status).toBe(200);
    expect((await del(b.url, 13)).status).toBe(204);
    expect((await post(b.url, { id: 13, name: "Only in B" })).status).toBe(201);
    expect((await del(b.url, 53)).status).toBe(204);

    expect((await get(a.url, "/data/3")).body.item.name).toBe("Only in A");
    expect((await get(b.url, "/data/3")).body.item.name).toBe("Test 3");
    expect((await get(a.url, "/data/13")).body.item.name).toBe("Test 13");
    expect((await get(b.url, "/data/13")).body.item.name).toBe("Only in B");
    expect((await get(a.url, "/data/53")).status).toBe(200);
    expect((await get(b.url, "/data/53")).status).toBe(404);
    expect(await allRows(a.url)).toHaveLength(60);
    expect(await allRows(b.url)).toHaveLength(59);

    // Back to the seed, for the tests below.
    expect((await put(a.url, 3, { name: "Test 3" })).status).toBe(200);
    expect((await put(b.url, 13, { name: "Test 13" })).status).toBe(200);
    expect((await post(b.url, { id: 53, name: "Test 53" })).status).toBe(201);
    expect(await allRows(a.url)).toEqual(SEED_ROWS);
    expect(await allRows(b.url)).toEqual(SEED_ROWS);
  });
});

describe("the sample events of events/", () => {
  const event = async (name: string) =>
    JSON.parse(await readFile(`events/${name}.json`, "utf8")) as APIGatewayProxyEventV2;
  const run = async (name: string) => {
    const { status, body } = await callApp(a.app, await event(name));
    return { status, body };
  };

  // In order: the writes at the end change id 42, which the reads before them expect seeded.
  it("drive every route of the app as API Gateway would", async () => {
    const all = await run("get-data");
    expect(all.status).toBe(200);
    expect(all.body.items).toEqual(SEED_ROWS);

    const page = await run("get-data-page");
    expect(page.status).toBe(200);
    expect(idsOf(page.body.items)).toEqual([11, 12, 13, 14, 15, 16, 17, 18, 19, 20]);
    expect(page.body.next).toBe(20);

    const range = await run("get-data-range");
    expect(range.status).toBe(200);
    expect(idsOf(range.body.items)).toEqual(Array.from({ length: 21 }, (_, i) => 5 + i));

    expect(await run("get-item")).toEqual({
      status: 200,
      body: { item: { id: 42, name: "Test 42" }, shard: 2 },
    });
    expect(await run("health")).toEqual({ status: 200, body: { status: "ok" } });

    // id 7 is seeded: the sample POST is a duplicate until id 7 is deleted.
    const created = await run("post-data");
    expect(created.status).toBe(409);
    expect(created.body.error.code).toBe("duplicate_id");
    expect((await del(a.url, 7)).status).toBe(204);
    expect(await run("post-data")).toEqual({
      status: 201,
      body: { item: { id: 7, name: "Created 7" }, shard: 1 },
    });

    expect(await run("put-data")).toEqual({
      status: 200,
      body: { item: { id: 42, name: "Renamed 42" }, shard: 2 },
    });
    expect(await run("delete-data")).toEqual({ status: 204, body: undefined });
    expect((await get(a.url, "/data/42")).status).toBe(404);
  });
});

describe("npm run invoke", () => {
  it(
    "invokes the real Lambda entry once with events/get-data.json: statusCode 200 with the 60 rows, exit code 0",
    async () => {
      const { code, stdout, stderr } = await invocations.getData;
      expect(code, stderr).toBe(0);
      const result = printedResult(stdout);
      expect(result.statusCode).toBe(200);
      expect(result.headers["content-type"]).toBe("application/json");
      const body = JSON.parse(result.body);
      expect(body.items).toEqual(SEED_ROWS);
      expect(body.partial).toBe(false);
    },
    INVOKE_TIMEOUT_MS,
  );

  it(
    "invokes it with events/get-item.json: statusCode 200 with id 42 from shard 2",
    async () => {
      const { code, stdout, stderr } = await invocations.getItem;
      expect(code, stderr).toBe(0);
      const result = printedResult(stdout);
      expect(result.statusCode).toBe(200);
      expect(JSON.parse(result.body)).toEqual({ item: { id: 42, name: "Test 42" }, shard: 2 });
    },
    INVOKE_TIMEOUT_MS,
  );

  it(
    "fails with exit code 1 and names the shard when SHARD_FAULTS names a shard that does not exist",
    async () => {
      const { code, stdout, stderr } = await invocations.badFault;
      expect(code).toBe(1);
      expect(stderr).toContain("SHARD_FAULTS: there is no shard 9");
      expect(stdout).not.toContain("statusCode");
    },
    INVOKE_TIMEOUT_MS,
  );
});

describe("SHARD_FAULTS", () => {
  it("rejects a fault for an unknown shard with a ConfigError before creating any database", async () => {
    const postgres = inject("postgres");
    const start = startLocalRuntime({ postgres, prefix: "api_life_bad", faults: parseFaults("9:hang") });
    await expect(start).rejects.toThrow(ConfigError);
    await expect(start).rejects.toThrow(/^SHARD_FAULTS: there is no shard 9$/);
    const admin = new pg.Client({ ...postgres, database: "postgres" });
    await admin.connect();
    try {
      const found = await admin.query(
        "SELECT datname FROM pg_database WHERE datname LIKE 'api\\_life\\_bad%'",
      );
      expect(found.rows).toEqual([]);
    } finally {
      await admin.end();
    }
  });
});
