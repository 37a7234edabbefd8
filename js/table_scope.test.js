// @vitest-environment jsdom
// The table's scope (issue 12, defect 5): "whole run" (the `stats` trait) or "last N s"
// (`window_stats`), a toggle in the table's header that says which it shows; a key with no
// meaning over a window shows "—".
import { describe, expect, it } from "vitest";
import { StatsTable, scopeLabels, scopedStats } from "./table.js";

const SPEC = {
  groups: [
    {
      name: "Throughput",
      stats: [
        { label: "Requests", key: "total_requests", unit: "count", invert: false, group: null },
        { label: "Send window", key: "send_window", unit: "s", invert: false, group: null },
      ],
    },
    { name: "TTFT", stats: [{ label: "p50", key: "time_to_first_token-p50", unit: "s", invert: false, group: null }] },
  ],
};
const RUN = { total_requests: 1234, send_window: 60.2, "time_to_first_token-p50": 0.144 };
const WINDOW = { seconds: 10, covered: 10, stats: { total_requests: 210, "time_to_first_token-p50": 0.68 } };

const cell = (table, key) => table.element.querySelector(`td[data-key="${key}"]`).textContent;
const pressed = (table) =>
  [...table.element.querySelectorAll(".lmw-scope-button")].map((b) => [b.textContent, b.getAttribute("aria-pressed")]);

describe("the table's scope", () => {
  it("picks the figures of a scope", () => {
    expect(scopedStats("run", RUN, WINDOW)).toBe(RUN);
    expect(scopedStats("window", RUN, WINDOW)).toBe(WINDOW.stats);
    expect(scopedStats("window", RUN, {})).toEqual({}); // not sent yet: "—"
    expect(scopedStats("run", null, null)).toEqual({});
  });

  it("labels the toggle and says what the table covers", () => {
    expect(scopeLabels("run", WINDOW)).toEqual({ run: "whole run", window: "last 10 s", caption: "Figures over the whole run" });
    expect(scopeLabels("window", WINDOW).caption).toBe("Figures over the last 10 s");
    expect(scopeLabels("window", { seconds: 10, covered: 3 }).caption).toBe("Figures over the last 10 s (3 s so far)");
    expect(scopeLabels("window", {}).window).toBe("last 10 s"); // before Python sent any
    expect(scopeLabels("run", { seconds: 30 }).window).toBe("last 30 s");
  });

  it("starts on the whole run, labelled; the toggle shows the window and asks Python for it", () => {
    const asked = [];
    const table = new StatsTable(SPEC, RUN, [], { windowStats: {}, setScope: (s) => asked.push(s) });
    expect(table.element.dataset.scope).toBe("run");
    expect(pressed(table)).toEqual([["whole run", "true"], ["last 10 s", "false"]]);
    expect(table.element.querySelector(".lmw-scope-caption").textContent).toBe("Figures over the whole run");
    expect(cell(table, "time_to_first_token-p50")).toBe("144 ms");

    table.element.querySelector('.lmw-scope-button[data-scope="window"]').click();
    expect(asked).toEqual(["window"]);
    expect(pressed(table)).toEqual([["whole run", "false"], ["last 10 s", "true"]]);
    expect(cell(table, "time_to_first_token-p50")).toBe("—"); // until Python's figures come
    table.setWindow(WINDOW);
    expect(cell(table, "time_to_first_token-p50")).toBe("680 ms");
    expect(cell(table, "total_requests")).toBe("210");
    expect(cell(table, "send_window")).toBe("—"); // no meaning over a window
    expect(table.element.querySelector(".lmw-scope-caption").textContent).toBe("Figures over the last 10 s");
    // whole-run ticks do not touch the window's figures
    table.update({ ...RUN, "time_to_first_token-p50": 0.15 });
    expect(cell(table, "time_to_first_token-p50")).toBe("680 ms");

    table.element.querySelector('.lmw-scope-button[data-scope="run"]').click();
    expect(asked).toEqual(["window", "run"]);
    expect(cell(table, "time_to_first_token-p50")).toBe("150 ms");
    expect(cell(table, "send_window")).toBe("60.20 s");
    table.element.querySelector('.lmw-scope-button[data-scope="run"]').click(); // already: nothing
    expect(asked).toEqual(["window", "run"]);
  });

  it("follows the scope Python (or another view) sets, and a new spec keeps it", () => {
    const table = new StatsTable(SPEC, RUN, [], { scope: "window", windowStats: WINDOW });
    expect(cell(table, "total_requests")).toBe("210");
    table.setSpec({ groups: [SPEC.groups[1]] });
    expect(cell(table, "time_to_first_token-p50")).toBe("680 ms");
    table.setScope("run");
    expect(cell(table, "time_to_first_token-p50")).toBe("144 ms");
  });
});
