// @vitest-environment jsdom
// widget.js against a fake anywidget model. jsdom has no canvas, so uPlot is a recording fake
// here (js/testing/fake_uplot.js); the real one draws in tests/browser.
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { makeModel } from "./testing/fake_model.js";

const fake = vi.hoisted(() => ({ uplots: [], log: [] }));
vi.mock("uplot", async () => (await import("./testing/fake_uplot.js")).mockUPlot(vi, fake.uplots, fake.log));

/**
 * What the charts asked of uPlot since the last clearCalls(): first draws and redraws (a new
 * uPlot each) as [chart div, traces, layout], new points as [chart div, aligned data], and the
 * charts removed (the last uPlot of a div destroyed, the div emptied) as [chart div].
 */
const calls = {
  get newPlot() {
    return fake.log.filter(([e, u]) => e === "create" && u.first).map(([, u]) => [u.div, u.traces, u.layout]);
  },
  get react() {
    return fake.log.filter(([e, u]) => e === "create" && !u.first).map(([, u]) => [u.div, u.traces, u.layout]);
  },
  get setData() {
    return fake.log.filter(([e]) => e === "setData").map(([, u, data]) => [u.div, data]);
  },
  get removed() {
    const last = (u) => fake.uplots.filter((v) => v.div === u.div).at(-1) === u;
    return fake.log.filter(([e, u]) => e === "destroy" && last(u) && u.div.childElementCount === 0).map(([, u]) => [u.div]);
  },
};
const clearCalls = () => {
  fake.log.length = 0;
};

const { default: widget, renderDashboard } = await import("./widget.js");
const { formatClock, progressFraction } = await import("./header.js");
const { formatDuration } = await import("./controls.js");

const SPEC = {
  groups: [
    { name: "Throughput", stats: [{ label: "Requests", key: "total_requests", unit: "count", invert: false, group: null }] },
    { name: "TTFT", stats: [{ label: "p50", key: "time_to_first_token-p50", unit: "s", invert: false, group: null }] },
  ],
};

/** A fake anywidget model: get/set/on/off/send/save_changes, recording what the view does. */
function fakeModel(traits = {}) {
  const state = {
    title: "sim @ 127.0.0.1:8000",
    controls: true,
    mode: "time",
    duration: 30,
    max_duration: 600,
    clients: 4,
    max_clients: 64,
    n_requests: 10,
    status: "idle",
    error: "",
    progress: {},
    stats: {},
    spec: SPEC,
    series_delta: {},
    result_path: "",
    ...traits,
  };
  const model = makeModel(state);
  /** What Python does: change a trait and notify the view. */
  model.pythonSets = (name, value) => model.update({ [name]: value });
  return model;
}

const bucket = (t) => ({
  t,
  completed: 1,
  failed: 0,
  output_tokens: 40,
  requests_per_minute: 60,
  output_tps: 40,
  ttft_p50: 0.05,
  ttft_p90: 0.09,
  ttlt_p50: 1,
  ttlt_p90: 1.4,
  active_clients: 4,
  in_flight: 2,
});

let el;
let cleanup;
beforeEach(() => {
  clearCalls();
  fake.uplots.length = 0;
  el = document.createElement("div");
  document.body.append(el);
});
afterEach(() => {
  cleanup?.();
  cleanup = undefined;
  el.remove();
});
const $ = (sel) => el.querySelector(sel);
const mount = (model) => {
  cleanup = widget.render({ model, el });
  return cleanup;
};

