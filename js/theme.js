// Chart colours from the page's theme. The widget's CSS maps JupyterLab's --jp-* variables (with
// light fallbacks) onto the root element; here we read the resolved colours back from computed
// styles, so the charts (drawn on a canvas with explicit colours) matches light and dark themes.

/**
 * @typedef {{font: string, fontFamily: string, paper: string, plot: string, grid: string,
 *   dark: boolean, colors: string[], scale: number, chartHeight: number|null}} Theme
 *   scale: the charts' type size factor (1; presentation mode sets --lmw-chart-scale);
 *   chartHeight: the charts' plot height in px when the layout sets one (--lmw-chart-height)
 */

const LIGHT = ["#1976d2", "#e65100", "#2e7d32", "#8e24aa", "#c62828"];
const DARK = ["#64b5f6", "#ffb74d", "#81c784", "#ce93d8", "#ef5350"];

/**
 * Parse "rgb(r, g, b)" / "rgba(r, g, b, a)" / "#rrggbb" into [r, g, b, a], or null.
 * @param {string} color
 * @returns {number[]|null}
 */
export function parseColor(color) {
  const c = (color || "").trim();
  let m = c.match(/^rgba?\(([^)]+)\)$/i);
  if (m) {
    const parts = m[1].split(/[\s,/]+/).filter(Boolean).map(Number);
    if (parts.length < 3 || parts.slice(0, 3).some(Number.isNaN)) return null;
    return [parts[0], parts[1], parts[2], parts.length > 3 ? parts[3] : 1];
  }
  m = c.match(/^#([0-9a-f]{6})$/i);
  if (m) {
    const n = parseInt(m[1], 16);
    return [(n >> 16) & 255, (n >> 8) & 255, n & 255, 1];
  }
  return null;
}

/** Relative luminance in 0..1 (sRGB, no gamma: good enough to tell light from dark). */
const luminance = ([r, g, b]) => (0.299 * r + 0.587 * g + 0.114 * b) / 255;

/**
 * Read the theme from the widget's root element (after its CSS applied).
 * @param {HTMLElement} el  the `.lmw` root
 * @returns {Theme}
 */
export function readTheme(el) {
  const cs = getComputedStyle(el);
  const font = cs.color || "#222";
  const bg = parseColor(cs.backgroundColor);
  const opaque = bg && bg[3] > 0;
  const paper = opaque ? cs.backgroundColor : "rgba(0,0,0,0)";
  // Dark if the background is dark, or (transparent background) if the text is light.
  const fg = parseColor(font);
  const dark = opaque ? luminance(bg) < 0.5 : fg ? luminance(fg) > 0.5 : false;
  const grid = parseColor(cs.borderTopColor) ? cs.borderTopColor : dark ? "#444" : "#ddd";
  // The brand colour (first trace) comes from a custom property; unresolved -> palette default.
  const brand = cs.getPropertyValue("--lmw-brand").trim();
  const colors = (dark ? DARK : LIGHT).slice();
  if (parseColor(brand) && !dark) colors[0] = brand;
  const scale = Number(cs.getPropertyValue("--lmw-chart-scale").trim());
  const height = Number(cs.getPropertyValue("--lmw-chart-height").trim());
  return {
    scale: Number.isFinite(scale) && scale > 0 ? scale : 1,
    chartHeight: Number.isFinite(height) && height > 0 ? height : null,
    font,
    fontFamily: cs.fontFamily || "sans-serif",
    paper,
    plot: paper,
    grid,
    dark,
    colors,
  };
}
