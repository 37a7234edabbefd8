import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { formatValue } from "./format.js";

const { cases } = JSON.parse(
  readFileSync(new URL("../tests/fixtures/format_cases.json", import.meta.url), "utf8"),
);

describe("formatValue matches the Python formatter on the shared cases", () => {
  it.each(cases)("%s %s invert=%s -> %s", (value, unit, invert, text) => {
    expect(formatValue(value, unit, invert)).toBe(text);
  });
});

it("treats undefined, NaN and Infinity as placeholders", () => {
  expect(formatValue(undefined, "s")).toBe("—");
  expect(formatValue(Number.NaN, "s")).toBe("—");
  expect(formatValue(Number.POSITIVE_INFINITY, "count")).toBe("—");
});

// Exact ties (and Intl's decimal rounding) are where a naive JS formatter drifts from Python's
// format(): Python rounds the exact double, ties to even. Expected texts produced by
// llmeter_widget.display.format_value; worth adding to the shared fixture.
const PYTHON_TIES = [
  [0.2105, "s", false, "210 ms"],
  [2104.5, "", false, "2,104"],
  [62146.5, "count", false, "62,146"],
  [73.05, "req/min", false, "73.0 req/min"],
  [2.5, "count", false, "2"],
  [-2.5, "count", false, "-2"],
  [-0.4, "count", false, "0"],
  [0.0025, "%", false, "0.2%"],
  [12.25, "tok/s", false, "12.2 tok/s"],
  [1.125, "s", false, "1.12 s"],
  [0.5, "", false, "0.5"],
  [1e21, "count", false, "1,000,000,000,000,000,000,000"],
  [2e21, "req/min", false, "2,000,000,000,000,000,000,000 req/min"],
  [-0.0004, "s", false, "-0 ms"],
];

describe("formatValue rounds like Python (ties to even, on the exact double)", () => {
  it.each(PYTHON_TIES)("%s %s invert=%s -> %s", (value, unit, invert, text) => {
    expect(formatValue(value, unit, invert)).toBe(text);
  });
});
