// The controls: the load switch (clients: closed loop; rate: open loop), duration (or requests per
// client), clients or rate (and arrivals), Run and Stop. A slider's label
// follows it while dragging ("input"); the trait is set only on release ("change"), so a drag
// sends one message to the kernel, not hundreds. Beside each slider a number box takes a typed
// value (the duration slider spans 1-600 s in 180 px): it follows the slider and the model, and
// commits on change or Enter; a value out of range is clamped (and says so), anything that is
// not a whole number is refused in the box (marked invalid, with why) and never sent.

import { h } from "./dom.js";
import { formatLevels, parseLevels } from "./levels.js";

/**
 * A duration for the slider label: "45 s", "2 min 30 s", "10 min", "1 h 5 min".
 * @param {number} seconds
 * @returns {string}
 */
export function formatDuration(seconds) {
  if (typeof seconds !== "number" || !Number.isFinite(seconds)) return "—";
  const s = Math.round(seconds);
  if (s < 120) return `${s} s`;
  const hours = Math.floor(s / 3600);
  const min = Math.floor((s % 3600) / 60);
  const sec = s % 60;
  if (hours > 0) return min ? `${hours} h ${min} min` : `${hours} h`;
  return sec ? `${min} min ${sec} s` : `${min} min`;
}

/**
 * Read a slider's number box: a whole number, clamped to min..max.
 * @param {string} text  the box's value ("" when the browser could not read it as a number)
 * @param {{min: number, max: number, noun?: string, unit?: string, badInput?: boolean}} range
 *   noun/unit: for the messages ("clients": plural, "s"); badInput: the browser's validity.badInput
 * @returns {{ok: true, value: number, note: string} | {ok: false, error: string}}
 *   note: "" or why the value was clamped ("at most 64 clients")
 */
export function parseBoxValue(text, { min, max, noun = "", unit = "", badInput = false }) {
  const lo = Math.max(1, Math.ceil(Number(min) || 1));
  const hi = Math.max(lo, Math.floor(Number(max) || lo));
  const tail = (n) => (unit ? `${n} ${unit}` : noun ? `${n} ${n === 1 ? noun.replace(/s$/, "") : noun}` : String(n));
  const error = `Type a whole number from ${lo} to ${tail(hi)}.`;
  const raw = String(text ?? "").trim();
  if (badInput || raw === "" || !/^[+-]?(\d+\.?\d*|\.\d+)(e[+-]?\d+)?$/i.test(raw)) {
    return { ok: false, error };
  }
  const n = Number(raw);
  if (!Number.isFinite(n) || !Number.isInteger(n)) return { ok: false, error };
  if (n > hi) return { ok: true, value: hi, note: `at most ${tail(hi)}` };
  if (n < lo) return { ok: true, value: lo, note: `at least ${tail(lo)}` };
  return { ok: true, value: n, note: "" };
}

/** Mantissas of the rate slider's steps in each decade: about 20-25 % apart (log-ish). */
const RATE_MANTISSAS = [1, 1.2, 1.5, 2, 2.5, 3, 4, 5, 6, 8];

/**
 * The rate slider's values, requests per second: `min`, the round numbers between (1, 1.2, 1.5,
 * 2, 2.5, 3, 4, 5, 6, 8 times a power of ten), `max`. 0.5..200 gives 0.5, 0.6, 0.8, 1, ... 150, 200.
 * @param {number} min  > 0
 * @param {number} max  > min
 * @returns {number[]}
 */
export function rateSteps(min, max) {
  const lo = Number(min) > 0 ? Number(min) : 0.5;
  const hi = Number(max) > lo ? Number(max) : lo * 400;
  const steps = [lo];
  for (let d = Math.floor(Math.log10(lo)); d <= Math.ceil(Math.log10(hi)); d += 1) {
    for (const m of RATE_MANTISSAS) {
      const v = Number((m * 10 ** d).toPrecision(3));
      if (v > lo * 1.0001 && v < hi * 0.9999) steps.push(v);
    }
  }
  steps.push(hi);
  return steps;
}

