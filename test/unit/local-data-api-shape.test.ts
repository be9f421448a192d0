/**
 * Issue 22, finding 9: the local Data API emulator's shape. Its files form one-way layers (no import cycle; the
 * execution on PostgreSQL never reaches up to requests, signing or operations; request parsing and signing never
 * reach the operations or the execution), and `local/data-api/index.ts` is its only door for the rest of `local/`
 * and for `test/`.
 */
import { readdirSync, readFileSync, statSync } from "node:fs";
import { dirname, join, normalize, relative } from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";

const ROOT = normalize(join(dirname(fileURLToPath(import.meta.url)), "..", ".."));
const FOLDER = "local/data-api";

/** Relative imports of a file, as repository paths (`.js` specifiers name `.ts` files). */
function importsOf(file: string): string[] {
  const text = readFileSync(join(ROOT, file), "utf8");
  return [...text.matchAll(/(?:import|export)[^;]*?from\s+"(\.{1,2}\/[^"]+)"/g)].map((m) =>
    relative(ROOT, join(ROOT, dirname(file), (m[1] as string).replace(/\.js$/, ".ts"))),
  );
}

function filesUnder(folder: string): string[] {
  return readdirSync(join(ROOT, folder)).flatMap((name) => {
    const path = join(folder, name);
    if (statSync(join(ROOT, path)).isDirectory()) return name === "node_modules" ? [] : filesUnder(path);
    return path.endsWith(".ts") ? [path] : [];
  });
}

const inside = filesUnder(FOLDER);
const name = (file: string) => file.slice(FOLDER.length + 1).replace(/\.ts$/, "");
const graph = new Map(
  inside.map((f) => [
    name(f),
    importsOf(f)
      .filter((t) => t.startsWith(`${FOLDER}/`))
      .map(name),
  ]),
);

const EXECUTION = ["execute", "pools", "params", "fields", "types"];
const REQUEST = ["requests", "sigv4"];
const OPERATIONS = ["operations", "transactions"];

describe("local/data-api", () => {
  it("has no import cycle", () => {
    const cycles: string[] = [];
    const visit = (node: string, path: string[]) => {
      if (path.includes(node)) {
        cycles.push([...path.slice(path.indexOf(node)), node].join(" -> "));
        return;
      }
      for (const next of graph.get(node) ?? []) visit(next, [...path, node]);
    };
    for (const node of graph.keys()) visit(node, []);
    expect(cycles).toEqual([]);
  });

  it("runs one way: execution imports no request, signing or operation file; requests and signing no operation or execution", () => {
    const upward = [...graph].flatMap(([from, targets]) =>
      targets
        .filter(
          (to) =>
            (EXECUTION.includes(from) && [...REQUEST, ...OPERATIONS, "server", "index"].includes(to)) ||
            (REQUEST.includes(from) && [...OPERATIONS, "execute", "pools", "server", "index"].includes(to)) ||
            (OPERATIONS.includes(from) && ["server", "index"].includes(to)),
        )
        .map((to) => `${from} -> ${to}`),
    );
    expect(upward).toEqual([]);
  });

  it("is entered through index.ts only, from local/ and test/", () => {
    const doors = [...filesUnder("local"), ...filesUnder("test")]
      .filter((f) => !f.startsWith(`${FOLDER}/`))
      .flatMap((f) => importsOf(f).map((t) => [f, t] as const))
      .filter(([, t]) => t.startsWith(`${FOLDER}/`) && t !== `${FOLDER}/index.ts`)
      .map(([f, t]) => `${f} -> ${t}`);
    expect(doors).toEqual([]);
  });
});
