// @vitest-environment jsdom
import { describe, expect, it } from "vitest";
import { StatsTable, splitUnit, tableOverlays } from "./table.js";

// The shape of display.DisplaySpec().to_json(), trimmed to three groups.
const SPEC = {
  groups: [
    {
      name: "Throughput",
      stats: [
        { label: "Requests", key: "total_requests", unit: "count", invert: false, group: null },
        { label: "Requests/min", key: "requests_per_minute", unit: "req/min", invert: false, group: null },
      ],
    },
    {
      name: "TTFT",
      stats: [
        { label: "p50", key: "time_to_first_token-p50", unit: "s", invert: false, group: null },
        { label: "p90", key: "time_to_first_token-p90", unit: "s", invert: false, group: null },
        { label: "p99", key: "time_to_first_token-p99", unit: "s", invert: false, group: null },
      ],
    },
    {
      name: "Tokens",
      stats: [
        { label: "Per-request tok/s p50", key: "time_per_output_token-p50", unit: "tok/s", invert: true, group: null },
        { label: "Failure rate", key: "failed_requests_rate", unit: "%", invert: false, group: null },
      ],
    },
  ],
};

const values = (table) => [...table.element.querySelectorAll("td.lmw-value")].map((td) => td.textContent);

describe("StatsTable", () => {
  it("keeps the spec's group order, with a header cell spanning each group's stats", () => {
    const table = new StatsTable(SPEC);
    const groups = [...table.element.querySelectorAll("th.lmw-group-name")];
    expect(groups.map((th) => th.textContent)).toEqual(["Throughput", "TTFT", "Tokens"]);
    expect(groups.map((th) => th.getAttribute("colspan"))).toEqual(["2", "3", "2"]);
    const labels = [...table.element.querySelectorAll("th.lmw-stat-label")].map((th) => th.textContent);
    expect(labels).toEqual(["Requests", "Requests/min", "p50", "p90", "p99", "Per-request tok/s p50", "Failure rate"]);
  });

  it("shows placeholders before the first response", () => {
    const table = new StatsTable(SPEC, {});
    expect(values(table)).toEqual(Array(7).fill("—"));
    expect(table.element.querySelectorAll("td.lmw-empty")).toHaveLength(7);
  });

  it("formats values with their units (ms below a second, inverted tok/s, percent, counts)", () => {
    const table = new StatsTable(SPEC);
    table.update({
      total_requests: 1234567,
      requests_per_minute: 1234.4,
      "time_to_first_token-p50": 0.1834,
      "time_to_first_token-p90": 1.5,
      "time_to_first_token-p99": null,
      "time_per_output_token-p50": 0.02,
      failed_requests_rate: 0.021,
    });
    expect(values(table)).toEqual(["1,234,567", "1,234 req/min", "183 ms", "1.50 s", "—", "50.0 tok/s", "2.1%"]);
    const cell = table.element.querySelector('td[data-key="requests_per_minute"]');
    expect(cell.querySelector(".lmw-num").textContent).toBe("1,234");
    expect(cell.querySelector(".lmw-unit").textContent).toBe(" req/min");
  });

  it("updates the text of the same cells in place (no rebuild per tick)", () => {
    const table = new StatsTable(SPEC);
    const before = [...table.element.querySelectorAll("td, th, table")];
    table.update({ total_requests: 1 });
    table.update({ total_requests: 2, "time_to_first_token-p50": 0.25 });
    const after = [...table.element.querySelectorAll("td, th, table")];
    expect(after).toHaveLength(before.length);
    after.forEach((node, i) => expect(node).toBe(before[i]));
    expect(table.element.querySelector('td[data-key="total_requests"]').textContent).toBe("2");
    expect(table.element.querySelector('td[data-key="time_to_first_token-p50"]').textContent).toBe("250 ms");
    table.update({});
    expect(table.element.querySelector('td[data-key="total_requests"]').textContent).toBe("—");
  });

  it("rebuilds for a new spec and keeps the last stats", () => {
    const table = new StatsTable(SPEC, { total_requests: 5 });
    table.setSpec({ groups: [{ name: "Only", stats: [{ label: "n", key: "total_requests", unit: "count" }] }, { name: "Empty", stats: [] }] });
    expect([...table.element.querySelectorAll("th.lmw-group-name")].map((th) => th.textContent)).toEqual(["Only"]);
    expect(values(table)).toEqual(["5"]);
  });

  it("copes with a missing spec", () => {
    const table = new StatsTable(undefined, undefined);
    expect(table.element.children).toHaveLength(0);
    table.update({ total_requests: 3 });
  });
});

describe("splitUnit", () => {
  it("splits the unit off the number, and joins back to the same text", () => {
    expect(splitUnit("1,234 req/min")).toEqual(["1,234", " req/min"]);
    expect(splitUnit("183 ms")).toEqual(["183", " ms"]);
    expect(splitUnit("2.1%")).toEqual(["2.1%", ""]);
    expect(splitUnit("—")).toEqual(["—", ""]);
  });
});

describe("overlays (saved runs) in the table", () => {
  const run = (label, stats) => ({ label, kind: "run", stats, series: [], levels: [] });
  const lines = (table, key) =>
    [...table.element.querySelectorAll(`td[data-key="${key}"] .lmw-overlay-line`)].map((l) => l.textContent);

  it("shows one line per saved run under each live value, in the cell's unit and format", () => {
    const table = new StatsTable(SPEC, { "time_to_first_token-p50": 0.25 });
    expect(table.element.querySelectorAll(".lmw-overlay-line")).toHaveLength(0);
    table.setOverlays([
      run("before", { "time_to_first_token-p50": 0.1834, requests_per_minute: 1234.4, failed_requests_rate: 0.021 }),
      run("after", { "time_to_first_token-p50": 1.5, "time_per_output_token-p50": 0.02 }),
      { label: "a sweep", kind: "sweep", stats: {}, series: [], levels: [{ clients: 1 }] },
    ]);
    expect(lines(table, "time_to_first_token-p50")).toEqual(["before 183 ms", "after 1.50 s"]);
    expect(lines(table, "requests_per_minute")).toEqual(["before 1,234 req/min", "after —"]);
    expect(lines(table, "time_per_output_token-p50")).toEqual(["before —", "after 50.0 tok/s"]);
    expect(lines(table, "failed_requests_rate")).toEqual(["before 2.1%", "after —"]);
    const cell = table.element.querySelector('td[data-key="time_to_first_token-p50"]');
    expect(cell.querySelector(".lmw-num").textContent).toBe("250");
    expect(cell.querySelector(".lmw-overlay-label").textContent).toBe("before");
    // live updates leave the overlay lines alone; a new spec keeps them; clearing removes them
    table.update({ "time_to_first_token-p50": 0.3 });
    expect(lines(table, "time_to_first_token-p50")).toEqual(["before 183 ms", "after 1.50 s"]);
    table.setSpec(SPEC);
    expect(lines(table, "time_to_first_token-p50")).toEqual(["before 183 ms", "after 1.50 s"]);
    table.setOverlays([]);
    expect(table.element.querySelectorAll(".lmw-overlay-line")).toHaveLength(0);
    expect(values(table)[2]).toBe("300 ms");
  });

  it("keeps only saved runs with stats", () => {
    expect(tableOverlays(undefined)).toEqual([]);
    expect(tableOverlays([null, { label: "s", kind: "sweep" }, run("r", {})]).map((o) => o.label)).toEqual(["r"]);
  });
});
