import { execFileSync } from "node:child_process";
import { describe, expect, it } from "vitest";
import { NODE_RUNTIME, REPO_ROOT } from "../../infra/constructs/api-function.js";

/** The major version of the stack's Lambda runtime (`nodejs24.x` -> 24): the one the tests must run on. */
const LAMBDA_MAJOR = Number(/^nodejs(\d+)\.x$/.exec(NODE_RUNTIME.name)?.[1]);
const majorOf = (version: string) => Number(/^v(\d+)\./.exec(version.trim())?.[1]);
const PRINT_VERSION = "process.stdout.write(process.version)";

// `npm ci` installs Node.js from the npm registry (the `node-<os>-<cpu>` optional dependency) and `npm run` puts
// node_modules/.bin first on PATH, so every script and every process they start runs on the Lambda's major version,
// whatever Node.js the machine has. These tests fail if the stack's runtime and the installed Node.js drift apart.
describe("the Node.js the project runs on", () => {
  it("is a Lambda runtime this test can read a major version from", () => {
    expect(LAMBDA_MAJOR).toBeGreaterThanOrEqual(24);
  });

  it("runs the tests on the major version of the function's Lambda runtime", () => {
    expect(majorOf(process.version)).toBe(LAMBDA_MAJOR);
  });

  it("is the `node` on the PATH of npm scripts, which the tools' `#!/usr/bin/env node` lines start", () => {
    const version = execFileSync("node", ["-e", PRINT_VERSION], { cwd: REPO_ROOT, encoding: "utf8" });
    expect(majorOf(version)).toBe(LAMBDA_MAJOR);
  });

  it("is the one `npx tsx` starts, as the CDK app command and the tests' child processes do", () => {
    const version = execFileSync("npx", ["tsx", "-e", PRINT_VERSION], { cwd: REPO_ROOT, encoding: "utf8" });
    expect(majorOf(version)).toBe(LAMBDA_MAJOR);
  });
});
