// How a stat value is shown: the JavaScript twin of format_value in llmeter_widget/display.py.
// Both are tested against tests/fixtures/format_cases.json, so the terminal table and the
// dashboard show the same text for the same value.

const PLACEHOLDER = "—";

const grouped = (value, digits) =>
  value.toLocaleString("en-US", {
    minimumFractionDigits: digits,
    maximumFractionDigits: digits,
  });

/**
 * Format a stat for a person; "—" until there is a value.
 * @param {number|null|undefined} value
 * @param {string} unit  "s" (ms below one second), "%" (a 0..1 ratio), "count", or free text
 * @param {boolean} invert  show 1/value (e.g. TPOT as tokens per second)
 * @returns {string}
 * @example formatValue(0.1834, "s") // "183 ms"
 */
export function formatValue(value, unit = "", invert = false) {
  if (value === null || value === undefined) return PLACEHOLDER;
  if (typeof value === "string") return value;
  if (!Number.isFinite(value)) return PLACEHOLDER;
  if (invert) {
    if (value === 0) return PLACEHOLDER;
    value = 1 / value;
  }
  if (unit === "s") {
    return Math.abs(value) < 1 ? `${(value * 1000).toFixed(0)} ms` : `${value.toFixed(2)} s`;
  }
  if (unit === "%") return `${(value * 100).toFixed(1)}%`;
  if (unit === "count") return grouped(Math.round(value), 0);
  const number = Math.abs(value) >= 100 ? grouped(value, 0) : grouped(value, 1);
  return unit ? `${number} ${unit}` : number;
}
