import { describe, expect, it } from "vitest";
import { formatTable, overRuns, spread } from "../../bench/lib/report.js";
import { chart, niceTicks } from "../../bench/lib/svg.js";

describe("a benchmark figure measured over repeated runs", () => {
  const meets = (p99: number) => p99 <= 25;

  it("passes only when every run meets the goal", () => {
    expect(overRuns([24.4, 24.7, 20], meets)).toEqual({ pass: true, runs: { passed: 3, of: 3 } });
  });

  it("is info, not PASS, when some runs meet the goal and others miss it", () => {
    expect(overRuns([24.4, 24.7, 49.6], meets)).toEqual({ pass: null, runs: { passed: 2, of: 3 } });
    expect(overRuns([24.7, 45.5, 49.8, 50.4, 53.2, 422.7], meets)).toEqual({
      pass: null,
      runs: { passed: 1, of: 6 },
    });
  });

  it("misses when no run meets the goal", () => {
    expect(overRuns([45.5, 49.8], meets).pass).toBe(false);
  });

  it("prints as info with how many runs passed, beside its spread", () => {
    const values = [24.4, 24.7, 49.6];
    const table = formatTable([
      {
        id: "x",
        figure: "open loop",
        measured: spread(values, 1, " ms"),
        value: 24.7,
        goal: "<= 25 ms in every run",
        ...overRuns(values, meets),
      },
    ]);
    expect(table).toContain("median 24.7 ms (min 24.4 ms, max 49.6 ms)");
    expect(table).toContain("info (2/3 runs pass)");
    expect(table).not.toContain("PASS");
  });
});

describe("the SVG charts", () => {
  it("pick round ticks", () => {
    expect(niceTicks(0, 207)).toEqual([0, 50, 100, 150, 200]);
    expect(niceTicks(0, 1.05)).toEqual([0, 0.5, 1]);
    expect(niceTicks(3, 24)).toEqual([5, 10, 15, 20]);
  });

  it("draw one polyline per series, with escaped text, in a standalone SVG document", () => {
    const svg = chart([
      {
        title: "p50 <by> shards & CPU",
        xLabel: "shards",
        yLabel: "ms",
        xTicks: [3, 6, 12, 24],
        series: [
          {
            name: "p50",
            points: [
              [3, 10],
              [24, 40],
            ],
            dots: true,
          },
          {
            name: "p99",
            points: [
              [3, 20],
              [24, 80],
            ],
          },
        ],
      },
    ]);
    expect(svg.startsWith('<svg xmlns="http://www.w3.org/2000/svg"')).toBe(true);
    expect(svg.match(/<polyline /g)).toHaveLength(2);
    expect(svg.match(/<circle /g)).toHaveLength(2);
    expect(svg).toContain("p50 &#60;by&#62; shards &#38; CPU");
    expect(svg).not.toContain("<by>");
  });
});
