// Stats that Python callbacks publish during a run ("cost-total", ...): a bucket may carry
// `published: {key: number|null}`. Each key gets a small chart of its own (after the three fixed
// charts), titled and formatted like the stat that shows it in the table. Pure functions: the
// widget draws them with the same Chart class as the fixed charts.

import { formatValue } from "./format.js";
import { findStat, statScale } from "./table.js";

/** At most this many published charts: further keys are ignored (a dashboard, not a wall). */
export const MAX_PUBLISHED = 6;

/** Height of a published chart (px): smaller than the fixed charts. */
export const PUBLISHED_HEIGHT = 180;

/** Palette indices the published charts cycle through (red stays for failures). */
const COLORS = [0, 1, 2, 3];

const num = (v) => (typeof v === "number" && Number.isFinite(v) ? v : null);

/**
 * The published keys, in first-seen order: `known` first, then the new keys of `points`, at
 * most `max` in all. A key counts from the first bucket that carries it (even as null).
 * @param {import("./series.js").Bucket[]} points
 * @param {string[]} [known]  the keys already charted
 * @param {number} [max]
 * @returns {string[]}
 */
export function publishedKeys(points, known = [], max = MAX_PUBLISHED) {
  const keys = known.slice(0, max);
  for (const point of Array.isArray(points) ? points : []) {
    const published = point && point.published;
    if (!published || typeof published !== "object") continue;
    for (const key of Object.keys(published)) {
      if (keys.length >= max) return keys;
      if (!keys.includes(key)) keys.push(key);
    }
  }
  return keys;
}

/**
 * How a unit is drawn on a y axis: the factor applied to the shown value (seconds as ms, a
 * ratio as percent), the axis title and tick prefix or suffix.
 * @param {string} unit  a stat's unit (see formatValue)
 * @returns {{factor: number, yTitle: string, tickprefix?: string, ticksuffix?: string}}
 */
export function unitAxis(unit) {
  if (unit === "s") return { factor: 1000, yTitle: "ms" };
  if (unit === "%") return { factor: 100, yTitle: "", ticksuffix: "%" };
  // Plain decimals for money ("$0.00004", plot.js' formatNumber), not SI prefixes ("$40µ").
  if (unit === "$") return { factor: 1, yTitle: "", tickprefix: "$" };
  if (unit === "count" || !unit) return { factor: 1, yTitle: "" };
  return { factor: 1, yTitle: unit };
}

/**
 * The chart of one published key. Its title is the label of the first spec stat showing that
 * key (else the key); the stat's invert, scale and unit shape the line, the axis and the hover
 * text (the table's text, e.g. "$0.0123").
 * @param {string} key
 * @param {import("./table.js").DisplaySpec|null|undefined} spec
 * @param {number} [index]  its place among the published charts (picks the colour)
 * @returns {import("./series.js").ChartDef & {key: string}}
 */
export function publishedChartDef(key, spec, index = 0) {
  const stat = findStat(spec, key);
  const title = stat && typeof stat.label === "string" && stat.label !== "" ? stat.label : key;
  const unit = (stat && stat.unit) || "";
  const invert = Boolean(stat && stat.invert);
  const scale = statScale(stat);
  const axis = unitAxis(unit);
  const raw = (b) => num(b && b.published ? b.published[key] : null);
  return {
    id: `published:${key}`,
    key,
    title,
    yTitle: axis.yTitle,
    tickprefix: axis.tickprefix,
    ticksuffix: axis.ticksuffix,
    height: PUBLISHED_HEIGHT,
    showlegend: false, // one line, named by the chart's title
    traces: [
      {
        name: title,
        color: COLORS[index % COLORS.length],
        // What the table would show, as a number: invert, then scale (a missing value: a gap).
        value: (b) => {
          let v = raw(b);
          if (v === null || (invert && v === 0)) return null;
          if (invert) v = 1 / v;
          return v * scale * axis.factor;
        },
        text: (b) => formatValue(raw(b), unit, invert, scale),
      },
    ],
  };
}
