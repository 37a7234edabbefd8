// The grouped stats table: one small table per group (its name spanning its stats), laid out
// in a wrapping row so a dozen big numbers still fit a notebook's width. The DOM is built once
// per spec; each stats tick only rewrites the text of the cells whose value changed.
// With controls, a person edits the spec from here: a remove button per stat and a "+ stat"
// form; both only send a request, and Python answers by changing the `spec` trait (or with a
// `stat_error` message shown in the form).
// Its header says what the figures cover and switches it: "whole run" (the `stats` trait) or
// "last N s" (`window_stats`, the live charts' window; a key with no meaning over a window
// shows "—"). The choice is the `table_scope` trait, so Python sends the window's figures only
// while a view shows them.

import { Disposer, h } from "./dom.js";
import { formatValue } from "./format.js";

/**
 * @typedef {{id?: string, label: string, key: string, unit?: string, invert?: boolean,
 *   scale?: number, group?: string|null}} StatSpec
 * @typedef {{groups: Array<{name: string, stats: StatSpec[]}>, available?: string[]}} DisplaySpec
 * @typedef {{label: string, kind: "run"|"sweep", stats?: Record<string, number|null>,
 *   series?: object[], levels?: object[]}} Overlay  one entry of the `overlays` trait
 */

/**
 * The overlays the table shows a line for: saved runs (a sweep has no single value per stat).
 * @param {Overlay[]|null|undefined} overlays
 * @returns {Overlay[]}
 */
export function tableOverlays(overlays) {
  return (Array.isArray(overlays) ? overlays : []).filter(
    (o) => o && o.kind === "run" && o.stats && typeof o.stats === "object",
  );
}

/**
 * Split a formatted value into its number and its unit ("1,234 req/min" -> ["1,234", " req/min"]),
 * so the unit can be drawn smaller. Joined back, the parts are exactly the formatted text.
 * @param {string} text  output of formatValue
 * @returns {[string, string]}
 */
export function splitUnit(text) {
  const at = text.lastIndexOf(" ");
  if (at <= 0) return [text, ""];
  return [text.slice(0, at), text.slice(at)];
}

/** The scale of a stat: a finite number, else 1 (specs written before `scale` existed). */
export function statScale(stat) {
  return stat && typeof stat.scale === "number" && Number.isFinite(stat.scale) ? stat.scale : 1;
}

/**
 * The first stat of the spec that shows `key`, or null.
 * @param {DisplaySpec|null|undefined} spec
 * @param {string} key
 * @returns {StatSpec|null}
 */
export function findStat(spec, key) {
  for (const group of spec && Array.isArray(spec.groups) ? spec.groups : []) {
    for (const stat of group && Array.isArray(group.stats) ? group.stats : []) {
      if (stat && stat.key === key) return stat;
    }
  }
  return null;
}

/**
 * The keys a person may add, as the spec lists them (absent in older specs).
 * @param {DisplaySpec|null|undefined} spec
 * @returns {string[]}
 */
export function availableKeys(spec) {
  const keys = spec && Array.isArray(spec.available) ? spec.available : [];
  return keys.filter((k) => typeof k === "string" && k !== "");
}

/**
 * The figures the table shows for a scope: the whole run's `stats`, or the window's.
 * @param {"run"|"window"} scope
 * @param {Record<string, any>|null|undefined} stats  the `stats` trait
 * @param {{seconds?: number, covered?: number, stats?: Record<string, any>}|null|undefined} window
 *   the `window_stats` trait ({} until Python sent it)
 * @returns {Record<string, any>}
 */
export function scopedStats(scope, stats, window) {
  if (scope !== "window") return stats || {};
  return (window && window.stats) || {};
}

/**
 * The scope toggle's labels: "whole run" and "last N s" (N: the window's length, 10 by default),
 * and the line that says what the table shows now.
 * @param {"run"|"window"} scope
 * @param {{seconds?: number, covered?: number}|null|undefined} window  the `window_stats` trait
 */
export function scopeLabels(scope, window) {
  const seconds = window && Number.isFinite(window.seconds) && window.seconds > 0 ? window.seconds : 10;
  const last = `last ${seconds} s`;
  let caption = "Figures over the whole run";
  if (scope === "window") {
    const covered = window && Number.isFinite(window.covered) ? window.covered : null;
    caption = `Figures over the ${last}`;
    if (covered !== null && covered < seconds) caption += ` (${covered} s so far)`;
  }
  return { run: "whole run", window: last, caption };
}

