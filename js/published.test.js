// Charts of the stats callbacks publish: which keys, and how each is drawn (pure parts).
import { describe, expect, it } from "vitest";
import { THEME } from "./testing/theme.js";

const { MAX_PUBLISHED, PUBLISHED_HEIGHT, publishedChartDef, publishedKeys, unitAxis } = await import(
  "./published.js"
);
const { HEIGHT, buildLayout, buildTraces } = await import("./charts.js");
const { CHARTS, toColumns } = await import("./series.js");

const bucket = (t, published) => (published === undefined ? { t, completed: 1 } : { t, completed: 1, published });

const SPEC = {
  groups: [
    {
      name: "Cost",
      stats: [
        { id: "Cost/total", label: "Total cost", key: "cost-total", unit: "$", invert: false, scale: 1, group: null },
        { id: "Cost/per 1k", label: "Per 1k requests", key: "cost-per_request", unit: "$", invert: false, scale: 1000, group: null },
        { id: "Cost/again", label: "Second label", key: "cost-total", unit: "count", invert: false, scale: 1, group: null },
      ],
    },
    { name: "Custom", stats: [{ id: "Custom/wait", label: "Queue wait", key: "queue-wait", unit: "s", invert: false, scale: 1, group: null }] },
  ],
  available: [],
};

describe("publishedKeys", () => {
  it("lists the keys in first-seen order, from the buckets that carry them", () => {
    const points = [
      bucket(0),
      bucket(1, { "cost-total": 0.01 }),
      bucket(2, { "cost-per_request": null, "cost-total": 0.02 }),
      bucket(3, { "queue-wait": 0.5 }),
    ];
    expect(publishedKeys(points)).toEqual(["cost-total", "cost-per_request", "queue-wait"]);
    expect(publishedKeys([bucket(0), bucket(1)])).toEqual([]);
    expect(publishedKeys([bucket(0, null), { t: 1, published: 3 }, null])).toEqual([]);
  });

  it("keeps the known keys first and adds only new ones", () => {
    expect(publishedKeys([bucket(5, { b: 1, a: 2 })], ["a"])).toEqual(["a", "b"]);
  });

  it("charts at most six keys: further keys are ignored", () => {
    expect(MAX_PUBLISHED).toBe(6);
    const many = Object.fromEntries(Array.from({ length: 9 }, (_, i) => [`k${i}`, i]));
    expect(publishedKeys([bucket(0, many)])).toEqual(["k0", "k1", "k2", "k3", "k4", "k5"]);
    expect(publishedKeys([bucket(1, { late: 1 })], ["k0", "k1", "k2", "k3", "k4", "k5"])).toHaveLength(6);
  });
});

describe("publishedChartDef", () => {
  it("is titled by the first spec stat showing the key, else by the key", () => {
    const def = publishedChartDef("cost-total", SPEC);
    expect([def.id, def.key, def.title, def.traces[0].name]).toEqual([
      "published:cost-total",
      "cost-total",
      "Total cost",
      "Total cost",
    ]);
    expect(publishedChartDef("mystery", SPEC).title).toBe("mystery");
    expect(publishedChartDef("cost-total", undefined).title).toBe("cost-total");
  });

  it("x is the bucket's t; a missing value is a gap; hover texts use the stat's format and scale", () => {
    const def = publishedChartDef("cost-per_request", SPEC);
    const cols = toColumns(def, [
      bucket(0),
      bucket(1, { "cost-per_request": 0.00012 }),
      bucket(2, { "cost-per_request": null }),
      bucket(3, { "cost-per_request": 0.0034 }),
    ]);
    expect(cols.x).toEqual([[0, 1, 2, 3]]);
    expect(cols.y[0].map((v) => (v === null ? null : Math.round(v * 1e6) / 1e6))).toEqual([null, 0.12, null, 3.4]);
    expect(cols.customdata).toEqual([["—", "$0.120", "—", "$3.40"]]);
  });

  it("draws the unit on the y axis: $ as a prefix, seconds in ms, ratios in percent", () => {
    expect(unitAxis("$")).toEqual({ factor: 1, yTitle: "", tickprefix: "$" });
    expect(unitAxis("s")).toEqual({ factor: 1000, yTitle: "ms" });
    expect(unitAxis("%")).toEqual({ factor: 100, yTitle: "", ticksuffix: "%" });
    expect(unitAxis("tok/s")).toEqual({ factor: 1, yTitle: "tok/s" });
    expect(unitAxis("")).toEqual({ factor: 1, yTitle: "" });
    const wait = publishedChartDef("queue-wait", SPEC);
    expect(toColumns(wait, [bucket(0, { "queue-wait": 0.25 })]).y).toEqual([[250]]);
    expect(toColumns(wait, [bucket(0, { "queue-wait": 0.25 })]).customdata).toEqual([["250 ms"]]);
    const layout = buildLayout(publishedChartDef("cost-total", SPEC), THEME);
    expect(layout.tickprefix).toBe("$");
    expect(layout.height).toBe(PUBLISHED_HEIGHT);
    expect(layout.showlegend).toBe(false);
    expect(buildLayout(wait, THEME).yTitle).toBe("ms");
  });

  it("inverts, then scales, like the table; a zero to invert is a gap", () => {
    const spec = { groups: [{ name: "X", stats: [{ label: "k tok/s", key: "tpot", unit: "tok/s", invert: true, scale: 0.001 }] }] };
    const def = publishedChartDef("tpot", spec);
    const cols = toColumns(def, [bucket(0, { tpot: 0.0005 }), bucket(1, { tpot: 0 })]);
    expect(cols.y).toEqual([[2, null]]);
    expect(cols.customdata).toEqual([["2.0 tok/s", "—"]]);
  });

  it("builds one trace whose cursor readout is the formatted text, with the chart's colour", () => {
    const def = publishedChartDef("cost-total", SPEC, 1);
    const traces = buildTraces(def, toColumns(def, [bucket(0, { "cost-total": 0.0123 })]), THEME);
    expect(traces).toHaveLength(1);
    expect(traces[0].hovertext).toEqual(["$0.0123"]);
    expect(traces[0].name).toBe("Total cost");
    expect(traces[0].line.color).toBe(THEME.colors[1]);
  });
});

describe("the fixed charts are unchanged", () => {
  it("no hover texts, a legend, full height", () => {
    const def = CHARTS[0];
    const cols = toColumns(def, [{ t: 0, requests_per_minute: 60, output_tps: 40 }]);
    expect(Object.keys(cols)).toEqual(["x", "y"]);
    const traces = buildTraces(def, cols, THEME);
    expect(traces[0].hovertext).toBeUndefined();
    const layout = buildLayout(def, THEME);
    expect([layout.showlegend, layout.height]).toEqual([true, HEIGHT]);
  });
});
