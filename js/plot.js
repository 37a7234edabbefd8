// One chart drawn with uPlot (a canvas line-chart library of ~50 KB, built for streaming time
// series: Plotly was 1.2 MB of every saved notebook). The charts describe what to draw as a
// small figure (traces + layout, Plotly's shape where it has one, so the builders in charts.js
// and sweep.js stay pure and unit-tested); this module turns a figure into uPlot options, and
// adds what uPlot leaves to its users: a legend under the plot (click hides a run), values at
// the cursor, labels beside points, and a PNG download button.

import uPlot from "uplot";

/**
 * @typedef {{name: string, x: Array<number|null>, y: Array<number|null>, yaxis?: "y2",
 *   mode?: string, line?: {width?: number, color?: string, dash?: string},
 *   fill?: "tozeroy"|"none", fillcolor?: string, opacity?: number, showlegend?: boolean,
 *   legendgroup?: string, text?: string[], hovertext?: Array<string|null>,
 *   marker?: {size?: number, color?: string, line?: {width?: number, color?: string}}}} Trace
 *   mode: "lines" (default), "markers", "lines+markers", "lines+markers+text";
 *   showlegend false: no legend entry of its own (a saved run's lines: its group's entry has it);
 *   hovertext: what the cursor readout says of point i (default: the number, formatted)
 * @typedef {{height: number, xTitle: string, yTitle: string, y2Title?: string, showlegend?: boolean,
 *   tickprefix?: string, ticksuffix?: string, y2Top?: number|null, xy?: boolean,
 *   fontSize: number, tickSize: number, font: string, fontFamily: string, grid: string,
 *   paper: string}} Layout
 *   xy: points in any x order (a sweep: throughput is not monotonic), else one x axis in time;
 *   y2Top: the right axis reaches at least this; showlegend false: one line, named by the
 *   chart's title (the legend keeps only the value at the cursor)
 */

/** Dash patterns of Plotly's dash names, in px at 1x (uPlot takes the canvas' setLineDash). */
export const DASHES = {
  solid: undefined,
  dot: [2, 4],
  dash: [8, 5],
  dashdot: [8, 4, 2, 4],
  longdash: [14, 6],
};

const number = (v) => typeof v === "number" && Number.isFinite(v);

/** "1,234", "12.35", "0.00004": four significant digits below 1,000, whole numbers above. */
export function formatNumber(v) {
  if (!number(v)) return "—";
  return Math.abs(v) >= 1000
    ? v.toLocaleString("en-US", { maximumFractionDigits: 0 })
    : v.toLocaleString("en-US", { maximumSignificantDigits: 4 });
}

/**
 * One x column for all traces (uPlot's aligned data): the union of their x values, each trace's
 * y at its own x, `undefined` where it has no point (the line continues through) and `null`
 * where its value is missing (a visible gap).
 * @param {Trace[]} traces
 * @returns {Array<Array<number|null|undefined>>}
 */
export function alignedData(traces) {
  const tables = traces.map((t) => {
    const xs = [];
    const ys = [];
    let last = -Infinity;
    t.x.forEach((x, i) => {
      if (!number(x) || x <= last) return; // uPlot needs each table's x sorted and unique
      last = x;
      xs.push(x);
      ys.push(number(t.y[i]) ? t.y[i] : null);
    });
    return [xs, ys];
  });
  if (tables.length === 0) return [[]];
  if (tables.length === 1) return tables[0];
  return uPlot.join(tables);
}

/** [0, a round top] for an axis that starts at zero, reaching at least `floor`. */
function zeroRange(max, floor = 0) {
  const top = Math.max(number(max) ? max : 0, number(floor) ? floor : 0);
  return top > 0 ? uPlot.rangeNum(0, top, 0.1, true) : [0, 1];
}

