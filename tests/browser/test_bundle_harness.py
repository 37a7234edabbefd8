"""The built dashboard bundle in a real browser (Chromium), with a minimal in-page model.

The page (tests/browser/harness.html) imports llmeter_widget/static/widget.js, the file the
Python side serves as `_esm`, and renders it with an object standing in for the anywidget model.
The test plays the kernel: it sets traits and sends messages with `page.evaluate`.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from llmeter_widget.display import DisplaySpec, format_value

ROOT = Path(__file__).resolve().parents[2]
BUNDLE = ROOT / "llmeter_widget" / "static" / "widget.js"
CSS = ROOT / "llmeter_widget" / "static" / "widget.css"

SPEC = DisplaySpec().to_json()
STATS = {
    "total_requests": 1234,
    "requests_per_minute": 812.4,
    "output_tps": 1532.7,
    "time_to_first_token-p50": 0.0831,
    "time_to_first_token-p90": 0.2105,
    "time_to_first_token-p99": 1.234,
    "time_to_last_token-p50": 1.52,
    "time_to_last_token-p90": 2.31,
    "time_to_last_token-p99": 3.9,
    "total_input_tokens": 24680,
    "total_output_tokens": 59232,
    "time_per_output_token-p50": 0.0125,
    "failed_requests": 3,
    "failed_requests_rate": 0.0024,
    "rate_limit_retries": 2,
}
TRAITS = {
    "title": "sim @ 127.0.0.1:8000",
    "controls": True,
    "mode": "time",
    "duration": 60.0,
    "max_duration": 600.0,
    "clients": 8,
    "max_clients": 64,
    "n_requests": 10,
    "status": "idle",
    "error": "",
    "progress": {},
    "stats": {},
    "spec": SPEC,
    "series_delta": {},
    "result_path": "",
    "sweep_levels": [1, 2, 4, 8, 16],
    "comparison": {"levels": [], "knee": None, "verdict": ""},
    "overlays": [],
    "table_scope": "run",
    "window_stats": {},
}


def bucket(t: int) -> dict:
    """One second of a run, shaped like the runner's series buckets (latencies in seconds)."""
    warm = t >= 2
    return {
        "t": t,
        "completed": 10 + t % 4 if warm else 0,
        "failed": 1 if t % 17 == 5 else 0,
        "output_tokens": 480 + 13 * (t % 7) if warm else 0,
        "requests_per_minute": (10 + t % 3) * 60.0 if warm else 0.0,
        "output_tps": 480.0 + 13 * (t % 7) if warm else 0.0,
        "ttft_p50": 0.08 + 0.002 * (t % 5) if warm else None,
        "ttft_p90": 0.2 + 0.004 * (t % 6) if warm else None,
        "ttlt_p50": 1.5 + 0.01 * (t % 9) if warm else None,
        "ttlt_p90": 2.3 + 0.02 * (t % 8) if warm else None,
        "active_clients": 8,
        "in_flight": 6 + t % 3,
    }


@pytest.fixture(scope="module", autouse=True)
def built_bundle():
    if not BUNDLE.exists() or not CSS.exists():
        pytest.fail(
            f"The dashboard bundle is missing ({BUNDLE.relative_to(ROOT)}, widget.css): "
            "run `npm ci && npm run build` in the project folder first."
        )


@pytest.fixture
def page(chromium, static_server):
    """A fresh page on the harness; fails the test on any page error or console error."""
    context = chromium.new_context(viewport={"width": 1400, "height": 1000})
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(f"pageerror: {exc}"))
    page.on("console", lambda msg: errors.append(msg.text) if msg.type == "error" else None)
    page.goto(f"{static_server}/tests/browser/harness.html")
    page.wait_for_function("window.harnessReady === true")
    yield page
    context.close()
    assert errors == [], errors


def mount(page, **traits) -> None:
    page.evaluate("traits => window.harness.mount(traits)", {**TRAITS, **traits})


def kernel_sets(page, **traits) -> None:
    """What Python does: change traits (one message) and notify the view."""
    page.evaluate("changes => window.harness.model.update(changes)", traits)


def cell_texts(page) -> dict[str, str]:
    return page.evaluate(
        """() => Object.fromEntries([...document.querySelectorAll("td.lmw-value")]
              .map(td => [td.dataset.key, td.textContent]))"""
    )


def points_per_trace(page, chart: str) -> list[int]:
    return page.evaluate(
        "id => (document.querySelector(`[data-chart=${id}]`).data || []).map(t => t.x.length)", chart
    )


