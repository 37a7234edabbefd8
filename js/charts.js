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

const CONFIG = { displaylogo: false, displayModeBar: false, responsive: false, scrollZoom: false };
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
 * Plotly traces for the saved runs beside the live one: one dashed, dimmed trace per chart trace
 * and run, named "<label> · <trace name>", in the live trace's colour. Drawn after the live
 * traces, so extendTraces' indices (0..n-1) stay the live ones.
 * @param {ChartDef} def
 * @param {Array<{label: string, kind: string, series?: object[]}>|null|undefined} overlays
 * @param {Theme} theme
 */
export function buildOverlayTraces(def, overlays, theme) {
  const traces = [];
  runOverlays(overlays).forEach((overlay, k) => {
    const columns = toColumns(def, overlay.series);
    const dash = OVERLAY_DASHES[k % OVERLAY_DASHES.length];
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
        hovertemplate: `%{y:,.4~g}<extra>${name}</extra>`,
      });
    });
  });
  return traces;
}

/** "rgba(r,g,b,alpha)" for a colour Plotly and the theme give as #rrggbb or rgb(). */
function withAlpha(color, alpha) {
  const rgba = parseColor(color);
  return rgba ? `rgba(${rgba[0]},${rgba[1]},${rgba[2]},${alpha})` : color;
}

/**
 * Plotly layout for a chart definition, coloured from the theme.
 * @param {ChartDef} def
 * @param {Theme} theme
 */
export function buildLayout(def, theme) {
  const layout = baseLayout(theme, {
    xTitle: "seconds since start",
    yTitle: def.yTitle,
    hovermode: "x unified",
    uirevision: def.id, // keep a user's zoom across react() calls
    rightMargin: def.y2Title ? 56 : 16,
    height: def.height,
    showlegend: def.showlegend,
  });
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
    this._call(() =>
      this.plotted
        ? Plotly.react(this.div, traces, layout, CONFIG)
        : Plotly.newPlot(this.div, traces, layout, CONFIG),
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
    const traces = [...buildTraces(this.def, columns, theme), ...buildOverlayTraces(this.def, overlays, theme)];
    this.draw(traces, buildLayout(this.def, theme));
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
