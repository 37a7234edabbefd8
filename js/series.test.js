import { describe, expect, it } from "vitest";
import { CHARTS, SeriesState, toColumns } from "./series.js";

const bucket = (t, extra = {}) => ({
  t,
  completed: 2,
  failed: 0,
  output_tokens: 96,
  requests_per_minute: 120,
  output_tps: 96,
  ttft_p50: 0.05,
  ttft_p90: 0.08,
  ttlt_p50: 1.2,
  ttlt_p90: 1.5,
  active_clients: 4,
  in_flight: 3,
  ...extra,
});
const ts = (state) => state.points.map((p) => p.t);

describe("SeriesState: the series protocol", () => {
  it("resets on a new run (seq 0) and appends consecutive ticks", () => {
    const s = new SeriesState();
    expect(s.applyDelta({ run: 1, seq: 0, points: [] })).toEqual({ action: "reset", points: [] });
    expect(s.applyDelta({ run: 1, seq: 1, points: [bucket(0), bucket(1)] }).action).toBe("append");
    const r = s.applyDelta({ run: 1, seq: 2, points: [bucket(2)] });
    expect(r).toEqual({ action: "append", points: [bucket(2)] });
    expect(ts(s)).toEqual([0, 1, 2]);
    expect([s.run, s.seq]).toEqual([1, 2]);
  });

  it("a run's final series: a view that followed it takes only the points it lacks", () => {
    const s = new SeriesState();
    s.applyDelta({ run: 1, seq: 0, points: [] });
    s.applyDelta({ run: 1, seq: 1, points: [0, 1, 2, 3].map((t) => bucket(t)) });
    // the last tick (second 4) comes inside the final message, whose points are thinned
    const final = { run: 1, seq: 2, points: [0, 2, 4].map((t) => bucket(t)), final: true };
    expect(s.applyDelta(final)).toEqual({ action: "append", points: [bucket(4)] });
    expect(ts(s)).toEqual([0, 1, 2, 3, 4]); // its own full resolution kept
    expect(s.seq).toBe(2);
    expect(s.applyDelta(final)).toEqual({ action: "ignore" }); // the trait's value again
    expect(s.applyDelta({ run: 1, seq: 3, points: [bucket(5)] }).action).toBe("append");
  });

  it("a run's final series: a view that did not see the run (a saved notebook) draws it", () => {
    const s = new SeriesState();
    const r = s.applyDelta({ run: 7, seq: 40, points: [0, 10, 20].map((t) => bucket(t)), final: true });
    expect(r.action).toBe("reset");
    expect(ts(s)).toEqual([0, 10, 20]);
    expect([s.run, s.seq]).toEqual([7, 40]);
    // and with a run of its own before: replaced too
    const t = new SeriesState();
    t.applyDelta({ run: 6, seq: 0, points: [bucket(0)] });
    expect(t.applyDelta({ run: 7, seq: 3, points: [bucket(1)], final: true }).action).toBe("reset");
    expect(ts(t)).toEqual([1]);
  });

  it("a final series sent as one JSON text (what Python sends: one line in a notebook file)", () => {
    const s = new SeriesState();
    const packed = JSON.stringify([0, 5, 9].map((t) => bucket(t)));
    expect(s.applyDelta({ run: 2, seq: 9, points: [], points_json: packed, final: true }).action).toBe("reset");
    expect(ts(s)).toEqual([0, 5, 9]);
    const bad = new SeriesState();
    expect(bad.applyDelta({ run: 2, seq: 9, points: [], points_json: "{not json", final: true })).toEqual({
      action: "reset",
      points: [],
    });
  });

  it("clears the buffers when the next run starts", () => {
    const s = new SeriesState();
    s.applyDelta({ run: 1, seq: 0, points: [] });
    s.applyDelta({ run: 1, seq: 1, points: [bucket(0), bucket(1)] });
    expect(s.applyDelta({ run: 2, seq: 0, points: [] }).action).toBe("reset");
    expect(s.points).toEqual([]);
    expect(s.applyDelta({ run: 2, seq: 1, points: [bucket(0)] }).action).toBe("append");
    expect(ts(s)).toEqual([0]);
  });

  it("asks for the history on a gap, and for a view that joined mid-run", () => {
    const s = new SeriesState();
    s.applyDelta({ run: 1, seq: 0, points: [] });
    s.applyDelta({ run: 1, seq: 1, points: [bucket(0)] });
    expect(s.applyDelta({ run: 1, seq: 3, points: [bucket(2)] })).toEqual({ action: "history" });
    expect(ts(s)).toEqual([0]); // nothing appended across the gap

    const late = new SeriesState();
    expect(late.applyDelta({ run: 7, seq: 12, points: [bucket(40)] })).toEqual({ action: "history" });
    const other = new SeriesState();
    other.applyDelta({ run: 1, seq: 4, points: [] });
    expect(other.applyDelta({ run: 2, seq: 5, points: [bucket(5)] })).toEqual({ action: "history" });
  });

  it("takes seq 1 of an unseen run as its start (seq 0 folded into the same message)", () => {
    const s = new SeriesState();
    s.applyDelta({ run: 1, seq: 0, points: [] });
    s.applyDelta({ run: 1, seq: 1, points: [bucket(0)] });
    expect(s.applyDelta({ run: 2, seq: 1, points: [bucket(0), bucket(1)] }).action).toBe("reset");
    expect([s.run, s.seq, ts(s)]).toEqual([2, 1, [0, 1]]);
  });

  it("ignores a tick it already has, and values that are not deltas", () => {
    const s = new SeriesState();
    s.applyDelta({ run: 1, seq: 0, points: [] });
    s.applyDelta({ run: 1, seq: 1, points: [bucket(0)] });
    s.applyDelta({ run: 1, seq: 2, points: [bucket(1)] });
    expect(s.applyDelta({ run: 1, seq: 2, points: [bucket(1)] })).toEqual({ action: "ignore" });
    expect(s.applyDelta({})).toEqual({ action: "ignore" });
    expect(s.applyDelta(null)).toEqual({ action: "ignore" });
    expect(ts(s)).toEqual([0, 1]);
  });

  it("replaces everything with a history reply, then appends from its seq", () => {
    const s = new SeriesState();
    expect(s.applyDelta({ run: 3, seq: 9, points: [bucket(9)] }).action).toBe("history");
    const r = s.applyHistory({ type: "history", run: 3, seq: 9, points: [bucket(0), bucket(1), bucket(2)] });
    expect(r.action).toBe("reset");
    expect(ts(s)).toEqual([0, 1, 2]);
    expect(s.applyDelta({ run: 3, seq: 10, points: [bucket(3)] }).action).toBe("append");
    expect(ts(s)).toEqual([0, 1, 2, 3]);
  });

  it("accepts a history reply before any run (run null, no points)", () => {
    const s = new SeriesState();
    s.applyHistory({ type: "history", run: null, seq: 0, points: [] });
    expect(s.points).toEqual([]);
    expect(s.applyDelta({ run: 1, seq: 0, points: [] }).action).toBe("reset");
  });

  it("caps the buffer at maxPoints, keeping the newest", () => {
    const s = new SeriesState({ maxPoints: 5 });
    s.applyDelta({ run: 1, seq: 0, points: [] });
    for (let k = 1; k <= 4; k++) s.applyDelta({ run: 1, seq: k, points: [bucket(2 * k - 2), bucket(2 * k - 1)] });
    expect(ts(s)).toEqual([3, 4, 5, 6, 7]);
    s.applyHistory({ run: 1, seq: 4, points: Array.from({ length: 12 }, (_, i) => bucket(i)) });
    expect(ts(s)).toEqual([7, 8, 9, 10, 11]);
  });

  it("holds an hour of one-second points by default", () => {
    expect(new SeriesState().maxPoints).toBe(3600);
  });
});