describe("widget.render", () => {
  it("builds header, controls, table and three charts, and asks for the history", () => {
    const model = fakeModel();
    mount(model);
    expect($(".lmw-title").textContent).toBe("sim @ 127.0.0.1:8000");
    expect($(".lmw-badge").textContent).toBe("Idle");
    expect($(".lmw-error").hidden).toBe(true);
    expect($(".lmw-controls").hidden).toBe(false);
    expect(el.querySelectorAll("th.lmw-group-name")).toHaveLength(2);
    expect($('td[data-key="total_requests"]').textContent).toBe("—");
    expect(el.querySelectorAll(".lmw-plot")).toHaveLength(3);
    expect(calls.newPlot).toHaveLength(3);
    expect(model.sent).toEqual([{ type: "history" }]);
  });

  it("shows status, error text and progress", () => {
    const model = fakeModel();
    mount(model);
    model.pythonSets("status", "error");
    model.pythonSets("error", "ConnectError: connection refused");
    model.pythonSets("progress", { elapsed: 15, duration: 60, completed: 1234, failed: 2, in_flight: 3, active_clients: 8, sent: 1240 });
    expect($(".lmw-badge").textContent).toBe("Failed");
    expect($(".lmw-badge").dataset.status).toBe("error");
    expect($(".lmw-error").hidden).toBe(false);
    expect($(".lmw-error").textContent).toBe("ConnectError: connection refused");
    expect(parseFloat($(".lmw-bar-fill").style.width)).toBe(25);
    expect($(".lmw-time").textContent).toBe("15.0 s / 60 s");
    expect($('.lmw-count[data-key="completed"] .lmw-count-value').textContent).toBe("1,234");
    expect($('.lmw-count[data-key="failed"]').classList.contains("lmw-count-bad")).toBe(true);
    expect($('.lmw-count[data-key="active_clients"] .lmw-count-value').textContent).toBe("8");
  });

  it("warns when Python says the client's event loop is overloaded", () => {
    const model = fakeModel();
    mount(model);
    expect($(".lmw-warning").hidden).toBe(true);
    model.pythonSets("progress", { elapsed: 5, loop_lag: 0.12, overloaded: true });
    expect($(".lmw-warning").hidden).toBe(false);
    expect($(".lmw-warning").textContent).toContain("woke 120 ms late");
    model.pythonSets("progress", { elapsed: 6, loop_lag: 0.003, overloaded: false });
    expect($(".lmw-warning").hidden).toBe(true);
  });

  it("says when an open-loop run does not keep its schedule, beside an overload", () => {
    const model = fakeModel();
    mount(model);
    const text = "Schedule not kept: requests went out 500 ms late (p50); the load was lower than asked.";
    model.pythonSets("progress", { elapsed: 5, schedule_warning: text });
    expect($(".lmw-warning").hidden).toBe(false);
    expect($(".lmw-warning").textContent).toBe(text);
    model.pythonSets("progress", { elapsed: 6, loop_lag: 0.12, overloaded: true, schedule_warning: text });
    expect($(".lmw-warning").textContent).toContain("woke 120 ms late");
    expect($(".lmw-warning").textContent).toContain("Schedule not kept");
    model.pythonSets("progress", { elapsed: 7, schedule_warning: "" });
    expect($(".lmw-warning").hidden).toBe(true);
  });

  it("updates the table in place on stats changes", () => {
    const model = fakeModel();
    mount(model);
    const cell = $('td[data-key="time_to_first_token-p50"]');
    model.pythonSets("stats", { total_requests: 12, "time_to_first_token-p50": 0.1834 });
    expect($('td[data-key="time_to_first_token-p50"]')).toBe(cell);
    expect(cell.textContent).toBe("183 ms");
  });

  it("slider labels follow input; the trait is set and saved on change only", () => {
    const model = fakeModel();
    mount(model);
    const slider = $("input.lmw-clients");
    expect(slider.max).toBe("64");
    expect(slider.value).toBe("4");
    slider.value = "12";
    slider.dispatchEvent(new Event("input"));
    expect($("input.lmw-clients-box").value).toBe("12"); // the number box follows the drag
    expect(model.setCalls).toEqual([]);
    expect(model.saves).toBe(0);
    slider.dispatchEvent(new Event("change"));
    expect(model.setCalls).toEqual([["clients", 12]]);
    expect(model.get("clients")).toBe(12);
    expect(model.saves).toBe(1);

    const duration = $("input.lmw-duration");
    duration.value = "150";
    duration.dispatchEvent(new Event("input"));
    expect($(".lmw-duration-row .lmw-control-value").textContent).toBe("2 min 30 s");
    duration.dispatchEvent(new Event("change"));
    expect(model.get("duration")).toBe(150);
    expect(model.saves).toBe(2);
  });

  it("sliders follow traits set from Python (value, label and maximum)", () => {
    const model = fakeModel();
    mount(model);
    model.pythonSets("max_clients", 256);
    model.pythonSets("clients", 100);
    expect($("input.lmw-clients").max).toBe("256");
    expect($("input.lmw-clients").value).toBe("100");
    expect($("input.lmw-clients-box").value).toBe("100");
    expect($("input.lmw-clients-box").max).toBe("256");
    model.pythonSets("duration", 45);
    expect($("input.lmw-duration").value).toBe("45");
    expect($(".lmw-duration-row .lmw-control-value").textContent).toBe("45 s");
    expect($("input.lmw-duration-box").value).toBe("45");
    expect(model.setCalls).toEqual([]); // following Python does not echo back
  });

  it("Run and Stop send messages; their enabled state follows the status", () => {
    const model = fakeModel();
    mount(model);
    const run = $("button.lmw-run");
    const stop = $("button.lmw-stop");
    expect([run.disabled, stop.disabled]).toEqual([false, true]);
    run.click();
    expect(model.sent.at(-1)).toEqual({ type: "run" });
    for (const [status, runDisabled, stopDisabled] of [
      ["running", true, false],
      ["stopping", true, false],
      ["done", false, true],
      ["stopped", false, true],
      ["interrupted", false, true],
      ["error", false, true],
      ["idle", false, true],
    ]) {
      model.pythonSets("status", status);
      expect([status, run.disabled, stop.disabled]).toEqual([status, runDisabled, stopDisabled]);
    }
    model.pythonSets("status", "running");
    stop.click();
    expect(model.sent.at(-1)).toEqual({ type: "stop" });
  });

  it("hides the controls when controls is false", () => {
    const model = fakeModel({ controls: false });
    mount(model);
    expect($(".lmw-controls").hidden).toBe(true);
    model.pythonSets("controls", true);
    expect($(".lmw-controls").hidden).toBe(false);
  });

  it("count mode shows the requests input and sets n_requests on change", () => {
    const model = fakeModel({ mode: "count", n_requests: 25 });
    mount(model);
    expect($(".lmw-duration-row").hidden).toBe(true);
    expect($(".lmw-requests-row").hidden).toBe(false);
    const input = $("input.lmw-requests");
    expect(input.value).toBe("25");
    input.value = "40";
    input.dispatchEvent(new Event("change"));
    expect(model.get("n_requests")).toBe(40);
    const mode = $("select.lmw-mode");
    mode.value = "time";
    mode.dispatchEvent(new Event("change"));
    expect(model.get("mode")).toBe("time");
    expect($(".lmw-duration-row").hidden).toBe(false);
  });

  it("streams series deltas into the charts as new data (no redraw), keeping the last maxPoints", () => {
    const model = fakeModel();
    mount(model);
    model.pythonSets("series_delta", { run: 1, seq: 0, points: [] });
    expect(calls.react).toHaveLength(3); // cleared
    model.pythonSets("series_delta", { run: 1, seq: 1, points: [bucket(0), bucket(1)] });
    expect(calls.setData).toHaveLength(3);
    expect(calls.react).toHaveLength(3);
    const [div, data] = calls.setData[0];
    expect(div.dataset.chart).toBe("throughput");
    expect(data).toEqual([[0, 1], [60, 60], [40, 40]]); // x, requests/min, tokens/s
    // a capped view keeps the newest points only
    cleanup();
    const capped = document.createElement("div");
    document.body.append(capped);
    cleanup = renderDashboard({ model, el: capped }, { maxPoints: 3 });
    model.emit("msg:custom", { type: "history", run: 1, seq: 1, points: [bucket(0), bucket(1)] });
    model.pythonSets("series_delta", { run: 1, seq: 2, points: [bucket(2), bucket(3)] });
    const throughput = capped.querySelector('[data-chart="throughput"]');
    expect(calls.setData.filter(([d]) => d === throughput).at(-1)[1][0]).toEqual([1, 2, 3]);
    expect(throughput.data[0].x).toEqual([1, 2, 3]);
    cleanup();
    cleanup = undefined;
    capped.remove();
  });

  it("asks for the history on a gap and replaces the charts with the reply", () => {
    const model = fakeModel();
    mount(model);
    model.emit("msg:custom", { type: "history", run: 1, seq: 1, points: [bucket(0)] });
    expect(calls.react).toHaveLength(3);
    model.sent.length = 0;
    model.pythonSets("series_delta", { run: 1, seq: 3, points: [bucket(2)] });
    expect(model.sent).toEqual([{ type: "history" }]);
    expect(calls.setData).toHaveLength(0);
    model.emit("msg:custom", { type: "history", run: 1, seq: 3, points: [bucket(0), bucket(1), bucket(2)] });
    const latency = calls.react.at(-2);
    expect(latency[0].dataset.chart).toBe("latency");
    expect(latency[1][0].x).toEqual([0, 1, 2]);
    expect(latency[1][0].y).toEqual([50, 50, 50]);
    model.emit("msg:custom", { type: "something else" });
  });

  it("cleanup purges every chart and removes every listener", () => {
    const model = fakeModel();
    const dispose = mount(model);
    expect(model.listenerCount()).toBeGreaterThan(0);
    dispose();
    cleanup = undefined;
    expect(calls.removed).toHaveLength(3);
    expect(model.listenerCount()).toBe(0);
    expect(el.children).toHaveLength(0);
    dispose(); // twice is harmless
    expect(calls.removed).toHaveLength(3);
  });

  it("draws once the element is attached, if rendered detached", async () => {
    const detached = document.createElement("div");
    const model = fakeModel();
    const dispose = widget.render({ model, el: detached });
    expect(calls.newPlot).toHaveLength(0);
    document.body.append(detached);
    await new Promise((resolve) => requestAnimationFrame(() => requestAnimationFrame(resolve)));
    expect(calls.newPlot).toHaveLength(3);
    dispose();
    detached.remove();
  });
});

