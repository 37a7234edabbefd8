// The controls: duration (or requests per client) and clients, Run and Stop. A slider's label
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

/** Sliders, mode, requests per client and the Run / Stop buttons. */
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

    this.element = h("div", { class: "lmw-controls" }, [
      h("div", { class: "lmw-control lmw-mode-row" }, [
        h("span", { class: "lmw-control-label", text: "Run" }),
        this.mode,
      ]),
      this.duration.row,
      this.requestsRow,
      this.levelsRow,
      this.clients.row,
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
   */
  _slider(disposer, { name, label, format, commit, unit = "", noun = "" }) {
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
    // dirty: text typed in the box and not committed yet (the model's value does not replace it)
    const slider = { input, box, value, row, format, message, dirty: false };
    const show = (v) => {
      if (value) value.textContent = format(v);
    };
    disposer.listen(input, "input", () => {
      const v = Number(input.value);
      show(v);
      box.value = String(v);
      slider.dirty = false;
      this._showBoxMessage(slider, "", false);
    });
    disposer.listen(input, "change", () => commit(Number(input.value)));

    const read = () =>
      parseBoxValue(box.value, {
        min: 1,
        max: Number(input.max),
        unit,
        noun,
        badInput: Boolean(box.validity && box.validity.badInput),
      });
    const commitBox = () => {
      if (!slider.dirty) return; // nothing typed since the last commit (change after Enter)
      const parsed = read();
      if (!parsed.ok) {
        this._showBoxMessage(slider, parsed.error, true);
        return; // refused: nothing is sent, the typed text stays to be fixed
      }
      slider.dirty = false;
      box.value = String(parsed.value);
      input.value = String(parsed.value);
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
        box.value = input.value;
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

    const setSlider = (slider, max, value) => {
      // max first: a value above the old max would be clamped otherwise.
      slider.input.max = String(Math.max(1, max));
      slider.box.max = String(Math.max(1, max));
      slider.input.value = String(value);
      if (slider.value) slider.value.textContent = slider.format(value);
      // The box follows, unless a person is typing in it (or left an invalid text to fix).
      if (!slider.dirty) slider.box.value = String(value);
    };
    setSlider(this.duration, Number(m.get("max_duration")) || 1, Number(m.get("duration")) || 1);
    setSlider(this.clients, Number(m.get("max_clients")) || 1, Number(m.get("clients")) || 1);

    const mode = ["count", "sweep"].includes(m.get("mode")) ? m.get("mode") : "time";
    this.mode.value = mode;
    this.duration.row.hidden = mode === "count"; // a sweep runs each level for the duration
    this.requestsRow.hidden = mode !== "count";
    this.levelsRow.hidden = mode !== "sweep";
    this.clients.row.hidden = mode === "sweep"; // the levels set the clients
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
    // The mode and the request count are fixed once a run started; clients and duration are not.
    this.mode.disabled = busy;
    this.requests.disabled = busy;
    this.levels.disabled = busy;
  }
}
