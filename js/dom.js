// Small DOM helpers shared by the widget's parts: element creation and one place that
// remembers every listener, so a removed view leaves nothing behind.

/**
 * Create an element with attributes, properties and children.
 * Keys of `props`: `class`, `text`, `dataset` (object), `style` (object), any `aria-*`/`data-*`
 * or other attribute (set with setAttribute), and `on` ({type: handler}) is NOT supported on
 * purpose: listeners go through a Disposer so they are removed with the view.
 * @param {string} tag
 * @param {Record<string, any>} [props]
 * @param {Array<Node|string|null|undefined>} [children]
 * @returns {HTMLElement}
 */
export function h(tag, props = {}, children = []) {
  const el = document.createElement(tag);
  for (const [key, value] of Object.entries(props)) {
    if (value === undefined || value === null || value === false) continue;
    if (key === "class") el.className = value;
    else if (key === "text") el.textContent = value;
    else if (key === "dataset") Object.assign(el.dataset, value);
    else if (key === "style") Object.assign(el.style, value);
    else el.setAttribute(key, value === true ? "" : String(value));
  }
  for (const child of children) {
    if (child === null || child === undefined) continue;
    el.append(child);
  }
  return el;
}

/**
 * Collects teardown functions (listeners, observers, timers) and runs them all once.
 */
export class Disposer {
  constructor() {
    /** @type {Array<() => void>} */
    this._fns = [];
    this.disposed = false;
  }

  /**
   * Register a teardown function.
   * @param {() => void} fn
   */
  add(fn) {
    if (this.disposed) fn();
    else this._fns.push(fn);
  }

  /**
   * addEventListener now, removeEventListener at dispose time.
   * @param {EventTarget} target
   * @param {string} type
   * @param {EventListener} handler
   * @param {AddEventListenerOptions} [options]
   */
  listen(target, type, handler, options) {
    target.addEventListener(type, handler, options);
    this.add(() => target.removeEventListener(type, handler, options));
  }

  /**
   * model.on now, model.off at dispose time (anywidget model API).
   * @param {{on: Function, off: Function}} model
   * @param {string} event  e.g. "change:clients" or "msg:custom"
   * @param {Function} handler
   */
  onModel(model, event, handler) {
    model.on(event, handler);
    this.add(() => model.off(event, handler));
  }

  /** Run every teardown function (last registered first); later calls do nothing. */
  dispose() {
    if (this.disposed) return;
    this.disposed = true;
    for (const fn of this._fns.reverse()) {
      try {
        fn();
      } catch (err) {
        console.warn("llmeter-widget: cleanup failed", err);
      }
    }
    this._fns = [];
  }
}