describe("client sweep", () => {
  const comparison = {
    levels: [
      { clients: 1, output_tps: 100, ttft_p90: 0.05 },
      { clients: 2, output_tps: 190, ttft_p90: 0.06 },
      { clients: 4, output_tps: 200, ttft_p90: 0.3 },
    ],
    knee: 2,
    verdict: "Saturates at 2 clients.",
  };

  it("the mode select offers a sweep; the levels input replaces the clients slider", () => {
    const model = fakeModel({ sweep_levels: [1, 2, 4, 8, 16] });
    mount(model);
    const options = [...$("select.lmw-mode").options].map((o) => [o.value, o.textContent]);
    expect(options.at(-1)).toEqual(["sweep", "client sweep"]);
    expect($(".lmw-levels-row").hidden).toBe(true);
    const mode = $("select.lmw-mode");
    mode.value = "sweep";
    mode.dispatchEvent(new Event("change"));
    expect(model.get("mode")).toBe("sweep");
    expect($(".lmw-levels-row").hidden).toBe(false);
    expect($(".lmw-clients-row").hidden).toBe(true);
    expect($(".lmw-duration-row").hidden).toBe(false);
    expect($("input.lmw-levels").value).toBe("1, 2, 4, 8, 16");
    model.pythonSets("status", "running");
    expect($("input.lmw-levels").disabled).toBe(true);
  });

  it("valid levels are set on change; invalid ones show an error and send nothing", () => {
    const model = fakeModel({ mode: "sweep", sweep_levels: [1, 2, 4, 8, 16] });
    mount(model);
    const input = $("input.lmw-levels");
    input.value = "1, 2, x";
    input.dispatchEvent(new Event("input"));
    expect(input.classList.contains("lmw-invalid")).toBe(true);
    expect(input.getAttribute("aria-invalid")).toBe("true");
    expect($(".lmw-levels-error").hidden).toBe(false);
    input.dispatchEvent(new Event("change"));
    expect(model.setCalls).toEqual([]);
    expect(model.saves).toBe(0);
    model.pythonSets("clients", 3); // a trait update keeps the text to fix
    expect(input.value).toBe("1, 2, x");
    input.value = " 2,4  8";
    input.dispatchEvent(new Event("change"));
    expect(model.setCalls).toEqual([["sweep_levels", [2, 4, 8]]]);
    expect(model.saves).toBe(1);
    expect(input.value).toBe("2, 4, 8");
    expect(input.classList.contains("lmw-invalid")).toBe(false);
    input.value = "2, 100"; // above max_clients (64)
    input.dispatchEvent(new Event("change"));
    expect(model.saves).toBe(1);
    expect($(".lmw-levels-error").textContent).toContain("1..64");
  });

  it("the sweep chart is hidden until the mode is sweep or the comparison has levels", () => {
    const model = fakeModel({ comparison: { levels: [], knee: null, verdict: "" } });
    mount(model);
    const box = $(".lmw-sweep");
    expect(box.hidden).toBe(true);
    expect(calls.newPlot).toHaveLength(3); // not drawn while hidden
    model.pythonSets("mode", "sweep");
    expect(box.hidden).toBe(false);
    expect(calls.newPlot).toHaveLength(4);
    model.pythonSets("mode", "time");
    expect(box.hidden).toBe(true);
    model.pythonSets("comparison", comparison);
    expect(box.hidden).toBe(false);
    const call = calls.react.at(-1);
    expect(call[0].dataset.chart).toBe("sweep");
    expect(call[1][0].x).toEqual([100, 190, 200]);
    expect(call[1][1].name).toBe("knee (2 clients)");
    expect($(".lmw-verdict").textContent).toBe("Saturates at 2 clients.");
  });

  it("cleanup purges the sweep chart too", () => {
    const model = fakeModel({ mode: "sweep", comparison });
    const dispose = mount(model);
    expect(calls.newPlot).toHaveLength(4);
    dispose();
    cleanup = undefined;
    expect(calls.removed).toHaveLength(4);
    expect(model.listenerCount()).toBe(0);
  });
});