/** Each view's datalist needs an id of its own: several views of one model share the page. */
let datalistCount = 0;

/** The grouped stats table of the dashboard, and its editor (shown with controls). */
export class StatsTable {
  /**
   * @param {DisplaySpec|null|undefined} spec  from the `spec` trait
   * @param {Record<string, number|null>|null|undefined} [stats]  from the `stats` trait
   * @param {Overlay[]|null|undefined} [overlays]  from the `overlays` trait
   * @param {{send?: (msg: object) => void, editable?: boolean, disposer?: Disposer,
   *   scope?: "run"|"window", windowStats?: object, setScope?: (scope: string) => void}} [options]
   *   send: model.send (the edit requests); editable: the `controls` trait; disposer: owns the
   *   DOM listeners (one of its own when not given); scope, windowStats: the `table_scope` and
   *   `window_stats` traits; setScope: what the toggle does (sets `table_scope`)
   */
  constructor(
    spec,
    stats,
    overlays,
    { send = () => {}, editable = false, disposer, scope = "run", windowStats = {}, setScope = () => {} } = {},
  ) {
    this.element = h("div", { class: "lmw-stats" });
    this.send = send;
    this.editable = Boolean(editable);
    this.disposer = disposer || new Disposer();
    /** @type {Array<{key: string, unit: string, invert: boolean, scale: number, cell: HTMLElement,
     *   num: HTMLElement, unitEl: HTMLElement, lines: HTMLElement, text: string}>} */
    this.cells = [];
    /** @type {Array<{th: HTMLElement, button: HTMLElement}>} one per stat with an id; each button
     * is in its label cell only while editable */
    this.removeButtons = [];
    /** @type {HTMLElement[]} the group tables, before the editor */
    this.tables = [];
    /** This view sent an edit request and has not heard back (a spec change or an error). */
    this.pending = false;
    this.stats = stats || {};
    /** @type {Overlay[]} */
    this.overlays = tableOverlays(overlays);
    this.scope = scope === "window" ? "window" : "run";
    this.windowStats = windowStats || {};
    this._buildScope(setScope);
    this._buildEditor();
    this.setSpec(spec);
  }

  /** The header: what the figures cover, and the toggle between the whole run and the window. */
  _buildScope(setScope) {
    const button = (scope) => {
      const b = h("button", { class: "lmw-scope-button", type: "button", dataset: { scope } });
      this.disposer.listen(b, "click", () => {
        if (this.scope === scope) return;
        this.setScope(scope, this.windowStats); // at once; Python's window figures follow
        setScope(scope);
      });
      return b;
    };
    this.scopeButtons = { run: button("run"), window: button("window") };
    this.scopeCaption = h("span", { class: "lmw-scope-caption" });
    this.scopeBar = h("div", { class: "lmw-scope" }, [
      h("div", { class: "lmw-scope-toggle", role: "group", "aria-label": "What the table covers" }, [
        this.scopeButtons.run,
        this.scopeButtons.window,
      ]),
      this.scopeCaption,
    ]);
    this.element.append(this.scopeBar);
    this._showScope();
  }

  _showScope() {
    const labels = scopeLabels(this.scope, this.windowStats);
    for (const [scope, b] of Object.entries(this.scopeButtons)) {
      b.textContent = labels[scope];
      b.setAttribute("aria-pressed", String(this.scope === scope));
    }
    this.scopeCaption.textContent = labels.caption;
    this.element.dataset.scope = this.scope;
  }

  /**
   * Show the whole run ("run") or the last seconds ("window": the `window_stats` trait).
   * @param {"run"|"window"} scope
   * @param {object} [windowStats]  the `window_stats` trait
   */
  setScope(scope, windowStats = this.windowStats) {
    this.scope = scope === "window" ? "window" : "run";
    this.windowStats = windowStats || {};
    this._showScope();
    this._render();
  }

  /**
   * New figures of the window (the `window_stats` trait); shown while the scope is "window".
   * @param {object} windowStats
   */
  setWindow(windowStats) {
    this.windowStats = windowStats || {};
    this._showScope(); // "(3 s so far)" grows with the run
    if (this.scope === "window") this._render();
  }

