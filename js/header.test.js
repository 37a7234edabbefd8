// @vitest-environment jsdom
// The header's progress bar and counts against a fake model: `progress.completed` is the
// requests that succeeded, `progress.failed` those that failed (docs/widget_contract.md), so in
// count mode the bar is (completed + failed) / (clients * n_requests), each request once.
import { describe, expect, it } from "vitest";
import { makeModel } from "./testing/fake_model.js";
import { Header, progressFraction, progressText } from "./header.js";

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

describe("after Stop, and while the last requests drain (issue 12, defect 4)", () => {
  function timeRun(traits = {}) {
    const model = makeModel({ title: "sim", status: "running", mode: "time", clients: 4, n_requests: 10, progress: {}, ...traits });
    const header = new Header();
    header.update(model);
    return {
      header,
      show(changes) {
        model.update(changes);
        header.update(model);
      },
      width: () => parseFloat(header.fill.style.width),
      badge: () => header.badge.textContent,
      time: () => header.time.textContent,
    };
  }

  it("says how the run ended, as run_status.json does", () => {
    const run = timeRun();
    for (const [status, text] of [
      ["idle", "Idle"],
      ["running", "Running"],
      ["stopping", "Stopping"],
      ["done", "Done"],
      ["stopped", "Stopped"],
      ["interrupted", "Interrupted"],
      ["error", "Failed"],
    ]) {
      run.show({ status });
      expect([status, run.badge()]).toEqual([status, text]);
      expect(run.header.badge.dataset.status).toBe(status);
      expect(run.header.bar.dataset.status).toBe(status);
    }
  });

  it("a stopped run's bar shows how far it got, not a full bar", () => {
    const run = timeRun();
    const progress = { elapsed: 20.04, duration: 30, completed: 80, failed: 0, in_flight: 4 };
    run.show({ progress });
    expect(run.width()).toBeCloseTo(66.8, 1);
    run.show({ status: "stopping" });
    run.show({ status: "stopped", progress: { ...progress, in_flight: 0 } });
    expect(run.badge()).toBe("Stopped");
    expect(run.width()).toBeCloseTo(66.8, 1);
    expect(run.header.bar.getAttribute("aria-valuenow")).toBe("67");
    expect(run.time()).toBe("20.0 s / 30 s");
    // interrupted and failed runs too; only a completed one is full
    for (const status of ["interrupted", "error"]) {
      run.show({ status });
      expect(run.width()).toBeCloseTo(66.8, 1);
    }
    run.show({ status: "done" });
    expect(run.width()).toBe(100);
    // a stopped count-bound run: its finished requests over the planned ones
    expect(progressFraction({ completed: 9, failed: 1, duration: null }, { status: "stopped", mode: "count", clients: 4, n_requests: 10 })).toBe(0.25);
  });

  it("past the deadline, the clock stops at the duration and names the requests finishing", () => {
    const run = timeRun();
    run.show({ progress: { elapsed: 3.2, duration: 4, in_flight: 3 } });
    expect(run.time()).toBe("3.2 s / 4 s");
    run.show({ progress: { elapsed: 5.5, duration: 4, in_flight: 3 } });
    expect(run.time()).toBe("4 s / 4 s · finishing 3 requests");
    expect(run.width()).toBe(100);
    run.show({ progress: { elapsed: 5.9, duration: 4, in_flight: 1 } });
    expect(run.time()).toBe("4 s / 4 s · finishing 1 request");
    run.show({ status: "done", progress: { elapsed: 6.1, duration: 4, in_flight: 0 } });
    expect(run.time()).toBe("4 s / 4 s");
    // minutes, a fractional duration, a sweep's level
    expect(progressText({ elapsed: 200, duration: 180, in_flight: 2 }, "running")).toBe("3:00 / 3:00 · finishing 2 requests");
    expect(progressText({ elapsed: 9, duration: 7.5, in_flight: 0 }, "running")).toBe("7.5 s / 7.5 s");
    expect(progressText({ elapsed: 9, duration: 7.5, in_flight: 1 }, "stopped")).toBe("7.5 s / 7.5 s");
    expect(progressText({ elapsed: 2, duration: 10, level: "2/3 (4 clients)" }, "running")).toBe("2.0 s / 10 s · level 2/3 (4 clients)");
    expect(progressText({ elapsed: 12, duration: 10, in_flight: 4, level: "3/3 (8 clients)" }, "running")).toBe("10 s / 10 s · finishing 4 requests · level 3/3 (8 clients)");
    expect(progressText({ elapsed: 12, duration: 10, level: "3/3 (8 clients)" }, "done")).toBe("10 s / 10 s");
    expect(progressText({ elapsed: 12.34, duration: null }, "running")).toBe("12.3 s");
  });
});
