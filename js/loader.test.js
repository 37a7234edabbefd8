// @vitest-environment jsdom
// js/loader.js (each Dashboard's `_esm`) against fake models: the shared model found through
// widget_manager.get_model whatever form its reference takes, the bundle imported once for many
// dashboards, the fallback that asks the kernel (no get_model), and the message shown when
// neither works. The bundle is a stand-in module (`importModule`): jsdom cannot import a blob:
// URL; tests/e2e/test_loader_fallback.py imports the real bundle in Chromium.
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { makeModel } from "./testing/fake_model.js";
import loader, {
  addStyle,
  clearBundles,
  codeFromModel,
  hashText,
  loadAndRender,
  loadBundle,
  modelIdOf,
} from "./loader.js";

const CODE = "export default { render() {} } // the bundle";

/** A stand-in bundle whose render writes into `el` and records its calls and cleanups. */
function fakeBundle() {
  const calls = { imports: [], renders: [], cleanups: 0 };
  const importModule = vi.fn(async (code) => {
    calls.imports.push(code);
    return {
      default: {
        render({ model, el }) {
          calls.renders.push(model);
          el.textContent = `dashboard ${model.get("title")}`;
          return () => {
            calls.cleanups += 1;
          };
        },
      },
    };
  });
  return { calls, importModule };
}

/** A widget manager holding the shared code model under `id`. */
function managerWith(id, code = CODE, version = "v1") {
  const shared = makeModel({ code, version });
  return {
    shared,
    get_model: vi.fn(async (wanted) => {
      if (wanted !== id) throw new Error("widget model not found");
      return shared;
    }),
  };
}

let el;
beforeEach(() => {
  clearBundles();
  el = document.createElement("div");
  document.body.append(el);
});
afterEach(() => {
  el.remove();
  vi.useRealTimers();
});

describe("the module anywidget imports", () => {
  it("exports only a default widget with render (a named render would be taken first)", async () => {
    const mod = await import("./loader.js");
    expect(mod.render).toBeUndefined();
    expect(typeof loader.render).toBe("function");
  });
});

describe("modelIdOf", () => {
  it("reads every form a reference arrives in", () => {
    expect(modelIdOf("IPY_MODEL_abc")).toBe("abc");
    expect(modelIdOf("anywidget:abc")).toBe("abc");
    expect(modelIdOf("abc")).toBe("abc");
    expect(modelIdOf("")).toBeNull();
    expect(modelIdOf("IPY_MODEL_")).toBeNull();
    expect(modelIdOf(null)).toBeNull();
    expect(modelIdOf(42)).toBeNull();
  });
});

describe("the shared stylesheet", () => {
  beforeEach(() => {
    for (const s of document.querySelectorAll("style[data-llmeter-widget]")) s.remove();
  });

  it("goes into the page's head once, however many dashboards render", async () => {
    const manager = managerWith("c0de");
    manager.shared.set("css", ".lmw { color: red }");
    const bundle = fakeBundle();
    for (const title of ["1", "2"]) {
      const model = makeModel({ _code: "IPY_MODEL_c0de", title });
      model.widget_manager = manager;
      const view = document.createElement("div");
      document.body.append(view);
      await loadAndRender({ model, el: view }, { importModule: bundle.importModule });
    }
    const styles = [...document.head.querySelectorAll("style[data-llmeter-widget]")];
    expect(styles.map((s) => [s.dataset.llmeterWidget, s.textContent])).toEqual([["v1", ".lmw { color: red }"]]);
  });

  it("goes into a shadow root the dashboard renders in (marimo), where the page's does not apply", () => {
    const host = document.createElement("div");
    document.body.append(host);
    const shadow = host.attachShadow({ mode: "open" });
    const view = document.createElement("div");
    shadow.append(view);
    addStyle(view, { css: ".lmw { color: blue }", version: "v2" });
    addStyle(view, { css: ".lmw { color: blue }", version: "v2" });
    expect(shadow.querySelectorAll("style[data-llmeter-widget]")).toHaveLength(1);
    expect(document.head.querySelector('style[data-llmeter-widget="v2"]')).toBe(null);
    host.remove();
  });

  it("waits for a view rendered before it is in the page, then styles its root", async () => {
    const host = document.createElement("div");
    const shadow = host.attachShadow({ mode: "open" });
    const view = document.createElement("div");
    shadow.append(view);
    addStyle(view, { css: ".lmw {}", version: "v3" });
    expect(shadow.querySelector("style")).toBe(null); // not in the page: its root is unknown
    document.body.append(host);
    await new Promise((resolve) => requestAnimationFrame(() => requestAnimationFrame(resolve)));
    expect(shadow.querySelector('style[data-llmeter-widget="v3"]')).not.toBe(null);
    host.remove();
  });

  it("comes with the kernel's answer too (the fallback)", async () => {
    const model = makeModel({ _code: "IPY_MODEL_c0de", title: "K" });
    model.send = (msg) => {
      if (msg.type === "code") {
        queueMicrotask(() => model.emit("msg:custom", { type: "code", code: CODE, css: ".k {}", version: "v4" }));
      }
    };
    await loadAndRender({ model, el }, { importModule: fakeBundle().importModule });
    expect(document.head.querySelector('style[data-llmeter-widget="v4"]').textContent).toBe(".k {}");
  });
});