/** An axis' width, so the widest tick label and the title fit at this font size. */
function axisSize(layout, withTitle) {
  return (self, values) => {
    if (!values) return 0;
    const ctx = self.ctx;
    ctx.save();
    ctx.font = `${layout.tickSize * devicePixelRatioOf()}px ${layout.fontFamily}`;
    const widest = values.reduce((w, v) => Math.max(w, ctx.measureText(String(v)).width), 0);
    ctx.restore();
    const title = withTitle ? layout.fontSize + 10 : 0;
    return Math.ceil(widest / devicePixelRatioOf() + 14 + title);
  };
}
const devicePixelRatioOf = () => (typeof devicePixelRatio === "number" ? devicePixelRatio : 1);

/** Tick labels of a y axis: formatted numbers with the layout's prefix and suffix ("$0.01"). */
function yTicks(prefix = "", suffix = "") {
  return (self, splits) => splits.map((v) => `${prefix}${formatNumber(v)}${suffix}`);
}

/** A colour with the trace's opacity applied ("rgba(r,g,b,a)"), for the canvas. */
export function withOpacity(color, opacity = 1) {
  if (opacity >= 1 || !color) return color;
  const hex = /^#([0-9a-f]{6})$/i.exec(color);
  if (hex) {
    const n = parseInt(hex[1], 16);
    return `rgba(${(n >> 16) & 255},${(n >> 8) & 255},${n & 255},${opacity})`;
  }
  const rgb = /^rgba?\(([^)]+)\)$/i.exec(color);
  if (rgb) {
    const [r, g, b, a = 1] = rgb[1].split(/[\s,/]+/).filter(Boolean).map(Number);
    return `rgba(${r},${g},${b},${a * opacity})`;
  }
  return color;
}

/**
 * uPlot options and data for a figure at this width.
 * @param {Trace[]} traces
 * @param {Layout} layout
 * @param {number} width  px
 * @returns {{opts: object, data: any[]}}
 */
export function uplotFigure(traces, layout, width) {
  const font = `${layout.tickSize}px ${layout.fontFamily}`;
  const labelFont = `${layout.fontSize}px ${layout.fontFamily}`;
  const axis = (scale, title, extra = {}) => ({
    scale,
    label: title,
    stroke: layout.font,
    font,
    labelFont,
    labelSize: layout.fontSize + 8,
    grid: { stroke: layout.grid, width: 1 },
    ticks: { stroke: layout.grid, width: 1, size: 5 },
    ...extra,
  });
  const hasY2 = traces.some((t) => t.yaxis === "y2");
  const y2Top = layout.y2Top;
  const scales = {
    x: layout.xy ? { time: false, range: (u, min, max) => zeroRange(max) } : { time: false },
    // a sweep: room above the top point for its label (drawn above each point)
    y: { range: (u, min, max) => zeroRange(layout.xy && number(max) ? max * 1.25 : max) },
  };
  if (hasY2) scales.y2 = { range: (u, min, max) => zeroRange(max, y2Top) };
  const axes = [
    axis("x", layout.xTitle, { size: layout.tickSize + 14 }),
    axis("y", layout.yTitle, {
      values: yTicks(layout.tickprefix, layout.ticksuffix),
      size: axisSize(layout, Boolean(layout.yTitle)),
    }),
  ];
  if (hasY2) {
    axes.push(
      axis("y2", layout.y2Title || "", {
        side: 1,
        grid: { show: false },
        values: yTicks(),
        size: axisSize(layout, Boolean(layout.y2Title)),
      }),
    );
  }
  const series = traces.map((t) => seriesOptions(t, layout));
  const opts = {
    width: Math.max(120, Math.floor(width)),
    height: layout.height,
    legend: { show: false }, // ours, under the plot (see PlotBox)
    cursor: layout.xy
      ? { drag: { x: false, y: false }, points: { show: false } }
      : { drag: { x: true, y: false, setScale: true }, points: { size: 7 }, y: false },
    scales,
    axes,
    series: layout.xy ? [{}, ...series] : [{ label: layout.xTitle }, ...series],
  };
  if (layout.xy) opts.mode = 2;
  return { opts, data: figureData(traces, layout) };
}

