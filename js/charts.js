// The live charts' figures: what each chart draws (traces, layout) from its definition
// (series.js), the live run's columns and the saved runs beside it, drawn by plot.js (uPlot).
// The x axis is seconds since the run started.

import { PlotBox } from "./plot.js";
import { toColumns } from "./series.js";
import { parseColor } from "./theme.js";

/**
 * @typedef {import("./series.js").ChartDef} ChartDef
 * @typedef {import("./theme.js").Theme} Theme
 * @typedef {import("./plot.js").Trace} Trace
 * @typedef {import("./plot.js").Layout} Layout
 * @typedef {{x: number[][], y: Array<Array<number|null>>, customdata?: Array<Array<string|null>>}} Columns
 */

/** The plot's height (axes included; the legend goes under it), px at the usual type size. */
export const HEIGHT = 240;

/**
 * The live run's traces for a chart definition and its columns.
 * @param {ChartDef} def
 * @param {Columns} columns
 * @param {Theme} theme
 * @returns {Trace[]}
 */
export function buildTraces(def, columns, theme) {
  return def.traces.map((trace, i) => {
    const color = theme.colors[(trace.color ?? i) % theme.colors.length];
    return {
      mode: "lines",
      name: trace.name,
      x: columns.x[i],
      y: columns.y[i],
      yaxis: trace.yaxis,
      line: { width: trace.area ? 0 : 2.5, color, dash: trace.dash },
      fill: trace.area ? "tozeroy" : "none",
      fillcolor: trace.area ? withAlpha(color, theme.dark ? 0.3 : 0.22) : undefined,
      // A trace with its own texts (a published stat) reads at the cursor in the table's format.
      hovertext: trace.text && columns.customdata ? columns.customdata[i] : undefined,
    };
  });
}

/** Line styles of the saved runs drawn beside the live one (overlay i uses OVERLAY_DASHES[i % n]). */
export const OVERLAY_DASHES = ["dash", "dot", "dashdot", "longdash"];
/** Opacity of an overlay's lines: dimmed, so the live run stays in front. */
export const OVERLAY_OPACITY = 0.55;
/** Saved runs named in a chart's legend; the others are counted in one "+N more" entry. */
export const OVERLAY_LEGEND_MAX = 4;

/**
 * The saved runs of the `overlays` trait that have a series to draw.
 * @param {Array<{kind?: string, series?: object[]}>|null|undefined} overlays
 */
export function runOverlays(overlays) {
  return (Array.isArray(overlays) ? overlays : []).filter(
    (o) => o && o.kind === "run" && Array.isArray(o.series) && o.series.length > 0,
  );
}

/**
 * Traces for the saved runs beside the live one: one dashed (overlay i:
 * `OVERLAY_DASHES[i]`), dimmed line per chart trace and run, in the live trace's colour and on
 * its axis, named "<label> · <trace name>" (its hover). They stay out of the legend: it gets one
 * entry per saved run (its label and dash, in the text colour; a click hides the run's lines),
 * at most `OVERLAY_LEGEND_MAX`, then "+N more". Drawn after the live traces, so extend()'s
 * indices (0..n-1) stay the live ones; the legend entries come last, with no points.
 * @param {ChartDef} def
 * @param {Array<{label: string, kind: string, series?: object[]}>|null|undefined} overlays
 * @param {Theme} theme
 */
export function buildOverlayTraces(def, overlays, theme) {
  const traces = [];
  const legend = [];
  const runs = runOverlays(overlays);
  const entry = (name, group, line) => ({ mode: "lines", name, x: [], y: [], legendgroup: group, showlegend: true, line });
  runs.forEach((overlay, k) => {
    const columns = toColumns(def, overlay.series);
    const dash = OVERLAY_DASHES[k % OVERLAY_DASHES.length];
    // The runs past the legend's limit share the "+N more" entry (its click hides them all).
    const group = k < OVERLAY_LEGEND_MAX ? `overlay-${k}` : "overlay-more";
    def.traces.forEach((trace, i) => {
      const color = theme.colors[(trace.color ?? i) % theme.colors.length];
      const name = `${overlay.label} · ${trace.name}`;
      traces.push({
        mode: "lines",
        name,
        x: columns.x[i],
        y: columns.y[i],
        yaxis: trace.yaxis,
        opacity: OVERLAY_OPACITY,
        line: { width: 1.5, color, dash },
        fill: "none",
        showlegend: false,
        legendgroup: group,
      });
    });
    if (k < OVERLAY_LEGEND_MAX) legend.push(entry(overlay.label, group, { width: 1.5, color: theme.font, dash }));
  });
  const more = runs.length - OVERLAY_LEGEND_MAX;
  if (more > 0) legend.push(entry(`+${more} more saved ${more === 1 ? "run" : "runs"}`, "overlay-more", { width: 0 }));
  return [...traces, ...legend];
}