describe("through the widget manager", () => {
  it.each(["IPY_MODEL_c0de", "anywidget:c0de", "c0de"])("finds the shared model from %s", async (ref) => {
    const manager = managerWith("c0de");
    const model = makeModel({ _code: ref, title: "A" });
    model.widget_manager = manager;
    const bundle = fakeBundle();
    const cleanup = await loadAndRender({ model, el }, { importModule: bundle.importModule });
    expect(manager.get_model).toHaveBeenCalledWith("c0de");
    expect(bundle.calls.imports).toEqual([CODE]);
    expect(el.textContent).toBe("dashboard A");
    expect(model.sent).toEqual([]); // the kernel is not asked
    cleanup();
    expect(bundle.calls.cleanups).toBe(1);
  });

  it("takes an already unpacked model", async () => {
    const model = makeModel({ _code: makeModel({ code: CODE, version: "v1" }), title: "B" });
    const bundle = fakeBundle();
    await loadAndRender({ model, el }, { importModule: bundle.importModule });
    expect(el.textContent).toBe("dashboard B");
  });

  it("imports the bundle once for many dashboards, and passes each its own model", async () => {
    const manager = managerWith("c0de");
    const bundle = fakeBundle();
    const models = ["1", "2", "3"].map((title) => {
      const model = makeModel({ _code: "IPY_MODEL_c0de", title });
      model.widget_manager = manager;
      return model;
    });
    const els = models.map(() => document.createElement("div"));
    await Promise.all(models.map((model, i) => loadAndRender({ model, el: els[i] }, { importModule: bundle.importModule })));
    expect(bundle.importModule).toHaveBeenCalledTimes(1);
    expect(bundle.calls.renders).toEqual(models);
    expect(els.map((e) => e.textContent)).toEqual(["dashboard 1", "dashboard 2", "dashboard 3"]);
  });

  it("imports a new version of the bundle anew (two kernels in one page)", async () => {
    const bundle = fakeBundle();
    await loadBundle({ code: CODE, version: "v1" }, bundle.importModule);
    await loadBundle({ code: CODE, version: "v1" }, bundle.importModule);
    await loadBundle({ code: `${CODE} 2`, version: "v2" }, bundle.importModule);
    await loadBundle({ code: `${CODE} 3`, version: "" }, bundle.importModule); // keyed by its hash
    await loadBundle({ code: `${CODE} 3`, version: "" }, bundle.importModule);
    expect(bundle.importModule).toHaveBeenCalledTimes(3);
    expect(hashText("abc")).not.toBe(hashText("abd"));
  });

  it("waits for a model restored just after the view asks", async () => {
    const manager = managerWith("c0de");
    let misses = 2;
    const get = manager.get_model;
    manager.get_model = vi.fn(async (id) => {
      if (misses-- > 0) throw new Error("widget model not found");
      return get(id);
    });
    const model = makeModel({ _code: "IPY_MODEL_c0de", title: "late" });
    model.widget_manager = manager;
    await loadAndRender({ model, el }, { importModule: fakeBundle().importModule });
    expect(manager.get_model).toHaveBeenCalledTimes(3);
    expect(el.textContent).toBe("dashboard late");
  });

  it("says why when the shared model has no code", async () => {
    const model = makeModel({ _code: "IPY_MODEL_c0de" });
    model.widget_manager = managerWith("c0de", "");
    await expect(codeFromModel(model, { waitMs: 0 })).rejects.toThrow(/holds no code/);
  });

  it("renders nothing into a view removed while the bundle loads", async () => {
    const manager = managerWith("c0de");
    const model = makeModel({ _code: "IPY_MODEL_c0de", title: "gone" });
    model.widget_manager = manager;
    const bundle = fakeBundle();
    const controller = new AbortController();
    const pending = loadAndRender({ model, el, signal: controller.signal }, { importModule: bundle.importModule });
    controller.abort();
    await pending;
    expect(bundle.calls.renders).toEqual([]);
  });
});

