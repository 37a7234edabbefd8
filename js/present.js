// Presentation mode: the dashboard fills the screen with projector-sized type, for a room.
//
// The Present button asks the browser for fullscreen (the Fullscreen API) on the dashboard
// and sets the `presenting` trait; Esc, or leaving fullscreen, ends it. `dash.present()` in
// Python sets the trait alone: browsers grant fullscreen only to a user's click or key, so
// from code the dashboard fills the browser window instead (the same layout, CSS only;
// F11 makes the window fullscreen). The layout is in present.css.
import { h } from "./dom.js";

/**
 * The Present button and the `presenting` trait, kept in step.
 * @param {{get: (name: string) => any, set: (name: string, value: any) => void,
 *   save_changes: () => void}} model
 * @param {HTMLElement} root  the `.lmw` element that fills the screen
 * @param {import("./dom.js").Disposer} disposer
 * @param {(presenting: boolean) => void} onChange  redraw what depends on the layout (charts)
 */
export class Presenter {
  constructor(model, root, disposer, onChange = () => {}) {
    this.model = model;
    this.root = root;
    this.onChange = onChange;
    this.on = false;
    this.button = h("button", {
      class: "lmw-button lmw-present",
      type: "button",
      text: "Present",
      title: "Fill the screen with the dashboard, in large type (Esc returns)",
      "aria-pressed": "false",
      "data-lm-suppress-shortcuts": "true",
    });
    if (!root.hasAttribute("tabindex")) root.setAttribute("tabindex", "-1"); // focusable: Esc
    disposer.listen(this.button, "click", () => this.toggle());
    disposer.listen(document, "fullscreenchange", () => {
      if (!document.fullscreenElement && this.on) this.set(false);
    });
    // Esc: in fullscreen the browser itself usually takes it (fullscreenchange above); where
    // the page gets it (the window filled by CSS, or a browser that passes it on), leave here.
    disposer.listen(root, "keydown", (e) => {
      if (e.key === "Escape" && this.on) {
        e.preventDefault();
        e.stopPropagation();
        if (document.fullscreenElement) document.exitFullscreen().catch(() => {});
        this.set(false);
      }
    });
    // The charts take the height the header, controls and table leave (the table grows when
    // a stat is added): measured on entering, and whenever those boxes change size.
    if (typeof ResizeObserver !== "undefined") {
      let frame = 0;
      const refit = new ResizeObserver(() => {
        if (!this.on) return;
        cancelAnimationFrame(frame);
        frame = requestAnimationFrame(() => this.fit() && this.onChange(true));
      });
      // The table, and the charts' row and the sweep (a legend or verdict that wraps at the
      // room's type size: measured after the first redraw, so a second fit settles it).
      for (const sel of [".lmw-stats", ".lmw-charts", ".lmw-sweep"]) {
        const el = root.querySelector(sel);
        if (el) refit.observe(el);
      }
      disposer.add(() => {
        cancelAnimationFrame(frame);
        refit.disconnect();
      });
    }
    this.apply(!!model.get("presenting"));
  }

  /**
   * Set the plots' height (--lmw-chart-height, read by theme.js) to what the screen has left
   * under the table, less each chart's title and legend; returns true if it changed.
   */
  fit() {
    const charts = this.root.querySelector(".lmw-charts");
    if (!charts) return false;
    // What each chart box holds besides its plot (title, legend; the sweep's verdict), the
    // largest: the boxes share a row. Before the first draw: a title and one legend row.
    const boxes = [...this.root.querySelectorAll(".lmw-charts .lmw-chart, .lmw-sweep:not([hidden])")];
    const extras = boxes.map((box) => {
      const canvas = box.querySelector(".uplot canvas");
      return canvas ? box.offsetHeight - canvas.offsetHeight : 0;
    });
    const extra = Math.max(60, ...extras);
    const top = charts.getBoundingClientRect().top - this.root.getBoundingClientRect().top;
    const pad = parseFloat(getComputedStyle(this.root).paddingBottom) || 0;
    const height = Math.max(160, Math.floor(this.root.clientHeight - top - pad - extra));
    const before = this.root.style.getPropertyValue("--lmw-chart-height");
    this.root.style.setProperty("--lmw-chart-height", String(height));
    return before !== String(height);
  }

  /** The button: fullscreen (a user's click may ask for it) and the trait, or back. */
  toggle() {
    const next = !this.on;
    if (next && this.root.requestFullscreen) {
      this.root.requestFullscreen().catch(() => {}); // refused: the CSS layout still fills the window
    } else if (!next && document.fullscreenElement) {
      document.exitFullscreen().catch(() => {});
    }
    this.set(next);
  }

  /** Set the trait (Python sees it) and the layout. */
  set(on) {
    this.model.set("presenting", on);
    this.model.save_changes();
    this.apply(on);
  }

  /** The layout for `presenting` (from the button, Esc, or Python's `dash.present()`). */
  apply(on) {
    if (on === this.on) return;
    this.on = on;
    this.root.classList.toggle("lmw-presenting", on);
    this.button.setAttribute("aria-pressed", String(on));
    this.button.textContent = on ? "Exit presentation" : "Present";
    if (on) {
      this.root.focus({ preventScroll: true }); // so Esc reaches the dashboard
      this.fit();
    } else {
      this.root.style.removeProperty("--lmw-chart-height");
    }
    this.onChange(on);
  }
}