  _buildEditor() {
    const listen = (target, type, fn) => this.disposer.listen(target, type, fn);
    this.addButton = h("button", {
      class: "lmw-stat-add",
      type: "button",
      text: "+ stat",
      title: "Add a stat to the table",
    });
    this.datalist = h("datalist", { id: `lmw-stat-keys-${++datalistCount}` });
    this.keyInput = h("input", {
      class: "lmw-stat-key",
      type: "text",
      list: this.datalist.id,
      placeholder: "stat key",
      spellcheck: "false",
      autocomplete: "off",
      "aria-label": "Stat key",
    });
    this.labelInput = h("input", {
      class: "lmw-stat-label-input",
      type: "text",
      placeholder: "label",
      "aria-label": "Label",
    });
    this.error = h("span", { class: "lmw-stat-error", role: "alert", hidden: true });
    this.submitButton = h("button", { class: "lmw-stat-submit", type: "submit", text: "Add" });
    this.cancelButton = h("button", { class: "lmw-stat-cancel", type: "button", text: "Cancel" });
    this.form = h("form", { class: "lmw-stat-form", hidden: true, "aria-label": "Add a stat" }, [
      this.keyInput,
      this.datalist,
      this.labelInput,
      this.submitButton,
      this.cancelButton,
      this.error,
    ]);
    this.editor = h("div", { class: "lmw-stat-editor" }, [this.addButton, this.form]);
    this.element.append(this.editor);

    listen(this.addButton, "click", () => this.openForm());
    listen(this.cancelButton, "click", () => this.closeForm());
    listen(this.form, "submit", (event) => {
      event.preventDefault(); // never a page navigation
      this.submit();
    });
    listen(this.form, "keydown", (event) => {
      if (event.isComposing) return;
      // Enter in a text input submits; on a button it clicks that button (Cancel cancels).
      if (event.key === "Enter" && event.target && event.target.tagName === "INPUT") {
        event.preventDefault(); // submitted here, not again by the form's implicit submission
        this.submit();
      } else if (event.key === "Escape") {
        event.preventDefault();
        event.stopPropagation(); // Jupyter would leave edit mode on it too
        this.closeForm();
      }
    });
    listen(this.keyInput, "input", () => {
      this.labelInput.placeholder = this.keyInput.value.trim() || "label";
      this._showError("");
    });
    // One listener for every remove button: they are rebuilt with each spec.
    listen(this.element, "click", (event) => {
      const target = /** @type {Element} */ (event.target);
      const button = target && target.closest ? target.closest(".lmw-stat-remove") : null;
      if (!button || !this.editable) return;
      this.pending = true;
      this.send({ type: "remove_stat", id: button.dataset.id });
    });
  }

  /**
   * Rebuild the table for a new spec (Python sets it at the start, and after each edit). An open
   * "+ stat" form is closed and cleared: the new spec is Python's answer to it.
   * @param {DisplaySpec|null|undefined} spec
   */
  setSpec(spec) {
    const groups = (spec && Array.isArray(spec.groups) ? spec.groups : []).filter(
      (g) => g && Array.isArray(g.stats) && g.stats.length > 0,
    );
    this.cells = [];
    this.removeButtons = [];
    const tables = groups.map((group) => {
      const labels = group.stats.map((stat) => {
        const th = h("th", { class: "lmw-stat-label", scope: "col", title: stat.key }, [
          h("span", { class: "lmw-stat-label-text", text: stat.label }),
        ]);
        if (typeof stat.id === "string" && stat.id !== "") {
          th.dataset.id = stat.id;
          const name = `Remove ${stat.label}`;
          const button = h("button", {
            class: "lmw-stat-remove",
            type: "button",
            text: "×",
            title: name,
            "aria-label": name,
            dataset: { id: stat.id },
          });
          this.removeButtons.push({ th, button });
        }
        return th;
      });
      const values = group.stats.map((stat) => {
        const num = h("span", { class: "lmw-num" });
        const unitEl = h("span", { class: "lmw-unit" });
        // One small line per saved run under the live value (empty without overlays).
        const lines = h("div", { class: "lmw-overlay-lines" });
        const cell = h("td", { class: "lmw-value", dataset: { key: stat.key } }, [num, unitEl, lines]);
        this.cells.push({
          key: stat.key,
          unit: stat.unit ?? "",
          invert: Boolean(stat.invert),
          scale: statScale(stat),
          cell,
          num,
          unitEl,
          lines,
          text: "",
        });
        return cell;
      });
      return h("table", { class: "lmw-group", dataset: { group: group.name } }, [
        h("thead", {}, [
          h("tr", {}, [
            h("th", {
              class: "lmw-group-name",
              colspan: group.stats.length,
              scope: "colgroup",
              text: group.name,
            }),
          ]),
          h("tr", {}, labels),
        ]),
        h("tbody", {}, [h("tr", {}, values)]),
      ]);
    });
    // The editor stays in place (not re-inserted), so it keeps focus across a rebuild.
    for (const table of this.tables) table.remove();
    this.editor.before(...tables);
    this.tables = tables;

    this.datalist.replaceChildren(...availableKeys(spec).map((key) => h("option", { value: key })));
    this.pending = false;
    if (!this.form.hidden) this.closeForm();
    this.setEditable(this.editable);
    this._render();
    this.setOverlays(this.overlays);
  }