/**
 * The index of the step nearest `value` on a log scale (the rate slider's position for a rate).
 * @param {number[]} steps
 * @param {number} value
 */
export function nearestStep(steps, value) {
  const v = Math.log(Math.max(Number(value) || steps[0], 1e-9));
  let best = 0;
  steps.forEach((s, i) => {
    if (Math.abs(Math.log(s) - v) < Math.abs(Math.log(steps[best]) - v)) best = i;
  });
  return best;
}

/**
 * A rate for its label: "20 req/s", "2.5 req/s", "0.5 req/s" (at most 3 significant digits).
 * @param {number} rate
 */
export function formatRate(rate) {
  if (typeof rate !== "number" || !Number.isFinite(rate)) return "—";
  return `${Number(rate.toPrecision(3))} req/s`;
}

/**
 * Read the rate's number box: a number of requests per second (decimals allowed), clamped to
 * min..max.
 * @param {string} text
 * @param {{min: number, max: number, badInput?: boolean}} range
 * @returns {{ok: true, value: number, note: string} | {ok: false, error: string}}
 */
export function parseRateValue(text, { min, max, badInput = false }) {
  const error = `Type a rate from ${min} to ${max} requests per second.`;
  const raw = String(text ?? "").trim();
  if (badInput || raw === "" || !/^[+-]?(\d+\.?\d*|\.\d+)(e[+-]?\d+)?$/i.test(raw)) {
    return { ok: false, error };
  }
  const n = Number(raw);
  if (!Number.isFinite(n)) return { ok: false, error };
  if (n > max) return { ok: true, value: max, note: `at most ${max} req/s` };
  if (n < min) return { ok: true, value: min, note: `at least ${min} req/s` };
  return { ok: true, value: n, note: "" };
}

