// @vitest-environment jsdom
// Rate mode (issue 13): the load switch (clients | rate), the rate slider on log-ish steps and
// its box, the arrivals, what is fixed while a run goes on; the header's scheduled rate; the
// open loop's load chart, live and from a saved notebook (no kernel).
import { afterEach, describe, expect, it, vi } from "vitest";
import { makeModel } from "./testing/fake_model.js";

const fake = vi.hoisted(() => ({ uplots: [], log: [] }));
vi.mock("uplot", async () => (await import("./testing/fake_uplot.js")).mockUPlot(vi, fake.uplots, fake.log));

const { Controls, formatRate, nearestStep, parseRateValue, rateSteps } = await import("./controls.js");
const { Disposer } = await import("./dom.js");
const { default: widget } = await import("./widget.js");
const { CHARTS, OPEN_LOOP_LOAD, loadChartDef, toColumns } = await import("./series.js");

const TRAITS = {
  title: "sim", controls: true, mode: "time", duration: 30, max_duration: 600, clients: 4,
  max_clients: 64, n_requests: 10, sweep_levels: [1, 2, 4], rate: 20, min_rate: 0.5,
  max_rate: 200, arrival: "poisson", status: "idle", error: "", progress: {}, stats: {},
  spec: { groups: [] }, series_delta: {}, result_path: "", overlays: [],
};

function controls(traits = {}) {
  const model = makeModel({ ...TRAITS, ...traits });
  const c = new Controls(model, new Disposer());
  document.body.replaceChildren(c.element);
  const $ = (sel) => c.element.querySelector(sel);
  const follow = (changes) => {
    model.update(changes);
    c.update();
  };
  return { model, c, $, follow };
}

describe("rate steps", () => {
  it("runs from min to max on round numbers about 20-25 % apart", () => {
    const steps = rateSteps(0.5, 200);
    expect(steps.slice(0, 5)).toEqual([0.5, 0.6, 0.8, 1, 1.2]);
    expect(steps.slice(-3)).toEqual([120, 150, 200]);
    for (let i = 1; i < steps.length; i += 1) expect(steps[i] / steps[i - 1]).toBeLessThanOrEqual(1.34);
    expect(rateSteps(2, 7)).toEqual([2, 2.5, 3, 4, 5, 6, 7]); // the ends as given
    expect(steps[nearestStep(steps, 33)]).toBe(30); // nearest on a log scale
    expect(formatRate(2.5)).toBe("2.5 req/s");
  });

  it("the box reads decimals, clamps with a note, refuses text", () => {
    const range = { min: 0.5, max: 200 };
    expect(parseRateValue("12.5", range)).toEqual({ ok: true, value: 12.5, note: "" });
    expect(parseRateValue("1000", range)).toEqual({ ok: true, value: 200, note: "at most 200 req/s" });
    expect(parseRateValue("0", range)).toEqual({ ok: true, value: 0.5, note: "at least 0.5 req/s" });
    expect(parseRateValue("fast", range)).toEqual({ ok: false, error: "Type a rate from 0.5 to 200 requests per second." });
  });
});

describe("the load switch and the rate slider", () => {
  it("Rate replaces the clients slider with the rate slider and the arrivals; Clients brings back the closed-loop mode", () => {
    const { model, $, follow } = controls({ mode: "count" });
    const [clients, rate] = [$('[data-load="clients"]'), $('[data-load="rate"]')];
    expect([clients.getAttribute("aria-pressed"), rate.getAttribute("aria-pressed")]).toEqual(["true", "false"]);
    expect([$(".lmw-rate-row").hidden, $(".lmw-arrival-row").hidden, $(".lmw-clients-row").hidden]).toEqual([true, true, false]);
    rate.click();
    expect(model.setCalls).toEqual([["mode", "rate"]]);
    expect(model.saves).toBe(1);
    follow({});
    expect(rate.getAttribute("aria-pressed")).toBe("true");
    expect([$(".lmw-rate-row").hidden, $(".lmw-arrival-row").hidden]).toEqual([false, false]);
    expect([$(".lmw-clients-row").hidden, $(".lmw-mode-row").hidden, $(".lmw-duration-row").hidden]).toEqual([true, true, false]);
    expect($(".lmw-rate-row .lmw-control-value").textContent).toBe("20 req/s");
    rate.click(); // already there: nothing sent
    clients.click();
    expect(model.setCalls.at(-1)).toEqual(["mode", "count"]); // the closed-loop mode it had
  });

  it("the slider moves on the steps, commits the step's rate on release; the box takes any rate", () => {
    const { model, $ } = controls({ mode: "rate" });
    const slider = $("input.lmw-rate");
    const steps = rateSteps(0.5, 200);
    expect([slider.min, slider.max, Number(slider.value)]).toEqual(["0", String(steps.length - 1), steps.indexOf(20)]);
    slider.value = String(steps.indexOf(50));
    slider.dispatchEvent(new Event("input"));
    expect($("input.lmw-rate-box").value).toBe("50");
    expect($(".lmw-rate-row .lmw-control-value").textContent).toBe("50 req/s");
    expect(model.setCalls).toEqual([]); // a drag sends nothing
    slider.dispatchEvent(new Event("change"));
    expect(model.setCalls).toEqual([["rate", 50]]);
    const box = $("input.lmw-rate-box");
    box.value = "33.5";
    box.dispatchEvent(new Event("input"));
    box.dispatchEvent(new KeyboardEvent("keydown", { key: "Enter" }));
    expect(model.setCalls.at(-1)).toEqual(["rate", 33.5]);
    expect(Number(slider.value)).toBe(steps.indexOf(30)); // the nearest step
  });

  it("while a run goes on the switch and the arrivals are fixed; the rate slider still acts", () => {
    const { model, $, follow } = controls({ mode: "rate" });
    $("select.lmw-arrival").value = "constant";
    $("select.lmw-arrival").dispatchEvent(new Event("change"));
    expect(model.setCalls).toEqual([["arrival", "constant"]]);
    follow({ status: "running" });
    const disabled = (sel) => $(sel).disabled;
    expect(['[data-load="clients"]', '[data-load="rate"]', "select.lmw-arrival"].map(disabled)).toEqual([true, true, true]);
    expect([disabled("input.lmw-rate"), disabled("input.lmw-rate-box"), disabled("input.lmw-duration")]).toEqual([false, false, false]);
    follow({ status: "done", rate: 80, max_rate: 1000 }); // Python sets the rate and the range
    expect(disabled('[data-load="clients"]')).toBe(false);
    expect($("input.lmw-rate-box").value).toBe("80");
    expect(Number($("input.lmw-rate").max)).toBe(rateSteps(0.5, 1000).length - 1);
  });
});

