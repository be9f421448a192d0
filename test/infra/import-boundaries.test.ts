/**
 * What each folder may import, as docs/architecture.md states it ("What each folder may import"), checked on every
 * import specifier (static, `export … from`, dynamic `import()`, type-only too) of every git-tracked .ts file. Each
 * rule's sentence must appear in that page word for word, so the page and this test cannot drift apart.
 */
import { execFileSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { builtinModules } from "node:module";
import { dirname, join, relative, resolve } from "node:path";
import ts from "typescript";
import { describe, expect, it } from "vitest";
import { REPO_ROOT } from "../../infra/constructs/api-function.js";

interface Import {
  readonly file: string;
  readonly specifier: string;
  /** Repository-relative path of a relative import (`.js` read as the `.ts` it is compiled from); else undefined. */
  readonly target: string | undefined;
  readonly typeOnly: boolean;
}

function importsOf(file: string): Import[] {
  const source = ts.createSourceFile(
    file,
    readFileSync(join(REPO_ROOT, file), "utf8"),
    ts.ScriptTarget.Latest,
  );
  const found: Import[] = [];
  const add = (literal: ts.Expression | undefined, typeOnly: boolean) => {
    if (!literal || !ts.isStringLiteralLike(literal)) return;
    const specifier = literal.text;
    const target = specifier.startsWith(".")
      ? relative(REPO_ROOT, resolve(REPO_ROOT, dirname(file), specifier)).replace(/\.js$/, ".ts")
      : undefined;
    found.push({ file, specifier, target, typeOnly });
  };
  const visit = (node: ts.Node) => {
    if (ts.isImportDeclaration(node)) add(node.moduleSpecifier, node.importClause?.isTypeOnly ?? false);
    else if (ts.isExportDeclaration(node)) add(node.moduleSpecifier, node.isTypeOnly);
    else if (ts.isImportTypeNode(node) && ts.isLiteralTypeNode(node.argument))
      add(node.argument.literal, true);
    else if (ts.isCallExpression(node) && node.expression.kind === ts.SyntaxKind.ImportKeyword) {
      add(node.arguments[0], false);
    }
    ts.forEachChild(node, visit);
  };
  visit(source);
  return found;
}

const files = execFileSync("git", ["ls-files", "-z", "--", "*.ts"], { cwd: REPO_ROOT, encoding: "utf8" })
  .split("\0")
  .filter((f) => f.endsWith(".ts") && !f.endsWith(".d.ts"));
const imports = files.flatMap(importsOf);
const architecture = readFileSync(join(REPO_ROOT, "docs/architecture.md"), "utf8").replace(/\s+/g, " ");

const under = (folder: string) => (path: string) => path.startsWith(`${folder}/`);

interface Rule {
  /** The sentence of docs/architecture.md that states the rule. */
  readonly doc: string;
  readonly from: (file: string) => boolean;
  /** A relative import this rule refuses (by the repository-relative path it resolves to). */
  readonly refuses: (target: string) => boolean;
}

const RULES: readonly Rule[] = [
  {
    doc: "`functions/` imports nothing from `local/`, `infra/`, `test/` or `bench/`.",
    from: under("functions"),
    refuses: (t) => ["local", "infra", "test", "bench"].some((f) => under(f)(t)),
  },
  {
    doc: "`functions/core/` imports only from `functions/core/`.",
    from: under("functions/core"),
    refuses: (t) => !under("functions/core")(t),
  },
  {
    doc: "`functions/http/` imports nothing from `functions/observability/`.",
    from: under("functions/http"),
    refuses: under("functions/observability"),
  },
  {
    doc: "`local/` imports nothing from `test/` or `bench/`, and from `infra/` only `infra/role-sql.ts` and `infra/fence-sql.ts`.",
    from: under("local"),
    refuses: (t) =>
      under("test")(t) ||
      under("bench")(t) ||
      (under("infra")(t) && t !== "infra/role-sql.ts" && t !== "infra/fence-sql.ts"),
  },
  {
    doc:
      "`infra/` imports nothing from `local/`, `test/` or `bench/`, and from `functions/` only `functions/core/`, " +
      "`functions/http/route-table.ts` and `functions/observability/`.",
    from: under("infra"),
    refuses: (t) =>
      ["local", "test", "bench"].some((f) => under(f)(t)) ||
      (under("functions")(t) &&
        !under("functions/core")(t) &&
        !under("functions/observability")(t) &&
        t !== "functions/http/route-table.ts"),
  },
  {
    doc: "`bench/` imports nothing from `test/`.",
    from: under("bench"),
    refuses: under("test"),
  },
  {
    doc:
      "`reshard/` imports from `functions/` only `functions/core/`, from `infra/` only `infra/fence-sql.ts`, from " +
      "`local/` only `local/data-api/index.ts`, and nothing from `test/` or `bench/`.",
    from: under("reshard"),
    refuses: (t) =>
      ["test", "bench"].some((f) => under(f)(t)) ||
      (under("functions")(t) && !under("functions/core")(t)) ||
      (under("infra")(t) && t !== "infra/fence-sql.ts") ||
      (under("local")(t) && t !== "local/data-api/index.ts"),
  },
  {
    doc: "`client/` imports nothing from `functions/`, `local/`, `infra/`, `reshard/`, `bench/` or `test/`.",
    from: under("client"),
    refuses: (t) => ["functions", "local", "infra", "reshard", "bench", "test"].some((f) => under(f)(t)),
  },
  {
    doc: "Only `test/` and `bench/` import from `reshard/`.",
    from: (f) => !["test", "bench", "reshard"].some((folder) => under(folder)(f)),
    refuses: under("reshard"),
  },
];

const runtimeDependencies = Object.keys(
  (
    JSON.parse(readFileSync(join(REPO_ROOT, "package.json"), "utf8")) as {
      dependencies: Record<string, string>;
    }
  ).dependencies,
);
const packageOf = (specifier: string) =>
  specifier
    .split("/")
    .slice(0, specifier.startsWith("@") ? 2 : 1)
    .join("/");
const isBuiltin = (specifier: string) =>
  specifier.startsWith("node:") || builtinModules.includes(specifier.split("/")[0] ?? "");

describe("import boundaries", () => {
  it("finds the imports of every tracked TypeScript file, including dynamic and type-only ones", () => {
    expect(files).toContain("functions/core/sharded-table.ts");
    expect(files.filter(under("local")).length).toBeGreaterThan(5);
    expect(
      imports.some((i) => i.specifier === "../functions/handler.js" && i.file.startsWith("local/")),
    ).toBe(true);
    expect(imports.some((i) => i.typeOnly && i.file.startsWith("functions/"))).toBe(true);
  });

  for (const rule of RULES) {
    it(rule.doc, () => {
      expect(architecture).toContain(rule.doc);
      const broken = imports
        .filter((i) => rule.from(i.file) && i.target !== undefined && rule.refuses(i.target))
        .map((i) => `${i.file} imports ${i.specifier}`);
      expect(broken).toEqual([]);
    });
  }

  const packages =
    "`functions/` imports packages only from Node.js itself and the `dependencies` of package.json (type-only imports aside, such as `aws-lambda`'s types).";
  it(packages, () => {
    expect(architecture).toContain(packages);
    const broken = imports
      .filter((i) => under("functions")(i.file) && i.target === undefined && !i.typeOnly)
      .filter((i) => !isBuiltin(i.specifier) && !runtimeDependencies.includes(packageOf(i.specifier)))
      .map((i) => `${i.file} imports ${i.specifier}`);
    expect(broken).toEqual([]);
  });

  const clientPackages =
    "`client/` imports no package of Node.js itself, and only `@smithy/signature-v4` and `@aws-sdk/credential-provider-node` from `client/sigv4.ts` (type-only imports aside, such as `@smithy/types`), so `client/index.ts` runs in browsers.";
  it(clientPackages, () => {
    expect(architecture).toContain(clientPackages);
    const allowed = ["@smithy/signature-v4", "@aws-sdk/credential-provider-node"];
    const broken = imports
      .filter((i) => under("client")(i.file) && i.target === undefined && !i.typeOnly)
      .filter(
        (i) =>
          isBuiltin(i.specifier) || i.file !== "client/sigv4.ts" || !allowed.includes(packageOf(i.specifier)),
      )
      .map((i) => `${i.file} imports ${i.specifier}`);
    expect(broken).toEqual([]);
    expect(imports.some((i) => i.file === "client/sigv4.ts" && i.specifier === "@smithy/signature-v4")).toBe(
      true,
    );
  });

  it("refuses what it should: a core file importing http, local importing infra's stack", () => {
    const refused = (file: string, target: string) => RULES.some((r) => r.from(file) && r.refuses(target));
    expect(refused("functions/core/merge.ts", "functions/http/response.ts")).toBe(true);
    expect(refused("local/runtime.ts", "infra/sharded-api-stack.ts")).toBe(true);
    expect(refused("local/roles.ts", "infra/role-sql.ts")).toBe(false);
    expect(refused("infra/app.ts", "functions/handler.ts")).toBe(true);
    expect(refused("infra/constructs/api.ts", "functions/http/route-table.ts")).toBe(false);
    expect(refused("test/unit/merge.test.ts", "local/runtime.ts")).toBe(false);
    expect(refused("reshard/shard-admin.ts", "local/data-api/index.ts")).toBe(false);
    expect(refused("reshard/run.ts", "local/runtime.ts")).toBe(true);
    expect(refused("reshard/plan.ts", "functions/http/routes.ts")).toBe(true);
    expect(refused("local/start.ts", "reshard/cli.ts")).toBe(true);
    expect(refused("test/unit/reshard-plan.test.ts", "reshard/plan.ts")).toBe(false);
    expect(refused("client/client.ts", "functions/core/shard-map.ts")).toBe(true);
    expect(refused("bench/scenarios/client.ts", "client/index.ts")).toBe(false);
  });
});
