/**
 * The function's settings table (functions/core/settings.ts) is the one place a setting is declared: the function's
 * loadConfig, the CDK context, the function's environment and the local runtime take it from there, and the docs
 * state it. A setting added in one of these places and not in the others fails here, naming the setting.
 */
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { App } from "aws-cdk-lib";
import { describe, expect, it } from "vitest";
import { loadConfig } from "../../functions/core/config.js";
import { FUNCTION_SETTING_ROWS, type FunctionSetting } from "../../functions/core/settings.js";
import { REPO_ROOT } from "../../infra/constructs/api-function.js";
import { CONTEXT_KEYS, readSettings } from "../../infra/context.js";
import {
  functionEnvironment,
  METRICS_NAMESPACE,
  POWERTOOLS_SERVICE_NAME,
} from "../../infra/function-environment.js";
import { FUNCTION_VARIABLES, readLocalSettings } from "../../local/settings.js";
import { testEnv } from "../helpers/fixtures.js";

const read = (path: string) => readFileSync(join(REPO_ROOT, path), "utf8");

/** The cells of the markdown table whose header row starts with `| ${firstHeader} |`, by column header. */
function markdownTable(page: string, firstHeader: string): Record<string, string>[] {
  const lines = page.split("\n");
  const start = lines.findIndex((l) => new RegExp(`^\\|\\s*${firstHeader}\\s*\\|`).test(l));
  expect(start, `a table starting with "| ${firstHeader} |"`).not.toBe(-1);
  const cells = (line: string) =>
    line
      .trim()
      .replace(/^\||\|$/g, "")
      .split("|")
      .map((c) => c.trim());
  const headers = cells(lines[start] as string);
  const rows: Record<string, string>[] = [];
  for (const line of lines.slice(start + 2)) {
    if (!line.startsWith("|")) break;
    const row = cells(line);
    rows.push(Object.fromEntries(headers.map((h, i) => [h, row[i] ?? ""])));
  }
  return rows;
}

/** How docs/configuration.md's "allowed" column states a row's values. */
function allowed(row: FunctionSetting): string {
  if (row.kind === "integer") return `${row.min}–${row.max}`;
  if (row.kind === "sql-identifier") return "an SQL identifier";
  return row.values.map((v) => `\`${v}\``).join(", ");
}

/**
 * A valid value other than the default, to see it travel; for a number the lower bound, which the stack's checks
 * across settings (a function timeout above the shard timeout plus the margin) always accept.
 */
function otherValue(row: FunctionSetting): string {
  if (row.kind === "integer") return String(row.default === row.min ? row.max : row.min);
  if (row.kind === "sql-identifier") return `${row.default}_x`;
  return row.values.find((v) => v !== row.default) as string;
}

const settingsFor = (context: Record<string, unknown> = {}) => readSettings(new App({ context }).node);
const contextRows = FUNCTION_SETTING_ROWS.filter((row) => row.context);
const loadConfigRows = FUNCTION_SETTING_ROWS.filter((row) => row.readBy === "loadConfig");

