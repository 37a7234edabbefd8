// The header: title, status badge, error text, progress bar and the live counts of the run.

import { h } from "./dom.js";
import { formatValue } from "./format.js";

/**
 * Seconds as a clock for the progress line: "12.3 s" below two minutes, else "m:ss".
 * @param {number|null|undefined} seconds
 * @param {boolean} [clock]  force m:ss (so "elapsed / duration" use one style)
 * @returns {string}
 */
export function formatClock(seconds, clock = false) {
  if (typeof seconds !== "number" || !Number.isFinite(seconds)) return "—";
  const s = Math.max(0, seconds);
  if (!clock && s < 120) return `${s.toFixed(1)} s`;
  const total = Math.floor(s);
  const h = Math.floor(total / 3600);
  const m = Math.floor((total % 3600) / 60);
  const sec = String(total % 60).padStart(2, "0");
  return h > 0 ? `${h}:${String(m).padStart(2, "0")}:${sec}` : `${m}:${sec}`;
}

// The badge says how the run ended, as run_status.json does: completed ("done"), stopped,
// interrupted, failed ("error").
const STATUS_TEXT = {
  idle: "Idle",
  running: "Running",
  stopping: "Stopping",
  done: "Done",
  stopped: "Stopped",
  interrupted: "Interrupted",
  error: "Failed",
};

/** A run still going (its requests may be draining past the deadline). */
const isBusy = (status) => status === "running" || status === "stopping";

/**
 * Fraction of the run done, 0..1, or null when unknown.
 * Time-bound: elapsed / duration. Count-bound: (completed + failed) / (clients * n_requests),
 * where `completed` counts the requests that succeeded and `failed` those that failed, so their
 * sum is every finished request once (docs/widget_contract.md, `progress`). Full only for a run
 * that completed ("done"): a stopped, interrupted or failed one shows how far it got.
 * @param {Record<string, any>} progress  the `progress` trait
 * @param {{mode?: string, clients?: number, n_requests?: number, status?: string}} traits
 * @returns {number|null}
 */
export function progressFraction(progress, traits) {
  if (traits.status === "done") return 1;
  const p = progress || {};
  if (typeof p.duration === "number" && p.duration > 0 && typeof p.elapsed === "number") {
    return Math.min(1, Math.max(0, p.elapsed / p.duration));
  }
  if (traits.mode === "count" && traits.clients > 0 && traits.n_requests > 0) {
    const done = (p.completed || 0) + (p.failed || 0);
    return Math.min(1, done / (traits.clients * traits.n_requests));
  }
  return null;
}

/**
 * The progress line: "12.5 s / 60 s". Time-bound, the elapsed time stops at the duration: past
 * the deadline, while the last requests drain, it reads "4 s / 4 s · finishing 3 requests".
 * During a sweep, which level runs: "· level 3/5 (4 clients)".
 * @param {Record<string, any>} progress  the `progress` trait
 * @param {string} status  the `status` trait
 * @returns {string}
 */
export function progressText(progress, status) {
  const p = progress || {};
  const elapsed = typeof p.elapsed === "number" && Number.isFinite(p.elapsed) ? p.elapsed : 0;
  const duration = p.duration;
  let text;
  if (typeof duration === "number" && Number.isFinite(duration) && duration > 0) {
    const clock = Math.max(elapsed, duration) >= 120;
    const total = Number.isInteger(duration) && !clock ? `${duration} s` : formatClock(duration, clock);
    const over = elapsed >= duration;
    text = `${over ? total : formatClock(elapsed, clock)} / ${total}`;
    const draining = typeof p.in_flight === "number" ? p.in_flight : 0;
    if (over && isBusy(status) && draining > 0) {
      text += ` · finishing ${formatValue(draining, "count")} ${draining === 1 ? "request" : "requests"}`;
    }
  } else {
    text = formatClock(elapsed, elapsed >= 120);
  }
  if (p.level && isBusy(status)) text += ` · level ${p.level}`;
  return text;
}

