"""Presentation mode in Chromium (issue 12): at a projector's 1280x720 and at 1920x1080, light
and dark, the Present button fills the screen with values >= 48 px, labels and axis ticks
>= 18 px and everything in view without scrolling; Esc returns; `dash.present()` (the trait set
from Python) shows the same layout."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from .test_bundle_harness import (  # noqa: F401 (built_bundle: the module's autouse fixture)
    STATS,
    built_bundle,
    kernel_sets,
    mount,
    set_theme,
    stream_run,
)

# The smallest font size (px) of each kind of text, and whether the dashboard fits the screen.
MEASURE = """() => {
    const root = document.querySelector(".lmw");
    const px = (sel) => [...root.querySelectorAll(sel)].filter(e => e.getClientRects().length)
        .map(e => parseFloat(getComputedStyle(e).fontSize));
    const min = (sel) => { const v = px(sel); return v.length ? Math.min(...v) : null; };
    const r = root.getBoundingClientRect();
    const charts = [...root.querySelectorAll(".lmw-charts .lmw-plot")].map(p => p.getBoundingClientRect());
    return {
        presenting: root.classList.contains("lmw-presenting"),
        values: min(".lmw-num"),
        labels: min(".lmw-stat-label, .lmw-group-name, .lmw-count-label, .lmw-chart-title, .lmw-control-label, .lmw-legend-name"),
        // the charts' axis type: drawn on a canvas at the size their layout gives
        ticks: Math.min(...[...root.querySelectorAll(".lmw-charts .lmw-plot")].map(p => p.layout?.tickSize ?? 0)),
        fills: Math.round(r.left) === 0 && Math.round(r.top) === 0
               && Math.round(r.width) === innerWidth && Math.round(r.height) === innerHeight,
        scrolls: root.scrollHeight > root.clientHeight + 1 || root.scrollWidth > root.clientWidth + 1,
        charts_in_view: charts.length === 3 && charts.every(c => c.bottom <= innerHeight + 1 && c.height >= 150),
    };
}"""


# The charts drawn again for the room: projector-sized ticks, and as tall as present.js says.
REDRAWN = """() => {
    const root = document.querySelector(".lmw");
    const plots = [...root.querySelectorAll(".lmw-charts .lmw-plot")];
    const want = Number(root.style.getPropertyValue("--lmw-chart-height"));
    const canvases = plots.map(p => p.querySelector(".uplot canvas"));
    return want > 0 && plots.length === 3 && plots.every(p => (p.layout?.tickSize ?? 0) >= 18)
        && canvases.every(c => c && Math.abs(c.getBoundingClientRect().height - want) <= 2);
}"""


@pytest.fixture(params=[(1280, 720), (1920, 1080)], ids=["1280x720", "1920x1080"])
def room(request, chromium, static_server):
    width, height = request.param
    context = chromium.new_context(viewport={"width": width, "height": height})
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.goto(f"{static_server}/tests/browser/harness.html")
    page.wait_for_function("window.harnessReady === true")
    yield page
    context.close()
    assert errors == []


def a_running_dashboard(page) -> None:
    mount(page)
    kernel_sets(page, stats=STATS, status="running",
                progress={"elapsed": 42.3, "duration": 60, "completed": 1234, "failed": 3,
                          "in_flight": 7, "active_clients": 8, "sent": 1244})
    stream_run(page, seconds=42, ticks=6)


@pytest.mark.parametrize("theme", ["jupyterlab-light", "jupyterlab-dark"])
def test_present_fills_the_screen_in_projector_type(room, theme):
    set_theme(room, theme)
    a_running_dashboard(room)
    before = room.evaluate(MEASURE)
    assert not before["presenting"] and before["values"] < 48  # the notebook layout
    room.click(".lmw-present")
    room.wait_for_function("document.querySelector('.lmw').classList.contains('lmw-presenting')", polling=100)
    room.wait_for_function(REDRAWN, polling=100)
    shown = room.evaluate(MEASURE)
    assert room.evaluate("window.harness.model.get('presenting')") is True  # Python hears it
    assert shown["fills"] and not shown["scrolls"] and shown["charts_in_view"], shown
    assert shown["values"] >= 48 and shown["labels"] >= 18 and shown["ticks"] >= 18, shown
    if os.environ.get("LLMETER_PRESENTATION_SCREENSHOT") and theme == "jupyterlab-light" \
            and room.viewport_size["width"] == 1280:
        room.screenshot(path=str(Path(os.environ["LLMETER_PRESENTATION_SCREENSHOT"])))
    room.keyboard.press("Escape")
    room.wait_for_function("!document.querySelector('.lmw').classList.contains('lmw-presenting')", polling=100)
    assert room.evaluate("window.harness.model.get('presenting')") is False
    assert room.get_attribute(".lmw-present", "aria-pressed") == "false"


@pytest.mark.parametrize("mode", ["time", "rate"])
def test_dash_present_from_python_shows_the_same_layout(room, mode):
    a_running_dashboard(room)
    if mode == "rate":  # an open loop (issue 13): the rate slider instead of the clients'
        kernel_sets(room, mode="rate", rate=20.0, min_rate=0.5, max_rate=200.0,
                    arrival="poisson", progress={"elapsed": 42.3, "duration": 60, "rate": 20})
    kernel_sets(room, presenting=True)  # what dash.present() sends
    room.wait_for_function("document.querySelector('.lmw').classList.contains('lmw-presenting')", polling=100)
    room.wait_for_function(REDRAWN, polling=100)
    shown = room.evaluate(MEASURE)
    assert shown["fills"] and shown["values"] >= 48 and not shown["scrolls"], shown
    assert room.get_attribute(".lmw-present", "aria-pressed") == "true"
    assert room.is_visible("input.lmw-rate") == (mode == "rate")
    kernel_sets(room, presenting=False)  # dash.present(False)
    room.wait_for_function("!document.querySelector('.lmw').classList.contains('lmw-presenting')", polling=100)


def test_error_classes_keep_the_room_layout_on_one_screen(room):
    """Three error classes add three columns to the notebook's table (a third row of groups at
    1280 px); the room's layout shows the failed count and rate, and still fits the screen."""
    from llmeter_widget.display import DisplaySpec

    stats = {**STATS, "errors-timeout": 3, "errors-http_500": 2, "errors-connection_reset": 1}
    mount(room, spec=DisplaySpec().resolve(stats).to_json())
    kernel_sets(room, stats=stats, status="running")
    stream_run(room, seconds=42, ticks=6)
    shown_keys = """() => [...document.querySelectorAll('td.lmw-value')]
        .filter(td => td.getClientRects().length).map(td => td.dataset.key)"""
    assert "errors-timeout" in room.evaluate(shown_keys)  # the notebook's table shows them
    kernel_sets(room, presenting=True)
    room.wait_for_function(REDRAWN, polling=100)
    shown = room.evaluate(MEASURE)
    assert shown["fills"] and not shown["scrolls"] and shown["charts_in_view"], shown
    keys = room.evaluate(shown_keys)
    assert "failed_requests" in keys and not any(k.startswith("errors-") for k in keys), keys


