// @vitest-environment jsdom
// The number box beside each slider (issue 12, defect 2): read, clamped or refused, and kept in
// step with its slider and the model both ways, committing on change or Enter only.
import { describe, expect, it } from "vitest";
import { Controls, parseBoxValue } from "./controls.js";
import { Disposer } from "./dom.js";
import { makeModel } from "./testing/fake_model.js";

describe("parseBoxValue", () => {
  const clients = { min: 1, max: 64, noun: "clients" };
  const seconds = { min: 1, max: 600, unit: "s" };

  it("reads a whole number in range as it is", () => {
    expect(parseBoxValue("42", clients)).toEqual({ ok: true, value: 42, note: "" });
    expect(parseBoxValue(" 7 ", clients)).toEqual({ ok: true, value: 7, note: "" });
    expect(parseBoxValue("1", clients)).toEqual({ ok: true, value: 1, note: "" });
    expect(parseBoxValue("64", clients)).toEqual({ ok: true, value: 64, note: "" });
    expect(parseBoxValue("120.0", seconds)).toEqual({ ok: true, value: 120, note: "" });
    expect(parseBoxValue("1e2", seconds)).toEqual({ ok: true, value: 100, note: "" });
  });

  it("clamps a number out of range, and says so", () => {
    expect(parseBoxValue("999", clients)).toEqual({ ok: true, value: 64, note: "at most 64 clients" });
    expect(parseBoxValue("0", clients)).toEqual({ ok: true, value: 1, note: "at least 1 client" });
    expect(parseBoxValue("-5", seconds)).toEqual({ ok: true, value: 1, note: "at least 1 s" });
    expect(parseBoxValue("86400", seconds)).toEqual({ ok: true, value: 600, note: "at most 600 s" });
  });

  it("refuses what is not a whole number, with the range to type (never NaN)", () => {
    for (const text of ["", "  ", "abc", "4x", "4.5", "NaN", "Infinity", "1e999", "--3", "0x10"]) {
      const got = parseBoxValue(text, clients);
      expect([text, got]).toEqual([text, { ok: false, error: "Type a whole number from 1 to 64 clients." }]);
    }
    // the browser could not read what was typed (type=number leaves value "" then)
    expect(parseBoxValue("", { ...seconds, badInput: true })).toEqual({ ok: false, error: "Type a whole number from 1 to 600 s." });
    expect(parseBoxValue("12", { ...clients, badInput: true }).ok).toBe(false);
  });
});

function controls(traits = {}) {
  const model = makeModel({
    controls: true, mode: "time", duration: 30, max_duration: 600, clients: 4, max_clients: 64,
    n_requests: 10, sweep_levels: [1, 2, 4], status: "idle", ...traits,
  });
  const c = new Controls(model, new Disposer());
  document.body.replaceChildren(c.element);
  const $ = (sel) => c.element.querySelector(sel);
  const type = (box, text) => {
    box.value = text;
    box.dispatchEvent(new Event("input"));
  };
  const key = (el, k) => el.dispatchEvent(new KeyboardEvent("keydown", { key: k, bubbles: true, cancelable: true }));
  const follow = (changes) => {
    model.update(changes);
    c.update();
  };
  return { model, c, $, type, key, follow };
}

