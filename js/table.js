// The grouped stats table: one small table per group (its name spanning its stats), laid out
// in a wrapping row so a dozen big numbers still fit a notebook's width. The DOM is built once
// per spec; each stats tick only rewrites the text of the cells whose value changed.

import { h } from "./dom.js";
import { formatValue } from "./format.js";

/**
 * @typedef {{label: string, key: string, unit?: string, invert?: boolean, group?: string|null}} StatSpec
 * @typedef {{groups: Array<{name: string, stats: StatSpec[]}>}} DisplaySpec
 * @typedef {{label: string, kind: "run"|"sweep", stats?: Record<string, number|null>,
 *   series?: object[], levels?: object[]}} Overlay  one entry of the `overlays` trait
 */

/**
 * The overlays the table shows a line for: saved runs (a sweep has no single value per stat).
 * @param {Overlay[]|null|undefined} overlays
 * @returns {Overlay[]}
 */
export function tableOverlays(overlays) {
  return (Array.isArray(overlays) ? overlays : []).filter(
    (o) => o && o.kind === "run" && o.stats && typeof o.stats === "object",
  );
}

/**
 * Split a formatted value into its number and its unit ("1,234 req/min" -> ["1,234", " req/min"]),
 * so the unit can be drawn smaller. Joined back, the parts are exactly the formatted text.
 * @param {string} text  output of formatValue
 * @returns {[string, string]}
 */
export function splitUnit(text) {
  const at = text.lastIndexOf(" ");
  if (at <= 0) return [text, ""];
  return [text.slice(0, at), text.slice(at)];
}

/** The grouped stats table of the dashboard. */
export class StatsTable {
  /**
   * @param {DisplaySpec|null|undefined} spec  from the `spec` trait
   * @param {Record<string, number|null>|null|undefined} [stats]  from the `stats` trait
   * @param {Overlay[]|null|undefined} [overlays]  from the `overlays` trait
   */
  constructor(spec, stats, overlays) {
    this.element = h("div", { class: "lmw-stats" });
    /** @type {Array<{key: string, unit: string, invert: boolean, cell: HTMLElement, num: HTMLElement, unitEl: HTMLElement, lines: HTMLElement, text: string}>} */
    this.cells = [];
    this.stats = stats || {};
    /** @type {Overlay[]} */
    this.overlays = tableOverlays(overlays);
    this.setSpec(spec);
  }

  /**
   * Rebuild the table for a new spec (rare: the spec is set once by Python).
   * @param {DisplaySpec|null|undefined} spec
   */
  setSpec(spec) {
    const groups = (spec && Array.isArray(spec.groups) ? spec.groups : []).filter(
      (g) => g && Array.isArray(g.stats) && g.stats.length > 0,
    );
    this.cells = [];
    const tables = groups.map((group) => {
      const labels = group.stats.map((stat) =>
        h("th", { class: "lmw-stat-label", scope: "col", title: stat.key, text: stat.label }),
      );
      const values = group.stats.map((stat) => {
        const num = h("span", { class: "lmw-num" });
        const unitEl = h("span", { class: "lmw-unit" });
        // One small line per saved run under the live value (empty without overlays).
        const lines = h("div", { class: "lmw-overlay-lines" });
        const cell = h("td", { class: "lmw-value", dataset: { key: stat.key } }, [num, unitEl, lines]);
        this.cells.push({
          key: stat.key,
          unit: stat.unit ?? "",
          invert: Boolean(stat.invert),
          cell,
          num,
          unitEl,
          lines,
          text: "",
        });
        return cell;
      });
      return h("table", { class: "lmw-group", dataset: { group: group.name } }, [
        h("thead", {}, [
          h("tr", {}, [
            h("th", {
              class: "lmw-group-name",
              colspan: group.stats.length,
              scope: "colgroup",
              text: group.name,
            }),
          ]),
          h("tr", {}, labels),
        ]),
        h("tbody", {}, [h("tr", {}, values)]),
      ]);
    });
    this.element.replaceChildren(...tables);
    this.update(this.stats);
    this.setOverlays(this.overlays);
  }

  /**
   * Show one line per saved run in every cell: "<label> 183 ms" (the cell's unit and format).
   * Rebuilt whole: overlays change rarely (never per tick).
   * @param {Overlay[]|null|undefined} overlays
   */
  setOverlays(overlays) {
    this.overlays = tableOverlays(overlays);
    for (const c of this.cells) {
      const lines = this.overlays.map((o) => {
        const text = formatValue(o.stats[c.key], c.unit, c.invert);
        return h("div", { class: "lmw-overlay-line", title: `${o.label}: ${text}` }, [
          h("span", { class: "lmw-overlay-label", text: o.label }),
          h("span", { class: "lmw-overlay-value", text: ` ${text}` }),
        ]);
      });
      c.lines.replaceChildren(...lines);
      c.lines.hidden = lines.length === 0;
    }
  }

  /**
   * Show new stats: only cells whose text changed are touched (no DOM rebuild per tick).
   * @param {Record<string, number|null>|null|undefined} stats
   */
  update(stats) {
    this.stats = stats || {};
    for (const c of this.cells) {
      const text = formatValue(this.stats[c.key], c.unit, c.invert);
      if (text === c.text) continue;
      const [num, unit] = splitUnit(text);
      c.num.textContent = num;
      c.unitEl.textContent = unit;
      c.cell.classList.toggle("lmw-empty", text === formatValue(null));
      c.text = text;
    }
  }
}