describe("the function's settings table", () => {
  it.each(FUNCTION_SETTING_ROWS)("holds a default that its own bounds allow ($env)", (row) => {
    if (row.kind === "integer") {
      expect(Number.isInteger(row.default)).toBe(true);
      expect(row.min).toBeLessThanOrEqual(row.default);
      expect(row.default).toBeLessThanOrEqual(row.max);
    } else if (row.kind === "one-of") {
      expect(row.values).toContain(row.default);
    }
    expect(row.env).toMatch(/^[A-Z][A-Z0-9_]*$/);
  });

  it("is stated row for row in docs/configuration.md: the variable, its default, what it allows, what it means", () => {
    const docs = markdownTable(read("docs/configuration.md"), "variable");
    const documented = docs.map((d) => d.variable);
    // SHARDS is built from the shard map, never chosen, so it is not a row of the table.
    expect(documented).toEqual(["`SHARDS`", ...FUNCTION_SETTING_ROWS.map((row) => `\`${row.env}\``)]);
    for (const row of FUNCTION_SETTING_ROWS) {
      const doc = docs.find((d) => d.variable === `\`${row.env}\``);
      expect(doc, row.env).toMatchObject({ default: `\`${row.default}\``, allowed: allowed(row) });
      expect(doc?.meaning?.startsWith(row.description), `${row.env}: "${row.description}…"`).toBe(true);
    }
  });

  it("is read by the CDK context: every deployable row is a context key, with its default and bounds", () => {
    expect(CONTEXT_KEYS).toEqual(expect.arrayContaining(contextRows.map((row) => row.name)));
    expect(new Set(CONTEXT_KEYS).size).toBe(CONTEXT_KEYS.length);
    const defaults = settingsFor();
    for (const row of FUNCTION_SETTING_ROWS) expect(defaults[row.name], row.name).toBe(row.default);
    for (const row of contextRows) {
      const value = otherValue(row);
      const parsed = row.kind === "integer" ? Number(value) : value;
      expect(settingsFor({ [row.name]: value })[row.name], row.name).toBe(parsed);
      if (row.kind === "integer") {
        expect(() => settingsFor({ [row.name]: String(row.max + 1) })).toThrow(
          `context ${row.name}: expected an integer in ${row.min}..${row.max}, got "${row.max + 1}"`,
        );
      }
    }
  });

  it("lists every context key in docs/deploy.md, with the default of each function setting", () => {
    const docs = markdownTable(read("docs/deploy.md"), "Key");
    expect(docs.map((d) => d.Key).sort()).toEqual(CONTEXT_KEYS.map((k) => `\`${k}\``).sort());
    for (const row of contextRows) {
      expect(docs.find((d) => d.Key === `\`${row.name}\``)?.Default, row.name).toBe(`\`${row.default}\``);
    }
  });

  it("makes the function's environment: SHARDS, every row with the deployment's value, and the fixed variables", () => {
    const env = functionEnvironment(settingsFor(), "[]");
    expect(Object.keys(env).sort()).toEqual(
      [
        "SHARDS",
        ...FUNCTION_SETTING_ROWS.map((row) => row.env),
        "POWERTOOLS_SERVICE_NAME",
        "POWERTOOLS_METRICS_NAMESPACE",
        "NODE_OPTIONS",
      ].sort(),
    );
    expect(env).toMatchObject({
      POWERTOOLS_SERVICE_NAME,
      POWERTOOLS_METRICS_NAMESPACE: METRICS_NAMESPACE,
    });
    for (const row of FUNCTION_SETTING_ROWS) expect(env[row.env], row.env).toBe(String(row.default));
    for (const row of contextRows) {
      const value = otherValue(row);
      expect(functionEnvironment(settingsFor({ [row.name]: value }), "[]")[row.env], row.env).toBe(value);
    }
  });

  it("is read by the function's loadConfig, with the bounds of each row", () => {
    for (const row of loadConfigRows) {
      const bad = row.kind === "integer" ? String(row.max + 1) : "not an identifier";
      expect(() => loadConfig(testEnv({ [row.env]: bad })), row.env).toThrow(`${row.env}: expected`);
      expect(() => loadConfig(testEnv({ [row.env]: otherValue(row) })), row.env).not.toThrow();
      if (row.kind === "integer") {
        expect(() => loadConfig(testEnv({ [row.env]: String(row.max + 1) }))).toThrow(
          `${row.env}: expected ${row.min}..${row.max}, got ${row.max + 1}`,
        );
      }
    }
  });

  it("is honoured and validated by the local runtime before anything starts", () => {
    expect(FUNCTION_VARIABLES).toEqual(loadConfigRows.map((row) => row.env));
    for (const row of loadConfigRows) {
      const value = otherValue(row);
      expect(readLocalSettings({ [row.env]: value }).functionEnv, row.env).toEqual({ [row.env]: value });
      const bad = row.kind === "integer" ? String(row.max + 1) : "not an identifier";
      expect(() => readLocalSettings({ [row.env]: bad }), row.env).toThrow(`${row.env}: expected`);
    }
  });
});
