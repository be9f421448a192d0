/** What the tool prints: the status table, a plan (`--dry-run`), and the one-line summary of an operation. */
import type { IdRange, ShardRanges } from "../functions/core/shard-map.js";
import type { Fence } from "./fence-state.js";
import type { OpSpec, Plan } from "./plan.js";
import { describeIds } from "./ranges.js";
import type { Unfinished } from "./state.js";

/** Columns padded to their widest cell; the last column is not padded. */
export function table(header: readonly string[], rows: readonly (readonly string[])[]): string[] {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? "").length)));
  const line = (cells: readonly string[]) =>
    cells
      .map((c, i) => (i === cells.length - 1 ? c : c.padEnd(widths[i] ?? 0)))
      .join("  ")
      .trimEnd();
  return [line(header), ...rows.map(line)];
}

const range = ([lo, hi]: IdRange) => `${lo}-${hi}`;

/** `move 31-40 from shard 1 to shard 4`. */
export function describeSpec(spec: OpSpec): string {
  switch (spec.kind) {
    case "assign":
      return `assign ${range(spec.range)} to shard ${spec.shard}`;
    case "split":
      return `split shard ${spec.shard} at ${spec.at}`;
    case "merge":
      return `merge the adjacent ranges of shard ${spec.shard}`;
    case "add-shard":
      return `add shard ${spec.shard}`;
    case "move":
      return `move ${range(spec.range)} from shard ${spec.from} to shard ${spec.to}`;
  }
}

const mapText = (shards: readonly ShardRanges[]) =>
  shards.map((s) => `${s.id}: ${s.ranges.length ? s.ranges.map(range).join(", ") : "-"}`).join("; ");

export interface ShardStatus {
  readonly fence: Fence;
  readonly rows: number;
}

export function statusLines(
  shards: readonly ShardStatus[],
  open: Unfinished | undefined,
  progress: string | undefined,
): string[] {
  const lines = table(
    ["shard", "version", "owned", "frozen", "unowned", "rows"],
    shards.map(({ fence, rows }) => [
      String(fence.shard),
      String(fence.version),
      describeIds(fence.owned),
      describeIds(fence.frozen),
      describeIds(fence.unowned),
      rows.toLocaleString("en-US"),
    ]),
  );
  lines.push("");
  if (!open) lines.push("no operation in progress");
  else {
    const where = open.rows.map((r) => `shard ${r.shard}: ${r.step} (updated ${r.updatedAt})`).join("; ");
    lines.push(`operation ${open.plan.id}: ${describeSpec(open.plan.spec)}, step ${open.step} (${where})`);
    if (progress) lines.push(progress);
  }
  return lines;
}

export function planLines(plan: Plan): string[] {
  const lines = [
    `plan ${plan.id}: ${describeSpec(plan.spec)}`,
    `map version ${plan.fromVersion} -> ${plan.version}`,
    `  before: ${mapText(plan.before)}`,
    `  after:  ${mapText(plan.after)}`,
    `operation row on shards ${plan.involved.join(", ")}`,
  ];
  plan.steps.forEach((step, i) => {
    lines.push(`${i + 1}. ${step.name}: ${step.does}`);
    for (const w of step.writes) {
      const f = w.fence;
      lines.push(
        `   set_fence on shard ${w.shard}: version ${f.version}, owned ${describeIds(f.owned)}, frozen ${describeIds(f.frozen)}, unowned ${describeIds(f.unowned)}${w.marker ? `, marker ${w.marker}` : ""}`,
      );
    }
  });
  return lines;
}

const seconds = (ms: number) => `${(ms / 1000).toFixed(1)} s`;

export function summaryLine(plan: Plan, ms: number, opts: { resumed?: boolean; rows?: number } = {}): string {
  const rows = opts.rows === undefined ? "" : `${opts.rows.toLocaleString("en-US")} rows, `;
  return `${opts.resumed ? "resumed, done" : "done"}: ${describeSpec(plan.spec)} (operation ${plan.id}, ${rows}map version ${plan.version}, ${seconds(ms)})`;
}
