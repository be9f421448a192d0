/**
 * `npm start` as a user, a supervisor or a CI script runs it: every setting is validated before anything starts,
 * SHARD_MAP and SEED are applied, and SIGTERM or SIGINT to the process `npm start` started (or Ctrl+C, which signals
 * the whole foreground process group) stops everything, so a second start on the same ports works.
 */
import { type ChildProcess, execFile, spawn } from "node:child_process";
import { existsSync } from "node:fs";
import { mkdtemp, readdir, rm } from "node:fs/promises";
import { connect } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { afterAll, describe, expect, it } from "vitest";
import { eventually } from "../helpers/wait.js";

interface Started {
  readonly child: ChildProcess;
  /** npm's pid, which is also the process group of everything it started (spawned `detached`). */
  readonly pid: number;
  readonly url: string;
  readonly dataApiPorts: number[];
  readonly output: () => string;
}

const running = new Set<ChildProcess>();

afterAll(() => {
  // A test that failed half-way must not leave a stack running on the machine.
  for (const child of running) {
    if (child.pid !== undefined && child.exitCode === null) {
      try {
        process.kill(-child.pid, "SIGKILL");
      } catch {}
    }
  }
});

/** Runs `npm start` in its own process group and resolves once it printed that it is ready. */
function npmStart(env: Record<string, string>): Promise<Started> {
  const child = spawn("npm", ["start"], {
    env: { ...process.env, LOG_LEVEL: "ERROR", ...env },
    stdio: ["ignore", "pipe", "pipe"],
    detached: true,
  });
  running.add(child);
  child.once("exit", () => running.delete(child));
  let output = "";
  return new Promise((resolve, reject) => {
    const onData = (chunk: Buffer) => {
      output += chunk.toString("utf8");
      if (!output.includes("Press Ctrl+C to stop.")) return;
      child.stdout?.off("data", onData);
      const url = /listening on (http:\/\/127\.0\.0\.1:\d+)/.exec(output)?.[1];
      const dataApiPorts = [...output.matchAll(/ {2}shard \d+ +http:\/\/127\.0\.0\.1:(\d+)/g)].map((m) =>
        Number(m[1]),
      );
      if (!url || child.pid === undefined) reject(new Error(`no URL in:\n${output}`));
      else resolve({ child, pid: child.pid, url, dataApiPorts, output: () => output });
    };
    child.stdout?.on("data", onData);
    child.stderr?.on("data", (chunk: Buffer) => {
      output += chunk.toString("utf8");
    });
    child.once("exit", (code) =>
      reject(new Error(`npm start exited with ${code} before it was ready:\n${output}`)),
    );
  });
}

const run = promisify(execFile);

/** Live processes of a process group (`ps` exits 1 when there are none). */
async function processesOfGroup(pgid: number): Promise<string[]> {
  const { stdout } = await run("ps", ["-o", "pid=,stat=,args=", "-g", String(pgid)]).catch(() => ({
    stdout: "",
  }));
  // A zombie is already dead; it only waits for its parent (this test) to read its exit status.
  return stdout
    .split("\n")
    .filter((line) => line.trim() !== "")
    .filter((line) => !/^\s*\d+\s+Z/.test(line));
}

/** The directories of the PostgreSQL servers a process group runs (from their postmasters' `-D` argument). */
async function dataDirsOf(pgid: number): Promise<string[]> {
  const dirs = (await processesOfGroup(pgid)).flatMap((l) => {
    const dir = /postgres -D (\S+)\/data /.exec(l)?.[1];
    return dir ? [dir] : [];
  });
  if (dirs.length === 0) throw new Error(`no postgres in process group ${pgid}`);
  return [...new Set(dirs)];
}

function portIsClosed(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect({ host: "127.0.0.1", port });
    socket.once("connect", () => {
      socket.destroy();
      resolve(false);
    });
    socket.once("error", () => resolve(true));
  });
}

/**
 * Sends `signal` as `send` does, then checks that nothing of the stack is left: no process, no port, none of the
 * servers' directories (one PostgreSQL server per shard).
 */
