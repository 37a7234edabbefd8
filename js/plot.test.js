// @vitest-environment jsdom
// plot.js: figures turned into uPlot options, the legend under the plot, the PNG button.
// jsdom has no canvas, so uPlot is a recording fake here (js/testing/fake_uplot.js); the real
// one draws in tests/browser (pixels, the PNG file, a legend click hiding lines).
import { beforeEach, describe, expect, it, vi } from "vitest";
import { THEME } from "./testing/theme.js";

const fake = vi.hoisted(() => ({ uplots: [] }));
vi.mock("uplot", async () => (await import("./testing/fake_uplot.js")).mockUPlot(vi, fake.uplots));

const { DASHES, PlotBox, alignedData, formatNumber, legendEntries, pngName, uplotFigure, withOpacity } = await import(
  "./plot.js"
);
const { baseLayout } = await import("./charts.js");

const LAYOUT = baseLayout(THEME, { xTitle: "seconds since start", yTitle: "ms" });
const line = (name, x, y, extra = {}) => ({ mode: "lines", name, x, y, line: { width: 2, color: "#1976d2" }, ...extra });

beforeEach(() => {
  fake.uplots.length = 0;
});

describe("figures as uPlot options", () => {
  it("aligns traces on one x: a missing value is a gap (null), a missing x is skipped (undefined)", () => {
    const data = alignedData([line("a", [0, 1, 2], [5, null, 7]), line("b", [1, 3], [10, 30])]);
    expect(data[0]).toEqual([0, 1, 2, 3]);
    expect(data[1]).toEqual([5, null, 7, undefined]);
    expect(data[2]).toEqual([undefined, 10, undefined, 30]);
    // unsorted or repeated x (uPlot needs them sorted) and null x are dropped, not drawn wrong
    expect(alignedData([line("a", [0, 2, 1, null, 3], [1, 2, 3, 4, 5])])).toEqual([[0, 2, 3], [1, 2, 5]]);
  });

  it("draws dashes, gaps, areas, dimmed overlays, and a right axis only when a trace uses it", () => {
    const traces = [
      line("p90", [0], [1], { line: { width: 2, color: "#1976d2", dash: "dot" } }),
      line("tok/s", [0], [1], { yaxis: "y2", fill: "tozeroy", fillcolor: "rgba(1,2,3,0.2)", line: { width: 0, color: "#e65100" } }),
      line("before", [0], [1], { opacity: 0.5, line: { width: 1.5, color: "#1976d2", dash: "dash" } }),
    ];
    const { opts } = uplotFigure(traces, { ...LAYOUT, y2Title: "tok/s" }, 400);
    const [, p90, tps, before] = opts.series;
    expect(p90.dash).toEqual(DASHES.dot);
    expect(p90.spanGaps).toBe(false);
    expect([tps.scale, tps.fill, tps.stroke]).toEqual(["y2", "rgba(1,2,3,0.2)", "transparent"]);
    expect([before.stroke, before.dash]).toEqual(["rgba(25,118,210,0.5)", DASHES.dash]);
    expect(opts.axes.map((a) => [a.scale, a.label])).toEqual([
      ["x", "seconds since start"],
      ["y", "ms"],
      ["y2", "tok/s"],
    ]);
    expect(uplotFigure([traces[0]], LAYOUT, 400).opts.axes.map((a) => a.scale)).toEqual(["x", "y"]);
  });

  it("starts the y axes at zero; the right one reaches y2Top", () => {
    const traces = [line("a", [0, 1], [3, 8]), line("b", [0, 1], [40, 50], { yaxis: "y2" })];
    const { opts } = uplotFigure(traces, { ...LAYOUT, y2Top: 100 }, 400);
    const [y0, y1] = opts.scales.y.range(null, 3, 8);
    expect(y0).toBe(0);
    expect(y1).toBeGreaterThanOrEqual(8);
    const [, top] = opts.scales.y2.range(null, 40, 50);
    expect(top).toBeGreaterThanOrEqual(100);
    expect(uplotFigure(traces, LAYOUT, 400).opts.scales.y2.range(null, 40, 50)[1]).toBeLessThan(100);
    expect(opts.scales.y.range(null, null, null)).toEqual([0, 1]); // no data yet
  });

  it("an xy layout (a sweep) keeps each trace's points in their own order", () => {
    const traces = [line("p90", [100, 300, 250], [1, 2, 9], { mode: "lines+markers+text", text: ["1", "2", "4"] })];
    const { opts, data } = uplotFigure(traces, { ...LAYOUT, xy: true }, 400);
    expect(opts.mode).toBe(2);
    expect(data).toEqual([null, [[100, 300, 250], [1, 2, 9]]]);
    expect(opts.series[1].facets.map((f) => f.scale)).toEqual(["x", "y"]);
  });

  it("formats ticks and readouts: grouped, four significant digits, tiny money kept", () => {
    expect([formatNumber(1234.5), formatNumber(12.345), formatNumber(0.00004), formatNumber(null)]).toEqual([
      "1,235",
      "12.35",
      "0.00004",
      "—",
    ]);
    const { opts } = uplotFigure([line("a", [0], [1])], { ...LAYOUT, tickprefix: "$" }, 400);
    expect(opts.axes[1].values(null, [0, 0.5, 1000])).toEqual(["$0", "$0.5", "$1,000"]);
    expect(withOpacity("#1976d2", 0.5)).toBe("rgba(25,118,210,0.5)");
    expect(withOpacity("rgb(10, 20, 30)", 0.5)).toBe("rgba(10,20,30,0.5)");
  });
});

