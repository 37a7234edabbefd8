// One Plotly chart: newPlot once, extendTraces for new points (capped), react for a full
// replace (history, new run, theme change). The x axis is seconds since the run started.

import Plotly from "plotly.js-basic-dist-min";
import { toColumns } from "./series.js";
import { parseColor } from "./theme.js";

/**
 * @typedef {import("./series.js").ChartDef} ChartDef
 * @typedef {import("./theme.js").Theme} Theme
 * @typedef {{x: number[][], y: Array<Array<number|null>>, customdata?: Array<Array<string|null>>}} Columns
 */

// The mode bar (on hover) holds one button: Plotly's "Download plot as a png" (toImage).
const CONFIG = {
  displaylogo: false,
  displayModeBar: "hover",
  modeBarButtons: [["toImage"]],
  responsive: false,
  scrollZoom: false,
};

/**
 * Plotly config of one chart: CONFIG, and its PNG named after it ("llmeter-latency.png").
 * @param {string} name  the chart's name (PlotBox.name)
 */
export function plotConfig(name) {
  const filename = `llmeter-${String(name).replace(/[^A-Za-z0-9_-]+/g, "-")}`;
  return { ...CONFIG, toImageButtonOptions: { format: "png", filename, scale: 2 } };
}
const HEIGHT = 300;

/**
 * Plotly traces for a chart definition and its columns.
 * @param {ChartDef} def
 * @param {Columns} columns
 * @param {Theme} theme
 */
