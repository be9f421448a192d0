/**
 * No import circles (`npm run lint:deps`, dependency-cruiser with .dependency-cruiser.cjs): the repository has none,
 * and the rule would see one the way this project writes imports (`./x.js` naming `./x.ts`, `import type` included),
 * which a configuration that resolved nothing would pass in silence.
 */
import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { delimiter, join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { REPO_ROOT } from "../../infra/constructs/api-function.js";

const BIN = join(REPO_ROOT, "node_modules", ".bin");

/** A command as npm runs a script: a shell with node_modules/.bin first on PATH. */
function run(command: string, cwd: string) {
  const result = spawnSync("sh", ["-c", command], {
    cwd,
    encoding: "utf8",
    env: { ...process.env, PATH: `${BIN}${delimiter}${process.env.PATH}` },
  });
  return { status: result.status, output: `${result.stdout}${result.stderr}` };
}

const dir = mkdtempSync(join(tmpdir(), "import-circles-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe("import circles (`npm run lint:deps`)", () => {
  it("finds none in the repository", () => {
    const script = JSON.parse(readFileSync(join(REPO_ROOT, "package.json"), "utf8")).scripts["lint:deps"];
    const { status, output } = run(script, REPO_ROOT);
    expect(output).toContain("no dependency violations found");
    expect(status).toBe(0);
  }, 60_000);

  it("fails on a circle through `.js` specifiers of .ts files, a type-only import being one of its edges", () => {
    writeFileSync(join(dir, "package.json"), '{ "type": "module" }\n');
    // The repository's compiler options (NodeNext resolution), over this folder's files.
    const { compilerOptions } = JSON.parse(readFileSync(join(REPO_ROOT, "tsconfig.json"), "utf8"));
    writeFileSync(join(dir, "tsconfig.json"), JSON.stringify({ compilerOptions, include: ["*.ts"] }));
    writeFileSync(
      join(dir, "report.ts"),
      'import type { Failure } from "./failure.js";\nexport type R = Failure;\n',
    );
    writeFileSync(join(dir, "failure.ts"), 'import "./report.js";\nexport class Failure extends Error {}\n');
    writeFileSync(
      join(dir, "leaf.ts"),
      'import { Failure } from "./failure.js";\nexport const f = new Failure();\n',
    );
    const { status, output } = run(
      `depcruise --config ${join(REPO_ROOT, ".dependency-cruiser.cjs")} --validate --output-type err .`,
      dir,
    );
    expect(output).toMatch(/error no-circular: failure\.ts →\s+report\.ts →\s+failure\.ts/);
    expect(output).toContain("1 dependency violations (1 errors");
    expect(status).not.toBe(0);
  }, 60_000);
});
