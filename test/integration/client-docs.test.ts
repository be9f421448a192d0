/**
 * The example of docs/client.md runs: its first TypeScript block, against a local runtime (the import of
 * `sharded-data-api/client` becomes this repository's `client/index.ts`, the URL the runtime's), and every
 * `console.log(…); // output` line prints what its comment says.
 */
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { format } from "node:util";
import { transform } from "esbuild";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import * as clientModule from "../../client/index.js";
import { REPO_ROOT } from "../../infra/constructs/api-function.js";
import { type LocalRuntime, startLocalRuntime } from "../../local/runtime.js";

const page = readFileSync(join(REPO_ROOT, "docs/client.md"), "utf8");
const example = /```ts\n([\s\S]*?)```/.exec(page)?.[1] ?? "";

let runtime: LocalRuntime;

beforeAll(async () => {
  runtime = await startLocalRuntime({ postgres: inject("postgres"), prefix: "client_docs" });
});

afterAll(async () => {
  await runtime?.stop();
});

describe("docs/client.md", () => {
  it("runs its example against a local runtime and prints what its comments say", async () => {
    expect(example).toContain('from "sharded-data-api/client"');
    expect(example).toContain("http://127.0.0.1:3000");
    const source = example
      .replace(/^import \{([^}]*)\} from "sharded-data-api\/client";$/m, "const {$1} = __client;")
      .replaceAll("http://127.0.0.1:3000", runtime.url);
    const { code } = await transform(source, { loader: "ts", format: "esm" });
    const printed: string[] = [];
    const console_ = { log: (...args: unknown[]) => printed.push(format(...args)), error: console.error };
    const AsyncFunction = Object.getPrototypeOf(async () => {}).constructor as new (
      ...args: string[]
    ) => (...values: unknown[]) => Promise<void>;
    await new AsyncFunction("__client", "console", code)(clientModule, console_);
    const expected = [...example.matchAll(/console\.log\(.*\); \/\/ (.+)$/gm)].map(([, out]) => out);
    expect(expected.length).toBeGreaterThanOrEqual(3);
    expect(printed).toEqual(expected);
  });
});
