// @vitest-environment jsdom
// The PNG download of each live chart: Plotly's mode bar, reduced to its toImage button, with a
// file named after the chart. Plotly cannot draw in jsdom, so it is a recording mock here; the
// real button is clicked in Chromium by tests/browser/test_chart_png.py.
import { beforeEach, describe, expect, it, vi } from "vitest";

const plotly = vi.hoisted(() => ({
  newPlot: vi.fn(),
  react: vi.fn(),
  extendTraces: vi.fn(),
  purge: vi.fn(),
  Plots: { resize: vi.fn() },
}));
vi.mock("plotly.js-basic-dist-min", () => ({ default: plotly }));

const { PlotBox, plotConfig } = await import("./charts.js");

describe("PNG download on each chart", () => {
  beforeEach(() => vi.clearAllMocks());

  it("shows the mode bar with the toImage button only, PNG named after the chart", () => {
    const config = plotConfig("latency");
    expect(config.displayModeBar).not.toBe(false);
    expect(config.modeBarButtons).toEqual([["toImage"]]);
    expect(config.toImageButtonOptions).toMatchObject({ format: "png", filename: "llmeter-latency" });
    expect(config.displaylogo).toBe(false);
    expect(config.scrollZoom).toBe(false); // the rest of the config is unchanged
  });

  it("makes a file name of any chart name", () => {
    expect(plotConfig("published:cost-total").toImageButtonOptions.filename).toBe(
      "llmeter-published-cost-total",
    );
  });

  it("passes that config to newPlot and to every react", () => {
    const box = new PlotBox(document.createElement("div"), "throughput");
    box.draw([], {});
    box.draw([], {});
    expect(plotly.newPlot).toHaveBeenCalledTimes(1);
    expect(plotly.react).toHaveBeenCalledTimes(1);
    for (const call of [plotly.newPlot.mock.calls[0], plotly.react.mock.calls[0]]) {
      expect(call[3]).toEqual(plotConfig("throughput"));
      expect(call[3].toImageButtonOptions.filename).toBe("llmeter-throughput");
    }
  });
});