def test_a_sweep_puts_its_chart_beside_the_live_ones_on_one_screen(room):
    """During a client sweep the comparison chart (and its verdict) takes a fourth column beside
    the three live charts, so the room still sees everything without scrolling."""
    a_running_dashboard(room)
    levels = [{"clients": c, "output_tps": 100.0 * min(c, 8), "ttft_p90": 0.05 * c} for c in (1, 2, 4, 8, 16)]
    kernel_sets(room, mode="sweep", comparison={
        "levels": levels, "knee": 8, "verdict": "Saturates at 8 clients: TTFT p90 doubles past it."})
    kernel_sets(room, presenting=True)
    room.wait_for_function(REDRAWN, polling=100)
    room.wait_for_timeout(300)  # the second fit, once the redrawn legends and verdict are measured
    shown = room.evaluate(MEASURE)
    assert shown["fills"] and not shown["scrolls"] and shown["charts_in_view"], shown
    boxes = room.evaluate("""() => ['.lmw-charts .lmw-chart:nth-child(3)', '.lmw-sweep', '.lmw-verdict']
        .map(s => document.querySelector(s).getBoundingClientRect())
        .map(r => ({top: Math.round(r.top), left: Math.round(r.left), bottom: Math.round(r.bottom)}))""")
    load, sweep, verdict = boxes
    assert sweep["top"] == load["top"] and sweep["left"] > load["left"], boxes  # beside, not under
    assert verdict["bottom"] <= room.viewport_size["height"], boxes
