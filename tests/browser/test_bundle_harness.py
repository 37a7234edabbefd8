"""The built dashboard bundle in a real browser (Chromium), with a minimal in-page model.

The page (tests/browser/harness.html) imports llmeter_widget/static/widget.js, the file the
Python side serves as `_esm`, and renders it with an object standing in for the anywidget model.
The test plays the kernel: it sets traits and sends messages with `page.evaluate`.
"""

from __future__ import annotations

import math
import os
from pathlib import Path

import pytest

from llmeter_widget.display import DisplaySpec, format_value

from ..chart_pixels import AFTER_PAINT, chart_pixels, discs, in_columns, median_rows

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


# A chart's traces as drawn: the colour each leaves on the canvas (an area's fill colour, a line's
# colour at its opacity), for the traces with points.
TRACE_COLOURS = """id => document.querySelector(`[data-chart="${id}"]`).data
  .filter(t => t.x.some(v => typeof v === 'number'))
  .map(t => (t.fill === 'tozeroy' && !(t.line && t.line.width)
             ? {name: t.name, color: t.fillcolor}
             : {name: t.name, color: t.line.color, opacity: t.opacity ?? 1}))"""


def drawn_traces(page, chart: str, min_pixels: int = 20) -> list[str]:
    """The names of the chart's traces whose colour is on its canvas, in its plot area (at least
    `min_pixels` pixels: a short line). Traces of one colour (TTFT p50 and p90) go together."""
    queries = page.evaluate(TRACE_COLOURS, chart)
    pixels = chart_pixels(page, f'[data-chart="{chart}"]', queries)
    assert pixels is not None, f"{chart}: no uPlot canvas"
    return [q["name"] for q, found in zip(queries, pixels["found"]) if len(found) >= min_pixels]


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
    # no data, no line: not a pixel of any trace's colour in the plot areas yet
    assert {c: drawn_traces(page, c) for c in ("throughput", "latency", "load")} == {
        "throughput": [], "latency": [], "load": []}
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
    drawn = {"throughput": ["Requests/min", "Output tokens/s"],
             "latency": ["TTFT p50", "TTFT p90", "TTLT p50", "TTLT p90"],
             "load": ["In flight", "Active clients", "Failed/s"]}
    # requests/min = the bucket's windowed rate; latencies in ms; no data = a gap (null)
    throughput = page.evaluate("document.querySelector('[data-chart=throughput]').data[0].y")
    assert throughput == [bucket(t)["requests_per_minute"] for t in range(10)]
    ttft = page.evaluate("document.querySelector('[data-chart=latency]').data[0].y")
    assert ttft[:2] == [None, None]
    assert ttft[2] == pytest.approx(bucket(2)["ttft_p50"] * 1000)

    # uPlot drew each chart at its container's width (responsive layout), its canvas at the
    # screen's pixel density, and every trace in its colour on it.
    widths = page.evaluate(
        """() => [...document.querySelectorAll('.lmw-plot')].map(d => {
              const c = d.querySelector('.uplot canvas');
              return [d.dataset.chart, d.clientWidth, c.clientWidth, c.width / devicePixelRatio];
            })"""
    )
    assert [w[0] for w in widths] == ["throughput", "latency", "load"]
    for _chart, container, canvas, pixels in widths:
        assert abs(container - canvas) <= 2 and abs(canvas - pixels) <= 1, widths
    for chart, traces in drawn.items():
        assert traces == drawn_traces(page, chart), (chart, traces)