/**
 * uPlot's data for the traces: one x for all (`alignedData`), or for an xy layout each trace's
 * own points (uPlot's mode 2).
 * @param {Trace[]} traces
 * @param {Layout} layout
 */
export function figureData(traces, layout) {
  if (layout.xy) return [null, ...traces.map((t) => [t.x.map((v) => (number(v) ? v : null)), t.y])];
  return alignedData(traces);
}

/** uPlot's options of one trace (one series). */
function seriesOptions(t, layout) {
  const mode = t.mode || "lines";
  const lines = mode.includes("lines");
  const opacity = t.opacity ?? 1;
  const line = t.line || {};
  const color = line.color || t.marker?.color || layout.font;
  const width = line.width ?? 2;
  const s = {
    label: t.name,
    scale: t.yaxis === "y2" ? "y2" : "y",
    stroke: lines && width > 0 ? withOpacity(color, opacity) : "transparent",
    width: lines ? width : 0,
    // uPlot scales a line's width by the pixel ratio, not its dash: scale it here, so dashes
    // keep their length (and match the legend's swatches) on a HiDPI screen
    dash: DASHES[line.dash || "solid"]?.map((v) => v * devicePixelRatioOf()),
    spanGaps: false, // a null (no data in that second) stays a visible gap
    // uPlot's default shows a line's points where they are sparse (a run of a few seconds, a
    // lone second between gaps: a line of one point draws nothing); an area has none; the
    // sweep's markers are ours (_drawMarks)
    ...(t.fill === "tozeroy" || layout.xy || !lines ? { points: { show: false } } : {}),
  };
  if (t.fill === "tozeroy") s.fill = t.fillcolor || withOpacity(color, 0.25);
  if (!lines) s.paths = () => null;
  if (layout.xy) s.facets = [{ scale: "x", auto: true }, { scale: "y", auto: true }];
  return s;
}

/**
 * The legend's entries: one per trace shown in the legend, with the indices of the series its
 * click hides (a saved run's entry hides all its lines, grouped by `legendgroup`).
 * @param {Trace[]} traces
 * @returns {Array<{name: string, group: string, color: string, dash?: string, width: number,
 *   series: number[], trace: number}>}
 */
export function legendEntries(traces) {
  const entries = [];
  traces.forEach((t, i) => {
    if (t.showlegend === false) return;
    const group = t.legendgroup || `trace-${i}`;
    const series = traces
      .map((u, j) => (j === i || (t.legendgroup && u.legendgroup === t.legendgroup) ? j + 1 : -1))
      .filter((j) => j > 0 && traces[j - 1].x.some(number));
    const line = t.line || {};
    entries.push({
      name: t.name,
      group,
      color: t.fill === "tozeroy" ? t.fillcolor || line.color : line.color || t.marker?.color || "",
      dash: line.dash,
      width: t.fill === "tozeroy" ? 8 : Math.max(2, line.width ?? 2),
      series,
      trace: i,
    });
  });
  return entries;
}

/** A file name for a chart's PNG: "llmeter-latency". */
export function pngName(name) {
  return `llmeter-${String(name).replace(/[^A-Za-z0-9_-]+/g, "-")}`;
}

/**
 * A chart in a div: uPlot's canvas, our legend under it, a PNG button. Drawn whole by draw()
 * (a new uPlot: new traces, theme or size), updated by setData() (new points, same traces).
 * Errors are logged, not thrown: a chart must not take the dashboard down. For tests and
 * debugging the div carries the figure it shows: `div.data` (traces), `div.layout`.
 */