async function expectStopsCleanly(started: Started, send: () => void): Promise<void> {
  const dataDirs = await dataDirsOf(started.pid);
  expect(dataDirs).toHaveLength(started.dataApiPorts.length);
  for (const dir of dataDirs) expect(existsSync(dir)).toBe(true);
  send();
  const gone = await eventually(async () => (await processesOfGroup(started.pid)).length === 0, 20_000);
  expect(gone, (await processesOfGroup(started.pid)).join("\n")).toBe(true);
  for (const dir of dataDirs) expect(existsSync(dir), `data directory ${dir} is left`).toBe(false);
  const port = Number(new URL(started.url).port);
  for (const p of [port, ...started.dataApiPorts]) expect(await portIsClosed(p), `port ${p}`).toBe(true);
}

const MAP_4 = JSON.stringify([
  { id: 1, ranges: [[1, 1000]] },
  { id: 2, ranges: [[1001, 2000]] },
  {
    id: 3,
    ranges: [
      [2001, 2500],
      [3501, 4000],
    ],
  },
  { id: 4, ranges: [[2501, 3500]] },
]);

describe("npm start", () => {
  it("stops everything on SIGTERM to the npm process, then starts again on the same ports with SHARD_MAP and SEED", async () => {
    const first = await npmStart({ PORT: "0", SHARD_MAP: MAP_4, SEED: "400" });
    // SHARD_MAP and SEED applied: four shards, 100 rows each (an even spread over equal shares), printed.
    expect(first.dataApiPorts).toHaveLength(4);
    expect(first.output()).toContain("400 rows in all");
    expect(first.output().match(/ 100 rows {2}ids/g)).toHaveLength(4);
    const page = (await (await fetch(`${first.url}/data?limit=1000`)).json()) as {
      items: { id: number }[];
      next: number | null;
      shards: unknown[];
    };
    expect(page.shards).toHaveLength(4);
    expect(page.next).toBeNull();
    const ids = page.items.map((r) => r.id);
    expect(ids).toEqual(Array.from({ length: 400 }, (_, k) => 1 + k * 10));

    await expectStopsCleanly(first, () => process.kill(first.pid, "SIGTERM"));

    const port = new URL(first.url).port;
    const second = await npmStart({ PORT: port });
    expect(second.url).toBe(first.url);
    const health = await fetch(`${second.url}/health`);
    expect(health.status).toBe(200);
    expect(second.output()).toContain("60 rows in all");
    // Ctrl+C: the terminal sends SIGINT to the whole foreground process group.
    await expectStopsCleanly(second, () => process.kill(-second.pid, "SIGINT"));
  }, 120_000);

  it("starts a SHARD_MAP with a shard that owns nothing yet: one PostgreSQL server per shard, /_local/shards lists them all", async () => {
    const map = JSON.stringify([...JSON.parse(MAP_4), { id: 5, ranges: [] }]);
    const started = await npmStart({ PORT: "0", SHARD_MAP: map, SEED: "400" });
    expect(started.output()).toMatch(
      / {2}shard 5 +http:\/\/127\.0\.0\.1:\d+ +pg :\d+ +db local_shard5 +0 rows {2}owns nothing yet/,
    );
    const listing = (await (await fetch(`${started.url}/_local/shards`)).json()) as {
      shards: { id: number; endpoint: string; replication: { port: number; dbname: string } }[];
    };
    expect(listing.shards.map((s) => s.id)).toEqual([1, 2, 3, 4, 5]);
    expect(listing.shards.map((s) => Number(new URL(s.endpoint).port))).toEqual(started.dataApiPorts);
    // Five servers on five ports; the banner shows each beside its shard.
    const ports = listing.shards.map((s) => s.replication.port);
    expect(new Set(ports).size).toBe(5);
    expect(started.output()).toContain(`pg :${ports[4]}  db local_shard5`);
    // The ARNs the AWS CLI needs (issue 22, finding 8), beside each shard.
    expect(started.output()).toContain(
      "  shard 5  --resource-arn arn:aws:rds:us-east-1:000000000000:cluster:local-shard-5  --secret-arn arn:aws:secretsmanager:us-east-1:000000000000:secret:local-shard-5",
    );
    const page = (await (await fetch(`${started.url}/data?limit=1000`)).json()) as {
      items: unknown[];
      partial: boolean;
    };
    expect(page.items).toHaveLength(400);
    expect(page.partial).toBe(false);
    const fault = await fetch(`${started.url}/_local/faults/5`, {
      method: "PUT",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ fault: "hang" }),
    });
    expect(fault.status).toBe(200);
    await expectStopsCleanly(started, () => process.kill(started.pid, "SIGTERM"));
  }, 90_000);

  it("stops everything when npm is killed with SIGKILL, which no handler sees (the runtime watches its parent)", async () => {
    const started = await npmStart({ PORT: "0", SEED: "none" });
    await expectStopsCleanly(started, () => process.kill(started.pid, "SIGKILL"));
  }, 90_000);

  it("stops everything on SIGINT to the npm process alone", async () => {
    const started = await npmStart({ PORT: "0", SEED: "none" });
    expect(started.output()).toContain("0 rows in all");
    await expectStopsCleanly(started, () => process.kill(started.pid, "SIGINT"));
  }, 90_000);
});

