// The client sweep's pure parts: the levels input's parser and the comparison chart's data.
import { describe, expect, it } from "vitest";
import { formatLevels, parseLevels } from "./levels.js";
import { THEME } from "./testing/theme.js";

const { buildSweepTraces, buildSweepLayout, comparisonPoints, sweepVisible } = await import("./sweep.js");

const level = (clients, output_tps, ttft_p90) => ({
  clients,
  output_tps,
  requests_per_minute: output_tps * 2,
  ttft_p50: ttft_p90 / 2,
  ttft_p90,
  ttlt_p90: ttft_p90 * 10,
  failed_requests_rate: 0,
});

describe("parseLevels", () => {
  it("reads comma and/or space separated client counts", () => {
    expect(parseLevels("1, 2, 4, 8, 16")).toEqual({ ok: true, levels: [1, 2, 4, 8, 16] });
    expect(parseLevels("  1,2 ,  4 ")).toEqual({ ok: true, levels: [1, 2, 4] });
    expect(parseLevels("3 1 2")).toEqual({ ok: true, levels: [3, 1, 2] });
    expect(parseLevels("1,,2,")).toEqual({ ok: true, levels: [1, 2] });
  });

  it("rejects what Python would reject, with a readable reason", () => {
    expect(parseLevels("1, 2, x")).toEqual({ ok: false, error: '"x" is not a whole number.' });
    expect(parseLevels("1.5").ok).toBe(false);
    expect(parseLevels("-1").ok).toBe(false);
    expect(parseLevels("0, 1")).toEqual({ ok: false, error: "0 is out of range: choose 1..Infinity." });
    expect(parseLevels("1, 65", 64)).toEqual({ ok: false, error: "65 is out of range: choose 1..64." });
    expect(parseLevels("1, 2, 2")).toEqual({ ok: false, error: "2 is given twice: give each count once." });
    expect(parseLevels("").ok).toBe(false);
    expect(parseLevels("  , ").ok).toBe(false);
    expect(parseLevels(undefined).ok).toBe(false);
  });

  it("formats levels back for the input", () => {
    expect(formatLevels([1, 2, 4])).toBe("1, 2, 4");
    expect(formatLevels(undefined)).toBe("");
  });
});

describe("comparison chart data", () => {
  it("one point per level, by client count: output tokens/s vs TTFT p90 in ms", () => {
    const comparison = { levels: [level(4, 300, 0.2), level(1, 100, 0.05), level(2, 190, 0.06)], knee: 2 };
    const p = comparisonPoints(comparison);
    expect(p.clients).toEqual([1, 2, 4]);
    expect(p.x).toEqual([100, 190, 300]);
    expect(p.y[0]).toBeCloseTo(50);
    expect(p.y[2]).toBeCloseTo(200);
    expect(p.text).toEqual(["1", "2", "4"]);
    expect(p.knee).toBe(1);
  });

  it("missing numbers are gaps, and no knee is no marker", () => {
    const p = comparisonPoints({ levels: [level(1, 100, 0.05), { clients: 2, output_tps: null }], knee: null });
    expect(p.x).toEqual([100, null]);
    expect(p.y[1]).toBe(null);
    expect(p.knee).toBe(-1);
    expect(comparisonPoints(undefined)).toEqual({ x: [], y: [], clients: [], text: [], knee: -1 });
    expect(buildSweepTraces({ levels: [level(1, 100, 0.05)], knee: null }, THEME)).toHaveLength(1);
  });

  it("traces: markers + line labelled with client counts, and the knee highlighted", () => {
    const traces = buildSweepTraces(
      { levels: [level(1, 100, 0.05), level(2, 190, 0.06), level(4, 200, 0.3)], knee: 2 },
      THEME,
    );
    expect(traces).toHaveLength(2);
    expect(traces[0].mode).toBe("lines+markers+text");
    expect(traces[0].text).toEqual(["1", "2", "4"]);
    expect(traces[0].line.color).toBe(THEME.colors[0]);
    expect(traces[1].name).toBe("knee (2 clients)");
    expect(traces[1].x).toEqual([190]);
    expect(traces[1].y[0]).toBeCloseTo(60);
    expect(traces[1].marker.line.color).toBe(THEME.colors[4]);
    // the cursor readout names a point's clients, throughput and latency
    expect(traces[0].hovertext[1]).toBe("2 clients · 190 tok/s · TTFT p90 60 ms");
  });

  it("lays the points out in their own x order (throughput falls past saturation)", () => {
    const layout = buildSweepLayout(THEME);
    expect([layout.xy, layout.xTitle, layout.yTitle]).toEqual([true, "output tokens / s", "TTFT p90 (ms)"]);
  });

  it("is shown when the comparison has levels or the mode is sweep", () => {
    expect(sweepVisible({ levels: [] }, "time")).toBe(false);
    expect(sweepVisible(undefined, "count")).toBe(false);
    expect(sweepVisible({ levels: [] }, "sweep")).toBe(true);
    expect(sweepVisible({ levels: [level(1, 100, 0.05)] }, "time")).toBe(true);
  });
});
