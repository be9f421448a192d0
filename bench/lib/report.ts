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
}

export interface ScenarioResult {
  readonly figures: Figure[];
  /** Raw numbers behind the figures, written to the JSON only. */
  readonly details: Record<string, unknown>;
}

const verdict = (pass: boolean | null) => (pass === null ? "info" : pass ? "PASS" : "MISS");

/** A plain-text table (Markdown-compatible, so it pastes into an issue). */
export function formatTable(figures: readonly Figure[]): string {
  const header = ["figure", "measured", "goal", "result", "baseline (same run)"];
  const rows = figures.map((f) => [f.figure, f.measured, f.goal, verdict(f.pass), f.baseline ?? ""]);
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
