// The `_esm` of every Dashboard: a few KB that fetch the dashboard's bundle and hand it the view.
//
// anywidget keeps a widget's `_esm` in its model, so a bundle in `_esm` is sent to the browser and
// saved in the notebook once per dashboard (~1.25 MB each with Plotly: issue 12). Instead the
// bundle (llmeter_widget/static/widget.js) travels once per kernel, in the `code` trait of one
// shared model (`DashboardCode`, llmeter_widget/views/shared_code.py) that each Dashboard names in
// its `_code` trait. This loader gets that model from the widget manager (also in a notebook
// restored from its saved widget state, with no kernel), imports the code once per page, and
// delegates `render` to the bundle's default export. Without a widget manager it asks the kernel
// (`{type: "code"}` -> `{type: "code", code, version}`). See docs/widget_contract.md.

/** globalThis[BUNDLES]: bundle key -> Promise of the bundle's widget ({render}). Every loader
 * instance shares it: anywidget imports each model's `_esm` on its own, so a module-level cache
 * would hold one entry per dashboard. */
const BUNDLES = Symbol.for("llmeter_widget.bundles");

/** How long a restored model may take to appear in the widget manager. */
export const GET_MODEL_WAIT_MS = 3000;
/** How long to wait for the kernel's answer before saying what is wrong (a late answer still
 * renders: a kernel busy with a cell answers when the cell ends). */
export const KERNEL_WAIT_MS = 15000;

const PREFIXES = ["IPY_MODEL_", "anywidget:"];

/**
 * The model id in a widget reference: "IPY_MODEL_<id>" (ipywidgets' widget_serialization),
 * "anywidget:<id>" (anywidget's WidgetTrait) or a bare id; null for anything else.
 * @param {unknown} ref
 * @returns {string | null}
 */
export function modelIdOf(ref) {
  if (typeof ref !== "string" || !ref) return null;
  for (const prefix of PREFIXES) {
    if (ref.startsWith(prefix)) return ref.slice(prefix.length) || null;
  }
  return ref;
}

const isModel = (value) => Boolean(value) && typeof value === "object" && typeof value.get === "function";
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

/** The bundle's text, stylesheet and version in a shared model, or an error saying what is
 * missing. */
function codeOf(source, id) {
  const code = source.get("code");
  if (typeof code !== "string" || !code) throw new Error(`the shared code model ${id} holds no code`);
  const css = source.get("css");
  return { code, css: typeof css === "string" ? css : "", version: String(source.get("version") || "") };
}

/**
 * The bundle from the shared model named by the Dashboard's `_code` trait, through
 * `model.widget_manager.get_model` (JupyterLab, Notebook 7, Voila, marimo).
 * @param {{get: Function, widget_manager?: {get_model?: Function}}} model  the Dashboard's model
 * @param {{waitMs?: number}} [options]
 * @returns {Promise<{code: string, css: string, version: string}>}
 * @throws Error saying why not (no reference, no manager, model not found, no code)
 */
export async function codeFromModel(model, { waitMs = GET_MODEL_WAIT_MS } = {}) {
  const ref = model.get("_code");
  if (isModel(ref)) return codeOf(ref, "(unpacked)"); // a front end that unpacks references
  const id = modelIdOf(ref);
  if (!id) throw new Error(`the dashboard's _code trait names no model (${JSON.stringify(ref ?? null)})`);
  const manager = model.widget_manager;
  if (typeof manager?.get_model !== "function") {
    throw new Error("this front end gives widgets no widget_manager.get_model");
  }
  // Restoring saved widget state registers the models one by one: the shared one may come just
  // after this view asks. ipywidgets' get_model throws at once for an unknown id, so retry.
  const deadline = Date.now() + waitMs;
  for (;;) {
    let source;
    try {
      source = await manager.get_model(id);
    } catch (err) {
      if (Date.now() >= deadline) throw new Error(`model ${id} not found (${err?.message ?? err})`);
      await sleep(100);
      continue;
    }
    if (!isModel(source)) throw new Error(`model ${id} not found`);
    return codeOf(source, id);
  }
}