export class PlotBox {
  /**
   * @param {HTMLElement} div  the element the chart is drawn into
   * @param {string} name  the chart's name (log messages, the PNG's file name)
   */
  constructor(div, name) {
    this.div = div;
    this.name = name;
    this.plotted = false;
    this.destroyed = false;
    /** @type {any} */
    this.uplot = null;
    /** @type {Trace[]} */
    this.traces = [];
    /** @type {Layout|null} */
    this.layout = null;
    this.hidden = new Set(); // legend groups the user hid
    this.zoomed = false;
  }

  /**
   * Draw this figure whole.
   * @param {Trace[]} traces
   * @param {Layout} layout
   */
  draw(traces, layout) {
    if (this.destroyed) return;
    this.traces = traces;
    this.layout = layout;
    this.div.data = traces;
    this.div.layout = layout;
    this._call(() => this._build());
    this.plotted = true;
  }

  /** New points for the same traces (their x and y arrays were changed in place or replaced). */
  update() {
    if (this.destroyed || !this.uplot) return;
    this.div.data = this.traces;
    // only the data: the options (axes, series, scales) are the ones drawn
    const data = figureData(this.traces, this.layout);
    this._call(() => this.uplot.setData(data, !this.zoomed));
    this._legendValues(null);
  }

  /** Fit the chart to its container's new width. */
  resize() {
    if (this.destroyed || !this.uplot || !this.div.isConnected) return;
    this._call(() => this.uplot.setSize({ width: this._width(), height: this.layout.height }));
  }

  /** Remove the chart and its listeners; the box is dead afterwards. */
  destroy() {
    if (this.destroyed) return;
    this.destroyed = true;
    this._teardown();
    this.div.replaceChildren();
    delete this.div.data;
    delete this.div.layout;
  }

  /**
   * The chart as a PNG (title, plot, legend) on the theme's background, as a data URL.
   * @param {number} [scale]  pixels per CSS pixel of the picture
   */
  toPNG(scale = 2) {
    if (!this.uplot) return null;
    const src = this.uplot.ctx.canvas;
    const layout = this.layout;
    const title = this.div.closest("section")?.querySelector(".lmw-chart-title")?.textContent || this.name;
    const legend = [...this.div.querySelectorAll(".lmw-legend-name")].map((n) => n.textContent);
    const w = this.uplot.width;
    const h = this.uplot.height;
    const head = layout.fontSize * 2 + 8;
    const foot = legend.length ? layout.fontSize * 2 + 4 : 0;
    const canvas = document.createElement("canvas");
    canvas.width = Math.round(w * scale);
    canvas.height = Math.round((head + h + foot) * scale);
    const ctx = canvas.getContext("2d");
    ctx.scale(scale, scale);
    ctx.fillStyle = layout.paper && !/rgba\(0, ?0, ?0, ?0\)/.test(layout.paper) ? layout.paper : "#fff";
    ctx.fillRect(0, 0, w, head + h + foot);
    ctx.fillStyle = layout.font;
    ctx.font = `600 ${layout.fontSize + 2}px ${layout.fontFamily}`;
    ctx.fillText(title, 8, layout.fontSize + 8);
    ctx.drawImage(src, 0, head, w, h);
    ctx.font = `${layout.fontSize}px ${layout.fontFamily}`;
    ctx.fillText(legend.join("   ·   "), 8, head + h + layout.fontSize + 6);
    return canvas.toDataURL("image/png");
  }

  /** Save the PNG as llmeter-<name>.png (a download). */
  downloadPNG() {
    const url = this.toPNG();
    if (!url) return;
    const a = document.createElement("a");
    a.href = url;
    a.download = `${pngName(this.name)}.png`;
    document.body.append(a);
    a.click();
    a.remove();
  }

  // -- internals ------------------------------------------------------------------------------

  _width() {
    return this.div.clientWidth || 400;
  }

  _teardown() {
    if (this.uplot) {
      try {
        this.uplot.destroy();
      } catch {
        /* already gone */
      }
      this.uplot = null;
    }
  }

