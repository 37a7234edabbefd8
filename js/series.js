// The chart data: the series protocol of docs/widget_contract.md as a small state machine
// (which run, which tick, the buffered points), and the conversion of one-second buckets into
// chart columns. No DOM and no Plotly here, so all of it is unit-tested.

import { label } from "./metrics.js";

/** Points kept per chart: one hour of one-second buckets. */
export const DEFAULT_MAX_POINTS = 3600;

/**
 * @typedef {{t: number, completed?: number, failed?: number, output_tokens?: number,
 *   requests_per_minute?: number, output_tps?: number,
 *   ttft_p50?: number|null, ttft_p90?: number|null, ttlt_p50?: number|null, ttlt_p90?: number|null,
 *   active_clients?: number, in_flight?: number, rate?: number,
 *   published?: Record<string, number|null>}} Bucket  published: stats callbacks published
 *   during the run (absent in most runs; see published.js); rate: an open loop's scheduled
 *   requests per second (absent for clients)
 * @typedef {{action: "append", points: Bucket[]}
 *   | {action: "reset", points: Bucket[]}
 *   | {action: "history"}
 *   | {action: "ignore"}} DeltaResult
 */

const isSeq = (v) => typeof v === "number" && Number.isInteger(v) && v >= 0;

/** A final delta's points: one JSON text (`points_json`: a saved notebook keeps it on one line),
 * or a list; [] for anything unreadable. */
function finalPoints(delta) {
  if (typeof delta.points_json === "string") {
    try {
      const points = JSON.parse(delta.points_json);
      return Array.isArray(points) ? points : [];
    } catch {
      return [];
    }
  }
  return Array.isArray(delta.points) ? delta.points : [];
}

/**
 * Follows `series_delta` changes and history replies; keeps at most `maxPoints` points.
 *
 * - same run and seq == last + 1: append the points;
 * - seq 0 (a run starts, points []), or seq 1 of a run this view has not seen (Python folded
 *   the run's seq 0 and its first points into one message): reset to these points;
 * - same run and seq <= last: already have it (e.g. the trait's current value): ignore;
 * - anything else (a gap, a view that joined mid-run): the caller must ask for the history;
 * - `final` (a run's end: its whole series, thinned, for a saved notebook): a view that knows
 *   the run appends only the points it lacks (the last tick's) and keeps its full resolution;
 *   any other view (a saved notebook reopened, no kernel to ask) resets to these points.
 */
export class SeriesState {
  /** @param {{maxPoints?: number}} [options] */
  constructor({ maxPoints = DEFAULT_MAX_POINTS } = {}) {
    this.maxPoints = maxPoints;
    /** @type {number|string|null} */
    this.run = null;
    /** @type {number|null} */
    this.seq = null;
    /** @type {Bucket[]} */
    this.points = [];
  }

  /**
   * Apply one value of the `series_delta` trait.
   * @param {{run?: any, seq?: number, points?: Bucket[], final?: boolean}|null|undefined} delta
   * @returns {DeltaResult}
   */
  applyDelta(delta) {
    if (!delta || !isSeq(delta.seq)) return { action: "ignore" };
    const run = delta.run ?? null;
    const points = Array.isArray(delta.points) ? delta.points : [];
    const known = this.seq !== null && run === this.run;
    if (delta.final) return this._final(run, delta.seq, finalPoints(delta), known);
    if (delta.seq === 0 || (delta.seq === 1 && !known)) {
      this.run = run;
      this.seq = delta.seq;
      this.points = this._cap(points.slice());
      return { action: "reset", points: this.points };
    }
    if (known && delta.seq === this.seq + 1) {
      this.seq = delta.seq;
      for (const p of points) this.points.push(p);
      this.points = this._cap(this.points);
      return { action: "append", points };
    }
    if (known && delta.seq <= this.seq) return { action: "ignore" };
    return { action: "history" };
  }

  /**
   * Replace everything with a history reply `{type: "history", run, seq, points}`.
   * Python answers with its state when it handles the request, later than any delta this view
   * received before the reply, so the reply always wins.
   * @param {{run?: any, seq?: number, points?: Bucket[]}} msg
   * @returns {{action: "reset", points: Bucket[]}}
   */
  applyHistory(msg) {
    this.run = msg.run ?? null;
    this.seq = isSeq(msg.seq) ? msg.seq : 0;
    this.points = this._cap(Array.isArray(msg.points) ? msg.points.slice() : []);
    return { action: "reset", points: this.points };
  }

  _final(run, seq, points, known) {
    if (!known) {
      this.run = run;
      this.seq = seq;
      this.points = this._cap(points.slice());
      return { action: "reset", points: this.points };
    }
    const last = this.points.length ? this.points[this.points.length - 1].t : -Infinity;
    const tail = points.filter((p) => typeof p.t === "number" && p.t > last);
    this.seq = Math.max(this.seq, seq);
    if (tail.length === 0) return { action: "ignore" };
    for (const p of tail) this.points.push(p);
    this.points = this._cap(this.points);
    return { action: "append", points: tail };
  }

  _cap(points) {
    return points.length > this.maxPoints ? points.slice(points.length - this.maxPoints) : points;
  }
}