describe("the legend", () => {
  it("one entry per legend trace; a group's entry hides all its lines, a legend-only entry has none of its own", () => {
    const traces = [
      line("TTFT p50", [0, 1], [1, 2]),
      line("before · TTFT p50", [0, 1], [1, 2], { showlegend: false, legendgroup: "overlay-0" }),
      line("before", [], [], { showlegend: true, legendgroup: "overlay-0" }),
    ];
    const entries = legendEntries(traces);
    expect(entries.map((e) => [e.name, e.group, e.series])).toEqual([
      ["TTFT p50", "trace-0", [1]],
      ["before", "overlay-0", [2]],
    ]);
  });

  it("a click on an entry hides its lines (and shows them again); the choice survives a redraw", () => {
    const div = document.createElement("div");
    document.body.append(div);
    const box = new PlotBox(div, "latency");
    const traces = () => [
      line("TTFT p50", [0, 1], [1, 2]),
      line("before · TTFT p50", [0, 1], [1, 2], { showlegend: false, legendgroup: "overlay-0" }),
      line("before", [], [], { legendgroup: "overlay-0" }),
    ];
    box.draw(traces(), LAYOUT);
    const entry = div.querySelector('.lmw-legend-entry[data-group="overlay-0"]');
    expect(entry.getAttribute("aria-pressed")).toBe("true");
    entry.click();
    expect(fake.uplots[0].series[2].show).toBe(false);
    expect(fake.uplots[0].series[1].show).toBe(true); // the live line stays
    expect(entry.getAttribute("aria-pressed")).toBe("false");
    box.draw(traces(), LAYOUT); // e.g. a new point of history
    expect(fake.uplots[1].series[2].show).toBe(false);
    div.querySelector('.lmw-legend-entry[data-group="overlay-0"]').click();
    expect(fake.uplots[1].series[2].show).toBe(true);
    div.remove();
  });

  it("a chart without a legend (one line, named by its title) keeps only the readout", () => {
    const div = document.createElement("div");
    new PlotBox(div, "published:cost").draw([line("Cost", [0], [1])], { ...LAYOUT, showlegend: false });
    expect(div.querySelectorAll(".lmw-legend-entry")).toHaveLength(0);
    expect(div.querySelector(".lmw-legend-at")).not.toBe(null);
  });
});

describe("drawing, updating, destroying", () => {
  it("draw builds a uPlot in the div; update hands it new data, keeping a zoom the user made", () => {
    const div = document.createElement("div");
    const box = new PlotBox(div, "latency");
    const traces = [line("a", [0, 1], [1, 2])];
    box.draw(traces, LAYOUT);
    expect(fake.uplots).toHaveLength(1);
    expect(div.data).toBe(traces);
    expect(div.layout).toBe(LAYOUT);
    traces[0].x = [0, 1, 2];
    traces[0].y = [1, 2, 3];
    box.update();
    expect(fake.uplots[0].setDataCalls.at(-1)).toEqual({ data: [[0, 1, 2], [1, 2, 3]], resetScales: true });
    box.zoomed = true; // what a drag on the plot sets (setSelect)
    box.update();
    expect(fake.uplots[0].setDataCalls.at(-1).resetScales).toBe(false);
  });

  it("a redraw replaces the uPlot (the old one destroyed); destroy empties the div", () => {
    const div = document.createElement("div");
    const box = new PlotBox(div, "load");
    box.draw([line("a", [0], [1])], LAYOUT);
    box.draw([line("a", [0], [2])], LAYOUT);
    expect(fake.uplots.map((u) => u.destroyed)).toEqual([true, false]);
    box.destroy();
    expect(fake.uplots[1].destroyed).toBe(true);
    expect(div.children).toHaveLength(0);
    expect(div.data).toBeUndefined();
    box.draw([line("a", [0], [1])], LAYOUT); // a dead box draws nothing
    expect(fake.uplots).toHaveLength(2);
  });
});

describe("PNG download on each chart", () => {
  it("a keyboard-reachable button named for the chart saves llmeter-<name>.png", () => {
    const div = document.createElement("div");
    const box = new PlotBox(div, "published:cost-total");
    box.draw([line("a", [0], [1])], LAYOUT);
    const button = div.querySelector("button.lmw-png");
    expect(button.getAttribute("aria-label")).toBe("Download the published:cost-total chart as a PNG");
    expect(pngName("published:cost-total")).toBe("llmeter-published-cost-total");
    box.toPNG = () => "data:image/png;base64,AAAA"; // jsdom has no canvas to paint
    const clicked = [];
    const spy = vi.spyOn(HTMLAnchorElement.prototype, "click").mockImplementation(function () {
      clicked.push([this.download, this.href]);
    });
    button.click();
    spy.mockRestore();
    expect(clicked).toEqual([["llmeter-published-cost-total.png", "data:image/png;base64,AAAA"]]);
  });
});