describe("npm start with a bad setting", () => {
  let scratch: string;

  afterAll(async () => {
    if (scratch) await rm(scratch, { recursive: true, force: true });
  });

  /**
   * Runs `local/start.ts` as `npm start` does, with its temporary directory in a fresh folder: PostgreSQL would
   * create its data directory (`sharded-pg-*`) there, so the folder shows whether it was started.
   */
  async function startWith(env: Record<string, string>) {
    scratch ??= await mkdtemp(join(tmpdir(), "local-start-test-"));
    const own = await mkdtemp(join(scratch, "run-"));
    const began = performance.now();
    const result = await new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve) => {
      const child = spawn(process.execPath, ["--import", "tsx", "local/start.ts"], {
        env: { ...process.env, PORT: "0", TMPDIR: own, ...env },
        stdio: ["ignore", "pipe", "pipe"],
      });
      running.add(child);
      let stdout = "";
      let stderr = "";
      child.stdout?.on("data", (c: Buffer) => {
        stdout += c.toString("utf8");
      });
      child.stderr?.on("data", (c: Buffer) => {
        stderr += c.toString("utf8");
      });
      child.once("close", (code) => {
        running.delete(child);
        resolve({ code, stdout, stderr });
      });
    });
    const postgresStarted = (await readdir(own)).some((name) => name.startsWith("sharded-pg"));
    return { ...result, ms: performance.now() - began, postgresStarted };
  }

  it.each([
    ["SHARD_TIMEOUT_MS", "abc", 'SHARD_TIMEOUT_MS: expected an integer, got "abc"'],
    ["SHARD_TIMEOUT_MS", "0", "SHARD_TIMEOUT_MS: expected 1..60000, got 0"],
    ["DEADLINE_MARGIN_MS", "abc", 'DEADLINE_MARGIN_MS: expected an integer, got "abc"'],
    ["SHARD_MAX_ATTEMPTS", "abc", 'SHARD_MAX_ATTEMPTS: expected an integer, got "abc"'],
    ["SHARD_MAX_ATTEMPTS", "6", "SHARD_MAX_ATTEMPTS: expected 1..5, got 6"],
    ["TABLE_NAME", "abc def", 'TABLE_NAME: expected an SQL identifier, got "abc def"'],
    ["PORT", "abc", 'PORT: expected a port number, got "abc"'],
    ["SHARD_MAP", '[{"id":1,"ranges":[[10,1]]}]', "SHARD_MAP[0].ranges[0]: start 10 > end 1"],
    ["SHARD_MAP", "not json", "SHARD_MAP: not valid JSON"],
    ["SEED", "many", "SEED: expected all, none or a number of rows"],
    ["SEED", "100", "SEED: 100 rows asked for, but the map holds only 60 ids"],
    ["SHARD_FAULTS", "2:sleepy", 'SHARD_FAULTS entry "2:sleepy": expected hang, down, error, resuming'],
    ["SHARD_FAULTS", "7:hang", "SHARD_FAULTS: there is no shard 7"],
  ])(
    "%s=%j: exits 1 with the message naming the field, without starting PostgreSQL",
    async (name, value, message) => {
      const { code, stdout, stderr, postgresStarted } = await startWith({ [name]: value });
      expect(code).toBe(1);
      expect(stderr).toContain(`Configuration error: ${message}`);
      expect(stdout).not.toContain("listening");
      expect(postgresStarted).toBe(false);
    },
    30_000,
  );
});
