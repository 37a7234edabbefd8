// @vitest-environment jsdom
// The header's progress bar and counts against a fake model: `progress.completed` is the
// requests that succeeded, `progress.failed` those that failed (docs/widget_contract.md), so in
// count mode the bar is (completed + failed) / (clients * n_requests), each request once.
import { describe, expect, it } from "vitest";
import { makeModel } from "./testing/fake_model.js";
import { Header, progressFraction } from "./header.js";

function countRun(traits = {}) {
  const model = makeModel({ title: "sim", status: "running", mode: "count", clients: 2, n_requests: 12, progress: {}, ...traits });
  const header = new Header();
  header.update(model);
  const show = (changes) => {
    model.update(changes);
    header.update(model);
  };
  const width = () => parseFloat(header.fill.style.width);
  const count = (key) => header.element.querySelector(`.lmw-count[data-key="${key}"] .lmw-count-value`).textContent;
  return { show, width, count, header };
}

describe("count-mode progress with failures", () => {
  it("fills the bar with every finished request once, up to the target", () => {
    const { show, width, count, header } = countRun();
    // (succeeded, failed) as a run of 2 clients x 12 requests with half of them failing sends them
    const ticks = [[0, 0], [1, 3], [4, 6], [7, 10], [10, 12], [11, 13], [12, 12]];
    const target = 24;
    for (const [completed, failed] of ticks) {
      show({ progress: { elapsed: 1, duration: null, completed, failed, in_flight: 2, active_clients: 2, sent: completed + failed + 2 } });
      const finished = completed + failed;
      expect(width()).toBeCloseTo((100 * finished) / target, 1);
      expect(width()).toBeLessThanOrEqual(100);
      expect(header.bar.getAttribute("aria-valuenow")).toBe(String(Math.round((100 * finished) / target)));
      expect(count("completed")).toBe(String(completed));
      expect(count("failed")).toBe(String(failed));
    }
    // the last tick finished every request: a full bar while still "running", none beyond
    expect(width()).toBe(100);
    show({ status: "done" });
    expect(width()).toBe(100);
  });

  it("never goes past a full bar, even when more finish than the traits planned", () => {
    // e.g. the clients slider lowered mid-run: 2 x 12 planned now, 30 already finished
    const { show, width, header } = countRun();
    show({ progress: { completed: 20, failed: 10 } });
    expect(width()).toBe(100);
    expect(header.bar.getAttribute("aria-valuenow")).toBe("100");
    for (const progress of [{ completed: 5, failed: 5 }, { completed: 0, failed: 24 }, { completed: 24, failed: 0 }, { completed: 30, failed: 30 }]) {
      const fraction = progressFraction(progress, { mode: "count", clients: 2, n_requests: 12 });
      expect(fraction).toBe(Math.min(1, (progress.completed + progress.failed) / 24));
      expect(fraction).toBeLessThanOrEqual(1);
    }
  });
});
