// @vitest-environment jsdom
// Presentation mode's button, trait and Esc (present.js); the layout itself (type sizes, fitting
// 1280x720) is measured in Chromium by tests/browser/test_presentation.py.
import { describe, expect, it } from "vitest";
import { Disposer, h } from "./dom.js";
import { Presenter } from "./present.js";
import { makeModel } from "./testing/fake_model.js";

function setUp(presenting = false) {
  const model = makeModel({ presenting });
  const root = h("div", { class: "lmw" }, [h("div", { class: "lmw-charts" })]);
  document.body.append(root);
  const changes = [];
  const presenter = new Presenter(model, root, new Disposer(), (on) => changes.push(on));
  return { model, root, presenter, changes };
}

describe("Presenter", () => {
  it("the button enters (trait set for Python, layout class, charts redrawn) and leaves", () => {
    const { model, root, presenter, changes } = setUp();
    expect(presenter.button.getAttribute("aria-pressed")).toBe("false");
    presenter.button.click();
    expect(model.get("presenting")).toBe(true);
    expect(model.saves).toBe(1);
    expect(root.classList.contains("lmw-presenting")).toBe(true);
    expect(presenter.button.getAttribute("aria-pressed")).toBe("true");
    expect(presenter.button.textContent).toBe("Exit presentation");
    expect(changes).toEqual([true]);
    presenter.button.click();
    expect([model.get("presenting"), root.classList.contains("lmw-presenting")]).toEqual([false, false]);
    expect(root.style.getPropertyValue("--lmw-chart-height")).toBe(""); // the notebook's height again
    expect(changes).toEqual([true, false]);
    root.remove();
  });

  it("Esc leaves; a view opened while presenting starts in the layout", () => {
    const { model, root } = setUp(true);
    expect(root.classList.contains("lmw-presenting")).toBe(true);
    root.dispatchEvent(new KeyboardEvent("keydown", { key: "Escape", bubbles: true }));
    expect([model.get("presenting"), root.classList.contains("lmw-presenting")]).toEqual([false, false]);
    root.dispatchEvent(new KeyboardEvent("keydown", { key: "Escape", bubbles: true })); // harmless
    expect(model.saves).toBe(1);
    root.remove();
  });

  it("sets the plots' height to what the screen leaves, never under 160 px", () => {
    const { root, presenter } = setUp();
    presenter.apply(true);
    // jsdom lays nothing out (every size 0): the floor holds
    expect(root.style.getPropertyValue("--lmw-chart-height")).toBe("160");
    root.remove();
  });
});
