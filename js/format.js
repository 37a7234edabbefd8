// How a stat value is shown: the JavaScript twin of format_value in llmeter_widget/display.py.
// Both are tested against tests/fixtures/format_cases.json, so the terminal table and the
// dashboard show the same text for the same value.

const PLACEHOLDER = "—";

/**
 * `x.toFixed(digits)`, except that an exact tie rounds to the even neighbour, as Python's
 * format() does (toFixed and Intl round ties away from zero: 210.5 -> "211" where Python
 * shows "210"). Both round the same double, so only exact binary ties differ.
 * @param {number} x  finite
 * @param {number} digits  0..20
 * @returns {string}
 */
export function toFixedEven(x, digits) {
  if (Math.abs(x) >= 1e21) return BigInt(x).toString() + (digits ? `.${"0".repeat(digits)}` : "");
  const text = x.toFixed(digits);
  const exact = Math.abs(x).toFixed(100); // the double's decimal expansion (100 digits suffice)
  const point = exact.indexOf(".");
  if (!/^50*$/.test(exact.slice(point + 1 + digits))) return text; // not a tie
  const truncated = exact.slice(0, digits ? point + 1 + digits : point);
  if (Number(truncated[truncated.length - 1]) % 2 === 1) return text; // away from zero is even
  return (x < 0 ? "-" : "") + truncated;
}

// Python's f"{value:,.Nf}": thousands separators, ties to even.
const grouped = (value, digits) => {
  const [whole, fraction] = toFixedEven(value, digits).split(".");
  const withCommas = whole.replace(/\B(?=(\d{3})+(?!\d))/g, ",");
  return fraction === undefined ? withCommas : `${withCommas}.${fraction}`;
};

/**
 * Money: the sign before the dollar sign ("-$3.26"), whole dollars from $100, cents from $1, and
 * three significant digits below $1 (at most 8 decimals), so a per-request cost of $0.000123
 * does not show as "$0.00".
 * @param {number} value  finite
 * @returns {string}
 */
function formatMoney(value) {
  const sign = value < 0 ? "-" : "";
  const abs = Math.abs(value);
  let digits = 2;
  if (abs >= 100) digits = 0;
  else if (abs > 0 && abs < 1) digits = Math.min(8, 2 - Math.floor(Math.log10(abs)));
  return `${sign}$${grouped(abs, digits)}`;
}

/**
 * Format a stat for a person; "—" until there is a value.
 * @param {number|null|undefined} value
 * @param {string} unit  "s" (ms below one second), "%" (a 0..1 ratio), "count", "$" (money),
 *   or free text
 * @param {boolean} invert  show 1/value (e.g. TPOT as tokens per second)
 * @param {number} [scale]  multiplies the value, after `invert` (e.g. 1000: cost per 1k requests)
 * @returns {string}
 * @example formatValue(0.1834, "s") // "183 ms"
 * @example formatValue(0.0123, "$") // "$0.0123"
 */
export function formatValue(value, unit = "", invert = false, scale = 1) {
  if (value === null || value === undefined) return PLACEHOLDER;
  if (typeof value === "string") return value;
  if (!Number.isFinite(value)) return PLACEHOLDER;
  if (invert) {
    if (value === 0) return PLACEHOLDER;
    value = 1 / value;
  }
  // A spec without a scale (older Python) means 1; anything that is not a number too.
  if (typeof scale === "number" && Number.isFinite(scale) && scale !== 1) value *= scale;
  if (unit === "s") {
    return Math.abs(value) < 1 ? `${toFixedEven(value * 1000, 0)} ms` : `${toFixedEven(value, 2)} s`;
  }
  if (unit === "%") return `${toFixedEven(value * 100, 1)}%`;
  // Python's int(round(value)): ties to even, and never "-0".
  if (unit === "count") return grouped(Number(toFixedEven(value, 0)) + 0, 0);
  if (unit === "$") return formatMoney(value);
  const number = Math.abs(value) >= 100 ? grouped(value, 0) : grouped(value, 1);
  return unit ? `${number} ${unit}` : number;
}