/**
 * Ask the kernel for the bundle: send `{type: "code"}`, listen for `{type: "code", code}`.
 * @returns {{answer: Promise<{code: string, version: string}>, cancel: () => void}}  `answer`
 *   rejects at once if the message cannot be sent; `cancel` stops listening.
 */
export function codeFromKernel(model) {
  let onMessage = null;
  const cancel = () => {
    if (onMessage) model.off("msg:custom", onMessage);
    onMessage = null;
  };
  const answer = new Promise((resolve, reject) => {
    onMessage = (msg) => {
      if (msg?.type !== "code" || typeof msg.code !== "string" || !msg.code) return;
      cancel();
      resolve({ code: msg.code, css: typeof msg.css === "string" ? msg.css : "", version: String(msg.version || "") });
    };
    model.on("msg:custom", onMessage);
    try {
      model.send({ type: "code" });
    } catch (err) {
      cancel();
      reject(new Error(`could not ask the kernel (${err?.message ?? err})`));
    }
  });
  return { answer, cancel };
}

/** A short FNV-1a hash of a text: the cache key of a bundle that comes without a version. */
export function hashText(text) {
  let hash = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) {
    hash ^= text.charCodeAt(i);
    hash = Math.imul(hash, 0x01000193);
  }
  return `${text.length}-${(hash >>> 0).toString(16)}`;
}

/** Import an ES module from its text (as anywidget does with `_esm`). */
export async function importText(code) {
  const url = URL.createObjectURL(new Blob([code], { type: "text/javascript" }));
  try {
    return await import(/* webpackIgnore: true */ /* @vite-ignore */ url);
  } finally {
    URL.revokeObjectURL(url);
  }
}

/**
 * The bundle's widget (its default export, `{render}`), imported once per page per version.
 * @param {{code: string, version: string}} bundle
 * @param {(code: string) => Promise<any>} [importModule]
 * @returns {Promise<{render: Function}>}
 */
export function loadBundle({ code, version }, importModule = importText) {
  const cache = (globalThis[BUNDLES] ??= new Map());
  const key = version || hashText(code);
  let widget = cache.get(key);
  if (!widget) {
    widget = importModule(code).then(async (mod) => {
      const def = typeof mod?.default === "function" ? await mod.default() : mod?.default;
      if (typeof def?.render !== "function") throw new Error("the bundle's default export has no render()");
      return def;
    });
    cache.set(key, widget);
    // a failed import is not kept: the next view tries again
    widget.catch(() => cache.get(key) === widget && cache.delete(key));
  }
  return widget;
}

/** How long a view rendered before it is in the page waits for it, to style the right root. */
const ATTACH_WAIT_MS = 10000;

/**
 * The dashboard's stylesheet (the shared model's `css`), once per root it renders in: the
 * page's <head>, or the shadow root a front end renders widgets in (marimo), where a
 * stylesheet of the page does not apply. A view not in the page yet waits until it is.
 * @param {HTMLElement} el  the view's element
 * @param {{css?: string, version?: string}} bundle
 */
export function addStyle(el, { css, version }) {
  if (!css) return;
  const key = version || hashText(css);
  const place = () => {
    const root = el.getRootNode();
    const host = typeof ShadowRoot !== "undefined" && root instanceof ShadowRoot ? root : document.head;
    if (host.querySelector(`style[data-llmeter-widget="${key}"]`)) return;
    const style = document.createElement("style");
    style.dataset.llmeterWidget = key;
    style.textContent = css;
    host.append(style);
  };
  if (el.isConnected) return place();
  const until = Date.now() + ATTACH_WAIT_MS;
  const wait = () => {
    if (el.isConnected) place();
    else if (Date.now() < until) requestAnimationFrame(wait);
  };
  requestAnimationFrame(wait);
}