/** The load switch, sliders, mode, requests per client and the Run / Stop buttons. */
export class Controls {
  /**
   * @param {{get: Function, set: Function, save_changes: Function, send: Function}} model
   * @param {import("./dom.js").Disposer} disposer  owns the DOM listeners
   */
  constructor(model, disposer) {
    this.model = model;
    const commit = (name, value) => {
      model.set(name, value);
      model.save_changes();
    };

    this.duration = this._slider(disposer, {
      name: "duration",
      label: "Duration",
      unit: "s",
      format: formatDuration,
      commit: (v) => commit("duration", v),
    });
    this.clients = this._slider(disposer, {
      name: "clients",
      label: "Clients",
      noun: "clients",
      format: null, // the number box shows the value
      commit: (v) => commit("clients", Math.round(v)),
    });

    // The rate slider moves along round numbers (rateSteps: log-ish); its box takes any rate.
    this.rateSteps = rateSteps(model.get("min_rate"), model.get("max_rate"));
    const steps = {
      toInput: (v) => nearestStep(this.rateSteps, v),
      fromInput: (i) => this.rateSteps[Math.round(i)] ?? this.rateSteps[0],
      parse: (text, badInput) => {
        const ends = this.rateSteps;
        return parseRateValue(text, { min: ends[0], max: ends[ends.length - 1], badInput });
      },
    };
    this.rate = this._slider(disposer, {
      name: "rate",
      label: "Rate",
      format: formatRate,
      commit: (v) => commit("rate", v),
      scale: steps,
    });
    this.rate.input.min = "0";
    this.rate.box.step = "any"; // any rate; its min and max follow min_rate, max_rate
    this.rate.box.setAttribute("inputmode", "decimal");
    this.rate.box.setAttribute("aria-label", "Rate in requests per second");
    this.arrival = h("select", { class: "lmw-arrival", "aria-label": "Arrivals" }, [
      h("option", { value: "poisson", text: "Poisson (random gaps)" }),
      h("option", { value: "constant", text: "constant (even gaps)" }),
    ]);
    disposer.listen(this.arrival, "change", () => commit("arrival", this.arrival.value));
    this.arrivalRow = h("label", { class: "lmw-control lmw-arrival-row" }, [
      h("span", { class: "lmw-control-label", text: "Arrivals" }),
      this.arrival,
    ]);

    // The load switch: clients (a closed loop, the "Run" select's modes) or a rate (an open loop
    // for the duration). Back to clients, the closed-loop mode this view last showed returns.
    this.closedMode = "time";
    const loadButton = (load, text) => {
      const b = h("button", { class: "lmw-load-button", type: "button", text, dataset: { load } });
      disposer.listen(b, "click", () => {
        const mode = model.get("mode");
        if (load === "rate" && mode !== "rate") commit("mode", "rate");
        else if (load === "clients" && mode === "rate") commit("mode", this.closedMode);
      });
      return b;
    };
    this.loadButtons = { clients: loadButton("clients", "Clients"), rate: loadButton("rate", "Rate") };
    this.loadRow = h("div", { class: "lmw-control lmw-load-row" }, [
      h("span", { class: "lmw-control-label", text: "Load" }),
      h("div", { class: "lmw-load-toggle", role: "group", "aria-label": "Load: clients or a rate" }, [
        this.loadButtons.clients,
        this.loadButtons.rate,
      ]),
    ]);

    this.mode = h("select", { class: "lmw-mode", "aria-label": "Run until" }, [
      h("option", { value: "time", text: "for a duration" }),
      h("option", { value: "count", text: "for a request count" }),
      h("option", { value: "sweep", text: "client sweep" }),
    ]);
    disposer.listen(this.mode, "change", () => commit("mode", this.mode.value));

    this.requests = h("input", {
      class: "lmw-requests",
      type: "number",
      min: 1,
      step: 1,
      "aria-label": "Requests per client",
    });
    disposer.listen(this.requests, "change", () => {
      const n = Math.max(1, Math.round(Number(this.requests.value) || 1));
      this.requests.value = String(n);
      commit("n_requests", n);
    });
    this.requestsRow = h("label", { class: "lmw-control lmw-requests-row" }, [
      h("span", { class: "lmw-control-label", text: "Requests per client" }),
      this.requests,
    ]);

    // Sweep levels: checked as you type (error state), sent on change only when valid.
    this.levels = h("input", {
      class: "lmw-levels",
      type: "text",
      placeholder: "1, 2, 4, 8, 16",
      spellcheck: "false",
      "aria-label": "Client levels",
    });
    this.levelsError = h("span", { class: "lmw-levels-error", role: "alert", hidden: true });
    this.levelsRow = h("label", { class: "lmw-control lmw-levels-row" }, [
      h("span", { class: "lmw-control-label", text: "Client levels" }),
      this.levels,
      this.levelsError,
    ]);
    const check = () => {
      const parsed = parseLevels(this.levels.value, Number(model.get("max_clients")) || Infinity);
      this._showLevelsError(parsed.ok ? "" : parsed.error);
      return parsed;
    };
    disposer.listen(this.levels, "input", check);
    disposer.listen(this.levels, "change", () => {
      const parsed = check();
      if (!parsed.ok) return;
      this.levels.value = formatLevels(parsed.levels);
      commit("sweep_levels", parsed.levels);
    });

    this.run = h("button", { class: "lmw-button lmw-run", type: "button", text: "▶ Run" });
    this.stop = h("button", { class: "lmw-button lmw-stop", type: "button", text: "■ Stop" });
    disposer.listen(this.run, "click", () => model.send({ type: "run" }));
    disposer.listen(this.stop, "click", () => model.send({ type: "stop" }));

    this.modeRow = h("div", { class: "lmw-control lmw-mode-row" }, [
      h("span", { class: "lmw-control-label", text: "Run" }),
      this.mode,
    ]);
    this.element = h("div", { class: "lmw-controls" }, [
      this.loadRow,
      this.modeRow,
      this.duration.row,
      this.requestsRow,
      this.levelsRow,
      this.clients.row,
      this.rate.row,
      this.arrivalRow,
      h("div", { class: "lmw-buttons" }, [this.run, this.stop]),
    ]);
    // JupyterLab's notebook shortcuts take the arrow keys (and Enter) from any focused element
    // that is not a text field: a slider would move the notebook's cursor instead of itself.
    // Lumino leaves a key alone when its target carries this attribute.
    for (const control of this.element.querySelectorAll("input, select, button")) {
      control.setAttribute("data-lm-suppress-shortcuts", "true");
    }
    this.update();
  }

