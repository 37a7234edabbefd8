// The grouped stats table: one small table per group (its name spanning its stats), laid out
// in a wrapping row so a dozen big numbers still fit a notebook's width. The DOM is built once
// per spec; each stats tick only rewrites the text of the cells whose value changed.

import { h } from "./dom.js";
import { formatValue } from "./format.js";

/**
 * @typedef {{label: string, key: string, unit?: string, invert?: boolean, group?: string|null}} StatSpec
 * @typedef {{groups: Array<{name: string, stats: StatSpec[]}>}} DisplaySpec
 */

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
   */
  constructor(spec, stats) {
    this.element = h("div", { class: "lmw-stats" });
    /** @type {Array<{key: string, unit: string, invert: boolean, cell: HTMLElement, num: HTMLElement, unitEl: HTMLElement, text: string}>} */
    this.cells = [];
    this.stats = stats || {};
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
        const cell = h("td", { class: "lmw-value", dataset: { key: stat.key } }, [num, unitEl]);
        this.cells.push({
          key: stat.key,
          unit: stat.unit ?? "",
          invert: Boolean(stat.invert),
          cell,
          num,
          unitEl,
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