describe("fallback: no widget_manager.get_model", () => {
  /** A model whose kernel answers `{type: "code"}` the way Dashboard.send_code does. */
  function modelAnswered(answer = { type: "code", code: CODE, version: "v1" }) {
    const model = makeModel({ _code: "IPY_MODEL_c0de", title: "K" });
    const send = model.send;
    model.send = (msg) => {
      send(msg);
      if (msg.type === "code") queueMicrotask(() => model.emit("msg:custom", answer));
    };
    return model;
  }

  it("asks the kernel for the code and renders with it", async () => {
    const model = modelAnswered();
    const bundle = fakeBundle();
    await loadAndRender({ model, el }, { importModule: bundle.importModule });
    expect(model.sent).toEqual([{ type: "code" }]);
    expect(bundle.calls.imports).toEqual([CODE]);
    expect(el.textContent).toBe("dashboard K");
    expect(model.listenerCount()).toBe(0); // it stopped listening
  });

  it("asks the kernel when get_model fails", async () => {
    const model = modelAnswered();
    model.widget_manager = { get_model: async () => Promise.reject(new Error("no such model")) };
    const bundle = fakeBundle();
    await loadAndRender({ model, el }, { importModule: bundle.importModule, getModelWaitMs: 0 });
    expect(model.sent).toEqual([{ type: "code" }]);
    expect(el.textContent).toBe("dashboard K");
  });

  it("ignores other messages (the dashboard's history) while it waits", async () => {
    const model = makeModel({ _code: "IPY_MODEL_c0de", title: "H" });
    const pending = loadAndRender({ model, el }, { importModule: fakeBundle().importModule });
    await vi.waitFor(() => expect(model.sent).toEqual([{ type: "code" }]));
    model.emit("msg:custom", { type: "history", points: [] });
    model.emit("msg:custom", { type: "code", code: CODE, version: "v1" });
    await pending;
    expect(el.textContent).toBe("dashboard H");
  });

  it("names the problem and the fix when the kernel cannot be asked", async () => {
    const model = makeModel({ _code: "IPY_MODEL_c0de" });
    model.send = () => {
      throw new Error("comm closed");
    };
    const bundle = fakeBundle();
    await loadAndRender({ model, el }, { importModule: bundle.importModule });
    const note = el.querySelector(".lmw-loader-error");
    expect(note.getAttribute("role")).toBe("alert");
    expect(note.textContent).toMatch(/cannot load its frontend code/);
    expect(note.textContent).toMatch(/no widget_manager\.get_model/);
    expect(note.textContent).toMatch(/comm closed/);
    expect(note.textContent).toMatch(/Run the cell that shows the dashboard again/);
    expect(note.textContent).toMatch(/Save Widget State Automatically/);
    expect(bundle.importModule).not.toHaveBeenCalled();
  });

  it("says so when the kernel does not answer, and still renders a late answer", async () => {
    vi.useFakeTimers();
    const model = makeModel({ _code: "IPY_MODEL_c0de", title: "late" });
    const pending = loadAndRender({ model, el }, { importModule: fakeBundle().importModule, kernelWaitMs: 5000 });
    await vi.advanceTimersByTimeAsync(5000);
    const cleanup = await pending;
    expect(el.querySelector(".lmw-loader-error").textContent).toMatch(/did not send it within 5 s/);
    model.emit("msg:custom", { type: "code", code: CODE, version: "v1" });
    await vi.waitFor(() => expect(el.textContent).toBe("dashboard late"));
    cleanup();
    expect(model.listenerCount()).toBe(0);
  });

  it("shows a bundle that fails to import as the problem", async () => {
    const model = modelAnswered();
    const importModule = async () => {
      throw new SyntaxError("Unexpected token");
    };
    await loadAndRender({ model, el }, { importModule });
    expect(el.querySelector(".lmw-loader-error").textContent).toMatch(/did not load \(Unexpected token\)/);
    // not cached: the next view tries again
    const bundle = fakeBundle();
    await loadAndRender({ model: modelAnswered(), el }, { importModule: bundle.importModule });
    expect(bundle.importModule).toHaveBeenCalledTimes(1);
  });
});
