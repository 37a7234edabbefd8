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