/** Forget the imported bundles (tests). */
export function clearBundles() {
  globalThis[BUNDLES]?.clear();
}

function showNote(el, text, failed = false) {
  const note = document.createElement("div");
  note.className = failed ? "lmw-loader lmw-loader-error" : "lmw-loader";
  if (failed) note.setAttribute("role", "alert");
  note.textContent = text;
  el.replaceChildren(note);
}

/** What a person reads when the code cannot be had: the problem, then the fix. */
export function failureText(reasons) {
  return (
    "llmeter-widget: the dashboard cannot load its frontend code: " +
    reasons.join("; ") +
    ". Run the cell that shows the dashboard again (llmeter_widget installed, `npm run build` " +
    "done in a source checkout): the kernel sends the code. To view a saved notebook without a " +
    "kernel, save it with its widget state (JupyterLab: Settings > Save Widget State " +
    "Automatically; nbclient: store_widget_state=True)."
  );
}

/**
 * The view: find the bundle, import it (once per page), render the dashboard with it.
 * (Not exported as `render`: anywidget takes a module's named `render` before its default
 * export, with a deprecation warning.)
 * @param {{model: any, el: HTMLElement, signal?: AbortSignal}} context  as anywidget gives it
 *   (passed on whole to the bundle's render)
 * @param {{getModelWaitMs?: number, kernelWaitMs?: number,
 *   importModule?: (code: string) => Promise<any>}} [options]
 * @returns {Promise<() => void>} the cleanup (the bundle's, once rendered)
 */
export async function loadAndRender(context, options = {}) {
  const { model, el } = context;
  const { getModelWaitMs, kernelWaitMs = KERNEL_WAIT_MS, importModule } = options;
  let disposed = false;
  let cleanup = null;
  let stopAsking = () => {};
  const dispose = () => {
    disposed = true;
    stopAsking();
    const fn = cleanup;
    cleanup = null;
    if (typeof fn === "function") fn();
  };
  const gone = () => disposed || Boolean(context.signal?.aborted);

  /** Import the bundle and render with it; a bundle that fails is shown as the failure. */
  const mount = async (bundle) => {
    let widget;
    try {
      widget = await loadBundle(bundle, importModule);
    } catch (err) {
      if (!gone()) showNote(el, failureText([`its code did not load (${err?.message ?? err})`]), true);
      return;
    }
    if (gone()) return;
    addStyle(el, bundle);
    el.replaceChildren();
    const result = await widget.render(context);
    if (gone()) {
      if (typeof result === "function") result();
    } else cleanup = result;
  };

  showNote(el, "Loading the dashboard…");
  const reasons = [];
  let bundle = null;
  try {
    bundle = await codeFromModel(model, { waitMs: getModelWaitMs });
  } catch (err) {
    reasons.push(`the shared code model is not available (${err?.message ?? err})`);
  }
  if (bundle) {
    await mount(bundle);
    return dispose;
  }

  // Fallback: ask the kernel (a front end without get_model).
  const asked = codeFromKernel(model);
  stopAsking = asked.cancel;
  let timer;
  const late = new Promise((resolve) => {
    timer = setTimeout(() => resolve(null), kernelWaitMs);
  });
  try {
    bundle = await Promise.race([asked.answer, late]);
  } catch (err) {
    reasons.push(err?.message ?? String(err));
  } finally {
    clearTimeout(timer);
  }
  if (bundle) {
    await mount(bundle);
    return dispose;
  }
  if (reasons.length === 1) {
    reasons.push(`the kernel did not send it within ${Math.round(kernelWaitMs / 1000)} s`);
    // Keep listening: a kernel busy with a cell answers when the cell ends.
    asked.answer.then((late) => !gone() && mount(late)).catch(() => {});
  }
  if (!gone()) showNote(el, failureText(reasons), true);
  return dispose;
}

/** anywidget's entry point: render a view, resolve to its cleanup (anywidget awaits it). */
export default { render: (context) => loadAndRender(context) };