def test_the_legend_reads_the_values_at_the_cursor(page):
    mount(page)
    stream_run(page, seconds=10)
    assert page.text_content("[data-chart=throughput] .lmw-legend-at") == ""
    over = page.locator("[data-chart=throughput] .u-over")
    width = over.evaluate("o => o.clientWidth")
    over.hover(position={"x": 5 / 9 * width, "y": 40})  # second 5 of 0..9
    values = page.evaluate("""() => [...document.querySelectorAll(
        '[data-chart=throughput] .lmw-legend-entry')].map(e => [
        e.querySelector('.lmw-legend-name').textContent, e.querySelector('.lmw-legend-value').textContent])""")
    assert values == [["Requests/min", f"{bucket(5)['requests_per_minute']:,.0f}"],
                      ["Output tokens/s", f"{bucket(5)['output_tps']:,.0f}"]], values
    assert page.text_content("[data-chart=throughput] .lmw-legend-at") == "at 5 s"


def dash_period(pixels: list[list[float]]) -> float:
    """The repeat length (CSS px) of a horizontal dashed line's dashes, from its pixels: the
    median distance between the starts of consecutive dashes along its middle row."""
    rows: dict[float, list[float]] = {}
    for x, y in pixels:
        rows.setdefault(y, []).append(x)
    xs = sorted(max(rows.values(), key=len))
    step = min(b - a for a, b in zip(xs, xs[1:]))  # one device pixel
    starts = [b for a, b in zip(xs, xs[1:]) if b - a > step * 1.5]
    periods = sorted(b - a for a, b in zip(starts, starts[1:]))
    assert len(periods) >= 5, xs
    return periods[len(periods) // 2]


@pytest.mark.parametrize("density", [1, 2])
def test_dashes_keep_their_length_at_any_pixel_density(chromium, static_server, density):
    """"Active clients" (dash: 8 on, 5 off in CSS px, as its legend swatch) is drawn with the
    same dashes on a HiDPI screen: what tells a saved run's dash from another's dot."""
    context = chromium.new_context(viewport={"width": 1400, "height": 1000},
                                   device_scale_factor=density)
    try:
        page = context.new_page()
        page.goto(f"{static_server}/tests/browser/harness.html")
        page.wait_for_function("window.harnessReady === true")
        mount(page)
        stream_run(page, seconds=30)
        trace = page.evaluate("document.querySelector('[data-chart=load]').data[1]")
        assert (trace["name"], trace["line"]["dash"]) == ("Active clients", "dash")
        pixels = chart_pixels(page, "[data-chart=load]", [{"color": trace["line"]["color"]}])
        assert pixels["ratio"] == density
        # horizontal at 8 clients, at the top: the line's row, away from "In flight" below it
        assert dash_period(pixels["found"][0]) == pytest.approx(8 + 5, abs=1.5)
    finally:
        context.close()


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
    switch = ["lmw-load-button", "lmw-load-button"]  # Load: Clients | Rate
    for status, first in (("idle", [*switch, "lmw-mode", *sliders, "lmw-button lmw-run"]),
                          # running: the load and mode are fixed and Run is off; the sliders
                          # and Stop work
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
        " return [l.paper, l.font, l.grid]; })()"
    )
    assert layout == ["rgb(17, 17, 17)", "rgb(238, 238, 238)", "rgb(68, 68, 68)"]
    # ... and the canvas is drawn in them: the lines in the dark palette (js/theme.js DARK), not
    # the light one; the axes' numbers and titles in the text colour, the grid in the border's.
    dark, light = ["#64b5f6", "#ffb74d"], ["#1976d2", "#e65100"]
    pixels = chart_pixels(page, "[data-chart=latency]", [
        *({"color": c} for c in dark + light),
        {"color": "rgb(238, 238, 238)", "whole": True, "tol": 12},
        {"color": "rgb(68, 68, 68)", "tol": 6},
    ])
    counts = [len(found) for found in pixels["found"]]
    assert all(n >= 50 for n in counts[:2]) and counts[2:4] == [0, 0], counts
    assert counts[4] >= 100 and counts[5] >= 100, counts  # text; grid lines
    # the legend's swatches and names follow too (DOM, not canvas)
    legend = page.evaluate("""() => [...document.querySelectorAll(
        '[data-chart=latency] .lmw-legend-entry')].map(e => [e.textContent,
        e.querySelector('.lmw-legend-swatch line').getAttribute('stroke'), getComputedStyle(e).color])""")
    assert [e[1] for e in legend] == [dark[0], dark[0], dark[1], dark[1]], legend
    assert {e[2] for e in legend} == {"rgb(238, 238, 238)"}, legend
    save_screenshot(page, "harness-dark.png", tmp_path)


def test_cleanup_purges_the_charts_and_removes_listeners(page):
    mount(page)
    stream_run(page, seconds=3)
    assert page.evaluate("window.harness.model.listenerCount()") > 0
    kernel_sets(page, mode="sweep", comparison={"levels": [
        {"clients": 1, "output_tps": 100.0, "ttft_p90": 0.05}], "knee": None, "verdict": ""})
    purged = page.evaluate(
        """() => {
          const plots = [...document.querySelectorAll('.lmw-plot, .lmw-sweep-plot')];
          const state = () => plots.map(p => [p.dataset.chart, p.data !== undefined,
              p.layout !== undefined, p.querySelectorAll('.uplot canvas').length, p.childElementCount]);
          const before = state();
          window.harness.cleanup();
          return [before, state()];
        }"""
    )
    # every chart (the sweep's too) was destroyed: its uPlot, legend and button gone, its figure
    charts = ["throughput", "latency", "load", "sweep"]
    assert purged[0] == [[c, True, True, 1, 3] for c in charts], purged
    assert purged[1] == [[c, False, False, 0, 0] for c in charts], purged
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


def sweep_drawing(page) -> dict:
    """What the sweep chart drew: the centres of its point markers (discs of the first trace's
    colour, left to right, CSS px in the plot area), the centre of the knee's ring (pixels of
    the knee trace's colour; None without), the number of text-coloured pixels in a box just
    above each disc (its label) and the space between each disc's top and its label's bottom."""
    traces = page.evaluate("document.querySelector('[data-chart=sweep]').data")
    layout = page.evaluate("document.querySelector('[data-chart=sweep]').layout")
    queries = [{"color": traces[0]["marker"]["color"]}, {"color": layout["font"], "tol": 40}]
    knee = [t for t in traces if t["name"].startswith("knee")]
    if knee:
        queries.append({"color": knee[0]["marker"]["line"]["color"]})
    pixels = chart_pixels(page, "[data-chart=sweep]", queries)
    centres = sorted(discs(pixels["found"][0], radius=3))
    text = pixels["found"][1]
    labels = [sum(1 for x, y in text if abs(x - cx) <= 12 and cy - 30 <= y <= cy - 2)
              for cx, cy in centres]
    # between each marker's top (radius 4.5 px) and the lowest text pixel above it, px
    gaps = [min((cy - 4.5 - y for x, y in text if abs(x - cx) <= 6 and y < cy), default=None)
            for cx, cy in centres]
    ring = None
    if knee and pixels["found"][2]:
        found = pixels["found"][2]
        ring = (sum(x for x, _ in found) / len(found), sum(y for _, y in found) / len(found))
    return {"discs": centres, "ring": ring, "labels": labels, "gaps": gaps,
            "area": pixels["area"]}


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
    assert [t.get("mode") for t in page.evaluate(
        "document.querySelector('[data-chart=sweep]').data")] == ["lines+markers+text", "markers"]
    # uPlot drew the three points on its canvas (discs in the first colour, in x order: throughput
    # 120, 230, 250), each with its client count above it, and the knee's ring round the second.
    points = sweep_drawing(page)
    assert len(points["discs"]) == 3, points
    xs = [x for x, _ in points["discs"]]
    ys = [y for _, y in points["discs"]]
    assert xs == sorted(xs) and ys[2] < ys[1] < ys[0], points  # 400 ms high, 50 ms low
    assert points["ring"] is not None and math.dist(points["ring"], points["discs"][1]) <= 2, points
    assert all(n >= 8 for n in points["labels"]), points  # some text above each point
    # the cursor over a point reads it out
    page.locator("[data-chart=sweep] .u-over").hover(position={"x": xs[1], "y": ys[1]})
    assert page.text_content("[data-chart=sweep] .lmw-legend-at") == "2 clients · 230 tok/s · TTFT p90 60 ms"
    page.mouse.move(0, 0)
    assert page.text_content(".lmw-verdict") == "Saturates at 2 clients: beyond it ..."
    save_screenshot(page, "harness-sweep.png", tmp_path)

    # Past saturation throughput falls while latency climbs: the line goes back left (points in
    # any x order), through the 8-client point, drawn too.
    kernel_sets(page, comparison={"levels": [*levels, {**levels[2], "clients": 8, "output_tps": 180.0,
                                                       "ttft_p90": 0.9}], "knee": 2, "verdict": ""})
    points = sweep_drawing(page)
    assert len(points["discs"]) == 4, points
    by_y = sorted(points["discs"], key=lambda p: p[1])  # top to bottom: 8, 4, 2, 1 clients
    assert by_y[3][0] < by_y[0][0] < by_y[2][0] < by_y[1][0], points  # 120 < 180 < 230 < 250 tok/s
    assert all(n >= 8 for n in points["labels"]), points

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


def test_sweep_labels_leave_their_points_clear(page):
    mount(page, mode="sweep")
    levels = [{"clients": c, "output_tps": tps, "ttft_p90": ttft}
              for c, tps, ttft in [(1, 120.0, 0.05), (2, 230.0, 0.06), (4, 250.0, 0.4),
                                   (8, 180.0, 0.9)]]
    kernel_sets(page, comparison={"levels": levels, "knee": None, "verdict": ""})
    points = sweep_drawing(page)
    assert len(points["discs"]) == 4, points
    # each label sits above its point with some space (plot.js leaves 5 px over the knee's
    # ring, 9 px from the point's centre), not on it: the lower three have ~6 px
    assert all(gap is not None and gap >= 2 for gap in points["gaps"]), points


@pytest.mark.parametrize("changes", ["overlays with a new run", "sweep mode with its levels"])
def test_two_figures_in_one_message_draw_without_an_error(chromium, static_server, changes):
    """Two traits in one message, each redrawing a chart: the uPlot the second draw replaced
    still ran its queued draw once, whose hook drew the newer figure's traces (more than it
    had series: TypeError, reading 'show'; fixed in dba94a3)."""
    # its own page, to assert on the page errors here (the `page` fixture does at teardown)
    context = chromium.new_context(viewport={"width": 1400, "height": 1000})
    try:
        page = context.new_page()
        errors: list[str] = []
        page.on("pageerror", lambda exc: errors.append(str(exc)))
        page.goto(f"{static_server}/tests/browser/harness.html")
        page.wait_for_function("window.harnessReady === true")
        mount(page)
        if changes == "sweep mode with its levels":
            levels = [{"clients": c, "output_tps": 100.0 * c, "ttft_p90": 0.05 * c} for c in (1, 2, 4)]
            kernel_sets(page, mode="sweep", comparison={"levels": levels, "knee": 2, "verdict": ""})
        else:
            stream_run(page, seconds=5)
            kernel_sets(page, series_delta={"run": 2, "seq": 0, "points": [bucket(t) for t in range(3)]},
                        overlays=[saved_run("before")])
        page.evaluate(f"async () => {{ {AFTER_PAINT} }}")
        assert errors == []
        chart = "sweep" if changes.startswith("sweep") else "throughput"
        assert drawn_traces(page, chart), chart  # and the figure is drawn
    finally:
        context.close()


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
    assert [t["n"] for t in traces] == [10, 10, 20, 20, 0]
    assert traces[2]["dash"] == "dash" and traces[3]["dash"] == "dash"
    assert legend_entries(page, "throughput") == [
        ["Requests/min", "true"], ["Output tokens/s", "true"], ["before", "true"]]
    # the saved run's lines are drawn (dimmed, in the live colours) where only they reach: past
    # the live run's 10 s
    assert overlay_pixels(page, "throughput", 10.5, 19) >= 40
    # Live points still stream into the live traces only (Chart.extend's indices unchanged).
    kernel_sets(page, series_delta={"run": 1, "seq": 6, "points": [bucket(10)]})
    assert points_per_trace(page, "throughput") == [11, 11, 20, 20, 0]
    assert points_per_trace(page, "load") == [11, 11, 11, 20, 20, 20, 0]
    save_screenshot(page, "harness-overlay.png", tmp_path)
    kernel_sets(page, overlays=[])
    assert points_per_trace(page, "throughput") == [11, 11]
    assert page.evaluate("document.querySelectorAll('.lmw-overlay-line').length") == 0


def saved_run(label: str, seconds: int = 20, scale: float = 1.0, start: int = 0) -> dict:
    """An `overlays` entry of a saved run (its stats and series scaled, to tell it apart), its
    series from second `start` (a saved run drawn apart from the others, to find its pixels)."""
    series = [{k: (v * scale if isinstance(v, float) and k != "t" else v)
               for k, v in {**bucket(t), "t": t}.items()}
              for t in range(start, start + seconds)]
    stats = {k: v * scale for k, v in STATS.items()}
    return {"label": label, "kind": "run", "stats": stats, "series": series, "levels": []}


def legend_entries(page, chart: str) -> list[list[str]]:
    """A chart's legend under it: [name, aria-pressed] of each entry, in order."""
    return page.evaluate(
        """id => [...document.querySelectorAll(`[data-chart="${id}"] .lmw-legend-entry`)]
              .map(e => [e.querySelector('.lmw-legend-name').textContent, e.getAttribute('aria-pressed')])""",
        chart)


def overlay_pixels(page, chart: str, t0: float, t1: float) -> int:
    """Pixels of the saved runs' lines (the live traces' colours, dimmed to the overlays'
    opacity) in the chart's plot area between seconds t0 and t1 (the x axis spans the figure's
    first to last second)."""
    traces = page.evaluate(TRACE_COLOURS, chart)
    saved = [t for t in traces if t.get("opacity", 1) < 1]
    assert saved, traces
    colours = {(t["color"], t["opacity"]) for t in saved}
    # at most their opacity: the live lines, of the same colours, are opaque
    queries = [{"color": c, "opacity": o, "tol": 20, "maxAlpha": 255 * o + 12} for c, o in colours]
    pixels = chart_pixels(page, f'[data-chart="{chart}"]', queries)
    xs = [v for t in page.evaluate(
        "id => document.querySelector(`[data-chart=\"${id}\"]`).data.map(t => t.x)", chart)
          for v in t if v is not None]
    lo, hi = min(xs), max(xs)
    width = pixels["area"]["width"]
    to_px = lambda t: (t - lo) / (hi - lo) * width  # noqa: E731
    return sum(len(in_columns(found, to_px(t0), to_px(t1))) for found in pixels["found"])


def test_a_click_on_a_saved_runs_legend_entry_hides_its_lines(page, tmp_path):
    """The legend names each saved run once (4 at most, then "+N more"); a click on an entry
    hides all that run's lines (the "+N more" entry: all those runs'), a second shows them."""
    mount(page)
    stream_run(page, seconds=10)
    # six saved runs, each drawn over 8 seconds of its own after the live run's 10
    spans = [(10 + 8 * k, 18 + 8 * k) for k in range(6)]
    kernel_sets(page, overlays=[saved_run(f"run-{k + 1}", seconds=8, start=start)
                                for k, (start, _) in enumerate(spans)])
    names = ["Requests/min", "Output tokens/s", "run-1", "run-2", "run-3", "run-4",
             "+2 more saved runs"]

    def shown() -> list[bool]:
        """Each saved run's lines on the canvas (its span has pixels of the dimmed colours)."""
        counts = [overlay_pixels(page, "throughput", a + 1, b - 2) for a, b in spans]
        assert all(n == 0 or n >= 30 for n in counts), counts  # there or not, not a few pixels
        return [n > 0 for n in counts]

    def click(name: str) -> None:
        page.locator('[data-chart="throughput"] .lmw-legend-entry', has_text=name).click()

    live = ["Requests/min", "Output tokens/s"]
    assert legend_entries(page, "throughput") == [[n, "true"] for n in names]
    assert shown() == [True] * 6
    click("run-2")
    assert legend_entries(page, "throughput")[3] == ["run-2", "false"]
    assert shown() == [True, False, True, True, True, True]
    assert drawn_traces(page, "throughput")[:2] == live  # the live run's lines stay
    click("+2 more saved runs")
    assert [e[1] for e in legend_entries(page, "throughput")] == ["true"] * 3 + ["false", "true", "true", "false"]
    assert shown() == [True, False, True, True, False, False]
    # a new second of the live run, then a redraw (JupyterLab's theme switch): still hidden
    kernel_sets(page, series_delta={"run": 1, "seq": 5, "points": [bucket(10)]})
    assert shown() == [True, False, True, True, False, False]
    mark = "document.querySelector('[data-chart=throughput] canvas').dataset.before = 'yes'"
    page.evaluate(mark)
    page.evaluate("document.body.classList.add('a-theme-switch')")
    assert page.evaluate("document.querySelector('[data-chart=throughput] canvas').dataset.before") is None
    assert shown() == [True, False, True, True, False, False]
    assert [e[1] for e in legend_entries(page, "throughput")] == ["true"] * 3 + ["false", "true", "true", "false"]
    save_screenshot(page, "harness-overlay-hidden.png", tmp_path)
    # shown again
    click("run-2")
    click("+2 more saved runs")
    assert shown() == [True] * 6
    assert legend_entries(page, "throughput") == [[n, "true"] for n in names]
    # the other charts' legends are their own
    assert [e[1] for e in legend_entries(page, "latency")] == ["true"] * 9


# Each chart's plot area (uPlot's `.u-over`: the axes' box), its canvas (plot, axes and their
# titles) and its legend (under the canvas, in the DOM), as the page lays them out.
CHART_BOXES = """() => [...document.querySelectorAll('.lmw-plot')].map(div => {
  const box = (el) => { if (!el) return null; const r = el.getBoundingClientRect();
                        return {top: r.top, bottom: r.bottom, left: r.left, right: r.right, height: r.height}; };
  return {chart: div.dataset.chart, area: box(div.querySelector('.u-over')),
          canvas: box(div.querySelector('.uplot canvas')), legend: box(div.querySelector('.lmw-legend')),
          entries: [...div.querySelectorAll('.lmw-legend-entry')].map(e => e.textContent)};
})"""


@pytest.mark.parametrize("n", [6, 12])
def test_many_overlays_keep_the_plot_areas_tall_and_the_legend_clear(page, n, tmp_path):
    """Issue 12, defect 6: 6-12 saved runs' legend entries squeezed the plots to ~100 px. The
    legend now sits under the canvas: the plot areas keep their size, level with each other."""
    mount(page, stats=STATS)
    stream_run(page, seconds=10)
    alone = page.evaluate(CHART_BOXES)
    labels = [f"run-2025-01-{d:02d}" for d in range(1, n + 1)]
    kernel_sets(page, overlays=[saved_run(label, scale=1 + 0.1 * k) for k, label in enumerate(labels)])
    page.evaluate(f"async () => {{ {AFTER_PAINT} }}")
    charts = page.evaluate(CHART_BOXES)
    assert [c["chart"] for c in charts] == ["throughput", "latency", "load"]
    for chart, before in zip(charts, alone):
        what = (n, chart["chart"])
        # as tall as without saved runs, and tall enough to read
        assert chart["area"]["height"] == pytest.approx(before["area"]["height"], abs=0.5), (what, chart, before)
        assert chart["area"]["height"] >= 150, (what, chart)
        # the legend does not cover the plot area nor the x axis (its title is on the canvas)
        assert chart["legend"]["top"] >= chart["canvas"]["bottom"] - 0.5, (what, chart)
        assert chart["canvas"]["bottom"] > chart["area"]["bottom"] + 20, (what, chart)
        # the saved runs named once each (not once per trace), the rest counted
        entries = chart["entries"]
        assert len(entries) <= 10, (what, entries)
        assert [e for e in entries if e.startswith("run-")] == labels[:4], (what, entries)
        assert entries[-1] == f"+{n - 4} more saved runs", (what, entries)
    # the three plot areas level: same top, same height
    assert max(c["area"]["top"] for c in charts) - min(c["area"]["top"] for c in charts) <= 1, charts
    assert max(c["area"]["height"] for c in charts) - min(c["area"]["height"] for c in charts) <= 1, charts
    save_screenshot(page, f"harness-overlays-{n}.png", tmp_path)


def test_a_saved_runs_requests_and_tokens_per_second_are_drawn_apart(page, tmp_path):
    """Issue 12, defect 6: a saved run's req/min and tok/s lines (proportional, each axis scaled
    to its own maximum) lay one on top of the other."""
    mount(page)
    stream_run(page, seconds=10)
    # each saved run over seconds of its own (after the live run's 10), to find its lines there
    spans = {"before": (10, 30), "after": (30, 50)}
    kernel_sets(page, overlays=[saved_run("before", scale=1.3, start=10),
                                saved_run("after", scale=0.8, start=30)])
    traces = {t["name"]: t for t in page.evaluate(
        "document.querySelector('[data-chart=throughput]').data")}
    rpm, tps = traces["before · Requests/min"], traces["before · Output tokens/s"]
    assert [rpm.get("yaxis") or "y", tps["yaxis"]] == ["y", "y2"]
    assert rpm["line"]["dash"] == tps["line"]["dash"] == "dash"
    assert traces["after · Requests/min"]["line"]["dash"] == "dot"
    # the two lines' pixels (their colours, dimmed: the live lines are opaque)
    queries = [{"color": t["line"]["color"], "opacity": t["opacity"], "tol": 20,
                "maxAlpha": 255 * t["opacity"] + 12} for t in (rpm, tps)]
    pixels = chart_pixels(page, "[data-chart=throughput]", queries)
    width, height = pixels["area"]["width"], pixels["area"]["height"]
    to_px = lambda t: t / 49 * width  # noqa: E731  (the x axis spans seconds 0 to 49)
    for label, (t0, t1) in spans.items():
        lo, hi = to_px(t0 + 1), to_px(t1 - 2)
        rpm_rows = median_rows(in_columns(pixels["found"][0], lo, hi))
        tps_rows = median_rows(in_columns(pixels["found"][1], lo, hi))
        both = sorted(set(rpm_rows) & set(tps_rows))
        # dashed and dotted lines: some columns have a dash of each
        assert len(both) >= 8, (label, len(both), lo, hi)
        gaps = sorted(abs(rpm_rows[x] - tps_rows[x]) for x in both)
        # an eighth of the plot's height between them at least (tokens/s keeps to the lower
        # half), where they were a few pixels apart; requests/min above
        assert gaps[len(gaps) // 2] >= height / 8, (label, gaps, height)
        assert all(rpm_rows[x] < tps_rows[x] for x in both), label
    save_screenshot(page, "harness-overlay-apart.png", tmp_path)


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