  /**
   * A slider, its number box (`.lmw-<name>-box`) and, with `format`, a readable value label.
   * The slider's "input" moves the box and the label; its "change" commits. The box commits on
   * "change" or Enter (Escape puts back the model's value); a commit sets the slider too.
   * `scale`: from a value to the slider's position and back, and how the box is read (default:
   * whole numbers from 1 to the slider's max, the position being the value).
   */
  _slider(disposer, { name, label, format, commit, unit = "", noun = "", scale = null }) {
    const input = h("input", {
      class: `lmw-slider lmw-${name}`,
      type: "range",
      min: 1,
      step: 1,
      "aria-label": label,
    });
    const box = h("input", {
      class: `lmw-number lmw-${name}-box`,
      type: "number",
      min: 1,
      step: 1,
      inputmode: "numeric",
      "aria-label": unit ? `${label} in seconds` : label,
    });
    const value = format ? h("span", { class: "lmw-control-value" }) : null;
    const message = h("span", { class: "lmw-box-message", role: "status", hidden: true });
    const row = h("label", { class: `lmw-control lmw-${name}-row` }, [
      h("span", { class: "lmw-control-label", text: label }),
      input,
      box,
      ...(unit ? [h("span", { class: "lmw-box-unit", text: unit, "aria-hidden": "true" })] : []),
      ...(value ? [value] : []),
      message,
    ]);
    const { toInput, fromInput, parse } = scale || {
      toInput: (v) => v,
      fromInput: (x) => x,
      parse: (text, badInput) => parseBoxValue(text, { min: 1, max: Number(input.max), unit, noun, badInput }),
    };
    // dirty: text typed in the box and not committed yet (the model's value does not replace it)
    const slider = { input, box, value, row, format, message, toInput, dirty: false };
    const show = (v) => {
      if (value) value.textContent = format(v);
    };
    disposer.listen(input, "input", () => {
      const v = fromInput(Number(input.value));
      show(v);
      box.value = String(v);
      slider.dirty = false;
      this._showBoxMessage(slider, "", false);
    });
    disposer.listen(input, "change", () => commit(fromInput(Number(input.value))));

    const read = () => parse(box.value, Boolean(box.validity && box.validity.badInput));
    const commitBox = () => {
      if (!slider.dirty) return; // nothing typed since the last commit (change after Enter)
      const parsed = read();
      if (!parsed.ok) {
        this._showBoxMessage(slider, parsed.error, true);
        return; // refused: nothing is sent, the typed text stays to be fixed
      }
      slider.dirty = false;
      box.value = String(parsed.value);
      input.value = String(toInput(parsed.value));
      show(parsed.value);
      this._showBoxMessage(slider, parsed.note, false);
      commit(parsed.value);
    };
    disposer.listen(box, "input", () => {
      slider.dirty = true;
      const parsed = read();
      // Checked as it is typed; a clamp is said on commit, where it happens.
      this._showBoxMessage(slider, parsed.ok ? "" : parsed.error, !parsed.ok);
    });
    disposer.listen(box, "change", commitBox);
    disposer.listen(box, "keydown", (event) => {
      if (event.key === "Enter") {
        event.preventDefault();
        commitBox();
      } else if (event.key === "Escape") {
        event.preventDefault();
        event.stopPropagation(); // Jupyter would leave edit mode on it too
        slider.dirty = false;
        box.value = String(fromInput(Number(input.value)));
        this._showBoxMessage(slider, "", false);
      }
    });
    return slider;
  }