  /**
   * Show or hide the editing controls (the `controls` trait). Read-only, an empty spec hides the
   * whole table; editable, the "+ stat" button stays so stats can be added back.
   * @param {boolean} editable
   */
  setEditable(editable) {
    this.editable = Boolean(editable);
    // Added only while editable, so a read-only label cell holds the label alone.
    for (const { th, button } of this.removeButtons) {
      if (this.editable) th.append(button);
      else button.remove();
    }
    if (!this.editable && !this.form.hidden) this.closeForm();
    this.editor.hidden = !this.editable;
    this.element.hidden = !this.editable && this.tables.length === 0;
  }

  /** Open the "+ stat" form, the key input focused. */
  openForm() {
    this.form.hidden = false;
    this.addButton.hidden = true;
    if (this.element.isConnected) this.keyInput.focus();
  }

  /** Close the form and clear what was typed (Cancel, Escape, or the stat was added). */
  closeForm() {
    const hadFocus = this.form.contains(document.activeElement);
    this.form.reset();
    this.labelInput.placeholder = "label";
    this._showError("");
    this.form.hidden = true;
    this.addButton.hidden = false;
    if (hadFocus && this.element.isConnected) this.addButton.focus();
  }

  /** Send the form's request; an empty key is refused here, without a message to Python. */
  submit() {
    if (this.form.hidden || !this.editable) return;
    const key = this.keyInput.value.trim();
    if (!key) {
      this._showError("Choose a stat key.");
      this.keyInput.focus();
      return;
    }
    const label = this.labelInput.value.trim() || key;
    this._showError("");
    this.pending = true;
    this.send({ type: "add_stat", key, label });
  }

  /**
   * Python refused an edit (`{type: "stat_error", message}`): show why in the form, keeping what
   * was typed. Shown by a view with its form open or a request of its own pending; other views
   * of the same model ignore it (Python's custom messages reach every view).
   * @param {string} message
   */
  showError(message) {
    if (!this.editable || (this.form.hidden && !this.pending)) return;
    this.pending = false;
    if (this.form.hidden) this.openForm(); // e.g. a remove that failed: the form shows why
    this._showError(String(message || "The stat could not be changed."));
  }

  _showError(message) {
    this.error.textContent = message;
    this.error.hidden = !message;
    if (message) this.keyInput.setAttribute("aria-invalid", "true");
    else this.keyInput.removeAttribute("aria-invalid");
  }

  /**
   * Show one line per saved run in every cell: "<label> 183 ms" (the cell's unit and format).
   * Rebuilt whole: overlays change rarely (never per tick).
   * @param {Overlay[]|null|undefined} overlays
   */
  setOverlays(overlays) {
    this.overlays = tableOverlays(overlays);
    for (const c of this.cells) {
      const lines = this.overlays.map((o) => {
        const text = formatValue(o.stats[c.key], c.unit, c.invert, c.scale);
        return h("div", { class: "lmw-overlay-line", title: `${o.label}: ${text}` }, [
          h("span", { class: "lmw-overlay-label", text: o.label }),
          h("span", { class: "lmw-overlay-value", text: ` ${text}` }),
        ]);
      });
      c.lines.replaceChildren(...lines);
      c.lines.hidden = lines.length === 0;
    }
  }

  /**
   * New stats of the whole run (the `stats` trait), shown while the scope is "run": only cells
   * whose text changed are touched (no DOM rebuild per tick).
   * @param {Record<string, number|null>|null|undefined} stats
   */
  update(stats) {
    this.stats = stats || {};
    if (this.scope === "run") this._render();
  }

  /** Write the shown scope's figures into the cells whose text changed. */
  _render() {
    const shown = scopedStats(this.scope, this.stats, this.windowStats);
    for (const c of this.cells) {
      const text = formatValue(shown[c.key], c.unit, c.invert, c.scale);
      if (text === c.text) continue;
      const [num, unit] = splitUnit(text);
      c.num.textContent = num;
      c.unitEl.textContent = unit;
      c.cell.classList.toggle("lmw-empty", text === formatValue(null));
      c.text = text;
    }
  }
}
