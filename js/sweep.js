// Client sweep: the comparison chart ("Sweep: latency vs throughput"), one point per finished
// level, drawn whole from the `comparison` trait (plot.js). The conversion functions are pure
// (no DOM, no canvas) and unit-tested.

import { baseLayout } from "./charts.js";
import { label } from "./metrics.js";
import { PlotBox, formatNumber } from "./plot.js";

const TTFT_P90 = label("time_to_first_token", "p90");

/**
 * @typedef {{clients: number, output_tps?: number|null, requests_per_minute?: number|null,
 *   ttft_p50?: number|null, ttft_p90?: number|null, ttlt_p90?: number|null,
 *   failed_requests_rate?: number|null}} Level
 * @typedef {{levels?: Level[], knee?: number|null, verdict?: string}} Comparison
 * @typedef {import("./theme.js").Theme} Theme
 */

/**
 * Show the sweep chart? When the comparison has levels, or the mode is "sweep".
 * @param {Comparison|null|undefined} comparison
 * @param {string} mode
 */
export function sweepVisible(comparison, mode, overlays = null) {
  return mode === "sweep" || levelsOf(comparison).length > 0 || sweepOverlays(overlays).length > 0;
}

/**
 * The saved sweeps of the `overlays` trait that have levels to draw.
 * @param {Array<{kind?: string, levels?: Level[]}>|null|undefined} overlays
 */
export function sweepOverlays(overlays) {
  return (Array.isArray(overlays) ? overlays : []).filter(
    (o) => o && o.kind === "sweep" && levelsOf(o).length > 0,
  );
}

const OVERLAY_DASHES = ["dash", "dot", "dashdot", "longdash"];

const num = (v) => (typeof v === "number" && Number.isFinite(v) ? v : null);

/** @param {Comparison|null|undefined} comparison */
function levelsOf(comparison) {
  const levels = comparison && Array.isArray(comparison.levels) ? comparison.levels : [];
  return levels.filter((l) => l && typeof l.clients === "number");
}

/**
 * The chart's points, by client count: x output tokens/s, y TTFT p90 in ms, a label per point,
 * and the knee (its index in the points, or -1).
 * @param {Comparison|null|undefined} comparison
 * @returns {{x: Array<number|null>, y: Array<number|null>, clients: number[], text: string[],
 *   knee: number}}
 */
export function comparisonPoints(comparison) {
  const levels = levelsOf(comparison)
    .slice()
    .sort((a, b) => a.clients - b.clients);
  const clients = levels.map((l) => l.clients);
  const kneeClients = comparison ? comparison.knee : null;
  return {
    x: levels.map((l) => num(l.output_tps)),
    y: levels.map((l) => {
      const v = num(l.ttft_p90);
      return v === null ? null : v * 1000;
    }),
    clients,
    text: clients.map(String),
    knee: typeof kneeClients === "number" ? clients.indexOf(kneeClients) : -1,
  };
}

/** "8 clients · 1,234 tok/s · TTFT p90 340 ms": what the cursor's readout says of a point. */
function pointText(prefix, clients, x, y) {
  const fmt = (v) => (v === null ? "—" : formatNumber(v));
  return `${prefix}${clients} clients · ${fmt(x)} tok/s · ${TTFT_P90} ${fmt(y)} ms`;
}

/**
 * The sweep chart's traces: the levels (markers + line, labelled with their client count) and
 * the knee, then one dashed, dimmed line per saved sweep (overlay), named by its label.
 * @param {Comparison|null|undefined} comparison
 * @param {Theme} theme
 * @param {Array<{label: string, kind: string, levels?: Level[]}>|null} [overlays]
 * @returns {import("./plot.js").Trace[]}
 */
export function buildSweepTraces(comparison, theme, overlays = null) {
  const p = comparisonPoints(comparison);
  const color = theme.colors[0];
  const traces = [
    {
      mode: "lines+markers+text",
      name: TTFT_P90,
      x: p.x,
      y: p.y,
      text: p.text,
      marker: { size: 9, color },
      line: { width: 2.5, color },
      hovertext: p.clients.map((c, i) => pointText("", c, p.x[i], p.y[i])),
    },
  ];
  if (p.knee >= 0) {
    const knee = theme.colors[4 % theme.colors.length];
    traces.push({
      mode: "markers",
      name: `knee (${p.clients[p.knee]} clients)`,
      x: [p.x[p.knee]],
      y: [p.y[p.knee]],
      marker: { size: 18, color: "rgba(0,0,0,0)", line: { width: 3, color: knee } },
      line: { color: knee },
    });
  }
  sweepOverlays(overlays).forEach((overlay, k) => {
    const o = comparisonPoints({ levels: overlay.levels });
    const ocolor = theme.colors[(k + 1) % theme.colors.length];
    traces.push({
      mode: "lines+markers",
      name: overlay.label,
      x: o.x,
      y: o.y,
      opacity: 0.6,
      marker: { size: 7, color: ocolor },
      line: { width: 2, color: ocolor, dash: OVERLAY_DASHES[k % OVERLAY_DASHES.length] },
      hovertext: o.clients.map((c, i) => pointText(`${overlay.label}: `, c, o.x[i], o.y[i])),
    });
  });
  return traces;
}

/**
 * The sweep chart's layout, coloured from the theme: points in any x order (throughput falls
 * past saturation).
 * @param {Theme} theme
 * @returns {import("./plot.js").Layout}
 */
export function buildSweepLayout(theme) {
  return { ...baseLayout(theme, { xTitle: "output tokens / s", yTitle: `${TTFT_P90} (ms)` }), xy: true };
}

/** The sweep chart: one point per finished level, redrawn whole when the comparison changes. */
export class SweepChart extends PlotBox {
  /** @param {HTMLElement} div */
  constructor(div) {
    super(div, "sweep");
  }

  /**
   * @param {Comparison|null|undefined} comparison
   * @param {Theme} theme
   * @param {Array<object>|null} [overlays]  the `overlays` trait (its sweeps are drawn)
   */
  render(comparison, theme, overlays = null) {
    this.draw(buildSweepTraces(comparison, theme, overlays), buildSweepLayout(theme));
  }
}