describe("overlays", () => {
  const saved = (label, n) => ({
    label,
    kind: "run",
    stats: { total_requests: 42, "time_to_first_token-p50": 0.183 },
    series: Array.from({ length: n }, (_, t) => bucket(t)),
    levels: [],
  });

  it("adds dashed, dimmed traces after the live ones, drawn whole; new points extend the live ones only", () => {
    const model = fakeModel();
    mount(model);
    model.pythonSets("series_delta", { run: 1, seq: 0, points: [] });
    model.pythonSets("series_delta", { run: 1, seq: 1, points: [bucket(0)] });
    clearCalls();
    model.pythonSets("overlays", [saved("before", 3), saved("after", 2)]);
    expect(calls.react).toHaveLength(3);
    const [div, traces] = calls.react[0];
    expect(div.dataset.chart).toBe("throughput");
    expect(traces.map((t) => t.name)).toEqual([
      "Requests/min",
      "Output tokens/s",
      "before · Requests/min",
      "before · Output tokens/s",
      "after · Requests/min",
      "after · Output tokens/s",
      "before", // the legend: one entry per saved run, no points
      "after",
    ]);
    expect(traces.slice(2, 6).every((t) => t.showlegend === false)).toBe(true);
    expect(traces.slice(6).map((t) => [t.showlegend, t.line.dash, t.legendgroup])).toEqual([
      [true, "dash", "overlay-0"],
      [true, "dot", "overlay-1"],
    ]);
    expect(traces[2].legendgroup).toBe("overlay-0"); // a click on "before" hides its lines
    expect(traces[0].x).toEqual([0]); // the live run's points stay
    expect(traces[2].x).toEqual([0, 1, 2]);
    expect(traces[2].y).toEqual([60, 60, 60]);
    expect(traces[3].yaxis).toBe("y2");
    expect(traces.slice(2, 6).map((t) => t.line.dash)).toEqual(["dash", "dash", "dot", "dot"]);
    expect(traces.slice(2, 6).every((t) => t.opacity < 1 && t.fill === "none")).toBe(true);
    expect(traces.slice(0, 2).every((t) => t.opacity === undefined)).toBe(true);
    const latency = calls.react[1][1];
    expect(latency.map((t) => t.name).slice(4, 6)).toEqual(["before · TTFT p50", "before · TTFT p90"]);
    expect(latency[4].y).toEqual([50, 50, 50]);
    // the table shows a line per saved run
    expect($('td[data-key="time_to_first_token-p50"] .lmw-overlay-line').textContent).toBe("before 183 ms");
    // new live points still extend the live traces only
    model.pythonSets("series_delta", { run: 1, seq: 2, points: [bucket(1)] });
    const [throughput] = calls.setData;
    expect(throughput[0].data.slice(0, 2).map((t) => t.x)).toEqual([[0, 1], [0, 1]]);
    expect(throughput[0].data.slice(2, 6).map((t) => t.x.length)).toEqual([3, 3, 2, 2]); // saved runs unchanged
    // a new run keeps the overlays; clearing them redraws the live traces alone
    model.pythonSets("series_delta", { run: 2, seq: 0, points: [] });
    expect(calls.react.at(-3)[1]).toHaveLength(8);
    model.pythonSets("overlays", []);
    expect(calls.react.at(-3)[1].map((t) => t.name)).toEqual(["Requests/min", "Output tokens/s"]);
    expect(el.querySelectorAll(".lmw-overlay-line")).toHaveLength(0);
  });

  it("a run without a series (no raw timestamps) adds no trace but keeps its table line", () => {
    const model = fakeModel({ overlays: [{ ...saved("llmeter", 0) }] });
    mount(model);
    expect(calls.newPlot[0][1]).toHaveLength(2);
    expect($('td[data-key="total_requests"] .lmw-overlay-line').textContent).toBe("llmeter 42");
  });

  it("draws saved sweeps as extra lines in the sweep chart, and shows it", () => {
    const model = fakeModel();
    mount(model);
    expect($(".lmw-sweep").hidden).toBe(true);
    const levels = [
      { clients: 1, output_tps: 90, ttft_p90: 0.04 },
      { clients: 2, output_tps: 150, ttft_p90: 0.07 },
    ];
    model.pythonSets("overlays", [{ label: "old sweep", kind: "sweep", stats: {}, series: [], levels }]);
    expect($(".lmw-sweep").hidden).toBe(false);
    const call = calls.newPlot.find(([div]) => div.dataset.chart === "sweep");
    const traces = call[1];
    expect(traces.map((t) => t.name)).toEqual(["TTFT p90", "old sweep"]);
    expect(traces[1].x).toEqual([90, 150]);
    expect(traces[1].y).toEqual([40, 70]);
    expect(traces[1].line.dash).toBe("dash");
    // sweeps add nothing to the run charts or the table
    expect(calls.react.at(-1)[1]).toHaveLength(3);
    expect(el.querySelectorAll(".lmw-overlay-line")).toHaveLength(0);
  });

  it("cleanup removes the overlays listener too", () => {
    const model = fakeModel({ overlays: [saved("before", 2)] });
    const dispose = mount(model);
    dispose();
    cleanup = undefined;
    expect(model.listenerCount()).toBe(0);
    model.pythonSets("overlays", []);
  });
});