describe("toColumns: buckets to chart traces", () => {
  const chart = (id) => CHARTS.find((c) => c.id === id);

  it("has three charts: throughput, latency, load", () => {
    expect(CHARTS.map((c) => c.id)).toEqual(["throughput", "latency", "load"]);
  });

  it("throughput: the windowed rates Python computed, not the jumpy per-second counts", () => {
    const cols = toColumns(chart("throughput"), [
      bucket(0, { completed: 3, output_tokens: 150, requests_per_minute: 180, output_tps: 150 }),
      bucket(1, { completed: 0, output_tokens: 0, requests_per_minute: 90, output_tps: 75 }),
    ]);
    expect(cols.x).toEqual([[0, 1], [0, 1]]);
    expect(cols.y).toEqual([[180, 90], [150, 75]]);
    expect(chart("throughput").traces[1].yaxis).toBe("y2");
  });

  it("latency: TTFT and TTLT p50/p90 in milliseconds, nulls kept as gaps", () => {
    const cols = toColumns(chart("latency"), [
      bucket(5, { ttft_p50: 0.05, ttft_p90: 0.08, ttlt_p50: 1.2, ttlt_p90: 1.5 }),
      bucket(6, { ttft_p50: null, ttft_p90: null, ttlt_p50: null, ttlt_p90: undefined }),
    ]);
    expect(chart("latency").traces.map((t) => t.name)).toEqual(["TTFT p50", "TTFT p90", "TTLT p50", "TTLT p90"]);
    expect(cols.x[0]).toEqual([5, 6]);
    expect(cols.y.map((col) => col.map((v) => (v === null ? null : Math.round(v * 1000) / 1000)))).toEqual([
      [50, null],
      [80, null],
      [1200, null],
      [1500, null],
    ]);
  });

  it("load: in flight, active clients, failed per second", () => {
    const cols = toColumns(chart("load"), [bucket(0, { active_clients: 8, in_flight: 5, failed: 2 })]);
    expect(chart("load").traces.map((t) => t.name)).toEqual(["In flight", "Active clients", "Failed/s"]);
    expect(cols.y).toEqual([[5], [8], [2]]);
  });

  it("gives one x and one y column per trace even with no points", () => {
    const cols = toColumns(chart("latency"), []);
    expect(cols).toEqual({ x: [[], [], [], []], y: [[], [], [], []] });
  });
});