describe("the dashboard in rate mode", () => {
  let el;
  let cleanup;
  afterEach(() => {
    cleanup?.();
    el?.remove();
  });
  const mount = (traits) => {
    const model = makeModel({ ...TRAITS, ...traits });
    el = document.createElement("div");
    document.body.append(el);
    cleanup = widget.render({ model, el });
    return { model, $: (sel) => el.querySelector(sel) };
  };
  const point = (t, rate) => ({ t, completed: 18, failed: 1, in_flight: 3, active_clients: 0, rate });

  it("the header shows the scheduled rate instead of the active clients", () => {
    const { model, $ } = mount({ mode: "rate", status: "running" });
    model.update({ progress: { elapsed: 2, duration: 30, completed: 30, in_flight: 3, active_clients: 0, rate: 40 } });
    const count = (key) => $(`[data-key="${key}"]`);
    expect([count("rate").hidden, count("rate").textContent]).toEqual([false, "40req/s scheduled"]);
    expect(count("active_clients").hidden).toBe(true);
    model.update({ progress: { elapsed: 2, active_clients: 4 } }); // clients: as before
    expect([count("rate").hidden, count("active_clients").hidden]).toEqual([true, false]);
  });

  it("the load chart draws the scheduled rate, finished/s and in flight; a saved notebook's final state too", () => {
    expect(loadChartDef([], "rate")).toBe(OPEN_LOOP_LOAD);
    expect(loadChartDef([point(0)], "rate")).toBe(CHARTS[2]); // points without a rate: clients
    expect(toColumns(OPEN_LOOP_LOAD, [point(0, 20)]).y).toEqual([[20], [19], [1], [3]]);
    // a saved notebook opened with no kernel: the final delta alone draws the run
    const points = [point(0, 20), point(1, 20), point(2, 40)];
    const { $ } = mount({
      mode: "rate",
      status: "done",
      progress: { elapsed: 3, duration: 3, completed: 54, failed: 3, rate: 40 },
      series_delta: { run: 1, seq: 4, points: [], points_json: JSON.stringify(points), final: true },
    });
    expect($('[data-chart="load"]').closest(".lmw-chart").querySelector(".lmw-chart-title").textContent).toBe("Load (open loop)");
    const drawn = $('[data-chart="load"]').data;
    expect(drawn.map((t) => t.name)).toEqual(["Scheduled rate", "Finished/s", "Failed/s", "In flight"]);
    expect(drawn[0].y).toEqual([20, 20, 40]);
    expect($('[data-load="rate"]').getAttribute("aria-pressed")).toBe("true");
  });

  it("a live run switches the load chart when its first points carry a rate, and back for clients", () => {
    const { model, $ } = mount({ mode: "time" });
    const title = () => $('[data-chart="load"]').closest(".lmw-chart").querySelector(".lmw-chart-title").textContent;
    expect(title()).toBe("Load");
    model.update({ mode: "rate" });
    expect(title()).toBe("Load (open loop)");
    model.update({ series_delta: { run: 2, seq: 0, points: [] } });
    model.update({ series_delta: { run: 2, seq: 1, points: [point(0, 10)] } });
    model.update({ series_delta: { run: 2, seq: 2, points: [point(1, 15)] } });
    expect($('[data-chart="load"]').data[0].y).toEqual([10, 15]);
    model.update({ mode: "time", series_delta: { run: 3, seq: 0, points: [] } });
    model.update({ series_delta: { run: 3, seq: 1, points: [point(0)] } });
    expect(title()).toBe("Load");
    expect($('[data-chart="load"]').data.map((t) => t.name)).toEqual(["In flight", "Active clients", "Failed/s"]);
  });
});