describe("header and control labels", () => {
  it("formats clocks and durations", () => {
    expect(formatClock(12.34)).toBe("12.3 s");
    expect(formatClock(125)).toBe("2:05");
    expect(formatClock(30, true)).toBe("0:30");
    expect(formatClock(3725)).toBe("1:02:05");
    expect(formatClock(null)).toBe("—");
    expect(formatDuration(45)).toBe("45 s");
    expect(formatDuration(600)).toBe("10 min");
    expect(formatDuration(3900)).toBe("1 h 5 min");
  });

  it("progress fraction: by time, by count, full when done, unknown otherwise", () => {
    expect(progressFraction({ elapsed: 30, duration: 60 }, {})).toBe(0.5);
    expect(progressFraction({ elapsed: 90, duration: 60 }, {})).toBe(1);
    expect(progressFraction({ completed: 15, failed: 5, duration: null }, { mode: "count", clients: 4, n_requests: 10 })).toBe(0.5);
    expect(progressFraction({}, { status: "done" })).toBe(1);
    expect(progressFraction({}, { mode: "time" })).toBe(null);
  });
});

describe("editing the stats (spec ids, scale, available keys)", () => {
  const EDITABLE = {
    groups: [
      {
        name: "Cost",
        stats: [
          { id: "Cost/per 1k", label: "per 1k requests", key: "cost-per_request", unit: "$", invert: false, scale: 1000, group: null },
          { id: "Cost/total", label: "total", key: "cost-total", unit: "$", invert: false, scale: 1, group: null },
        ],
      },
    ],
    available: ["cost-per_request", "cost-total", "total_requests"],
  };
  const type = (input, text) => {
    input.value = text;
    input.dispatchEvent(new Event("input", { bubbles: true }));
  };

  it("formats with the stat's scale", () => {
    const model = fakeModel({ spec: EDITABLE, stats: { "cost-per_request": 0.00012, "cost-total": 1234.4 } });
    mount(model);
    expect($('td[data-key="cost-per_request"]').textContent).toBe("$0.120");
    expect($('td[data-key="cost-total"]').textContent).toBe("$1,234");
  });

  it("with controls: remove sends remove_stat, the form sends add_stat; both follow change:controls", () => {
    const model = fakeModel({ spec: EDITABLE });
    mount(model);
    model.sent.length = 0;
    $('th[data-id="Cost/total"] .lmw-stat-remove').click();
    expect(model.sent).toEqual([{ type: "remove_stat", id: "Cost/total" }]);
    $(".lmw-stat-add").click();
    expect([...el.querySelectorAll(".lmw-stat-form datalist option")].map((o) => o.value)).toEqual(EDITABLE.available);
    type($("input.lmw-stat-key"), "time_to_first_token-p95");
    $("button.lmw-stat-submit").click();
    expect(model.sent.at(-1)).toEqual({ type: "add_stat", key: "time_to_first_token-p95", label: "time_to_first_token-p95" });
    model.pythonSets("controls", false);
    expect(el.querySelectorAll(".lmw-stat-remove")).toHaveLength(0);
    expect($(".lmw-stat-editor").hidden).toBe(true);
    model.pythonSets("controls", true);
    expect(el.querySelectorAll(".lmw-stat-remove")).toHaveLength(2);
    expect($(".lmw-stat-editor").hidden).toBe(false);
    expect(model.setCalls).toEqual([]); // editing asks Python; it never sets a trait
  });

  it("read-only dashboards show no editing; an empty spec hides the table unless there are controls", () => {
    const model = fakeModel({ spec: EDITABLE, controls: false });
    mount(model);
    expect(el.querySelectorAll(".lmw-stat-remove")).toHaveLength(0);
    expect($(".lmw-stat-editor").hidden).toBe(true);
    model.pythonSets("spec", { groups: [], available: ["total_requests"] });
    expect(el.querySelectorAll("table.lmw-group")).toHaveLength(0);
    expect($(".lmw-stats").hidden).toBe(true);
    model.pythonSets("controls", true);
    expect($(".lmw-stats").hidden).toBe(false);
    expect($(".lmw-stat-add").hidden).toBe(false);
  });

  it("routes Python's stat_error to the open form; the next spec closes and clears it", () => {
    const model = fakeModel({ spec: EDITABLE });
    mount(model);
    $(".lmw-stat-add").click();
    type($("input.lmw-stat-key"), "bogus");
    type($("input.lmw-stat-label-input"), "Bogus");
    $("button.lmw-stat-submit").click();
    model.emit("msg:custom", { type: "stat_error", message: "Unknown stat key 'bogus'." });
    expect($(".lmw-stat-error").hidden).toBe(false);
    expect($(".lmw-stat-error").textContent).toBe("Unknown stat key 'bogus'.");
    expect($(".lmw-stat-form").hidden).toBe(false);
    expect($("input.lmw-stat-key").value).toBe("bogus");
    expect($("input.lmw-stat-label-input").value).toBe("Bogus");
    type($("input.lmw-stat-key"), "total_requests");
    $("button.lmw-stat-submit").click();
    const added = structuredClone(EDITABLE);
    added.groups[0].stats.push({ id: "Cost/Bogus", label: "Bogus", key: "total_requests", unit: "count", invert: false, scale: 1, group: null });
    model.pythonSets("spec", added);
    expect($(".lmw-stat-form").hidden).toBe(true);
    expect($("input.lmw-stat-key").value).toBe("");
    expect($(".lmw-stat-error").hidden).toBe(true);
    expect(el.querySelectorAll("th.lmw-stat-label")).toHaveLength(3);
  });

  it("cleanup removes the editing listeners", () => {
    const model = fakeModel({ spec: EDITABLE });
    const dispose = mount(model);
    const remove = $(".lmw-stat-remove");
    const root = el.firstElementChild;
    dispose();
    cleanup = undefined;
    model.sent.length = 0;
    remove.click();
    root.querySelector(".lmw-stat-add").click();
    expect(model.sent).toEqual([]);
    expect(model.listenerCount()).toBe(0);
  });
});

