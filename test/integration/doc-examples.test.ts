/**
 * The curl examples of README.md and docs/api.md show what the API answers: each one whose output is written down
 * (a `# …` comment under it or on its line, or the JSON block after its shell block) is sent, in the page's order, to
 * a fresh local runtime seeded as `npm start` seeds it, and must get exactly that answer (`ms` aside). A page that
 * drifts from the API fails here.
 */
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { REPO_ROOT } from "../../infra/constructs/api-function.js";
import { type LocalRuntime, startLocalRuntime } from "../../local/runtime.js";
import { request } from "../helpers/api-client.js";

/** Where the docs send their requests: `npm start`'s default address. */
const DOC_BASE = "http://127.0.0.1:3000";

interface Example {
  readonly line: number;
  readonly command: string;
  readonly method: string;
  readonly path: string;
  readonly headers: Record<string, string>;
  readonly body?: string;
  readonly status?: number;
  // biome-ignore lint/suspicious/noExplicitAny: parsed JSON from the page, compared as a whole
  readonly json?: any;
}

/** The words of a shell command line, with '…' and "…" unquoted (all the docs' commands need). */
function words(command: string): string[] {
  return [...command.matchAll(/'([^']*)'|"([^"]*)"|(\S+)/g)].map((m) => m[1] ?? m[2] ?? (m[3] as string));
}

/** The first balanced `{…}` of `text`, parsed; undefined when there is none. */
function firstJson(text: string): unknown {
  const start = text.indexOf("{");
  if (start === -1) return undefined;
  let depth = 0;
  let inString = false;
  for (let i = start; i < text.length; i++) {
    const c = text[i];
    if (inString) {
      if (c === "\\") i++;
      else if (c === '"') inString = false;
    } else if (c === '"') inString = true;
    else if (c === "{") depth++;
    else if (c === "}" && --depth === 0) return JSON.parse(text.slice(start, i + 1));
  }
  throw new Error(`unbalanced JSON in: ${text}`);
}

/** The examples of a page whose answer the page writes down, in page order. */
function examplesOf(page: string): Example[] {
  const lines = readFileSync(join(REPO_ROOT, page), "utf8").split("\n");
  const examples: Example[] = [];
  for (let i = 0; i < lines.length; i++) {
    const text = lines[i] as string;
    if (!text.startsWith("curl -s ") || !text.includes(DOC_BASE)) continue;
    const [command = "", sameLine] = text.split(/\s+#\s+/, 2);
    const argv = words(command);
    const method = argv.includes("-X") ? (argv[argv.indexOf("-X") + 1] as string) : "GET";
    const url = new URL(argv.find((w) => w.startsWith(DOC_BASE)) as string);
    const headers: Record<string, string> = {};
    argv.forEach((w, k) => {
      if (w !== "-H") return;
      const [name = "", ...value] = (argv[k + 1] as string).split(":");
      headers[name.trim().toLowerCase()] = value.join(":").trim();
    });
    const body = argv.includes("-d") ? argv[argv.indexOf("-d") + 1] : undefined;
    // The answer: the comment lines below it, the comment on its line, or the ```json block after its shell block.
    let answer = "";
    let j = i + 1;
    while (lines[j]?.startsWith("#")) answer += (lines[j++] as string).slice(1).trim();
    if (answer === "" && sameLine !== undefined) answer = sameLine;
    if (answer === "" && lines[j] === "```" && lines[j + 1] === "" && lines[j + 2] === "```json") {
      const end = lines.indexOf("```", j + 3);
      answer = lines.slice(j + 3, end).join("\n");
    }
    const status = /^(\d{3})\b/.exec(answer)?.[1];
    const json = firstJson(answer);
    if (status === undefined && json === undefined) continue;
    examples.push({
      line: i + 1,
      command,
      method,
      path: `${url.pathname}${url.search}`,
      headers,
      ...(body !== undefined ? { body } : {}),
      ...(status !== undefined ? { status: Number(status) } : {}),
      ...(json !== undefined ? { json } : {}),
    });
  }
  return examples;
}

/** `ms` is timing, not content: any number matches. */
function withAnyMs(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(withAnyMs);
  if (value === null || typeof value !== "object") return value;
  return Object.fromEntries(
    Object.entries(value).map(([k, v]) => [k, k === "ms" ? expect.any(Number) : withAnyMs(v)]),
  );
}

describe.each([
  { page: "README.md", least: 3 },
  { page: "docs/api.md", least: 6 },
])("the curl examples of $page", ({ page, least }) => {
  let runtime: LocalRuntime;
  const examples = examplesOf(page);

  beforeAll(async () => {
    runtime = await startLocalRuntime({
      postgres: inject("postgres"),
      prefix: `doc_${page.replace(/\W/g, "_")}`,
    });
  });

  afterAll(async () => {
    await runtime?.stop();
  });

  it(`writes down the answer of at least ${least} of them`, () => {
    expect(examples.length).toBeGreaterThanOrEqual(least);
  });

  it("get exactly the answers written down, in the page's order", async () => {
    for (const ex of examples) {
      const answer = await request(runtime.url, ex.path, {
        method: ex.method,
        headers: ex.headers,
        ...(ex.body !== undefined ? { body: ex.body } : {}),
      });
      const where = `${page}:${ex.line} ${ex.command}`;
      if (ex.status !== undefined) expect(answer.status, where).toBe(ex.status);
      else expect(answer.status, where).toBeLessThan(300);
      if (ex.json !== undefined) expect(answer.body, where).toEqual(withAnyMs(ex.json));
    }
  });
});
