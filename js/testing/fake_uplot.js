// A stand-in for uPlot in jsdom, which has no canvas: it records what the charts ask of it
// (created with which options and data, setData, setSize, setSeries, destroy) and keeps uPlot's
// pure helpers (join, rangeNum) real. The real uPlot draws in tests/browser (Chromium).
//
// Use in a test file:
//   const fake = vi.hoisted(() => ({ uplots: [] }));
//   vi.mock("uplot", async () => (await import("./testing/fake_uplot.js")).mockUPlot(vi, fake.uplots, fake.log));

/**
 * The mocked "uplot" module: the fake class, with the real uPlot's helpers. uPlot reads
 * matchMedia when it loads (for devicePixelRatio changes): jsdom lacks it, so a stub first.
 * @param {any} vi  vitest's vi (for importActual)
 * @param {any[]} created  receives every instance
 * @param {any[]} [log]  receives ["create", u], ["setData", u, data], ["destroy", u] in order
 */
export async function mockUPlot(vi, created, log = []) {
  if (typeof globalThis.matchMedia !== "function") {
    globalThis.matchMedia = () => ({
      matches: false,
      addListener() {},
      removeListener() {},
      addEventListener() {},
      removeEventListener() {},
    });
  }
  const actual = (await vi.importActual("uplot")).default;
  return { default: fakeUPlot(actual, created, log) };
}

/**
 * A fake uPlot class whose instances are pushed onto `created`.
 * @param {any} actual  the real uPlot (its static helpers are used)
 * @param {any[]} created
 * @param {any[]} [log]  see mockUPlot
 */
export function fakeUPlot(actual, created, log = []) {
  return class FakeUPlot {
    static join = actual.join;
    static rangeNum = actual.rangeNum;

    constructor(opts, data, target) {
      this.opts = opts;
      this.data = data;
      this.target = target;
      // The chart's div (plot.js' PlotBox) and the figure it carried when drawn (a copy: later
      // points change the traces in place); first: the first uPlot ever made in that div.
      this.div = target.parentElement;
      this.first = !created.some((u) => u.div === this.div);
      this.traces = (this.div?.data ?? []).map((t) => ({ ...t, x: [...t.x], y: [...t.y] }));
      this.layout = this.div?.layout;
      this.width = opts.width;
      this.height = opts.height;
      this.series = opts.series.map((s) => ({ show: true, ...s }));
      this.over = document.createElement("div");
      target.append(this.over);
      this.setDataCalls = [];
      this.sizes = [];
      this.destroyed = false;
      created.push(this);
      log.push(["create", this]);
    }

    setData(data, resetScales = true) {
      this.data = data;
      this.setDataCalls.push({ data, resetScales });
      log.push(["setData", this, data]);
    }

    setSize(size) {
      this.sizes.push(size);
    }

    setSeries(i, opts) {
      Object.assign(this.series[i], opts);
    }

    destroy() {
      this.destroyed = true;
      log.push(["destroy", this]);
    }
  };
}