describe("charts of published stats", () => {
  const SPEC_COST = {
    groups: [
      ...SPEC.groups,
      { name: "Cost", stats: [{ id: "Cost/total", label: "Total cost", key: "cost-total", unit: "$", invert: false, scale: 1, group: null }] },
    ],
    available: [],
  };
  const pub = (t, published) => ({ ...bucket(t), published });
  const publishedBoxes = () => [...el.querySelectorAll(".lmw-published")];
  const titles = () => publishedBoxes().map((b) => b.querySelector(".lmw-chart-title").textContent);
  const callsFor = (list, key) => list.filter(([div]) => div.dataset.chart === `published:${key}`);

  it("adds one chart per key the first time it appears, titled by the spec, after the fixed charts", () => {
    const model = fakeModel({ spec: SPEC_COST });
    mount(model);
    model.pythonSets("series_delta", { run: 1, seq: 0, points: [] });
    expect(publishedBoxes()).toHaveLength(0);
    expect($(".lmw-published-charts").hidden).toBe(true);
    model.pythonSets("series_delta", { run: 1, seq: 1, points: [bucket(0)] });
    expect(publishedBoxes()).toHaveLength(0);
    clearCalls();

    model.pythonSets("series_delta", { run: 1, seq: 2, points: [pub(1, { "cost-total": 0.0123 })] });
    expect(titles()).toEqual(["Total cost"]);
    expect($(".lmw-published-charts").hidden).toBe(false);
    // after the three fixed charts, in the page order
    const plots = [...el.querySelectorAll(".lmw-plot")].map((p) => p.dataset.chart);
    expect(plots).toEqual(["throughput", "latency", "load", "published:cost-total"]);
    // drawn once whole (the earlier second is a gap), not extended on the tick that created it
    const [created] = callsFor(calls.newPlot, "cost-total");
    expect(created[1]).toHaveLength(1);
    expect(created[1][0].x).toEqual([0, 1]);
    expect(created[1][0].y).toEqual([null, 0.0123]);
    expect(created[1][0].hovertext).toEqual(["—", "$0.0123"]);
    expect(created[1][0].name).toBe("Total cost");
    expect(created[2].tickprefix).toBe("$");
    expect(callsFor(calls.setData, "cost-total")).toHaveLength(0);
    expect(calls.setData).toHaveLength(3); // the fixed charts, as before

    // the next tick extends it (no redraw), with its hover texts; a second key gets a chart
    clearCalls();
    model.pythonSets("series_delta", {
      run: 1,
      seq: 3,
      points: [pub(2, { "cost-total": 0.05, "cost-per_request": 0.0004 })],
    });
    const [extended] = callsFor(calls.setData, "cost-total");
    expect(extended[1]).toEqual([[0, 1, 2], [null, 0.0123, 0.05]]);
    expect(extended[0].data[0].hovertext).toEqual(["—", "$0.0123", "$0.0500"]);
    expect(callsFor(calls.react, "cost-total")).toHaveLength(0);
    expect(titles()).toEqual(["Total cost", "cost-per_request"]); // not in the spec: the key
    expect(callsFor(calls.newPlot, "cost-per_request")).toHaveLength(1);
    expect(calls.react).toHaveLength(0);
  });

  it("charts at most six keys, in first-seen order", () => {
    const model = fakeModel();
    mount(model);
    const many = Object.fromEntries(Array.from({ length: 8 }, (_, i) => [`k${i}`, i]));
    model.pythonSets("series_delta", { run: 1, seq: 0, points: [] });
    model.pythonSets("series_delta", { run: 1, seq: 1, points: [pub(0, { k7: 1 }), pub(1, many)] });
    expect(titles()).toEqual(["k7", "k0", "k1", "k2", "k3", "k4"]);
    model.pythonSets("series_delta", { run: 1, seq: 2, points: [pub(2, { extra: 1 })] });
    expect(publishedBoxes()).toHaveLength(6);
  });

  it("a new run without published keys removes them; a history reply brings them back", () => {
    const model = fakeModel({ spec: SPEC_COST });
    mount(model);
    model.emit("msg:custom", { type: "history", run: 1, seq: 4, points: [pub(0, { "cost-total": 0.01 }), pub(1, { "cost-total": 0.02 })] });
    expect(titles()).toEqual(["Total cost"]);
    const history = callsFor(calls.newPlot, "cost-total");
    expect(history).toHaveLength(1);
    expect(history[0][1][0].y).toEqual([0.01, 0.02]);
    // a second reply with the same keys keeps the chart (react, same box)
    const box = publishedBoxes()[0];
    model.emit("msg:custom", { type: "history", run: 1, seq: 5, points: [pub(0, { "cost-total": 0.01 })] });
    expect(publishedBoxes()[0]).toBe(box);
    expect(callsFor(calls.react, "cost-total")).toHaveLength(1);

    clearCalls();
    model.pythonSets("series_delta", { run: 2, seq: 0, points: [] });
    expect(publishedBoxes()).toHaveLength(0);
    expect($(".lmw-published-charts").hidden).toBe(true);
    expect(calls.removed).toHaveLength(1);
    expect(calls.removed[0][0].dataset.chart).toBe("published:cost-total");
    expect(calls.react).toHaveLength(3); // the fixed charts, cleared as before
  });

  it("follows the spec: a stat for the key renames the chart and formats it", () => {
    const model = fakeModel();
    mount(model);
    model.pythonSets("series_delta", { run: 1, seq: 0, points: [] });
    model.pythonSets("series_delta", { run: 1, seq: 1, points: [pub(0, { "cost-total": 0.0123 })] });
    expect(titles()).toEqual(["cost-total"]);
    clearCalls();
    model.pythonSets("spec", SPEC_COST);
    expect(titles()).toEqual(["Total cost"]);
    const [redrawn] = callsFor(calls.react, "cost-total");
    expect(redrawn[1][0].hovertext).toEqual(["$0.0123"]);
    expect(redrawn[1][0].name).toBe("Total cost");
  });

  it("overlays stay on the fixed charts; cleanup purges the published charts too", () => {
    const model = fakeModel();
    const dispose = mount(model);
    model.pythonSets("series_delta", { run: 1, seq: 0, points: [] });
    model.pythonSets("series_delta", { run: 1, seq: 1, points: [pub(0, { "cost-total": 1 })] });
    clearCalls();
    const saved = { label: "before", kind: "run", stats: {}, series: [pub(0, { "cost-total": 2 })], levels: [] };
    model.pythonSets("overlays", [saved]);
    expect(calls.react[0][1]).toHaveLength(5); // throughput: 2 live + 2 overlay traces + its legend entry
    expect(callsFor(calls.react, "cost-total")[0][1]).toHaveLength(1);
    dispose();
    cleanup = undefined;
    expect(calls.removed).toHaveLength(4);
    expect(model.listenerCount()).toBe(0);
  });
});

describe("the table's scope toggle (issue 12, defect 5)", () => {
  it("sets and saves table_scope, and shows window_stats while it says window", () => {
    const model = fakeModel({ table_scope: "run", window_stats: {}, stats: { "time_to_first_token-p50": 0.144 } });
    mount(model);
    const ttft = () => $('td[data-key="time_to_first_token-p50"]').textContent;
    expect(ttft()).toBe("144 ms");
    $('.lmw-scope-button[data-scope="window"]').click();
    expect(model.setCalls).toEqual([["table_scope", "window"]]);
    expect(model.saves).toBe(1);
    model.pythonSets("window_stats", { seconds: 10, covered: 4, stats: { "time_to_first_token-p50": 0.68 } });
    expect(ttft()).toBe("680 ms");
    expect($(".lmw-scope-caption").textContent).toBe("Figures over the last 10 s (4 s so far)");
    // another view (or Python) goes back to the whole run
    model.pythonSets("table_scope", "run");
    expect(ttft()).toBe("144 ms");
    expect($('.lmw-scope-button[data-scope="run"]').getAttribute("aria-pressed")).toBe("true");
  });
});
