import { describe, expect, it, vi } from "vitest";

import registry from "./metrics.json";
import { METRICS, label } from "./metrics.js";
import { CHARTS } from "./series.js";
import { THEME } from "./testing/theme.js";

vi.mock("plotly.js-basic-dist-min", () => ({ default: {} }));
const { buildSweepLayout, buildSweepTraces } = await import("./sweep.js");

describe("the metric registry (js/metrics.json, written from llmeter_widget/metrics.py)", () => {
  it("names every metric once, with a label and a unit", () => {
    const keys = registry.metrics.map((m) => m.key);
    expect(new Set(keys).size).toBe(keys.length);
    for (const m of registry.metrics) {
      expect(m.label).not.toBe("");
      expect(typeof m.unit).toBe("string");
      expect(registry.groups).toContain(m.group);
    }
  });

  it("labels a metric and an aggregation, and refuses an unknown key", () => {
    expect(label("time_to_first_token", "p90")).toBe(`${METRICS.get("time_to_first_token").label} p90`);
    expect(() => label("time_to_frist_token")).toThrow(/unknown metric/);
  });

  it("is where the live charts and the sweep chart take their names from", () => {
    const names = CHARTS.flatMap((c) => c.traces.map((t) => t.name));
    for (const [key, agg] of [["requests_per_minute", ""], ["output_tps", ""],
      ["time_to_first_token", "p50"], ["time_to_first_token", "p90"],
      ["time_to_last_token", "p50"], ["time_to_last_token", "p90"]]) {
      expect(names).toContain(label(key, agg));
    }
    const layout = buildSweepLayout(THEME);
    expect(JSON.stringify(layout)).toContain(`${label("time_to_first_token", "p90")} (ms)`);
    const [trace] = buildSweepTraces({ levels: [{ clients: 1, output_tps: 10, ttft_p90: 0.1 }] }, THEME);
    expect(trace.name).toBe(label("time_to_first_token", "p90"));
  });
});
