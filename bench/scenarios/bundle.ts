/**
 * Bundle: the function as CDK bundles it, against a bundle of `@aws-sdk/client-rds-data` alone (an entry that
 * imports `RDSDataClient` and `ExecuteStatementCommand` and constructs a client). The esbuild options are those
 * `NodejsFunction` passes for the `bundling` block of `infra/constructs/api-function.ts`: `--bundle --platform=node
 * --format=esm --minify --sourcemap --sources-content=false --main-fields=module,main --banner:js=<require shim>`,
 * nothing external, and `--target=node<N>` from the construct's runtime. Both bundles are built the same way.
 *
 * Import time: a fresh `node` process imports the bundle and reports how long the `import()` took (the handler
 * bundle composes the app at import, as at a Lambda cold start). Median of 11, A and B alternating.
 */
import { spawn } from "node:child_process";
import { mkdtemp, readFile, rm, stat, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { gzipSync } from "node:zlib";
import { build } from "esbuild";
import { NODE_RUNTIME, REQUIRE_SHIM } from "../../infra/constructs/api-function.js";
import { clusterArn, EXAMPLE_ARN_SCOPE, secretArn } from "../../local/arns.js";
import type { ScenarioResult } from "../lib/report.js";
import { median, round } from "../lib/stats.js";

const REPO_ROOT = fileURLToPath(new URL("../../", import.meta.url));
const IMPORTS = 11;

const SDK_ONLY_ENTRY = `
import { ExecuteStatementCommand, RDSDataClient } from "@aws-sdk/client-rds-data";
export const client = new RDSDataClient({ region: process.env.AWS_REGION });
export const Command = ExecuteStatementCommand;
`;

/**
 * The construct's settings that decide the bundle, imported from it so the bench follows it: its banner, and the
 * esbuild target `NodejsFunction` derives from the runtime (`nodejs24.x` -> `node24`, as aws-cdk-lib's
 * `aws-lambda-nodejs` bundling does when no `target` is set).
 */
function constructSettings() {
  const major = /^nodejs(\d+)/.exec(NODE_RUNTIME.name)?.[1];
  if (!major) throw new Error(`not a Node.js runtime: ${NODE_RUNTIME.name}`);
  return { target: `node${major}`, banner: REQUIRE_SHIM };
}

async function bundle(
  outfile: string,
  entry: { file: string } | { contents: string },
  target: string,
  banner: string,
) {
  await build({
    ...("file" in entry
      ? { entryPoints: [entry.file] }
      : {
          stdin: { contents: entry.contents, resolveDir: REPO_ROOT, sourcefile: "sdk-only.ts", loader: "ts" },
        }),
    absWorkingDir: REPO_ROOT,
    bundle: true,
    platform: "node",
    format: "esm",
    target,
    minify: true,
    sourcemap: true,
    sourcesContent: false,
    mainFields: ["module", "main"],
    banner: { js: banner },
    outfile,
    logLevel: "error",
  });
  const js = await readFile(outfile);
  return { bytes: (await stat(outfile)).size, gzipBytes: gzipSync(js).length };
}

const IMPORT_TIMER = `
const t = performance.now();
await import(process.argv[1]);
process.stdout.write(String(performance.now() - t));
`;

/** Milliseconds a fresh Node process spends in `import(file)`. */
function importTime(file: string, env: NodeJS.ProcessEnv): Promise<number> {
  return new Promise((resolve, reject) => {
    const child = spawn(
      process.execPath,
      ["--input-type=module", "-e", IMPORT_TIMER, pathToFileURL(file).href],
      {
        env,
        stdio: ["ignore", "pipe", "pipe"],
      },
    );
    let out = "";
    let err = "";
    child.stdout.on("data", (c: Buffer) => {
      out += c;
    });
    child.stderr.on("data", (c: Buffer) => {
      err += c;
    });
    const kill = setTimeout(() => child.kill("SIGKILL"), 30_000);
    child.once("error", reject);
    child.once("close", (code) => {
      clearTimeout(kill);
      const ms = Number(out);
      if (code === 0 && Number.isFinite(ms)) resolve(ms);
      else reject(new Error(`importing ${file} failed (${code}): ${err.trim().slice(-500)}`));
    });
  });
}

export async function bundleFigures({ log }: { log: (m: string) => void }): Promise<ScenarioResult> {
  const { target, banner } = constructSettings();
  const dir = await mkdtemp(join(tmpdir(), "bench-bundle-"));
  try {
    const handlerFile = join(dir, "handler", "index.mjs");
    const sdkFile = join(dir, "sdk-only", "index.mjs");
    const handler = await bundle(
      handlerFile,
      { file: join(REPO_ROOT, "functions", "handler.ts") },
      target,
      banner,
    );
    const sdk = await bundle(sdkFile, { contents: SDK_ONLY_ENTRY }, target, banner);
    // What the Lambda environment would hold: a valid shard config, so the cold start composes the app.
    const shards = [1, 2, 3].map((id) => ({
      id,
      ranges: [[id * 10 - 9, id * 10]],
      resourceArn: clusterArn(`shard-${id}`, EXAMPLE_ARN_SCOPE),
      secretArn: secretArn(`shard-${id}`, EXAMPLE_ARN_SCOPE),
      database: "app",
    }));
    const env = {
      PATH: process.env.PATH,
      AWS_REGION: "us-east-1",
      SHARDS: JSON.stringify(shards),
      POWERTOOLS_LOG_LEVEL: "ERROR",
    };
    await writeFile(join(dir, "package.json"), "{}");
    const handlerMs: number[] = [];
    const sdkMs: number[] = [];
    await importTime(handlerFile, env); // a first run warms the OS file cache for both sides alike
    await importTime(sdkFile, env);
    for (let i = 0; i < IMPORTS; i++) {
      handlerMs.push(await importTime(handlerFile, env));
      sdkMs.push(await importTime(sdkFile, env));
    }
    const sizeRatio = handler.bytes / sdk.bytes;
    const timeRatio = median(handlerMs) / median(sdkMs);
    log(
      `bundle: ${handler.bytes} vs ${sdk.bytes} bytes; import ${round(median(handlerMs))} vs ${round(median(sdkMs))} ms`,
    );
    const kb = (b: number) => `${round(b / 1024, 1)} KiB`;
    return {
      figures: [
        {
          id: "bundle.sizeRatio",
          figure: `bundle size: handler / SDK-only (esbuild, ESM, minified, ${target})`,
          measured: `${round(sizeRatio, 3)}x (${kb(handler.bytes)})`,
          value: sizeRatio,
          // Bytes are not what a cold start pays for: the import time below is the goal, bytes are shown beside it.
          goal: "info (the goal is import time)",
          pass: null,
          baseline: `SDK-only ${kb(sdk.bytes)}; gzip ${kb(handler.gzipBytes)} vs ${kb(sdk.gzipBytes)}`,
        },
        {
          id: "bundle.importRatio",
          figure: `bundle import time: handler / SDK-only (fresh node, median of ${IMPORTS})`,
          measured: `${round(timeRatio, 3)}x (${round(median(handlerMs), 1)} ms)`,
          value: timeRatio,
          goal: "<= 1.2x",
          pass: timeRatio <= 1.2,
          baseline: `SDK-only ${round(median(sdkMs), 1)} ms`,
        },
      ],
      details: {
        target,
        handler: { ...handler, importMs: handlerMs.map((v) => round(v)) },
        sdkOnly: { ...sdk, importMs: sdkMs.map((v) => round(v)) },
      },
    };
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}