  _build() {
    this._teardown();
    const { opts, data } = uplotFigure(this.traces, this.layout, this._width());
    // The hooks draw this build's figure: an old uPlot's queued draw may still run once after
    // a redraw replaced it (with other traces).
    const traces = this.traces;
    const layout = this.layout;
    opts.hooks = {
      draw: [(u) => this._drawMarks(u, traces, layout)],
      setCursor: [(u) => this._legendValues(u.cursor.idx)],
      setSelect: [(u) => (this.zoomed = this.zoomed || u.select.width > 0)],
    };
    const canvasBox = document.createElement("div");
    canvasBox.className = "lmw-plot-canvas";
    const legend = this._legend();
    const png = document.createElement("button");
    png.type = "button";
    png.className = "lmw-png";
    png.textContent = "PNG";
    png.title = "Download this chart as a PNG";
    png.setAttribute("aria-label", `Download the ${this.name} chart as a PNG`);
    png.addEventListener("click", () => this.downloadPNG());
    this.div.replaceChildren(canvasBox, legend, png);
    this.uplot = new uPlot(opts, data, canvasBox);
    this.uplot.over.addEventListener("dblclick", () => (this.zoomed = false));
    if (this.layout.xy) this._hoverNearest();
    for (const group of this.hidden) this._show(group, false);
  }

  /** Our legend: one button per entry (swatch + name + value at the cursor); click hides. */
  _legend() {
    const box = document.createElement("div");
    box.className = "lmw-legend";
    this.entries = this.layout.showlegend === false ? [] : legendEntries(this.traces);
    for (const e of this.entries) {
      const item = document.createElement("button");
      item.type = "button";
      item.className = "lmw-legend-entry";
      item.dataset.group = e.group;
      item.setAttribute("aria-pressed", String(!this.hidden.has(e.group)));
      const swatch = document.createElementNS("http://www.w3.org/2000/svg", "svg");
      swatch.setAttribute("class", "lmw-legend-swatch");
      swatch.setAttribute("viewBox", "0 0 28 10");
      const path = document.createElementNS("http://www.w3.org/2000/svg", "line");
      for (const [k, v] of Object.entries({ x1: 1, y1: 5, x2: 27, y2: 5, stroke: e.color, "stroke-width": e.width })) {
        path.setAttribute(k, String(v));
      }
      if (DASHES[e.dash]) path.setAttribute("stroke-dasharray", DASHES[e.dash].join(" "));
      swatch.append(path);
      const name = document.createElement("span");
      name.className = "lmw-legend-name";
      name.textContent = e.name;
      const value = document.createElement("span");
      value.className = "lmw-legend-value";
      item.append(swatch, name, value);
      item.addEventListener("click", () => {
        const show = this.hidden.has(e.group);
        if (show) this.hidden.delete(e.group);
        else this.hidden.add(e.group);
        item.setAttribute("aria-pressed", String(show));
        this._show(e.group, show);
      });
      box.append(item);
    }
    const at = document.createElement("span");
    at.className = "lmw-legend-at";
    box.append(at);
    return box;
  }

  _show(group, show) {
    const entry = (this.entries || []).find((e) => e.group === group);
    if (!entry || !this.uplot) return;
    for (const i of entry.series) this.uplot.setSeries(i, { show });
  }

  /** The legend's values at data index `idx` (the cursor's), or cleared for null. */
  _legendValues(idx) {
    const u = this.uplot;
    if (!u || this.layout.xy) return;
    const values = this.div.querySelectorAll(".lmw-legend-value");
    const at = this.div.querySelector(".lmw-legend-at");
    const x = idx == null ? null : u.data[0][idx];
    (this.entries || []).forEach((e, k) => {
      const el = values[k];
      if (!el) return;
      const t = this.traces[e.trace];
      if (x == null || !t.x.length) {
        el.textContent = "";
        return;
      }
      const i = t.x.indexOf(x);
      const y = i >= 0 ? t.y[i] : null;
      el.textContent = i >= 0 && t.hovertext?.[i] != null ? t.hovertext[i] : number(y) ? formatNumber(y) : "";
    });
    let readout = x == null ? "" : `at ${formatNumber(x)} s`;
    if (x != null && this.entries.length === 0 && this.traces[0]) {
      // No legend entries (one line, named by the title): the readout carries its value.
      const t = this.traces[0];
      const i = t.x.indexOf(x);
      const text = i < 0 ? null : (t.hovertext?.[i] ?? (number(t.y[i]) ? formatNumber(t.y[i]) : null));
      if (text) readout += `: ${text}`;
    }
    if (at) at.textContent = readout;
  }

