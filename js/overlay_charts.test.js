// @vitest-environment jsdom
// Saved runs drawn beside the live one (issue 12, defect 6): one legend entry per run (at most
// OVERLAY_LEGEND_MAX, then "+N more"), the legend under the plot so the plot keeps its height,
// and a saved run's requests/min and tokens/s kept apart (their own axis, the tokens/s one
// scaled to twice its top). uPlot is a recording fake here; tests/browser draws.
import { beforeEach, describe, expect, it, vi } from "vitest";
import { THEME } from "./testing/theme.js";

const fake = vi.hoisted(() => ({ uplots: [] }));
vi.mock("uplot", async () => (await import("./testing/fake_uplot.js")).mockUPlot(vi, fake.uplots));

const { Chart, HEIGHT, OVERLAY_LEGEND_MAX, buildLayout, buildOverlayTraces } = await import("./charts.js");
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
    expect(entries.every((t) => t.x.length === 0)).toBe(true);
    // the run's lines belong to its entry's group (a click hides them all)
    expect(traces.filter((t) => t.legendgroup === "overlay-1" && !t.showlegend)).toHaveLength(4);
  });

  it("the runs past the limit share the \"+N more\" entry: its click hides them all", () => {
    const traces = buildOverlayTraces(LATENCY, runs(6), THEME);
    const more = traces.filter((t) => t.legendgroup === "overlay-more");
    expect(more.filter((t) => t.showlegend === false)).toHaveLength(2 * 4); // runs 5 and 6
    expect(more.filter((t) => t.showlegend).map((t) => t.name)).toEqual(["+2 more saved runs"]);
  });
});

describe("the chart with saved runs", () => {
  beforeEach(() => {
    fake.uplots.length = 0;
  });

  function render(def, overlays) {
    const div = document.createElement("div");
    const chart = new Chart(div, def);
    chart.render(toColumns(def, [0, 1, 2, 3].map((t) => bucket(t))), THEME, overlays);
    return { div, traces: div.data, layout: div.layout, uplot: fake.uplots.at(-1) };
  }

  it("keeps the plot's height with 0 or 12 saved runs: the legend goes under it, in the page", () => {
    for (const n of [0, 1, 6, 12]) {
      const { div, uplot } = render(LATENCY, runs(n));
      expect(uplot.height).toBe(HEIGHT);
      const names = [...div.querySelectorAll(".lmw-legend-name")].map((e) => e.textContent);
      expect(names.slice(0, 4)).toEqual(["TTFT p50", "TTFT p90", "TTLT p50", "TTLT p90"]);
      expect(names.length).toBe(4 + Math.min(n, OVERLAY_LEGEND_MAX) + (n > OVERLAY_LEGEND_MAX ? 1 : 0));
      expect(div.querySelector(".lmw-legend").previousElementSibling).toBe(div.querySelector(".lmw-plot-canvas"));
    }
  });

  it("a saved run's requests/min and tokens/s: dashed alike, on their own axes, tokens/s in the lower half", () => {
    const overlays = [saved("before", 1.5), saved("after", 0.5)];
    const { traces, layout, uplot } = render(THROUGHPUT, overlays);
    const rpm = traces.filter((t) => t.name.endsWith("· Requests/min"));
    const tps = traces.filter((t) => t.name.endsWith("· Output tokens/s"));
    expect(rpm.map((t) => [t.yaxis, t.line.dash])).toEqual([[undefined, "dash"], [undefined, "dot"]]);
    expect(tps.map((t) => [t.yaxis, t.line.dash])).toEqual([["y2", "dash"], ["y2", "dot"]]);
    expect(tps.map((t) => t.line.color)).not.toEqual(rpm.map((t) => t.line.color));
    // the right axis reaches twice the highest tokens/s drawn (live or saved: 480 x 1.5)
    expect(layout.y2Top).toBe(2 * 720);
    expect(uplot.opts.scales.y2.range(null, 0, 720)[1]).toBeGreaterThanOrEqual(1440);
    // the saved runs' lines are on the scales their traces name
    const scaleOf = (name) => uplot.opts.series.find((s) => s.label === name).scale;
    expect([scaleOf("before · Requests/min"), scaleOf("before · Output tokens/s")]).toEqual(["y", "y2"]);
  });

  it("buildLayout alone: no saved runs, no change", () => {
    expect(buildLayout(THROUGHPUT, THEME).y2Top).toBe(null);
    expect(buildLayout(THROUGHPUT, THEME, { y2Top: 100 }).y2Top).toBe(100);
  });
});
