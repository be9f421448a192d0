/**
 * Hand-written SVG line charts for the benchmark's results (no charting dependency): one or more panels side by
 * side, each with axes, ticks, a legend and one polyline (and dots) per series.
 */

export interface Series {
  readonly name: string;
  readonly points: readonly (readonly [x: number, y: number])[];
  readonly color?: string;
  /** Draw a dot at every point (few points, e.g. per shard count). */
  readonly dots?: boolean;
}

export interface Panel {
  readonly title: string;
  readonly xLabel: string;
  readonly yLabel: string;
  readonly series: readonly Series[];
  /** Ticks on the x axis at exactly these values (e.g. shard counts); otherwise about five round ones. */
  readonly xTicks?: readonly number[];
}

const PALETTE = ["#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd"];
const PANEL_W = 520;
const PANEL_H = 320;
const M = { top: 40, right: 20, bottom: 48, left: 64 };

export function escapeXml(text: string): string {
  return text.replace(/[<>&"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

/** About `count` round tick values covering [lo, hi] (steps of 1, 2 or 5 times a power of ten). */
export function niceTicks(lo: number, hi: number, count = 5): number[] {
  if (!(hi > lo)) return [lo];
  const raw = (hi - lo) / count;
  const power = 10 ** Math.floor(Math.log10(raw));
  const step = ([1, 2, 5, 10].find((m) => m * power >= raw) ?? 10) * power;
  const ticks: number[] = [];
  for (let v = Math.ceil(lo / step) * step; v <= hi + step * 1e-9; v += step)
    ticks.push(Number(v.toPrecision(12)));
  return ticks;
}

const fmt = (v: number) =>
  Math.abs(v) >= 10_000 ? `${Number((v / 1000).toPrecision(4))}k` : String(Number(v.toPrecision(4)));

function panel(p: Panel, offsetX: number): string {
  const all = p.series.flatMap((s) => s.points);
  const xs = all.map(([x]) => x);
  const ys = all.map(([, y]) => y).filter(Number.isFinite);
  const xMin = Math.min(...(p.xTicks ?? xs), ...xs);
  const xMax = Math.max(...(p.xTicks ?? xs), ...xs);
  const yTicks = niceTicks(0, Math.max(...ys, 1e-9) * 1.05);
  const yMax = yTicks.at(-1) ?? 1;
  const w = PANEL_W - M.left - M.right;
  const h = PANEL_H - M.top - M.bottom;
  const sx = (x: number) => M.left + (xMax > xMin ? ((x - xMin) / (xMax - xMin)) * w : w / 2);
  const sy = (y: number) => M.top + h - (y / yMax) * h;
  const out: string[] = [`<g transform="translate(${offsetX},0)">`];
  out.push(
    `<text x="${PANEL_W / 2}" y="20" text-anchor="middle" font-weight="bold">${escapeXml(p.title)}</text>`,
    `<line x1="${M.left}" y1="${M.top + h}" x2="${M.left + w}" y2="${M.top + h}" stroke="#333"/>`,
    `<line x1="${M.left}" y1="${M.top}" x2="${M.left}" y2="${M.top + h}" stroke="#333"/>`,
  );
  for (const t of yTicks) {
    const y = sy(t).toFixed(1);
    out.push(
      `<line x1="${M.left}" y1="${y}" x2="${M.left + w}" y2="${y}" stroke="#e5e5e5"/>`,
      `<text x="${M.left - 6}" y="${y}" text-anchor="end" dominant-baseline="middle">${fmt(t)}</text>`,
    );
  }
  for (const t of p.xTicks ?? niceTicks(xMin, xMax)) {
    const x = sx(t).toFixed(1);
    out.push(
      `<line x1="${x}" y1="${M.top + h}" x2="${x}" y2="${M.top + h + 5}" stroke="#333"/>`,
      `<text x="${x}" y="${M.top + h + 18}" text-anchor="middle">${fmt(t)}</text>`,
    );
  }
  out.push(
    `<text x="${M.left + w / 2}" y="${PANEL_H - 8}" text-anchor="middle">${escapeXml(p.xLabel)}</text>`,
    `<text transform="translate(16,${M.top + h / 2}) rotate(-90)" text-anchor="middle">${escapeXml(p.yLabel)}</text>`,
  );
  p.series.forEach((s, i) => {
    const color = s.color ?? PALETTE[i % PALETTE.length];
    const pts = s.points.filter(([, y]) => Number.isFinite(y));
    const path = pts.map(([x, y]) => `${sx(x).toFixed(1)},${sy(y).toFixed(1)}`).join(" ");
    out.push(`<polyline fill="none" stroke="${color}" stroke-width="1.8" points="${path}"/>`);
    if (s.dots) {
      for (const [x, y] of pts) {
        out.push(`<circle cx="${sx(x).toFixed(1)}" cy="${sy(y).toFixed(1)}" r="3" fill="${color}"/>`);
      }
    }
    const ly = M.top + 6 + i * 16;
    out.push(
      `<line x1="${M.left + 12}" y1="${ly}" x2="${M.left + 32}" y2="${ly}" stroke="${color}" stroke-width="3"/>`,
      `<text x="${M.left + 38}" y="${ly}" dominant-baseline="middle">${escapeXml(s.name)}</text>`,
    );
  });
  out.push("</g>");
  return out.join("\n");
}

/** A standalone SVG document with the panels side by side and an optional note under them. */
export function chart(panels: readonly Panel[], note?: string): string {
  const width = PANEL_W * panels.length;
  const height = PANEL_H + (note ? 24 : 0);
  return [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="sans-serif" font-size="12">`,
    `<rect width="${width}" height="${height}" fill="#fff"/>`,
    ...panels.map((p, i) => panel(p, i * PANEL_W)),
    ...(note ? [`<text x="8" y="${height - 8}" fill="#555">${escapeXml(note)}</text>`] : []),
    "</svg>",
    "",
  ].join("\n");
}
