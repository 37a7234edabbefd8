// @vitest-environment jsdom
// Saved runs drawn beside the live one (issue 12, defect 6): one legend entry per run (at most
// OVERLAY_LEGEND_MAX, then "+N more"), the legend under the plot with the chart grown to keep
// the plot area, and a saved run's requests/min and tokens/s kept apart (their own axis, the
// tokens/s one scaled to twice its top). Plotly is a recording mock here; tests/browser draws.
import { beforeEach, describe, expect, it, vi } from "vitest";
import { THEME } from "./testing/theme.js";

const plotly = vi.hoisted(() => ({
  newPlot: vi.fn(),
  react: vi.fn(),
  extendTraces: vi.fn(),
  purge: vi.fn(),
  Plots: { resize: vi.fn() },
}));
vi.mock("plotly.js-basic-dist-min", () => ({ default: plotly }));

const { Chart, OVERLAY_LEGEND_MAX, PLOT_HEIGHT, buildLayout, buildOverlayTraces, legendRows } = await import("./charts.js");
const { CHARTS, toColumns } = await import("./series.js");

const [THROUGHPUT, LATENCY] = CHARTS;
const bucket = (t, k = 1) => ({
  t,
  completed: 10,
  failed: 0,
  requests_per_minute: 600 * k,
  output_tps: 480 * k, // 48 tokens a request: proportional to requests/min
  ttft_p50: 0.1 * k,
  ttft_p90: 0.2 * k,
  ttlt_p50: 1 * k,
  ttlt_p90: 2 * k,
  active_clients: 8,
  in_flight: 6,
});
const saved = (label, k = 1) => ({ label, kind: "run", stats: {}, series: [0, 1, 2].map((t) => bucket(t, k)), levels: [] });
const runs = (n) => Array.from({ length: n }, (_, i) => saved(`run-${i + 1}`, 1 + i / 10));
const legendOf = (traces) => traces.filter((t) => t.showlegend !== false).map((t) => t.name);

describe("the legend of saved runs", () => {
  it("names each run once, not once per trace, and counts the runs past the limit", () => {
    expect(OVERLAY_LEGEND_MAX).toBe(4);
    for (const [n, names] of [
      [1, ["run-1"]],
      [4, ["run-1", "run-2", "run-3", "run-4"]],
      [5, ["run-1", "run-2", "run-3", "run-4", "+1 more saved run"]],
      [12, ["run-1", "run-2", "run-3", "run-4", "+8 more saved runs"]],
    ]) {
      const traces = buildOverlayTraces(LATENCY, runs(n), THEME);
      expect(legendOf(traces)).toEqual(names);
      // every run's four lines are drawn, in the legend or not
      expect(traces.filter((t) => t.showlegend === false)).toHaveLength(4 * n);
    }
  });

  it("a run's entry has its dash in the text colour, and no point of its own", () => {
    const traces = buildOverlayTraces(LATENCY, runs(2), THEME);
    const entries = traces.filter((t) => t.showlegend);
    expect(entries.map((t) => [t.line.dash, t.line.color, t.legendgroup])).toEqual([
      ["dash", THEME.font, "overlay-0"],
      ["dot", THEME.font, "overlay-1"],
    ]);
    expect(entries.every((t) => t.x.every((v) => v === null) && t.hoverinfo === "skip")).toBe(true);
    // the run's lines belong to its entry's group (a click hides them all)
    expect(traces.filter((t) => t.legendgroup === "overlay-1" && !t.showlegend)).toHaveLength(4);
  });

  it("estimates the legend's rows from the text, generously", () => {
    expect(legendRows([], 300)).toBe(0);
    expect(legendRows(["a", "b"], 300)).toBe(1);
    const names = ["TTFT p50", "TTFT p90", "TTLT p50", "TTLT p90", "run-2025-01-01", "run-2025-01-02", "+2 more saved runs"];
    const narrow = legendRows(names, 300);
    expect(narrow).toBeGreaterThanOrEqual(4);
    expect(legendRows(names, 1000)).toBeLessThan(narrow);
  });
});

describe("the chart with saved runs", () => {
  beforeEach(() => vi.clearAllMocks());

  function render(def, overlays, width = 420) {
    const div = document.createElement("div");
    Object.defineProperty(div, "clientWidth", { value: width });
    const chart = new Chart(div, def);
    chart.render(toColumns(def, [0, 1, 2, 3].map((t) => bucket(t))), THEME, overlays);
    const [, traces, layout] = plotly.newPlot.mock.calls.at(-1);
    return { traces, layout };
  }

  it("without saved runs: the legend on top, the height as before", () => {
    const { layout } = render(LATENCY, []);
    expect(layout.legend.yanchor).toBe("top");
    expect(layout.legend.y).toBe(1);
    expect(layout.height).toBe(300);
    expect(layout.yaxis2).toBeUndefined();
  });

  it("with 6: the legend under the x axis, the chart grown so the plot area keeps its height", () => {
    for (const width of [340, 420, 700]) {
      const { traces, layout } = render(LATENCY, runs(6), width);
      const { t, b } = layout.margin;
      expect(layout.height - t - b).toBe(PLOT_HEIGHT); // >= 200 px, whatever the legend
      expect(PLOT_HEIGHT).toBeGreaterThanOrEqual(200);
      const rows = legendRows(legendOf(traces), width - layout.margin.l - layout.margin.r);
      expect(b).toBeGreaterThanOrEqual(48 + rows * 20); // the x axis' title, then the legend's rows
      expect(layout.legend.yanchor).toBe("top");
      expect(layout.legend.y * layout.height).toBeLessThan(b - 40); // under the axis' title
    }
  });

  it("a saved run's requests/min and tokens/s: dashed alike, on their own axes, tokens/s in the lower half", () => {
    const overlays = [saved("before", 1.5), saved("after", 0.5)];
    const { traces, layout } = render(THROUGHPUT, overlays);
    const rpm = traces.filter((t) => t.name.endsWith("· Requests/min"));
    const tps = traces.filter((t) => t.name.endsWith("· Output tokens/s"));
    expect(rpm.map((t) => [t.yaxis, t.line.dash])).toEqual([[undefined, "dash"], [undefined, "dot"]]);
    expect(tps.map((t) => [t.yaxis, t.line.dash])).toEqual([["y2", "dash"], ["y2", "dot"]]);
    expect(tps.map((t) => t.line.color)).not.toEqual(rpm.map((t) => t.line.color));
    // the right axis reaches twice the highest tokens/s drawn (live or saved: 480 x 1.5)
    expect(layout.yaxis2.autorangeoptions).toEqual({ include: [0, 2 * 720] });
    // so a run at the top of its requests/min axis is at half of the tokens/s one
    expect(layout.yaxis2.overlaying).toBe("y");
  });

  it("buildLayout alone: no saved runs, no change", () => {
    expect(buildLayout(THROUGHPUT, THEME).yaxis2.autorangeoptions).toBeUndefined();
    expect(buildLayout(THROUGHPUT, THEME, { y2Top: 100 }).yaxis2.autorangeoptions).toEqual({ include: [0, 100] });
  });
});