/** Header of the dashboard; `update(model)` reads the traits it shows. */
export class Header {
  constructor() {
    this.title = h("div", { class: "lmw-title" });
    this.badge = h("span", { class: "lmw-badge", role: "status" });
    this.error = h("div", { class: "lmw-error", role: "alert", hidden: true });
    this.warning = h("div", { class: "lmw-warning", role: "status", hidden: true });
    this.fill = h("div", { class: "lmw-bar-fill" });
    this.bar = h(
      "div",
      { class: "lmw-bar", role: "progressbar", "aria-valuemin": 0, "aria-valuemax": 100 },
      [this.fill],
    );
    this.time = h("span", { class: "lmw-time" });
    this.counts = {};
    const count = (key, label) => {
      const value = h("span", { class: "lmw-count-value", text: "0" });
      this.counts[key] = value;
      return h("span", { class: "lmw-count", dataset: { key } }, [
        value,
        h("span", { class: "lmw-count-label", text: label }),
      ]);
    };
    this.saved = h("div", { class: "lmw-saved", hidden: true });
    this.element = h("div", { class: "lmw-header" }, [
      h("div", { class: "lmw-title-row" }, [this.title, this.badge]),
      this.error,
      this.warning,
      h("div", { class: "lmw-progress" }, [this.bar, this.time]),
      h("div", { class: "lmw-counts" }, [
        count("completed", "completed"),
        count("failed", "failed"),
        count("in_flight", "in flight"),
        count("active_clients", "active clients"),
        count("rate", "req/s scheduled"),
      ]),
      this.saved,
    ]);
  }

  /**
   * Show the model's current traits.
   * @param {{get: (name: string) => any}} model
   */
  update(model) {
    const status = model.get("status") || "idle";
    const progress = model.get("progress") || {};
    this.title.textContent = model.get("title") || "llmeter";
    this.badge.textContent = STATUS_TEXT[status] || status;
    this.badge.dataset.status = status;

    const error = model.get("error") || "";
    this.error.textContent = error;
    this.error.hidden = !error;

    // Python decides when the client's own event loop lags too much to trust its timestamps,
    // and when an open-loop run did not keep its schedule (the load was not what was asked).
    const warnings = [];
    if (progress.overloaded) {
      warnings.push(
        `Client overloaded: its event loop woke ${formatValue(progress.loop_lag, "s")} late, so ` +
          "latencies read high. Use fewer clients, or run the load from a terminal.",
      );
    }
    if (progress.schedule_warning) warnings.push(String(progress.schedule_warning));
    this.warning.hidden = warnings.length === 0;
    this.warning.textContent = warnings.join(" ");

    const fraction = progressFraction(progress, {
      status,
      mode: model.get("mode"),
      clients: model.get("clients"),
      n_requests: model.get("n_requests"),
    });
    this.bar.classList.toggle("lmw-bar-unknown", fraction === null);
    this.fill.style.width = `${((fraction ?? 0) * 100).toFixed(1)}%`;
    this.bar.setAttribute("aria-valuenow", fraction === null ? "0" : String(Math.round(fraction * 100)));
    this.bar.dataset.status = status;
    this.time.textContent = progressText(progress, status);

    for (const [key, el] of Object.entries(this.counts)) {
      el.textContent = formatValue(progress[key] ?? 0, "count");
    }
    // An open loop (progress.rate: its schedule's requests per second now) has no clients.
    const rate = typeof progress.rate === "number" && Number.isFinite(progress.rate) ? progress.rate : null;
    this.counts.rate.textContent = rate === null ? "" : String(Number(rate.toPrecision(3)));
    this.counts.rate.parentElement.hidden = rate === null;
    this.counts.active_clients.parentElement.hidden = rate !== null;
    this.counts.failed.parentElement.classList.toggle("lmw-count-bad", (progress.failed || 0) > 0);

    const saved = model.get("result_path") || "";
    this.saved.textContent = saved ? `Saved to ${saved}` : "";
    this.saved.hidden = !saved;
  }
}