  /** Points in any order (a sweep): the readout names the point nearest the cursor. */
  _hoverNearest() {
    const u = this.uplot;
    const at = this.div.querySelector(".lmw-legend-at");
    u.over.addEventListener("mousemove", (ev) => {
      let best = null;
      this.traces.forEach((t, i) => {
        if (!u.series[i + 1]?.show || !t.hovertext) return;
        t.x.forEach((x, j) => {
          if (!number(x) || !number(t.y[j])) return;
          const dx = u.valToPos(x, "x") - ev.offsetX;
          const dy = u.valToPos(t.y[j], "y") - ev.offsetY;
          const d = dx * dx + dy * dy;
          if (d < 900 && (!best || d < best.d)) best = { d, text: t.hovertext[j] };
        });
      });
      if (at) at.textContent = best ? best.text : "";
    });
    u.over.addEventListener("mouseleave", () => {
      if (at) at.textContent = "";
    });
  }

  /**
   * Markers and the text beside them (a sweep's points, labelled with their client count; the
   * knee's ring), drawn on the canvas after uPlot's lines. A label sits above its point, never
   * clipped at the top.
   */
  _drawMarks(u, traces, layout) {
    const ctx = u.ctx;
    const ratio = devicePixelRatioOf();
    traces.forEach((t, i) => {
      if (!u.series[i + 1]?.show || !(t.mode || "").includes("markers")) return;
      const m = t.marker || {};
      const opacity = t.opacity ?? 1;
      const radius = ((m.size ?? 8) / 2) * ratio;
      ctx.save();
      ctx.fillStyle = withOpacity(m.color || t.line?.color || layout.font, opacity);
      ctx.strokeStyle = withOpacity(m.line?.color || m.color || layout.font, opacity);
      ctx.lineWidth = (m.line?.width ?? 0) * ratio;
      t.x.forEach((x, j) => {
        if (!number(x) || !number(t.y[j])) return;
        ctx.beginPath();
        ctx.arc(u.valToPos(x, "x", true), u.valToPos(t.y[j], "y", true), radius, 0, 2 * Math.PI);
        ctx.fill();
        if (ctx.lineWidth > 0) ctx.stroke();
      });
      if (t.text) {
        ctx.fillStyle = layout.font;
        ctx.font = `${layout.tickSize * ratio}px ${layout.fontFamily}`;
        const top = u.bbox.top + layout.tickSize * ratio;
        t.x.forEach((x, j) => {
          if (!number(x) || !number(t.y[j]) || !t.text[j]) return;
          // above the point and any ring around it (the knee's: 18 px across); where the plot
          // has no room above, beside it on the right
          const clear = Math.max(radius, 9 * ratio) + 5 * ratio;
          const px = u.valToPos(x, "x", true);
          const py = u.valToPos(t.y[j], "y", true);
          if (py - clear >= top) {
            ctx.textAlign = "center";
            ctx.fillText(t.text[j], px, py - clear);
          } else {
            ctx.textAlign = "left";
            ctx.fillText(t.text[j], px + clear, py + layout.tickSize * ratio * 0.35);
          }
        });
      }
      ctx.restore();
    });
  }

  _call(fn) {
    try {
      fn();
    } catch (err) {
      console.warn(`llmeter-widget: chart ${this.name}:`, err);
    }
  }
}