describe("the number box beside each slider", () => {
  it("starts with the model's values and maximum", () => {
    const { $ } = controls({ clients: 8, duration: 45 });
    expect($("input.lmw-clients-box").value).toBe("8");
    expect($("input.lmw-clients-box").max).toBe("64");
    expect($("input.lmw-duration-box").value).toBe("45");
    expect($("input.lmw-duration-box").max).toBe("600");
    expect($("input.lmw-duration-box").getAttribute("aria-label")).toBe("Duration in seconds");
  });

  it("typing 42 and Enter moves the slider and sets the model, once", () => {
    const { model, $, type, key } = controls();
    const box = $("input.lmw-clients-box");
    type(box, "42");
    expect(model.setCalls).toEqual([]); // typing sends nothing
    expect($("input.lmw-clients").value).toBe("4");
    key(box, "Enter");
    expect($("input.lmw-clients").value).toBe("42");
    expect(model.setCalls).toEqual([["clients", 42]]);
    expect(model.saves).toBe(1);
    box.dispatchEvent(new Event("change")); // the change that follows (blur) commits nothing new
    expect(model.setCalls).toEqual([["clients", 42]]);
  });

  it("commits on change too (Tab away), and the duration's label follows", () => {
    const { model, $, type } = controls();
    const box = $("input.lmw-duration-box");
    type(box, "150");
    box.dispatchEvent(new Event("change"));
    expect(model.setCalls).toEqual([["duration", 150]]);
    expect($("input.lmw-duration").value).toBe("150");
    expect($(".lmw-duration-row .lmw-control-value").textContent).toBe("2 min 30 s");
  });

  it("clamps a number out of range: the box, slider and model get the bound, and it says so", () => {
    const { model, $, type, key } = controls();
    const box = $("input.lmw-clients-box");
    type(box, "500");
    key(box, "Enter");
    expect(box.value).toBe("64");
    expect($("input.lmw-clients").value).toBe("64");
    expect(model.setCalls).toEqual([["clients", 64]]);
    const message = $(".lmw-clients-row .lmw-box-message");
    expect(message.hidden).toBe(false);
    expect(message.textContent).toBe("at most 64 clients");
    expect(box.getAttribute("aria-invalid")).toBe(null);
  });

  it("refuses bad input visibly: marked invalid, the reason shown, nothing sent, text kept", () => {
    const { model, $, type, key, follow } = controls();
    const box = $("input.lmw-clients-box");
    type(box, "4.5");
    expect(box.getAttribute("aria-invalid")).toBe("true"); // as it is typed
    key(box, "Enter");
    box.dispatchEvent(new Event("change"));
    expect(model.setCalls).toEqual([]);
    expect(model.saves).toBe(0);
    expect(box.classList.contains("lmw-invalid")).toBe(true);
    const message = $(".lmw-clients-row .lmw-box-message");
    expect([message.hidden, message.getAttribute("role"), message.textContent]).toEqual([false, "alert", "Type a whole number from 1 to 64 clients."]);
    expect($("input.lmw-clients").value).toBe("4");
    // Python changing clients meanwhile moves the slider, not the text being fixed
    follow({ clients: 6 });
    expect($("input.lmw-clients").value).toBe("6");
    expect(box.value).toBe("4.5");
    // fixed: committed, the error gone
    type(box, "12");
    expect(box.getAttribute("aria-invalid")).toBe(null);
    key(box, "Enter");
    expect(model.setCalls).toEqual([["clients", 12]]);
    expect(message.hidden).toBe(true);
  });

  it("Escape puts back the model's value; moving the slider moves the box", () => {
    const { model, $, type, key } = controls();
    const box = $("input.lmw-clients-box");
    type(box, "abc");
    key(box, "Escape");
    expect(box.value).toBe("4");
    expect(box.getAttribute("aria-invalid")).toBe(null);
    expect(model.setCalls).toEqual([]);
    const slider = $("input.lmw-clients");
    slider.value = "20";
    slider.dispatchEvent(new Event("input"));
    expect(box.value).toBe("20"); // follows the drag
    expect(model.setCalls).toEqual([]); // the slider commits on release
    slider.dispatchEvent(new Event("change"));
    expect(model.setCalls).toEqual([["clients", 20]]);
  });

  it("follows the model: values and maxima set from Python", () => {
    const { $, follow } = controls();
    follow({ max_clients: 256, clients: 200, duration: 90 });
    expect($("input.lmw-clients-box").value).toBe("200");
    expect($("input.lmw-clients-box").max).toBe("256");
    expect($("input.lmw-clients").value).toBe("200");
    expect($("input.lmw-duration-box").value).toBe("90");
  });

  it("every control is kept from JupyterLab's shortcuts (arrows, Enter)", () => {
    const { c } = controls();
    const all = [...c.element.querySelectorAll("input, select, button")];
    expect(all.map((el) => el.className)).toContain("lmw-number lmw-clients-box");
    expect(all.every((el) => el.getAttribute("data-lm-suppress-shortcuts") === "true")).toBe(true);
  });
});
