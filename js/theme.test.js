// @vitest-environment jsdom
import { describe, expect, it } from "vitest";
import { parseColor, readTheme } from "./theme.js";

describe("parseColor", () => {
  it("reads rgb(), rgba() and #rrggbb, and refuses the rest", () => {
    expect(parseColor("rgb(17, 17, 17)")).toEqual([17, 17, 17, 1]);
    expect(parseColor("rgba(0, 0, 0, 0)")).toEqual([0, 0, 0, 0]);
    expect(parseColor("#1976d2")).toEqual([25, 118, 210, 1]);
    expect(parseColor("var(--jp-brand-color1, #1976d2)")).toBe(null);
    expect(parseColor("")).toBe(null);
  });
});

describe("readTheme", () => {
  const themed = (style) => {
    const el = document.createElement("div");
    Object.assign(el.style, style);
    document.body.append(el);
    return el;
  };

  it("takes the chart colours from the element's computed style", () => {
    const theme = readTheme(themed({ color: "rgb(34, 34, 34)", backgroundColor: "rgb(255, 255, 255)", borderTopColor: "rgb(221, 221, 221)", borderTopStyle: "solid" }));
    expect(theme.dark).toBe(false);
    expect(theme.paper).toBe("rgb(255, 255, 255)");
    expect(theme.font).toBe("rgb(34, 34, 34)");
    expect(theme.grid).toBe("rgb(221, 221, 221)");
    expect(theme.colors[0]).toBe("#1976d2");
  });

  it("tells a dark background, and a transparent one with light text", () => {
    expect(readTheme(themed({ color: "rgb(238, 238, 238)", backgroundColor: "rgb(17, 17, 17)" })).dark).toBe(true);
    const clear = readTheme(themed({ color: "rgb(238, 238, 238)", backgroundColor: "rgba(0, 0, 0, 0)" }));
    expect(clear.dark).toBe(true);
    expect(clear.paper).toBe("rgba(0,0,0,0)");
    expect(clear.colors[0]).toBe("#64b5f6");
  });

  it("reads the charts' type scale and height from the layout (presentation mode sets them)", () => {
    const plain = readTheme(themed({ color: "rgb(34, 34, 34)" }));
    expect([plain.scale, plain.chartHeight]).toEqual([1, null]);
    const room = themed({ color: "rgb(34, 34, 34)" });
    room.style.setProperty("--lmw-chart-scale", "1.4");
    room.style.setProperty("--lmw-chart-height", "300");
    expect([readTheme(room).scale, readTheme(room).chartHeight]).toEqual([1.4, 300]);
    room.style.setProperty("--lmw-chart-scale", "nonsense");
    expect(readTheme(room).scale).toBe(1);
  });
});