  /** A number box's message: an error (invalid, role alert) or a note (a clamp), or none. */
  _showBoxMessage(slider, text, invalid) {
    const { box, message } = slider;
    box.classList.toggle("lmw-invalid", invalid);
    if (invalid) box.setAttribute("aria-invalid", "true");
    else box.removeAttribute("aria-invalid");
    message.textContent = text;
    message.hidden = !text;
    message.classList.toggle("lmw-box-error", invalid);
    message.setAttribute("role", invalid ? "alert" : "status");
  }

  _showLevelsError(error) {
    this.levels.classList.toggle("lmw-invalid", Boolean(error));
    if (error) this.levels.setAttribute("aria-invalid", "true");
    else this.levels.removeAttribute("aria-invalid");
    this.levelsError.textContent = error;
    this.levelsError.hidden = !error;
  }

  /** Follow the traits (Python may set clients, duration, maxima, mode or status from code). */
  update() {
    const m = this.model;
    this.element.hidden = !m.get("controls");

    const setSlider = (slider, max, value, inputMax = max) => {
      // max first: a value above the old max would be clamped otherwise.
      slider.input.max = String(Math.max(1, inputMax));
      slider.box.max = String(Math.max(1, max));
      slider.input.value = String(slider.toInput(value));
      if (slider.value) slider.value.textContent = slider.format(value);
      // The box follows, unless a person is typing in it (or left an invalid text to fix).
      if (!slider.dirty) slider.box.value = String(value);
    };
    setSlider(this.duration, Number(m.get("max_duration")) || 1, Number(m.get("duration")) || 1);
    setSlider(this.clients, Number(m.get("max_clients")) || 1, Number(m.get("clients")) || 1);
    const [minRate, maxRate] = [Number(m.get("min_rate")), Number(m.get("max_rate"))];
    const ends = this.rateSteps;
    if (ends[0] !== minRate || ends[ends.length - 1] !== maxRate) this.rateSteps = rateSteps(minRate, maxRate);
    setSlider(this.rate, maxRate, Number(m.get("rate")) || this.rateSteps[0], this.rateSteps.length - 1);
    this.rate.box.min = String(this.rateSteps[0]);
    this.arrival.value = m.get("arrival") === "constant" ? "constant" : "poisson";

    const open = m.get("mode") === "rate"; // an open loop: a rate, for the duration
    const mode = ["count", "sweep", "rate"].includes(m.get("mode")) ? m.get("mode") : "time";
    if (!open) this.closedMode = mode;
    for (const [load, button] of Object.entries(this.loadButtons)) {
      button.setAttribute("aria-pressed", String(open === (load === "rate")));
    }
    this.mode.value = open ? this.closedMode : mode;
    this.modeRow.hidden = open; // a rate runs for the duration
    this.duration.row.hidden = mode === "count"; // a sweep runs each level for the duration
    this.requestsRow.hidden = mode !== "count";
    this.levelsRow.hidden = mode !== "sweep";
    this.clients.row.hidden = mode === "sweep" || open; // the levels (or the rate) set the load
    this.rate.row.hidden = !open;
    this.arrivalRow.hidden = !open;
    // Follow Python, unless the user is typing or the text is invalid (kept to be fixed).
    if (document.activeElement !== this.levels && !this.levels.classList.contains("lmw-invalid")) {
      this.levels.value = formatLevels(m.get("sweep_levels"));
    }
    const n = Number(m.get("n_requests")) || 1;
    if (document.activeElement !== this.requests) this.requests.value = String(n);

    const status = m.get("status");
    const busy = status === "running" || status === "stopping";
    this.run.disabled = busy;
    this.stop.disabled = !busy;
    // The mode (and the load switch), the request count and the arrivals are fixed once a run
    // started; clients, rate and duration are not.
    this.mode.disabled = busy;
    this.loadButtons.clients.disabled = busy;
    this.loadButtons.rate.disabled = busy;
    this.arrival.disabled = busy;
    this.requests.disabled = busy;
    this.levels.disabled = busy;
  }
}