// -- from buckets to chart columns ---------------------------------------------------------------

/** A number, or null (a gap in the line) for anything else. */
const num = (v) => (typeof v === "number" && Number.isFinite(v) ? v : null);
const times = (v, k) => {
  const n = num(v);
  return n === null ? null : n * k;
};

/**
 * @typedef {{name: string, value: (b: Bucket) => number|null, color: number, yaxis?: "y2",
 *   dash?: string, area?: boolean, text?: (b: Bucket) => string}} TraceDef
 *   color: index in the theme palette (0 brand, 1 orange, 2 green, 3 purple, 4 red);
 *   text: the hover text of a point (the table's format), instead of the plain number
 * @typedef {{id: string, title: string, yTitle: string, y2Title?: string, traces: TraceDef[],
 *   tickprefix?: string, ticksuffix?: string, height?: number, showlegend?: boolean}} ChartDef
 *   tickprefix / ticksuffix: of the y axis ("$", "%"); height in px; showlegend: default true
 */

/**
 * The three charts and how each trace is computed from a one-second bucket.
 * x is always the bucket's `t` (seconds since the run started).
 * @type {ChartDef[]}
 */
export const CHARTS = [
  {
    id: "throughput",
    title: "Throughput",
    yTitle: "requests / min",
    y2Title: "output tokens / s",
    traces: [
      // Rates over the last few seconds (Python's rate_window): one second alone is jumpy when
      // requests take longer than a second and finish in waves.
      { name: label("requests_per_minute"), value: (b) => num(b.requests_per_minute), color: 0 },
      // Shaded, on its own axis: with similar answer lengths it is proportional to requests/min,
      // and two lines would lie exactly on top of each other.
      { name: label("output_tps"), value: (b) => num(b.output_tps), color: 1, yaxis: "y2", area: true },
    ],
  },
  {
    id: "latency",
    title: "Latency (last 10 s)",
    yTitle: "ms",
    traces: [
      { name: label("time_to_first_token", "p50"), value: (b) => times(b.ttft_p50, 1000), color: 0 },
      { name: label("time_to_first_token", "p90"), value: (b) => times(b.ttft_p90, 1000), color: 0, dash: "dot" },
      { name: label("time_to_last_token", "p50"), value: (b) => times(b.ttlt_p50, 1000), color: 1 },
      { name: label("time_to_last_token", "p90"), value: (b) => times(b.ttlt_p90, 1000), color: 1, dash: "dot" },
    ],
  },
  {
    id: "load",
    title: "Load",
    yTitle: "clients · requests",
    traces: [
      { name: "In flight", value: (b) => num(b.in_flight), color: 2 },
      // Dashed and drawn after "In flight": closed-loop clients keep both equal most of the time.
      { name: "Active clients", value: (b) => num(b.active_clients), color: 0, dash: "dash" },
      { name: "Failed/s", value: (b) => num(b.failed), color: 4 },
    ],
  },
];

/**
 * The load chart of an open loop (a run at a rate, whose buckets carry `rate`: the schedule's
 * requests per second as that second closed). No clients there: what a person tuning the rate
 * reads is whether the answers keep up with the schedule (finished/s under the scheduled rate,
 * in flight climbing: the server queues).
 * @type {ChartDef}
 */
export const OPEN_LOOP_LOAD = {
  id: "load",
  title: "Load (open loop)",
  yTitle: "requests / s",
  y2Title: "in flight",
  traces: [
    { name: "Scheduled rate", value: (b) => num(b.rate), color: 0, dash: "dash" },
    {
      name: "Finished/s",
      value: (b) => (num(b.completed) === null ? null : b.completed + (num(b.failed) ?? 0)),
      color: 3,
    },
    { name: "Failed/s", value: (b) => num(b.failed), color: 4 },
    { name: "In flight", value: (b) => num(b.in_flight), color: 2, yaxis: "y2" },
  ],
};

/**
 * The load chart for these points: the open loop's when they carry a scheduled rate, the
 * clients' otherwise; before any point, as the mode says (a run at a rate is about to start).
 * @param {Bucket[]} points
 * @param {string} [mode]  the `mode` trait
 * @returns {ChartDef}
 */
export function loadChartDef(points, mode) {
  const open = points.length ? points.some((p) => num(p.rate) !== null) : mode === "rate";
  return open ? OPEN_LOOP_LOAD : CHARTS[2];
}

/**
 * Columns for one chart, in the shape Chart.extend takes: one x and one y array per trace,
 * and one customdata array per trace (hover texts) when a trace formats its own (`text`).
 * @param {ChartDef} chart
 * @param {Bucket[]} points
 * @returns {{x: number[][], y: Array<Array<number|null>>, customdata?: Array<Array<string|null>>}}
 */
export function toColumns(chart, points) {
  const xs = points.map((p) => num(p.t));
  const columns = {
    x: chart.traces.map(() => xs.slice()),
    y: chart.traces.map((trace) => points.map((p) => trace.value(p))),
  };
  if (chart.traces.some((trace) => trace.text)) {
    columns.customdata = chart.traces.map((trace) => points.map((p) => (trace.text ? trace.text(p) : null)));
  }
  return columns;
}
