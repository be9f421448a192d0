import { mkdir, rename, writeFile } from "node:fs/promises";
import { cpus, loadavg } from "node:os";
import { dirname } from "node:path";

/** One measured figure beside its goal. `pass: null` marks a figure reported for information, without a goal. */
export interface Figure {
  readonly id: string;
  readonly figure: string;
  /** As printed, with its unit. */
  readonly measured: string;
  /** The number compared with the goal. */
  readonly value: number;
  readonly goal: string;
  readonly pass: boolean | null;
  /** What the figure is compared with, measured in the same run. */
  readonly baseline?: string;
  /** For a figure measured over repeated runs: how many of them met the goal (see {@link overRuns}). */
  readonly runs?: { readonly passed: number; readonly of: number };
}

export interface ScenarioResult {
  readonly figures: Figure[];
  /** Raw numbers behind the figures, written to the JSON only. */
  readonly details: Record<string, unknown>;
}

/**
 * The verdict of a figure measured over repeated runs: PASS only when every run met the goal, MISS when none did,
 * and `info` (with how many passed) when some did: a goal met in some runs and missed in others is not met.
 */
export function overRuns(values: readonly number[], meets: (value: number) => boolean) {
  const passed = values.filter(meets).length;
  const of = values.length;
  const pass = of > 0 && passed === of ? true : passed === 0 ? false : null;
  return { pass, runs: { passed, of } };
}

/** `median 12.3 (min 10.1, max 20.4)`: a repeated figure's spread, as printed beside it. */
export function spread(values: readonly number[], digits = 1, unit = ""): string {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted[Math.floor((sorted.length - 1) / 2)] ?? Number.NaN;
  const r = (v: number) => `${Number(v.toFixed(digits))}${unit}`;
  return `median ${r(mid)} (min ${r(sorted[0] ?? Number.NaN)}, max ${r(sorted.at(-1) ?? Number.NaN)})`;
}

const verdict = (f: Pick<Figure, "pass" | "runs">) => {
  if (f.pass !== null) return f.pass ? "PASS" : "MISS";
  return f.runs && f.runs.passed > 0 ? `info (${f.runs.passed}/${f.runs.of} runs pass)` : "info";
};

/** A plain-text table (Markdown-compatible, so it pastes into an issue). */
export function formatTable(figures: readonly Figure[]): string {
  const header = ["figure", "measured", "goal", "result", "baseline (same run)"];
  const rows = figures.map((f) => [f.figure, f.measured, f.goal, verdict(f), f.baseline ?? ""]);
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] as string).length)));
  const line = (cells: readonly string[]) =>
    `| ${cells.map((c, i) => c.padEnd(widths[i] as number)).join(" | ")} |`;
  return [line(header), `|${widths.map((w) => "-".repeat(w + 2)).join("|")}|`, ...rows.map(line)].join("\n");
}

/** Writes the JSON atomically (a `.tmp` file renamed into place), so a killed run never leaves half a file. */
export async function writeResults(path: string, data: unknown): Promise<void> {
  await mkdir(dirname(path), { recursive: true });
  const tmp = `${path}.${process.pid}.tmp`;
  await writeFile(tmp, `${JSON.stringify(data, null, 2)}\n`);
  await rename(tmp, path);
}

/** What the numbers were measured on: they only compare with runs on the same kind of machine and load. */
export function machine() {
  const cpu = cpus();
  return {
    node: process.version,
    platform: `${process.platform}-${process.arch}`,
    cpus: cpu.length,
    cpuModel: cpu[0]?.model ?? "unknown",
    loadavgAtStart: loadavg().map((l) => Math.round(l * 100) / 100),
  };
}
