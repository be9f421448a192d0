/**
 * Every relative link of README.md, docs/*.md and bench/README.md resolves: the file exists, and a `#anchor` into a
 * markdown file names one of its headings (GitHub's slugs). Links inside code are not links and are skipped; a
 * repository path named in a code span must exist too, so a moved or renamed file cannot leave the docs behind.
 */
import { existsSync, readdirSync, readFileSync, statSync } from "node:fs";
import { dirname, join, relative, resolve } from "node:path";
import { describe, expect, it } from "vitest";
import { REPO_ROOT } from "../../infra/constructs/api-function.js";

const PAGES = [
  "README.md",
  "bench/README.md",
  ...readdirSync(join(REPO_ROOT, "docs"))
    .filter((f) => f.endsWith(".md"))
    .map((f) => `docs/${f}`),
];

/** The page without fenced code blocks and inline code, where `[x](y)` is text, not a link. */
function prose(markdown: string): string {
  return markdown.replace(/^```[^\n]*\n[\s\S]*?^```$/gm, "").replace(/`[^`\n]*`/g, "``");
}

/** Link targets: `[text](target)` and `![alt](target)`, with an optional title. */
function linksOf(markdown: string): string[] {
  return [...prose(markdown).matchAll(/!?\[(?:[^\]\n]|\][^(])*?\]\(([^)\s]+)(?:\s+"[^"]*")?\)/g)].map(
    ([, target]) => target as string,
  );
}

/** GitHub's heading anchors: lower case, punctuation dropped, spaces to hyphens, repeats numbered `-1`, `-2`… */
function anchorsOf(markdown: string): Set<string> {
  const anchors = new Set<string>();
  const seen = new Map<string, number>();
  const withoutCode = markdown.replace(/^```[^\n]*\n[\s\S]*?^```$/gm, "");
  for (const [, title] of withoutCode.matchAll(/^#{1,6} +(.+?) *#* *$/gm)) {
    const slug = (title as string)
      .toLowerCase()
      .replace(/[^\p{L}\p{N}\s_-]/gu, "")
      .replace(/ /g, "-");
    const n = seen.get(slug) ?? 0;
    seen.set(slug, n + 1);
    anchors.add(n === 0 ? slug : `${slug}-${n}`);
  }
  return anchors;
}

const isExternal = (target: string) => /^[a-z][a-z0-9+.-]*:/i.test(target);

function brokenLinks(page: string): string[] {
  const markdown = readFileSync(join(REPO_ROOT, page), "utf8");
  const broken: string[] = [];
  for (const target of linksOf(markdown)) {
    if (isExternal(target)) continue;
    const [path = "", anchor] = target.split("#", 2);
    const file = path === "" ? join(REPO_ROOT, page) : resolve(REPO_ROOT, dirname(page), decodeURI(path));
    const where = relative(REPO_ROOT, file);
    if (where.startsWith("..") || !existsSync(file)) {
      broken.push(`${page}: ${target} (no file ${where})`);
      continue;
    }
    if (anchor !== undefined && file.endsWith(".md") && statSync(file).isFile()) {
      if (!anchorsOf(readFileSync(file, "utf8")).has(anchor))
        broken.push(`${page}: ${target} (no heading #${anchor})`);
    }
  }
  return broken;
}

describe("links in the docs", () => {
  it("reads README.md, bench/README.md and every page of docs/", () => {
    expect(PAGES).toEqual(expect.arrayContaining(["README.md", "bench/README.md", "docs/architecture.md"]));
    expect(linksOf(readFileSync(join(REPO_ROOT, "README.md"), "utf8")).length).toBeGreaterThan(5);
  });

  for (const page of PAGES) {
    it(`every relative link of ${page} resolves to a file and, for #anchors, a heading`, () => {
      expect(brokenLinks(page)).toEqual([]);
    });
  }

  it("every repository file the docs name in code spans (`functions/app.ts`, `test/…`) exists", () => {
    const named = /`((?:functions|infra|local|test|bench|events|docs)\/[\w./-]+\.(?:ts|json|md|yaml))`/g;
    const missing = PAGES.flatMap((page) =>
      [...readFileSync(join(REPO_ROOT, page), "utf8").matchAll(named)]
        .map(([, path]) => path as string)
        .filter((path) => !existsSync(join(REPO_ROOT, path)))
        .map((path) => `${page}: ${path}`),
    );
    expect(missing).toEqual([]);
  });

  it("derives GitHub's anchors, and skips links inside code", () => {
    const anchors = anchorsOf(
      "# Deploy (`cdk deploy`)\n## Writes: `POST /data`, `PUT /data/{id}`\n## Tests\n## Tests\n",
    );
    expect([...anchors]).toEqual(["deploy-cdk-deploy", "writes-post-data-put-dataid", "tests", "tests-1"]);
    expect(linksOf('see [a](x.md) and `[b](y.md)`\n```\n[c](z.md)\n```\n![d](e.svg "t")')).toEqual([
      "x.md",
      "e.svg",
    ]);
  });
});