/** "rgba(r,g,b,alpha)" for a colour the theme gives as #rrggbb or rgb(). */
function withAlpha(color, alpha) {
  const rgba = parseColor(color);
  return rgba ? `rgba(${rgba[0]},${rgba[1]},${rgba[2]},${alpha})` : color;
}

/**
 * The highest value drawn on the right axis (y2), or null.
 * @param {Array<{yaxis?: string, y?: Array<number|null>}>} traces
 */
function y2Max(traces) {
  let top = null;
  for (const t of traces) {
    if (t.yaxis !== "y2" || !Array.isArray(t.y)) continue;
    for (const v of t.y) if (typeof v === "number" && Number.isFinite(v) && (top === null || v > top)) top = v;
  }
  return top;
}

/**
 * The layout of a chart: its axes' titles and ticks, type sizes and colours from the theme.
 * `y2Top`: the right axis reaches at least this (see Chart.render).
 * @param {ChartDef} def
 * @param {Theme} theme
 * @param {{y2Top?: number|null}} [options]
 * @returns {Layout}
 */
export function buildLayout(def, theme, { y2Top = null } = {}) {
  return {
    ...baseLayout(theme, { xTitle: "seconds since start", yTitle: def.yTitle, height: def.height }),
    y2Title: def.y2Title,
    showlegend: def.showlegend !== false,
    tickprefix: def.tickprefix,
    ticksuffix: def.ticksuffix,
    y2Top: typeof y2Top === "number" && y2Top > 0 ? y2Top : null,
  };
}

/**
 * What every chart's layout shares: the theme's colours and font, type large enough to read on
 * a projector (18 px in presentation mode: theme.scale 1.4), the plot's height.
 * @param {Theme} theme
 * @param {{xTitle: string, yTitle: string, height?: number}} options
 * @returns {Layout}
 */
export function baseLayout(theme, { xTitle, yTitle, height = HEIGHT }) {
  // Presentation mode (present.js, present.css) scales the type and sets the plots' height.
  const size = Math.round(13 * (theme.scale || 1));
  return {
    height: theme.chartHeight || height,
    xTitle,
    yTitle,
    fontSize: size,
    tickSize: size,
    font: theme.font,
    fontFamily: theme.fontFamily,
    grid: theme.grid,
    paper: theme.paper,
  };
}

/** A streaming chart of the run, created lazily (the first render() draws it). */
export class Chart extends PlotBox {
  /**
   * @param {HTMLElement} div  the element the chart is drawn into
   * @param {ChartDef} def
   */
  constructor(div, def) {
    super(div, def.id);
    this.def = def;
    /** @type {Theme|null} */
    this.theme = null;
  }

  /**
   * Draw all the data: the live run's traces, then the saved runs' (overlays).
   * @param {Columns} columns
   * @param {Theme} theme
   * @param {Array<object>|null} [overlays]  the `overlays` trait
   */
  render(columns, theme, overlays = null) {
    if (this.destroyed) return;
    this.theme = theme;
    const extra = buildOverlayTraces(this.def, overlays, theme);
    const traces = [...buildTraces(this.def, columns, theme), ...extra];
    // Saved runs shown: the right axis (output tokens/s) goes up to twice its highest value
    // drawn, so those lines keep to the lower half instead of lying on the requests/min ones
    // (proportional, for answers of one length: two axes scaled to their maxima draw the same
    // line twice).
    const top = extra.length ? y2Max(traces) : null;
    this.draw(traces, buildLayout(this.def, theme, { y2Top: top === null ? null : 2 * top }));
  }

  /**
   * Append new points to the live run's traces, keeping at most maxPoints per trace.
   * @param {Columns} columns
   * @param {number} maxPoints
   */
  extend(columns, maxPoints) {
    if (this.destroyed || !this.plotted || columns.x.length === 0 || columns.x[0].length === 0) {
      return;
    }
    this.def.traces.forEach((_, i) => {
      const t = this.traces[i];
      const cut = (a, more) => {
        const all = a.concat(more);
        return all.length > maxPoints ? all.slice(all.length - maxPoints) : all;
      };
      t.x = cut(t.x, columns.x[i]);
      t.y = cut(t.y, columns.y[i]);
      if (t.hovertext && columns.customdata) t.hovertext = cut(t.hovertext, columns.customdata[i]);
    });
    this.update();
  }
}
