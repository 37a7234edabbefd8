// @vitest-environment jsdom
import { describe, expect, it } from "vitest";
import { Disposer } from "./dom.js";
import { StatsTable, availableKeys, findStat, splitUnit, statScale, tableOverlays } from "./table.js";

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
    expect(table.element.querySelectorAll("table")).toHaveLength(0);
    expect(table.element.hidden).toBe(true); // read-only and nothing to show
    table.update({ total_requests: 3 });
  });

  it("multiplies by the stat's scale (after invert), in the cells and the overlay lines", () => {
    const spec = {
      groups: [
        {
          name: "Cost",
          stats: [
            { id: "Cost/per 1k", label: "per 1k requests", key: "cost-per_request", unit: "$", invert: false, scale: 1000, group: null },
            { id: "Cost/total", label: "total", key: "cost-total", unit: "$", invert: false, group: null }, // no scale: 1
            { id: "Cost/tok", label: "k tok/s", key: "time_per_output_token-p50", unit: "tok/s", invert: true, scale: 0.001, group: null },
          ],
        },
      ],
    };
    const table = new StatsTable(spec, { "cost-per_request": 0.00012, "cost-total": 0.0123, "time_per_output_token-p50": 0.0005 });
    expect(values(table)).toEqual(["$0.120", "$0.0123", "2.0 tok/s"]);
    table.setOverlays([{ label: "old", kind: "run", stats: { "cost-per_request": 0.0034 } }]);
    expect(table.element.querySelector('td[data-key="cost-per_request"] .lmw-overlay-line').textContent).toBe("old $3.40");
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

describe("spec helpers", () => {
  it("statScale: a finite number, else 1", () => {
    expect(statScale({ scale: 1000 })).toBe(1000);
    expect([statScale({}), statScale({ scale: null }), statScale({ scale: "2" }), statScale(null)]).toEqual([1, 1, 1, 1]);
  });

  it("findStat: the first stat showing a key", () => {
    const spec = { groups: [{ name: "A", stats: [{ label: "one", key: "k" }] }, { name: "B", stats: [{ label: "two", key: "k" }] }] };
    expect(findStat(spec, "k").label).toBe("one");
    expect(findStat(spec, "nope")).toBe(null);
    expect(findStat(undefined, "k")).toBe(null);
  });

  it("availableKeys: the spec's list, or none in older specs", () => {
    expect(availableKeys({ groups: [], available: ["a", "", 3, "b"] })).toEqual(["a", "b"]);
    expect(availableKeys({ groups: [] })).toEqual([]);
  });
});

describe("editing the spec (with controls)", () => {
  // The shape of DisplaySpec.to_json() with ids and the keys a person may add.
  const EDITABLE = {
    groups: [
      {
        name: "TTFT",
        stats: [
          { id: "TTFT/p50", label: "p50", key: "time_to_first_token-p50", unit: "s", invert: false, scale: 1, group: null },
          { id: "TTFT/p90", label: "p90", key: "time_to_first_token-p90", unit: "s", invert: false, scale: 1, group: null },
        ],
      },
      { name: "Throughput", stats: [{ id: "Throughput/Requests", label: "Requests", key: "total_requests", unit: "count", invert: false, scale: 1, group: null }] },
    ],
    available: ["failed_requests", "time_to_first_token-p50", "total_requests"],
  };
  const make = (spec = EDITABLE, editable = true) => {
    const sent = [];
    const disposer = new Disposer();
    const table = new StatsTable(spec, {}, [], { send: (msg) => sent.push(msg), editable, disposer });
    document.body.append(table.element);
    return { table, sent, disposer, $: (sel) => table.element.querySelector(sel) };
  };
  const key = (kb, target) => target.dispatchEvent(new KeyboardEvent("keydown", { key: kb, bubbles: true, cancelable: true }));
  const type = (input, text) => {
    input.value = text;
    input.dispatchEvent(new Event("input", { bubbles: true }));
  };

  it("read-only: no remove buttons and no editor; the labels are the labels alone", () => {
    const { table, $ } = make(EDITABLE, false);
    expect(table.element.querySelectorAll(".lmw-stat-remove")).toHaveLength(0);
    expect($(".lmw-stat-editor").hidden).toBe(true);
    expect([...table.element.querySelectorAll("th.lmw-stat-label")].map((th) => th.textContent)).toEqual(["p50", "p90", "Requests"]);
    table.element.remove();
  });

  it("a remove button per stat sends remove_stat with its id; it follows setEditable", () => {
    const { table, sent, $ } = make();
    const buttons = [...table.element.querySelectorAll("th.lmw-stat-label .lmw-stat-remove")];
    expect(buttons.map((b) => [b.textContent, b.title, b.getAttribute("aria-label"), b.type])).toEqual([
      ["×", "Remove p50", "Remove p50", "button"],
      ["×", "Remove p90", "Remove p90", "button"],
      ["×", "Remove Requests", "Remove Requests", "button"],
    ]);
    buttons[1].click();
    expect(sent).toEqual([{ type: "remove_stat", id: "TTFT/p90" }]);
    table.setEditable(false);
    expect(table.element.querySelectorAll(".lmw-stat-remove")).toHaveLength(0);
    expect($(".lmw-stat-editor").hidden).toBe(true);
    buttons[0].click(); // detached: nothing
    expect(sent).toHaveLength(1);
    table.setEditable(true);
    $('th[data-id="Throughput/Requests"] .lmw-stat-remove').click();
    expect(sent.at(-1)).toEqual({ type: "remove_stat", id: "Throughput/Requests" });
    table.element.remove();
  });

  it("a stat without an id (older spec) gets no remove button", () => {
    const { table } = make(SPEC);
    expect(table.element.querySelectorAll(".lmw-stat-remove")).toHaveLength(0);
    expect(table.element.querySelector(".lmw-stat-add").hidden).toBe(false);
    table.element.remove();
  });

  it("an empty spec: no group tables; the + stat button stays with controls, the table hides without", () => {
    const { table, $ } = make({ groups: [], available: ["total_requests"] });
    expect(table.element.querySelectorAll("table")).toHaveLength(0);
    expect(table.element.hidden).toBe(false);
    expect($(".lmw-stat-add").hidden).toBe(false);
    expect($(".lmw-stat-editor").hidden).toBe(false);
    table.setEditable(false);
    expect(table.element.hidden).toBe(true);
    table.setEditable(true);
    table.setSpec(EDITABLE);
    table.setEditable(false);
    expect(table.element.hidden).toBe(false); // read-only with stats: shown
    table.element.remove();
  });

  it("+ stat opens a form after the tables: a key input with the available keys, a label input", () => {
    const { table, sent, $ } = make();
    const add = $(".lmw-stat-add");
    expect(add.textContent).toBe("+ stat");
    expect($(".lmw-stat-form").hidden).toBe(true);
    expect(table.element.lastElementChild.contains(add)).toBe(true); // after the group tables
    add.click();
    expect($(".lmw-stat-form").hidden).toBe(false);
    expect(add.hidden).toBe(true);
    const input = $("input.lmw-stat-key");
    expect(document.activeElement).toBe(input);
    const list = document.getElementById(input.getAttribute("list"));
    expect(list.tagName).toBe("DATALIST");
    expect(table.element.contains(list)).toBe(true);
    expect([...list.options].map((o) => o.value)).toEqual(EDITABLE.available);
    type(input, "time_to_first_token-p95");
    expect($("input.lmw-stat-label-input").placeholder).toBe("time_to_first_token-p95");
    expect(sent).toEqual([]);
    table.element.remove();
  });

  it("the Add button sends add_stat, trimmed; an empty label means the key", () => {
    const { table, sent, $ } = make();
    $(".lmw-stat-add").click();
    type($("input.lmw-stat-key"), "  time_to_first_token-p95 ");
    $("button.lmw-stat-submit").click();
    expect(sent).toEqual([{ type: "add_stat", key: "time_to_first_token-p95", label: "time_to_first_token-p95" }]);
    type($("input.lmw-stat-label-input"), " p95 ");
    $("button.lmw-stat-submit").click();
    expect(sent.at(-1)).toEqual({ type: "add_stat", key: "time_to_first_token-p95", label: "p95" });
    expect($(".lmw-stat-form").hidden).toBe(false); // open until Python answers
    table.element.remove();
  });

  it("Enter submits, Escape cancels and clears", () => {
    const { table, sent, $ } = make();
    $(".lmw-stat-add").click();
    type($("input.lmw-stat-key"), "failed_requests");
    type($("input.lmw-stat-label-input"), "Failed");
    key("Enter", $("input.lmw-stat-label-input"));
    expect(sent).toEqual([{ type: "add_stat", key: "failed_requests", label: "Failed" }]);
    key("Escape", $("input.lmw-stat-key"));
    expect($(".lmw-stat-form").hidden).toBe(true);
    expect($(".lmw-stat-add").hidden).toBe(false);
    expect(document.activeElement).toBe($(".lmw-stat-add"));
    $(".lmw-stat-add").click();
    expect([$("input.lmw-stat-key").value, $("input.lmw-stat-label-input").value]).toEqual(["", ""]);
    expect($("input.lmw-stat-label-input").placeholder).toBe("label");
    type($("input.lmw-stat-key"), "x");
    $("button.lmw-stat-cancel").click();
    expect($(".lmw-stat-form").hidden).toBe(true);
    expect(sent).toHaveLength(1);
    table.element.remove();
  });

  it("an empty key shows the error here and sends nothing", () => {
    const { table, sent, $ } = make();
    $(".lmw-stat-add").click();
    type($("input.lmw-stat-label-input"), "only a label");
    key("Enter", $("input.lmw-stat-label-input"));
    $("button.lmw-stat-submit").click();
    expect(sent).toEqual([]);
    const error = $(".lmw-stat-error");
    expect(error.hidden).toBe(false);
    expect(error.getAttribute("role")).toBe("alert");
    expect(error.textContent).toMatch(/key/);
    type($("input.lmw-stat-key"), "total_requests"); // typing clears it
    expect(error.hidden).toBe(true);
    table.element.remove();
  });

  it("Python's stat_error shows in the open form, keeping what was typed; the next spec closes it", () => {
    const { table, sent, $ } = make();
    $(".lmw-stat-add").click();
    type($("input.lmw-stat-key"), "no_such_stat");
    type($("input.lmw-stat-label-input"), "Nope");
    $("button.lmw-stat-submit").click();
    expect(sent).toHaveLength(1);
    table.showError("Unknown stat key 'no_such_stat'.");
    const error = $(".lmw-stat-form .lmw-stat-error");
    expect([error.hidden, error.textContent]).toEqual([false, "Unknown stat key 'no_such_stat'."]);
    expect($(".lmw-stat-form").hidden).toBe(false);
    expect([$("input.lmw-stat-key").value, $("input.lmw-stat-label-input").value]).toEqual(["no_such_stat", "Nope"]);
    // fixed and sent again: Python adds it and changes the spec
    type($("input.lmw-stat-key"), "failed_requests");
    $("button.lmw-stat-submit").click();
    const editor = $(".lmw-stat-editor");
    const added = structuredClone(EDITABLE);
    added.groups[1].stats.push({ id: "Throughput/Nope", label: "Nope", key: "failed_requests", unit: "count", invert: false, scale: 1, group: null });
    table.setSpec(added);
    expect($(".lmw-stat-editor")).toBe(editor); // kept, not rebuilt
    expect($(".lmw-stat-form").hidden).toBe(true);
    expect($(".lmw-stat-add").hidden).toBe(false);
    expect([$("input.lmw-stat-key").value, $("input.lmw-stat-label-input").value]).toEqual(["", ""]);
    expect($(".lmw-stat-error").hidden).toBe(true);
    expect(table.element.querySelectorAll("th.lmw-stat-label")).toHaveLength(4);
    expect(table.element.lastElementChild).toBe(editor);
    table.element.remove();
  });

  it("an error for a failed remove opens the form to show it; other views ignore errors not theirs", () => {
    const { table, $ } = make();
    table.showError("not mine"); // nothing asked, form closed: another view's request
    expect($(".lmw-stat-form").hidden).toBe(true);
    $(".lmw-stat-remove").click();
    table.showError("No stat 'TTFT/p50'.");
    expect($(".lmw-stat-form").hidden).toBe(false);
    expect($(".lmw-stat-error").textContent).toBe("No stat 'TTFT/p50'.");
    table.element.remove();
  });

  it("leaving controls closes the form; the disposer removes the listeners", () => {
    const { table, sent, disposer, $ } = make();
    $(".lmw-stat-add").click();
    type($("input.lmw-stat-key"), "total_requests");
    table.setEditable(false);
    expect($(".lmw-stat-form").hidden).toBe(true);
    table.setEditable(true);
    disposer.dispose();
    $(".lmw-stat-add").click();
    $(".lmw-stat-remove").click();
    expect($(".lmw-stat-form").hidden).toBe(true);
    expect(sent).toEqual([]);
    table.element.remove();
  });

  it("each table has a datalist id of its own", () => {
    const a = make();
    const b = make();
    const id = (t) => t.$("input.lmw-stat-key").getAttribute("list");
    expect(id(a)).not.toBe(id(b));
    a.table.element.remove();
    b.table.element.remove();
  });

  it("stats ticks still touch only the changed cells", () => {
    const { table } = make();
    const before = [...table.element.querySelectorAll("*")];
    table.update({ total_requests: 3 });
    table.update({ total_requests: 4 });
    const after = [...table.element.querySelectorAll("*")];
    expect(after).toHaveLength(before.length);
    after.forEach((node, i) => expect(node).toBe(before[i]));
    table.element.remove();
  });
});