export function buildTraces(def, columns, theme) {
  return def.traces.map((trace, i) => {
    const color = theme.colors[(trace.color ?? i) % theme.colors.length];
    return {
      type: "scatter",
      mode: "lines",
      name: trace.name,
      x: columns.x[i],
      y: columns.y[i],
      yaxis: trace.yaxis,
      connectgaps: false, // a null (no data in that second) stays a visible gap
      line: { width: trace.area ? 0 : 2.5, color, dash: trace.dash },
      fill: trace.area ? "tozeroy" : "none",
      fillcolor: trace.area ? withAlpha(color, theme.dark ? 0.3 : 0.22) : undefined,
      // A trace with its own texts (a published stat) hovers in the table's format ("$0.0123").
      customdata: trace.text && columns.customdata ? columns.customdata[i] : undefined,
      hovertemplate: `${trace.text ? "%{customdata}" : "%{y:,.4~g}"}<extra>${trace.name}</extra>`,
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
 * Plotly traces for the saved runs beside the live one: one dashed (overlay i:
 * `OVERLAY_DASHES[i]`), dimmed line per chart trace and run, in the live trace's colour and on
 * its axis, named "<label> · <trace name>" (its hover). They stay out of the legend: it gets one
 * entry per saved run (its label and dash, in the text colour; a click hides the run's lines),
 * at most `OVERLAY_LEGEND_MAX`, then "+N more". Drawn after the live traces, so extendTraces'
 * indices (0..n-1) stay the live ones; the legend entries come last, with no points.
 * @param {ChartDef} def
 * @param {Array<{label: string, kind: string, series?: object[]}>|null|undefined} overlays
 * @param {Theme} theme
 */
export function buildOverlayTraces(def, overlays, theme) {
  const traces = [];
  const legend = [];
  const runs = runOverlays(overlays);
  const entry = (name, group, line) => ({
    type: "scatter",
    mode: "lines",
    name,
    x: [null],
    y: [null],
    legendgroup: group,
    showlegend: true,
    hoverinfo: "skip",
    line,
  });
  runs.forEach((overlay, k) => {
    const columns = toColumns(def, overlay.series);
    const dash = OVERLAY_DASHES[k % OVERLAY_DASHES.length];
    const group = `overlay-${k}`;
    def.traces.forEach((trace, i) => {
      const color = theme.colors[(trace.color ?? i) % theme.colors.length];
      const name = `${overlay.label} · ${trace.name}`;
      traces.push({
        type: "scatter",
        mode: "lines",
        name,
        x: columns.x[i],
        y: columns.y[i],
        yaxis: trace.yaxis,
        connectgaps: false,
        opacity: OVERLAY_OPACITY,
        line: { width: 1.5, color, dash },
        fill: "none",
        showlegend: false,
        legendgroup: group,
        hovertemplate: `%{y:,.4~g}<extra>${name}</extra>`,
      });
    });
    if (k < OVERLAY_LEGEND_MAX) legend.push(entry(overlay.label, group, { width: 1.5, color: theme.font, dash }));
  });
  const more = runs.length - OVERLAY_LEGEND_MAX;
  if (more > 0) legend.push(entry(`+${more} more saved ${more === 1 ? "run" : "runs"}`, "overlay-more", { width: 0 }));
  return [...traces, ...legend];
}

/**
 * How many rows a horizontal legend of these entries takes in `width` pixels (Plotly puts as
 * many entries in a row as fit the plot area's width). Estimated from the text length,
 * generously, so the room kept for the legend is never too small.
 * @param {string[]} names  the legend's entries
 * @param {number} width  the plot area's width, px
 * @returns {number}
 */
export function legendRows(names, width) {
  if (names.length === 0) return 0;
  const room = Math.max(120, width || 300);
  let rows = 1;
  let used = 0;
  for (const name of names) {
    const w = LEGEND_SYMBOL + LEGEND_CHAR * String(name).length;
    if (used > 0 && used + w > room) {
      rows += 1;
      used = 0;
    }
    used += w;
  }
  return rows;
}
/** Legend geometry (12 px text): an entry's symbol and gaps, a character, a row; px. */
const LEGEND_SYMBOL = 52;
const LEGEND_CHAR = 7.5;
const LEGEND_ROW = 24;
/** The plot area of a chart whose legend is under it (saved runs shown), px. */
export const PLOT_HEIGHT = 220;

/** "rgba(r,g,b,alpha)" for a colour Plotly and the theme give as #rrggbb or rgb(). */
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
 * Plotly layout for a chart definition, coloured from the theme.
 *
 * With saved runs drawn beside the live one (`legendBelow`: the legend's entries and the chart's
 * width), the legend moves under the x axis and the chart grows by the rows it takes, so the
 * plot area stays `PLOT_HEIGHT` px high and level with its neighbours' (same top margin),
 * however many runs are shown. `y2Top`: the right axis reaches at least this (see Chart.render).
 * @param {ChartDef} def
 * @param {Theme} theme
 * @param {{legendBelow?: {names: string[], width: number}|null, y2Top?: number|null}} [options]
 */
export function buildLayout(def, theme, { legendBelow = null, y2Top = null } = {}) {
  const layout = baseLayout(theme, {
    xTitle: "seconds since start",
    yTitle: def.yTitle,
    hovermode: "x unified",
    uirevision: def.id, // keep a user's zoom across react() calls
    rightMargin: def.y2Title ? 56 : 16,
    height: def.height,
    showlegend: def.showlegend,
  });
  if (legendBelow && layout.showlegend) {
    const plotWidth = (legendBelow.width || 400) - layout.margin.l - layout.margin.r;
    const room = legendRows(legendBelow.names, plotWidth) * LEGEND_ROW + 12;
    layout.margin = { ...layout.margin, t: 16, b: layout.margin.b + room };
    layout.height = layout.margin.t + PLOT_HEIGHT + layout.margin.b;
    // its top just under the x axis' title: any room left over stays at the bottom
    layout.legend = { ...layout.legend, y: (room - 4) / layout.height, yanchor: "top" };
  }
  if (def.tickprefix) layout.yaxis.tickprefix = def.tickprefix;
  if (def.ticksuffix) layout.yaxis.ticksuffix = def.ticksuffix;
  if (def.tickformat) layout.yaxis.tickformat = def.tickformat;
  if (def.y2Title) {
    // Its own round ticks ("auto"; Plotly would otherwise sync them to the left grid: 143, 286...).
    layout.yaxis2 = {
      ...themedAxis(def.y2Title, theme),
      overlaying: "y",
      side: "right",
      tickmode: "auto",
      showgrid: false,
    };
    if (typeof y2Top === "number" && y2Top > 0) layout.yaxis2.autorangeoptions = { include: [0, y2Top] };
  }
  return layout;
}

/**
 * An axis coloured from the theme, large enough to read on a projector.
 * @param {string} title
 * @param {Theme} theme
 */
export function themedAxis(title, theme) {
  return {
    title: { text: title, font: { size: 13 } },
    gridcolor: theme.grid,
    zerolinecolor: theme.grid,
    linecolor: theme.grid,
    tickfont: { size: 13 },
    automargin: true,
    rangemode: "tozero",
  };
}

/**
 * What every chart's layout shares: theme colours, fonts, a legend on top (room for two rows, so
 * the plot areas of neighbouring charts line up), margins and the two axes. A chart without a
 * legend (one trace, named by its title) gives that room to the plot.
 * @param {Theme} theme
 * @param {{xTitle: string, yTitle: string, hovermode: string, uirevision: string,
 *   rightMargin?: number, height?: number, showlegend?: boolean}} options
 */
export function baseLayout(
  theme,
  { xTitle, yTitle, hovermode, uirevision, rightMargin = 16, height = HEIGHT, showlegend = true },
) {
  return {
    autosize: true,
    height,
    margin: { l: 56, r: rightMargin, t: showlegend ? 56 : 16, b: 48 },
    paper_bgcolor: theme.paper,
    plot_bgcolor: theme.plot,
    font: { color: theme.font, family: theme.fontFamily, size: 13 },
    showlegend,
    legend: { orientation: "h", x: 0, y: 1, yref: "container", yanchor: "top", font: { size: 12 } },
    hovermode,
    xaxis: themedAxis(xTitle, theme),
    yaxis: themedAxis(yTitle, theme),
    uirevision,
  };
}

/**
 * A Plotly plot in a div: drawn by newPlot the first time and react afterwards (which diffs and
 * keeps the zoom), resized with its container, purged on destroy. Plotly errors (e.g. resizing a
 * hidden plot) are logged, not thrown: a chart must not take the dashboard down.
 */
export class PlotBox {
  /**
   * @param {HTMLElement} div  the element Plotly draws into
   * @param {string} name  for log messages
   */
  constructor(div, name) {
    this.div = div;
    this.name = name;
    this.plotted = false;
    this.destroyed = false;
  }

  /** Draw these traces and layout (newPlot first, then react). */
  draw(traces, layout) {
    if (this.destroyed) return;
    const config = plotConfig(this.name);
    this._call(() =>
      this.plotted
        ? Plotly.react(this.div, traces, layout, config)
        : Plotly.newPlot(this.div, traces, layout, config),
    );
    this.plotted = true;
  }

  /** Fit the chart to its container's new size. */
  resize() {
    if (this.destroyed || !this.plotted || !this.div.isConnected) return;
    this._call(() => Plotly.Plots.resize(this.div));
  }

  /** Remove the plot and its listeners (Plotly.purge); the chart is dead afterwards. */
  destroy() {
    if (this.destroyed) return;
    this.destroyed = true;
    if (this.plotted) this._call(() => Plotly.purge(this.div));
  }

  _call(fn) {
    try {
      const out = fn();
      // Plotly returns promises that reject, e.g. resizing a hidden plot: not worth a crash.
      if (out && typeof out.catch === "function") out.catch(() => {});
    } catch (err) {
      console.warn(`llmeter-widget: chart ${this.name}:`, err);
    }
  }
}

/** A streaming chart of the run, created lazily (the first render() draws it). */
export class Chart extends PlotBox {
  /**
   * @param {HTMLElement} div  the element Plotly draws into
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
    // Saved runs shown: the legend goes under the plot, sized to its entries; and the right axis
    // (output tokens/s) goes up to twice its highest value drawn, so those lines keep to the
    // lower half instead of lying on the requests/min ones (proportional, for answers of one
    // length: two axes scaled to their maxima draw the same line twice).
    const names = traces.filter((t) => t.showlegend !== false).map((t) => t.name);
    const legendBelow = extra.length ? { names, width: this.div.clientWidth } : null;
    const top = extra.length ? y2Max(traces) : null;
    this.draw(traces, buildLayout(this.def, theme, { legendBelow, y2Top: top === null ? null : 2 * top }));
  }

  /**
   * Append new points to every trace, keeping at most maxPoints per trace.
   * @param {Columns} columns
   * @param {number} maxPoints
   */
  extend(columns, maxPoints) {
    if (this.destroyed || !this.plotted || columns.x.length === 0 || columns.x[0].length === 0) {
      return;
    }
    const indices = this.def.traces.map((_, i) => i);
    this._call(() => Plotly.extendTraces(this.div, columns, indices, maxPoints));
  }
}
