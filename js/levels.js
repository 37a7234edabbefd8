// The client sweep's levels input: its parser and its text. Apart from the sweep chart, so the
// controls do not load the chart library.

/**
 * Parse the levels input: client counts separated by commas and/or spaces ("1, 2, 4, 8").
 * Each must be a whole number in 1..maxClients, given once.
 * @param {string} text
 * @param {number} [maxClients]
 * @returns {{ok: true, levels: number[]} | {ok: false, error: string}}
 */
export function parseLevels(text, maxClients = Infinity) {
  const parts = String(text ?? "")
    .split(/[\s,]+/)
    .filter((p) => p !== "");
  if (parts.length === 0) return { ok: false, error: "Give at least one client count, e.g. 1, 2, 4." };
  const levels = [];
  for (const part of parts) {
    if (!/^\d+$/.test(part)) return { ok: false, error: `"${part}" is not a whole number.` };
    const n = Number(part);
    if (n < 1 || n > maxClients) {
      return { ok: false, error: `${n} is out of range: choose 1..${maxClients}.` };
    }
    if (levels.includes(n)) return { ok: false, error: `${n} is given twice: give each count once.` };
    levels.push(n);
  }
  return { ok: true, levels };
}

/** The levels as the input shows them: "1, 2, 4". */
export function formatLevels(levels) {
  return Array.isArray(levels) ? levels.join(", ") : "";
}
