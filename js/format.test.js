import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { formatValue } from "./format.js";

const { cases } = JSON.parse(
  readFileSync(new URL("../tests/fixtures/format_cases.json", import.meta.url), "utf8"),
);

describe("formatValue matches the Python formatter on the shared cases", () => {
  // [value, unit, invert, expected] or [value, unit, invert, expected, scale]
  it.each(cases)("%s %s invert=%s -> %s (scale %s)", (value, unit, invert, text, scale) => {
    expect(formatValue(value, unit, invert, scale)).toBe(text);
  });

  it("covers money ($) and the scale", () => {
    expect(cases.filter((c) => c[1] === "$").length).toBeGreaterThanOrEqual(20);
    expect(cases.filter((c) => c.length === 5).length).toBeGreaterThanOrEqual(5);
  });
});

describe("money ($)", () => {
  it("puts the sign before the dollar sign, with no space", () => {
    expect(formatValue(-3.26, "$")).toBe("-$3.26");
    expect(formatValue(-0.0123, "$")).toBe("-$0.0123");
    expect(formatValue(-1234.4, "$")).toBe("-$1,234");
  });

  it("whole dollars from $100, cents from $1, three significant digits below $1", () => {
    expect(formatValue(1234.4, "$")).toBe("$1,234");
    expect(formatValue(3.256, "$")).toBe("$3.26");
    expect(formatValue(0.5, "$")).toBe("$0.500");
    expect(formatValue(0.000123456, "$")).toBe("$0.000123");
    expect(formatValue(1e-12, "$")).toBe("$0.00000000"); // at most 8 decimals
    expect(formatValue(0, "$")).toBe("$0.00");
  });
});

describe("scale", () => {
  it("defaults to 1, and multiplies after invert", () => {
    expect(formatValue(0.02, "tok/s", true)).toBe("50.0 tok/s");
    expect(formatValue(0.02, "tok/s", true, 1000)).toBe("50,000 tok/s"); // (1 / 0.02) * 1000
    expect(formatValue(0.0123, "$", false, 100)).toBe("$1.23");
    expect(formatValue(1500, "s", false, 0.001)).toBe("1.50 s");
  });

  it("treats a missing or non-numeric scale as 1", () => {
    expect(formatValue(0.5, "", false, undefined)).toBe("0.5");
    expect(formatValue(0.5, "", false, null)).toBe("0.5");
    expect(formatValue(null, "$", false, 1000)).toBe("—");
  });
});

it("treats undefined, NaN and Infinity as placeholders", () => {
  expect(formatValue(undefined, "s")).toBe("—");
  expect(formatValue(Number.NaN, "s")).toBe("—");
  expect(formatValue(Number.POSITIVE_INFINITY, "count")).toBe("—");
});