def stream_run(page, seconds: int, ticks: int = 4, run: int = 1) -> None:
    """A run of `seconds` one-second buckets, pushed as series deltas over `ticks` ticks."""
    kernel_sets(page, series_delta={"run": run, "seq": 0, "points": []})
    per = max(1, seconds // ticks)
    seq, t = 0, 0
    while t < seconds:
        seq += 1
        points = [bucket(s) for s in range(t, min(seconds, t + per))]
        t += len(points)
        kernel_sets(page, series_delta={"run": run, "seq": seq, "points": points})


def test_table_placeholders_then_formatted_numbers_and_chart_points(page):
    mount(page)
    # The spec's groups, in order, each header spanning its stats.
    groups = page.eval_on_selector_all(
        "th.lmw-group-name", "ths => ths.map(th => [th.textContent, th.colSpan])"
    )
    assert groups == [[g["name"], len(g["stats"])] for g in SPEC["groups"]]
    texts = cell_texts(page)
    assert set(texts) == {s["key"] for g in SPEC["groups"] for s in g["stats"]}
    assert set(texts.values()) == {"—"}
    assert points_per_trace(page, "throughput") == [0, 0]
    assert page.evaluate("window.harness.model.sent") == [{"type": "history"}]

    kernel_sets(page, stats=STATS, status="running",
                progress={"elapsed": 12.5, "duration": 60, "completed": 1234, "failed": 3,
                          "in_flight": 7, "active_clients": 8, "sent": 1244})
    stream_run(page, seconds=10)

    # The same text as the Python formatter (the terminal table) for every stat.
    expected = {s["key"]: format_value(STATS[s["key"]], s["unit"], s["invert"])
                for g in SPEC["groups"] for s in g["stats"]}
    assert cell_texts(page) == expected
    assert cell_texts(page)["time_to_first_token-p50"] == "83 ms"
    assert page.text_content(".lmw-time") == "12.5 s / 60 s"
    assert page.text_content('.lmw-count[data-key="completed"] .lmw-count-value') == "1,234"

    assert points_per_trace(page, "throughput") == [10, 10]
    assert points_per_trace(page, "latency") == [10, 10, 10, 10]
    assert points_per_trace(page, "load") == [10, 10, 10]
    # requests/min = the bucket's windowed rate; latencies in ms; no data = a gap (null)
    throughput = page.evaluate("document.querySelector('[data-chart=throughput]').data[0].y")
    assert throughput == [bucket(t)["requests_per_minute"] for t in range(10)]
    ttft = page.evaluate("document.querySelector('[data-chart=latency]').data[0].y")
    assert ttft[:2] == [None, None]
    assert ttft[2] == pytest.approx(bucket(2)["ttft_p50"] * 1000)

    # Plotly drew the chart at its container's width (responsive layout).
    widths = page.evaluate(
        """() => [...document.querySelectorAll('.lmw-plot')].map(d =>
              [d.clientWidth, Number(d.querySelector('svg.main-svg').getAttribute('width'))])"""
    )
    for container, svg in widths:
        assert abs(container - svg) <= 2, widths


def test_history_reply_replaces_the_series_and_a_gap_asks_again(page):
    mount(page)
    history = {"type": "history", "run": 4, "seq": 7, "points": [bucket(t) for t in range(30)]}
    page.evaluate("msg => window.harness.model.emit('msg:custom', msg)", history)
    assert points_per_trace(page, "load") == [30, 30, 30]
    kernel_sets(page, series_delta={"run": 4, "seq": 8, "points": [bucket(30)]})
    assert points_per_trace(page, "load") == [31, 31, 31]
    # A gap: the view asks for the history instead of drawing a wrong line.
    page.evaluate("window.harness.model.sent.length = 0")
    kernel_sets(page, series_delta={"run": 4, "seq": 10, "points": [bucket(33)]})
    assert page.evaluate("window.harness.model.sent") == [{"type": "history"}]
    assert points_per_trace(page, "load") == [31, 31, 31]
    # A new run clears the charts.
    kernel_sets(page, series_delta={"run": 5, "seq": 0, "points": []})
    assert points_per_trace(page, "load") == [0, 0, 0]


def test_clients_slider_sets_the_trait_on_release(page):
    mount(page)
    slider = "input.lmw-clients"
    assert page.get_attribute(slider, "max") == "64"
    assert page.input_value(slider) == "8"
    page.eval_on_selector(slider, "s => { s.value = '20'; s.dispatchEvent(new Event('input')); }")
    assert page.input_value("input.lmw-clients-box") == "20"  # the number box follows
    assert page.evaluate("window.harness.model.saves") == 0  # a drag sends nothing
    page.eval_on_selector(slider, "s => s.dispatchEvent(new Event('change'))")
    assert page.evaluate("window.harness.model.get('clients')") == 20
    assert page.evaluate("window.harness.model.saves") == 1

    # A real drag with the mouse to the far right: one change, clients = max.
    box = page.locator(slider).bounding_box()
    page.mouse.move(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
    page.mouse.down()
    page.mouse.move(box["x"] + box["width"] + 40, box["y"] + box["height"] / 2, steps=8)
    page.mouse.up()
    assert page.evaluate("window.harness.model.get('clients')") == 64
    assert page.evaluate("window.harness.model.saves") == 2

    # Python sets clients from code: the slider and its label follow.
    kernel_sets(page, clients=5)
    assert page.input_value(slider) == "5"
    assert page.input_value("input.lmw-clients-box") == "5"


# -- keyboard and focus (issue 12, defect 2) ------------------------------------------------------

# JupyterLab 4's own values of the variables the widget's CSS reads (theme-light-extension and
# theme-dark-extension), and none at all (another front-end: the CSS fallbacks).
THEMES = {
    "fallbacks": {},
    "jupyterlab-light": {
        "--jp-layout-color0": "#ffffff", "--jp-layout-color1": "#ffffff",
        "--jp-layout-color2": "#eeeeee", "--jp-ui-font-color1": "rgba(0, 0, 0, 0.87)",
        "--jp-ui-font-color2": "rgba(0, 0, 0, 0.54)", "--jp-border-color2": "#e0e0e0",
        "--jp-brand-color1": "#1976d2"},
    "jupyterlab-dark": {
        "--jp-layout-color0": "#111111", "--jp-layout-color1": "#212121",
        "--jp-layout-color2": "#424242", "--jp-ui-font-color1": "rgba(255, 255, 255, 0.87)",
        "--jp-ui-font-color2": "rgba(255, 255, 255, 0.54)", "--jp-border-color2": "#424242",
        "--jp-brand-color1": "#2196f3"},
}

# The focused element's ring: its style, width and colour, whether :focus-visible matches, and
# the colour behind the ring (the backgrounds from there up, composited), so the test can
# compute the ring's contrast as WCAG 1.4.11 does.
FOCUS_STATE = """() => {
  const el = document.activeElement;
  if (!el || !el.closest('.lmw')) return null;
  const parse = (c) => { const m = c.match(/rgba?\\(([^)]+)\\)/);
    if (!m) return [0, 0, 0, 0];
    const p = m[1].split(/[\\s,/]+/).filter(Boolean).map(Number);
    return [p[0], p[1], p[2], p.length > 3 ? p[3] : 1]; };
  const cs = getComputedStyle(el);
  // the ring is drawn outside the box (offset >= 0: over the parent) or inside it
  let node = parseFloat(cs.outlineOffset) < 0 ? el : el.parentElement;
  const layers = [];
  for (; node; node = node.parentElement) {
    const bg = parse(getComputedStyle(node).backgroundColor);
    if (bg[3] > 0) layers.push(bg);
    if (bg[3] >= 1) break;
  }
  let behind = [255, 255, 255];
  for (const [r, g, b, a] of layers.reverse()) {
    behind = [r * a + behind[0] * (1 - a), g * a + behind[1] * (1 - a), b * a + behind[2] * (1 - a)];
  }
  return {cls: el.className, tag: el.tagName, style: cs.outlineStyle,
          width: parseFloat(cs.outlineWidth), color: parse(cs.outlineColor),
          opacity: Number(cs.opacity), behind, visible: el.matches(':focus-visible')};
}"""

# The controls a person can reach, in the page's order (what Tab must visit).
REACHABLE = """() => [...document.querySelectorAll('.lmw input, .lmw select, .lmw button, .lmw [tabindex]')]
  .filter(el => !el.disabled && el.tabIndex >= 0 && el.checkVisibility())
  .map(el => el.className)"""


def contrast(a, b) -> float:
    """WCAG contrast ratio of two sRGB colours (0..255 each)."""
    def lum(c):
        lin = [(v / 255) / 12.92 if v / 255 <= 0.03928 else ((v / 255 + 0.055) / 1.055) ** 2.4
               for v in c[:3]]
        return 0.2126 * lin[0] + 0.7152 * lin[1] + 0.0722 * lin[2]
    hi, lo = sorted((lum(a), lum(b)), reverse=True)
    return (hi + 0.05) / (lo + 0.05)


def set_theme(page, name: str) -> None:
    page.evaluate("""vars => { const s = document.getElementById("theme").style;
        for (const [k, v] of Object.entries(vars)) s.setProperty(k, v); }""", THEMES[name])


def tab_through(page) -> list[dict]:
    """Press Tab from the top of the page until focus leaves the dashboard; each stop's state."""
    page.evaluate("() => document.activeElement && document.activeElement.blur()")
    stops = []
    for _ in range(80):
        page.keyboard.press("Tab")
        state = page.evaluate(FOCUS_STATE)
        if state is None:
            break
        stops.append(state)
    return stops


@pytest.mark.parametrize("theme", list(THEMES))
def test_tab_reaches_every_control_in_order_with_a_visible_focus_ring(page, theme, tmp_path):
    set_theme(page, theme)
    mount(page, stats=STATS, duration=45.0)
    sliders = ["lmw-slider lmw-duration", "lmw-number lmw-duration-box",
               "lmw-slider lmw-clients", "lmw-number lmw-clients-box"]
    for status, first in (("idle", ["lmw-mode", *sliders, "lmw-button lmw-run"]),
                          # running: the mode is fixed and Run is off; the sliders and Stop work
                          ("running", [*sliders, "lmw-button lmw-stop"])):
        kernel_sets(page, status=status)
        reachable = page.evaluate(REACHABLE)
        # the controls, one after the other in the order a person reads them (a header button
        # may come first), then the table's editor (and the rest)
        assert first[0] in reachable, reachable
        at = reachable.index(first[0])
        assert reachable[at:at + len(first)] == first, reachable
        assert "lmw-stat-remove" in reachable and "lmw-stat-add" in reachable
        stops = tab_through(page)
        assert [s["cls"] for s in stops] == reachable, (status, theme)
        for stop in stops:
            what = (theme, status, stop["cls"])
            assert stop["visible"], what  # :focus-visible matched (a keyboard focus)
            assert stop["style"] not in ("none", "hidden") and stop["width"] >= 2, (what, stop)
            assert stop["opacity"] == 1, what  # the ring is not faded with its control
            ratio = contrast(stop["color"], stop["behind"])
            assert stop["color"][3] == 1 and ratio >= 3, (what, stop["color"], stop["behind"], ratio)
    # look at it: the clients box focused
    page.focus("input.lmw-clients-box")
    save_screenshot(page, f"harness-focus-{theme}.png", tmp_path)


def test_typing_in_the_clients_box_moves_the_slider_and_the_model(page):
    mount(page)
    box, slider = "input.lmw-clients-box", "input.lmw-clients"
    assert page.input_value(box) == "8" and page.get_attribute(box, "max") == "64"
    page.focus(slider)
    page.keyboard.press("Tab")  # from the slider to its box
    assert page.evaluate("document.activeElement.classList.contains('lmw-clients-box')")
    page.keyboard.press("Control+A")
    page.keyboard.type("42")
    assert page.evaluate("window.harness.model.setCalls") == []  # typing sends nothing
    page.keyboard.press("Enter")
    assert page.input_value(slider) == "42"
    assert page.evaluate("window.harness.model.get('clients')") == 42
    assert page.evaluate("window.harness.model.setCalls") == [["clients", 42]]
    assert page.evaluate("window.harness.model.saves") == 1
    # out of range: clamped, and said
    page.keyboard.press("Control+A")
    page.keyboard.type("500")
    page.keyboard.press("Enter")
    assert page.input_value(slider) == "64" and page.input_value(box) == "64"
    assert page.evaluate("window.harness.model.get('clients')") == 64
    assert page.text_content(".lmw-clients-row .lmw-box-message") == "at most 64 clients"
    # not a number: refused where it was typed, nothing sent
    page.keyboard.press("Control+A")
    page.keyboard.type("4e")
    page.keyboard.press("Enter")
    assert page.get_attribute(box, "aria-invalid") == "true"
    assert page.is_visible(".lmw-clients-row .lmw-box-message")
    assert page.text_content(".lmw-clients-row .lmw-box-message") == (
        "Type a whole number from 1 to 64 clients.")
    assert page.evaluate("window.harness.model.setCalls") == [["clients", 42], ["clients", 64]]
    border = page.eval_on_selector(box, "b => getComputedStyle(b).borderTopColor")
    assert border == page.eval_on_selector(".lmw", "r => getComputedStyle(r).getPropertyValue('--lmw-bad').trim()") \
        or border == "rgb(198, 40, 40)"  # the error colour
    page.keyboard.press("Escape")  # back to the model's value
    assert page.input_value(box) == "64" and page.get_attribute(box, "aria-invalid") is None
    # the duration box, by Tab from the clients' side: 90 s
    page.fill("input.lmw-duration-box", "90")
    page.press("input.lmw-duration-box", "Enter")
    assert page.evaluate("window.harness.model.get('duration')") == 90
    assert page.input_value("input.lmw-duration") == "90"
    assert page.text_content(".lmw-duration-row .lmw-control-value") == "90 s"


def test_run_and_stop_follow_the_status(page):
    mount(page)
    run, stop = page.locator("button.lmw-run"), page.locator("button.lmw-stop")
    assert run.is_enabled() and stop.is_disabled()
    run.click()
    assert page.evaluate("window.harness.model.sent").count({"type": "run"}) == 1
    kernel_sets(page, status="running")
    assert run.is_disabled() and stop.is_enabled()
    assert page.text_content(".lmw-badge") == "Running"
    stop.click()
    assert {"type": "stop"} in page.evaluate("window.harness.model.sent")
    kernel_sets(page, status="stopping")
    assert run.is_disabled() and stop.is_enabled()
    kernel_sets(page, status="done", result_path="runs/20250101-120000")
    assert run.is_enabled() and stop.is_disabled()
    assert page.text_content(".lmw-saved") == "Saved to runs/20250101-120000"
    kernel_sets(page, status="error", error="ClientConnectorError: Cannot connect to host")
    assert page.is_visible(".lmw-error")
    assert page.text_content(".lmw-error") == "ClientConnectorError: Cannot connect to host"


def test_after_stop_the_header_says_stopped_and_how_far_it_got(page):
    """Issue 12, defect 4: the badge said DONE for a stopped run, the bar was full at
    "20.0 s / 30 s", and while requests drained the label read "5.5 s / 4 s"."""
    mount(page, duration=4.0)
    width = "() => parseFloat(document.querySelector('.lmw-bar-fill').style.width)"
    kernel_sets(page, status="running",
                progress={"elapsed": 5.5, "duration": 4, "completed": 30, "failed": 0,
                          "in_flight": 3, "active_clients": 0, "sent": 33})
    assert page.text_content(".lmw-time") == "4 s / 4 s · finishing 3 requests"
    assert page.evaluate(width) == 100
    kernel_sets(page, status="done", progress={"elapsed": 5.9, "duration": 4, "in_flight": 0})
    assert page.text_content(".lmw-badge") == "Done"
    assert page.text_content(".lmw-time") == "4 s / 4 s"

    # a 30 s run stopped at 20 s
    kernel_sets(page, status="running", series_delta={"run": 2, "seq": 0, "points": []},
                progress={"elapsed": 20.0, "duration": 30, "completed": 80, "failed": 0,
                          "in_flight": 4, "active_clients": 4, "sent": 84})
    kernel_sets(page, status="stopping")
    assert page.text_content(".lmw-badge") == "Stopping"
    kernel_sets(page, status="stopped", progress={"elapsed": 20.04, "duration": 30,
                                                  "completed": 80, "in_flight": 0})
    badge = page.locator(".lmw-badge")
    assert badge.text_content() == "Stopped"
    assert page.evaluate("getComputedStyle(document.querySelector('.lmw-badge')).textTransform") \
        == "uppercase"  # read as STOPPED
    assert page.evaluate(width) == pytest.approx(66.8, abs=0.05)
    assert page.text_content(".lmw-time") == "20.0 s / 30 s"
    for status, text in (("interrupted", "Interrupted"), ("error", "Failed")):
        kernel_sets(page, status=status)
        assert badge.text_content() == text
        assert page.evaluate(width) == pytest.approx(66.8, abs=0.05)


def test_the_table_scope_toggle_shows_the_last_seconds(page, tmp_path):
    """Issue 12, defect 5: the table showed the whole run's TTFT p50 (144 ms) beside the chart's
    last 10 s (~680 ms) without saying so. It says its scope, and a toggle shows the window."""
    mount(page, stats={**STATS, "time_to_first_token-p50": 0.144}, table_scope="run",
          window_stats={})
    ttft = 'td[data-key="time_to_first_token-p50"]'
    caption = ".lmw-scope-caption"
    pressed = "() => [...document.querySelectorAll('.lmw-scope-button')].map(b => [b.textContent, b.getAttribute('aria-pressed')])"
    assert page.text_content(ttft) == "144 ms"
    assert page.is_visible(caption) and page.text_content(caption) == "Figures over the whole run"
    assert page.evaluate(pressed) == [["whole run", "true"], ["last 10 s", "false"]]

    page.click("text=last 10 s")
    assert page.evaluate("window.harness.model.setCalls") == [["table_scope", "window"]]
    assert page.evaluate("window.harness.model.saves") == 1
    assert page.evaluate(pressed) == [["whole run", "false"], ["last 10 s", "true"]]
    # the kernel answers with the window's figures (the keys the table shows)
    kernel_sets(page, window_stats={"seconds": 10, "covered": 10, "stats": {
        "time_to_first_token-p50": 0.68, "total_requests": 210, "requests_per_minute": 1260.0}})
    assert page.text_content(ttft) == "680 ms"
    assert page.text_content('td[data-key="total_requests"]') == "210"
    assert page.text_content(caption) == "Figures over the last 10 s"
    assert page.text_content('td[data-key="rate_limit_retries"]') == "—"  # not in the window
    save_screenshot(page, "harness-table-window.png", tmp_path)
    # a whole-run tick does not change what the window shows
    kernel_sets(page, stats={**STATS, "time_to_first_token-p50": 0.150})
    assert page.text_content(ttft) == "680 ms"
    # back to the whole run, by keyboard
    page.focus('.lmw-scope-button[data-scope="run"]')
    page.keyboard.press("Enter")
    assert page.text_content(ttft) == "150 ms"
    assert page.text_content(caption) == "Figures over the whole run"
    assert page.evaluate("window.harness.model.get('table_scope')") == "run"


def test_controls_hidden_when_read_only(page):
    mount(page, controls=False)
    assert page.is_hidden(".lmw-controls")
    assert page.is_hidden("button.lmw-run")
    assert page.is_visible("table.lmw-group")


def test_dark_theme_variables_are_applied(page, tmp_path):
    page.evaluate(
        """() => {
          const s = document.getElementById("theme").style;
          s.setProperty("--jp-layout-color0", "#0b0b0b");
          s.setProperty("--jp-layout-color1", "#111111");
          s.setProperty("--jp-layout-color2", "#2a2a2a");
          s.setProperty("--jp-ui-font-color1", "#eeeeee");
          s.setProperty("--jp-ui-font-color2", "#bbbbbb");
          s.setProperty("--jp-border-color2", "#444444");
        }"""
    )
    mount(page)
    stream_run(page, seconds=5)
    style = page.eval_on_selector(
        ".lmw", "el => { const c = getComputedStyle(el); return [c.backgroundColor, c.color]; }"
    )
    assert style == ["rgb(17, 17, 17)", "rgb(238, 238, 238)"]
    layout = page.evaluate(
        "(() => { const l = document.querySelector('[data-chart=latency]').layout;"
        " return [l.paper_bgcolor, l.font.color, l.xaxis.gridcolor]; })()"
    )
    assert layout == ["rgb(17, 17, 17)", "rgb(238, 238, 238)", "rgb(68, 68, 68)"]
    save_screenshot(page, "harness-dark.png", tmp_path)


def test_cleanup_purges_the_charts_and_removes_listeners(page):
    mount(page)
    stream_run(page, seconds=3)
    assert page.evaluate("window.harness.model.listenerCount()") > 0
    purged = page.evaluate(
        """() => {
          const plots = [...document.querySelectorAll('.lmw-plot')];
          const before = plots.map(p => Boolean(p._fullLayout));
          window.harness.cleanup();
          return [before, plots.map(p => Boolean(p._fullLayout) || p.data !== undefined)];
        }"""
    )
    assert purged == [[True] * 3, [False] * 3]  # Plotly.purge ran on every chart
    assert page.evaluate("window.harness.model.listenerCount()") == 0
    assert page.evaluate("document.querySelectorAll('.lmw').length") == 0
    # The view is gone: a trait change or a message reaches nothing (and throws nothing).
    kernel_sets(page, status="running", stats=STATS)
    page.evaluate("window.harness.model.emit('msg:custom', {type: 'history', run: 1, seq: 1, points: []})")


def test_screenshot_of_a_running_dashboard(page, tmp_path):
    mount(page)
    kernel_sets(page, stats=STATS, status="running",
                progress={"elapsed": 42.3, "duration": 60, "completed": 1234, "failed": 3,
                          "in_flight": 7, "active_clients": 8, "sent": 1244})
    stream_run(page, seconds=42, ticks=6)
    assert points_per_trace(page, "throughput") == [42, 42]
    path = save_screenshot(page, "harness.png", tmp_path)
    assert path.stat().st_size > 10_000


def test_sweep_chart_and_levels_input(page, tmp_path):
    mount(page)
    assert page.is_hidden(".lmw-sweep") and page.is_hidden("input.lmw-levels")
    kernel_sets(page, mode="sweep")
    assert page.is_visible(".lmw-sweep") and page.is_visible("input.lmw-levels")
    assert page.is_hidden("input.lmw-clients")
    assert page.input_value("input.lmw-levels") == "1, 2, 4, 8, 16"
    levels = [
        {"clients": c, "output_tps": tps, "requests_per_minute": tps * 2, "ttft_p50": ttft / 2,
         "ttft_p90": ttft, "ttlt_p90": ttft * 8, "failed_requests_rate": 0.0}
        for c, tps, ttft in [(1, 120.0, 0.05), (2, 230.0, 0.06), (4, 250.0, 0.4)]
    ]
    kernel_sets(page, comparison={"levels": levels, "knee": 2,
                                  "verdict": "Saturates at 2 clients: beyond it ..."})
    traces = page.evaluate(
        """() => document.querySelector('[data-chart=sweep]').data
              .map(t => ({name: t.name, x: t.x, y: t.y, text: t.text || null}))"""
    )
    assert traces[0]["x"] == [120.0, 230.0, 250.0] and traces[0]["text"] == ["1", "2", "4"]
    assert traces[0]["y"] == pytest.approx([50.0, 60.0, 400.0])
    assert traces[1]["name"] == "knee (2 clients)" and traces[1]["x"] == [230.0]
    # Plotly drew the three points (and the knee marker) as SVG
    assert page.evaluate("document.querySelectorAll('[data-chart=sweep] .scatterlayer .point').length") == 4
    assert page.text_content(".lmw-verdict") == "Saturates at 2 clients: beyond it ..."
    save_screenshot(page, "harness-sweep.png", tmp_path)

    # Typing an invalid list marks the input and sends nothing.
    page.fill("input.lmw-levels", "1, 2, x")
    page.press("input.lmw-levels", "Tab")  # commit (change event)
    assert page.get_attribute("input.lmw-levels", "aria-invalid") == "true"
    assert page.is_visible(".lmw-levels-error")
    assert page.evaluate("window.harness.model.setCalls") == []
    assert page.evaluate("window.harness.model.saves") == 0
    page.fill("input.lmw-levels", "2, 4 ,8")
    page.press("input.lmw-levels", "Tab")
    assert page.evaluate("window.harness.model.setCalls") == [["sweep_levels", [2, 4, 8]]]
    assert page.get_attribute("input.lmw-levels", "aria-invalid") is None


def test_overlay_of_a_saved_run_in_the_table_and_charts(page, tmp_path):
    mount(page)
    kernel_sets(page, stats=STATS, status="running")
    stream_run(page, seconds=10)
    saved_stats = {**STATS, "time_to_first_token-p50": 0.183}
    overlay = {"label": "before", "kind": "run", "stats": saved_stats,
               "series": [bucket(t) for t in range(20)], "levels": []}
    kernel_sets(page, overlays=[overlay])
    lines = page.eval_on_selector_all(
        'td[data-key="time_to_first_token-p50"] .lmw-overlay-line', "ls => ls.map(l => l.textContent)")
    assert lines == ["before 183 ms"]
    assert page.text_content('td[data-key="time_to_first_token-p50"] .lmw-num') == "83"
    assert page.is_visible('td[data-key="time_to_first_token-p50"] .lmw-overlay-line')
    traces = page.evaluate(
        """() => document.querySelector('[data-chart=throughput]').data
              .map(t => ({name: t.name, n: t.x.length, dash: (t.line || {}).dash || null}))"""
    )
    assert [t["name"] for t in traces] == ["Requests/min", "Output tokens/s",
                                          "before · Requests/min", "before · Output tokens/s",
                                          "before"]  # its legend entry (no points)
    assert [t["n"] for t in traces] == [10, 10, 20, 20, 1]
    assert traces[2]["dash"] == "dash" and traces[3]["dash"] == "dash"
    # Live points still stream into the live traces only (extendTraces indices unchanged).
    kernel_sets(page, series_delta={"run": 1, "seq": 6, "points": [bucket(10)]})
    assert points_per_trace(page, "throughput") == [11, 11, 20, 20, 1]
    assert points_per_trace(page, "load") == [11, 11, 11, 20, 20, 20, 1]
    save_screenshot(page, "harness-overlay.png", tmp_path)
    kernel_sets(page, overlays=[])
    assert points_per_trace(page, "throughput") == [11, 11]
    assert page.evaluate("document.querySelectorAll('.lmw-overlay-line').length") == 0


def saved_run(label: str, seconds: int = 20, scale: float = 1.0) -> dict:
    """An `overlays` entry of a saved run (its stats and series scaled, to tell it apart)."""
    series = [{k: (v * scale if isinstance(v, float) and k != "t" else v) for k, v in bucket(t).items()}
              for t in range(seconds)]
    stats = {k: v * scale for k, v in STATS.items()}
    return {"label": label, "kind": "run", "stats": stats, "series": series, "levels": []}


# Each chart's plot area (the axes' box, without margins and legend), its legend and its x axis
# title, as the page lays them out.
CHART_BOXES = """() => [...document.querySelectorAll('.lmw-plot')].map(div => {
  const box = (el) => { if (!el) return null; const r = el.getBoundingClientRect();
                        return {top: r.top, bottom: r.bottom, left: r.left, right: r.right, height: r.height}; };
  return {chart: div.dataset.chart, plotHeight: div._fullLayout._size.h,
          drag: box(div.querySelector('.nsewdrag')), legend: box(div.querySelector('.legend')),
          xtitle: box(div.querySelector('.g-xtitle')),
          entries: [...div.querySelectorAll('.legend .traces .legendtext')].map(t => t.textContent)};
})"""


@pytest.mark.parametrize("n", [6, 12])
def test_many_overlays_keep_the_plot_areas_tall_and_the_legend_clear(page, n, tmp_path):
    """Issue 12, defect 6: 6-12 saved runs' legend entries squeezed the plots to ~100 px."""
    mount(page, stats=STATS)
    stream_run(page, seconds=10)
    labels = [f"run-2025-01-{d:02d}" for d in range(1, n + 1)]
    kernel_sets(page, overlays=[saved_run(label, scale=1 + 0.1 * k) for k, label in enumerate(labels)])
    for chart in page.evaluate(CHART_BOXES):
        what = (n, chart["chart"])
        assert chart["plotHeight"] >= 200, (what, chart)
        assert chart["drag"]["height"] >= 200, (what, chart)
        # the legend does not cover the plot area nor the x axis' title
        assert chart["legend"]["top"] >= chart["xtitle"]["bottom"] - 1, (what, chart)
        assert chart["legend"]["top"] >= chart["drag"]["bottom"], (what, chart)
        # the saved runs named once each (not once per trace), the rest counted
        entries = chart["entries"]
        assert len(entries) <= 10, (what, entries)
        assert any(e.startswith(f"+{n - 4} more") for e in entries), (what, entries)
    save_screenshot(page, f"harness-overlays-{n}.png", tmp_path)


def test_a_saved_runs_requests_and_tokens_per_second_are_drawn_apart(page):
    """Issue 12, defect 6: a saved run's req/min and tok/s lines (proportional, each axis scaled
    to its own maximum) lay one on top of the other."""
    mount(page)
    stream_run(page, seconds=10)
    kernel_sets(page, overlays=[saved_run("before", scale=1.3), saved_run("after", scale=0.8)])
    apart = page.evaluate("""() => {
      const div = document.querySelector('[data-chart=throughput]');
      const y = div._fullLayout.yaxis, y2 = div._fullLayout.yaxis2;
      const byName = Object.fromEntries(div.data.map(t => [t.name, t]));
      return ['before', 'after'].map(label => {
        const rpm = byName[label + ' · Requests/min'], tps = byName[label + ' · Output tokens/s'];
        // pixels between the two lines at each second where both have a value
        const gaps = rpm.y.map((v, i) => (v === null || tps.y[i] === null) ? null
                                : Math.abs(y.l2p(v) - y2.l2p(tps.y[i]))).filter(g => g !== null);
        gaps.sort((a, b) => a - b);
        return {label, median: gaps[Math.floor(gaps.length / 2)], axes: [rpm.yaxis || 'y', tps.yaxis],
                dashes: [rpm.line.dash, tps.line.dash], plot: div._fullLayout._size.h};
      });
    }""")
    for run in apart:
        assert run["axes"] == ["y", "y2"], run
        # an eighth of the plot's height between them at least (tokens/s keeps to the lower
        # half), where they were a few pixels apart
        assert run["median"] >= run["plot"] / 8, run


def test_overlay_lines_sit_under_their_values_in_every_group(page, tmp_path):
    """Issue 12, defect 6: in the Errors group (wide cells) the saved runs' lines sat left of
    the values; every line must be centred under its value and show it whole."""
    mount(page, stats=STATS)
    kernel_sets(page, overlays=[saved_run("before"), saved_run("a-much-longer-label-2025-01-01")])
    boxes = page.evaluate("""() => [...document.querySelectorAll('td.lmw-value')].map(td => {
      const union = (els) => { const rs = els.map(e => e.getBoundingClientRect()).filter(r => r.width > 0);
        return {left: Math.min(...rs.map(r => r.left)), right: Math.max(...rs.map(r => r.right))}; };
      const cell = td.getBoundingClientRect();
      const value = union([td.querySelector('.lmw-num'), td.querySelector('.lmw-unit')]);
      return {key: td.dataset.key, group: td.closest('table').dataset.group,
              cell: [cell.left, cell.right], value,
              lines: [...td.querySelectorAll('.lmw-overlay-line')].map(l => {
                const v = l.querySelector('.lmw-overlay-value').getBoundingClientRect();
                const s = l.getBoundingClientRect();
                return {text: l.textContent,
                        box: union([l.querySelector('.lmw-overlay-label'), l.querySelector('.lmw-overlay-value')]),
                        value: {left: v.left, right: v.right, width: v.width},
                        shown: {left: s.left, right: s.right}}; })};
    })""")
    assert {b["group"] for b in boxes} >= {"Errors", "TTFT", "Throughput"}
    for cell in boxes:
        centre = (cell["value"]["left"] + cell["value"]["right"]) / 2
        assert len(cell["lines"]) == 2, cell
        for line in cell["lines"]:
            what = (cell["group"], cell["key"], line["text"])
            box = line["box"]
            left, right = max(box["left"], line["shown"]["left"]), min(box["right"], line["shown"]["right"])
            assert abs((left + right) / 2 - centre) <= 3, (what, left, right, centre)
            # the value itself is whole and inside the cell (a long label is what gets cut)
            value = line["value"]
            assert value["width"] > 0 and cell["cell"][0] <= value["left"] and value["right"] <= cell["cell"][1], what
    save_screenshot(page, "harness-overlay-table.png", tmp_path)


def save_screenshot(page, name: str, folder: Path) -> Path:
    """Screenshot of the dashboard into `folder`, or into $LLMETER_SCREENSHOTS to look at it."""
    target = Path(os.environ.get("LLMETER_SCREENSHOTS") or folder)
    target.mkdir(parents=True, exist_ok=True)
    path = target / name
    page.locator("#theme").screenshot(path=str(path))
    return path


def test_published_cost_in_the_table_and_in_its_own_charts(page):
    from llmeter_widget import CostModel

    spec = DisplaySpec.from_live_stats(None, callbacks=[CostModel(0.15, 0.6)]).to_json(available=[])
    mount(page, spec=spec)
    kernel_sets(page, series_delta={"run": 1, "seq": 0, "points": []})
    points = [{**bucket(t), "published": {"cost-total": 0.0004 * t, "cost-per_request": 0.0000412}}
              for t in range(12)]
    kernel_sets(page, series_delta={"run": 1, "seq": 1, "points": points[:8]})
    kernel_sets(page, series_delta={"run": 1, "seq": 2, "points": points[8:]})  # appended
    kernel_sets(page, stats={**STATS, "cost-total": 0.0044, "cost-per_request": 0.0000412})
    cells = cell_texts(page)
    assert cells["cost-total"] == format_value(0.0044, "$") == "$0.00440"
    assert cells["cost-per_request"] == "$0.0000412"
    charts = page.evaluate("""() => [...document.querySelectorAll('.lmw-published')].map(s => [
        s.dataset.key, s.querySelector('.lmw-chart-title').textContent,
        s.querySelector('.lmw-plot').data[0].x.length])""")
    assert charts == [["cost-total", "Cost so far", 12], ["cost-per_request", "Cost per request", 12]]
    shot = os.environ.get("LLMETER_HARNESS_SHOT")
    if shot:
        page.locator("div.lmw").first.screenshot(path=shot)
    # a new run without published stats has no such charts
    kernel_sets(page, series_delta={"run": 2, "seq": 0, "points": []})
    assert page.locator(".lmw-published").count() == 0


def count_run_with_failures(clients: int, n_requests: int):
    """A real count-bound Dashboard run against the simulator, half of whose requests get a 500:
    its result and every `progress` it set, each with the stats' finished count at that tick.

    In a thread of its own (its own event loop): Playwright's sync API holds this one."""
    import asyncio
    from concurrent.futures import ThreadPoolExecutor

    from llmeter_widget import Dashboard, Runner
    from llmeter_widget.endpoints import OpenAIChatEndpoint
    from llmeter_widget.simulator import SimulatedServer

    async def run():
        async with SimulatedServer(mode="fixed", ttft=0.05, itl=0.01, error_500_rate=0.5,
                                   seed=11) as server:
            runner = Runner(OpenAIChatEndpoint(base_url=server.base_url, model="sim"),
                            OpenAIChatEndpoint.create_payload("Hi", max_tokens=16),
                            stop_when_misconfigured=False, live_view=False)
            dash = Dashboard(runner=runner, mode="count", clients=clients, n_requests=n_requests)
            ticks = []
            dash.observe(lambda c: ticks.append((dict(c["new"]), dash.stats["total_requests"])),
                         "progress")
            result = await dash.run()
            dash.close()
            return result, ticks

    with ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, run()).result(timeout=120)


def test_count_mode_bar_from_a_real_run_with_failures(page):
    clients, n_requests = 2, 12
    target = clients * n_requests
    result, ticks = count_run_with_failures(clients, n_requests)
    ok = sum(1 for r in result.responses if r.ok)
    failed = sum(1 for r in result.responses if not r.ok)
    assert ok and failed and ok + failed == target
    assert any(p["failed"] > 0 and finished < target for p, finished in ticks), \
        "a tick mid-run with failures"
    mount(page, mode="count", clients=clients, n_requests=n_requests, status="running")
    for progress, finished in ticks:  # replayed as the kernel sent them, still "running"
        kernel_sets(page, progress=progress)
        width = page.evaluate("parseFloat(document.querySelector('.lmw-bar-fill').style.width)")
        assert width == pytest.approx(100 * finished / target, abs=0.05), (progress, finished)
        assert width <= 100
    # the last tick: every request finished once; the counts are the responses'
    assert page.evaluate("parseFloat(document.querySelector('.lmw-bar-fill').style.width)") == 100
    assert page.text_content('.lmw-count[data-key="completed"] .lmw-count-value') == str(ok)
    assert page.text_content('.lmw-count[data-key="failed"] .lmw-count-value') == str(failed)
