"""The dashboard as a person sees and handles it in any front end: what the page shows, the
sliders moved with keyboard and mouse, and one walk through a run (render, Run, clients,
Stop) that each front end's test drives, checking the kernel its own way.

Everything is read from the dashboard's root element (`div.lmw`) through Playwright locators,
which reach into shadow roots: marimo renders a widget inside one, where `document.
querySelector` finds nothing.
"""

from __future__ import annotations

import json
import math
import re
from pathlib import Path
from typing import Callable

from ..chart_pixels import CHART_PIXELS
from ..waiting import wait_until

# -- sliders -----------------------------------------------------------------------------------

SLIDER_STATE = "s => [Number(s.min), Number(s.max), Number(s.step) || 1, Number(s.value)]"


def key_target(key: str, value: float, lo: float, hi: float, step: float) -> float:
    """Where a key press puts a range input (HTML's arrow/Home/End; PageUp/PageDown as Chromium:
    a tenth of the range, at least one step, then snapped to the step and clamped)."""
    big = max((hi - lo) / 10, step)
    moved = {"ArrowRight": value + step, "ArrowUp": value + step,
             "ArrowLeft": value - step, "ArrowDown": value - step,
             "PageUp": value + big, "PageDown": value - big, "Home": lo, "End": hi}[key]
    snapped = lo + math.floor((moved - lo) / step + 0.5) * step  # Decimal::round: half up here
    return min(hi, max(lo, snapped))


def drag_slider(page, slider, target: int) -> tuple[int, list[int]]:
    """Drag a range input's thumb to `target` with the mouse, the way a person does: press on
    the thumb, move while watching the value, release. Returns the value at release and the
    values seen during the drag."""
    slider.scroll_into_view_if_needed()
    box = slider.bounding_box()
    lo, hi, step, value = slider.evaluate(SLIDER_STATE)
    y = box["y"] + box["height"] / 2
    thumb = min(16.0, box["height"])  # Chromium's default thumb; corrected below by what we see
    track = box["width"] - thumb
    per_step = track / ((hi - lo) / step)

    def x_of(v: float) -> float:
        return box["x"] + thumb / 2 + (v - lo) / (hi - lo) * track

    page.mouse.move(x_of(value), y)
    page.mouse.down()
    seen = [value]
    x = x_of(target)
    for _ in range(30):
        page.mouse.move(x, y, steps=4)
        got = slider.evaluate("s => Number(s.value)")
        seen.append(got)
        if got == target:
            break
        # Move by what is missing; at least one pixel, so it never stalls between two values.
        x += math.copysign(max(1.0, abs(target - got) / step * per_step / 2), target - got)
    page.mouse.up()
    return slider.evaluate("s => Number(s.value)"), seen


# -- what the page shows -----------------------------------------------------------------------

# The dashboard's state as shown: badge, header counts, table, charts (each chart's div keeps the
# traces it shows in `.data`; `lines` counts the colours of its lines with points that are on its
# uPlot canvas, in the plot area: at least 20 pixels each, see tests/chart_pixels.py), the
# clients controls.
READ_DASHBOARD = """root => {
    const chartPixels = """ + CHART_PIXELS + """;
    const linesDrawn = (p) => {
        const colours = new Set((p.data ?? [])
            .filter(t => (t.x ?? []).some(v => typeof v === 'number') && (t.line?.width ?? 2) > 0
                         && t.line?.color)
            .map(t => JSON.stringify([t.line.color, t.opacity ?? 1])));
        const queries = [...colours].map(c => { const [color, opacity] = JSON.parse(c);
                                                return {color, opacity}; });
        const drawn = queries.length ? chartPixels(p, queries) : null;
        return drawn ? drawn.found.filter(f => f.length >= 20).length : 0;
    };
    const number = el => Number((el?.textContent ?? '').replace(/[^0-9.]/g, ''));
    const badge = root.querySelector('.lmw-badge');
    return {
        status: badge?.dataset.status ?? null,
        badge: badge?.textContent ?? null,
        counts: Object.fromEntries([...root.querySelectorAll('.lmw-count')].map(
            c => [c.dataset.key, number(c.querySelector('.lmw-count-value'))])),
        groups: [...root.querySelectorAll('.lmw-stats table.lmw-group')].map(t => t.dataset.group),
        cells: root.querySelectorAll('td.lmw-value').length,
        filled: [...root.querySelectorAll('td.lmw-value')].filter(td => /\\d/.test(td.textContent)).length,
        values: Object.fromEntries([...root.querySelectorAll('td.lmw-value')].map(
            td => [td.dataset.key, td.textContent])),
        charts: [...root.querySelectorAll('.lmw-charts .lmw-plot')].map(p => ({
            id: p.dataset.chart,
            traces: (p.data ?? []).length,
            points: Math.max(0, ...(p.data ?? []).map(t => (t.x ?? []).filter(v => v !== null).length)),
            lines: linesDrawn(p),
        })),
        clients: Number(root.querySelector('input.lmw-clients')?.value),
        clients_box: root.querySelector('input.lmw-clients-box')?.value ?? null,
        saved: root.querySelector('.lmw-saved')?.textContent ?? '',
        // the dashboard's stylesheet applies where it renders (the page, or marimo's shadow
        // root): the loader adds the shared one, no dashboard carries its own
        styled: getComputedStyle(root).getPropertyValue('--lmw-focus').trim() !== ''
                && getComputedStyle(root.querySelector('.lmw-charts')).display === 'grid',
    };
}"""


class DashboardPage:
    """One dashboard in a page: read what it shows, wait for it to show something."""

    def __init__(self, page, root=None) -> None:
        self.page = page
        self.root = root if root is not None else page.locator("div.lmw").first

    def state(self) -> dict:
        return self.root.evaluate(READ_DASHBOARD)

    def pause(self, seconds: float) -> None:
        """Wait while letting Playwright work (routed requests, events): never time.sleep."""
        self.page.wait_for_timeout(seconds * 1000)

    def wait(self, condition: Callable[[dict], bool], what: str, timeout: float = 30) -> dict:
        """Poll the shown state until `condition(state)`; the state that satisfied it."""
        seen: list[dict] = []

        def check() -> bool:
            seen.append(self.state())
            return condition(seen[-1])

        wait_until(check, what, timeout=timeout, describe=lambda: seen[-1] if seen else None,
                   pause=self.pause, interval=0.2)
        return seen[-1]

    def wait_value(self, read: Callable[[], str], expected: str, what: str,
                   timeout: float = 20) -> None:
        """Poll `read()` (e.g. the kernel's value) until it is `expected`."""
        seen: list[str] = []

        def check() -> bool:
            seen.append(read())
            return seen[-1] == expected

        wait_until(check, f"{what} == {expected!r}", timeout=timeout,
                   describe=lambda: {"read": seen[-1] if seen else None, "page": self.state()},
                   pause=self.pause, interval=0.3)


# Table cells that show a number once the first responses are in.
MEASURED = ("total_requests", "requests_per_minute", "output_tps", "time_to_first_token-p50",
            "time_to_first_token-p99", "time_to_last_token-p50")


def charts_drawn(state: dict, min_points: int) -> bool:
    """Every live chart has traces, and the throughput and latency ones a line of points."""
    charts = {c["id"]: c for c in state["charts"]}
    return (len(charts) >= 3 and all(c["traces"] > 0 for c in charts.values())
            and all(charts.get(k, {}).get("points", 0) >= min_points
                    and charts.get(k, {}).get("lines", 0) > 0 for k in ("throughput", "latency")))


def walk_through_a_run(dash: DashboardPage, runner_clients: Callable[[], str], runs: Path,
                       ) -> tuple[Path, dict]:
    """Render, Run, move the clients slider by keyboard and by mouse, Stop; what each front
    end's test shares. `runner_clients()` reads the running run's client count in the kernel
    (as text); `runs` is the dashboard's output_path. Returns the run's folder and the state
    shown at the end.

    The dashboard must start idle with 4 clients (of at most 64) and a run long enough to
    outlast this walk (it is stopped, not finished).
    """
    page = dash.page
    # It renders: the grouped table (values not known yet), the charts with their traces.
    state = dash.wait(lambda s: s["status"] == "idle" and s["cells"] > 0 and len(s["charts"]) >= 3
                      and all(c["traces"] > 0 for c in s["charts"]) and s["styled"],
                      "the dashboard drawn and styled: table and charts with traces")
    assert {"Throughput", "TTFT", "TTLT"} <= set(state["groups"]), state["groups"]
    assert state["filled"] == 0, state  # nothing measured yet
    assert (state["clients"], state["clients_box"]) == (4, "4"), state

    # Run: the badge says so, the counts move, the table fills, the charts draw lines.
    dash.root.locator(".lmw-run").click()
    first = dash.wait(lambda s: s["status"] == "running" and s["counts"].get("completed", 0) > 0,
                      "the run going, requests completed")
    dash.wait(lambda s: s["counts"]["completed"] > first["counts"]["completed"],
              "the completed count moving")
    dash.wait(lambda s: all(re.search(r"\d", s["values"].get(key) or "") for key in MEASURED),
              f"the table showing numbers for {MEASURED}")
    dash.wait(lambda s: charts_drawn(s, 2), "the charts drawing the run", timeout=30)
    dash.wait_value(runner_clients, "4", "the runner's clients")
    dash.wait(lambda s: s["counts"].get("active_clients") == 4, "4 active clients shown")

    # The clients slider, by keyboard: focus it, ArrowRight; the slider, its number box, the
    # runner and the header's "active clients" follow.
    slider = dash.root.locator("input.lmw-clients")
    assert slider.evaluate(SLIDER_STATE) == [1, 64, 1, 4]
    slider.focus()
    page.keyboard.press("ArrowRight")
    state = dash.state()
    assert (state["clients"], state["clients_box"]) == (5, "5"), (
        state, page.evaluate("() => document.activeElement?.className"))
    dash.wait_value(runner_clients, "5", "the runner's clients after ArrowRight")
    dash.wait(lambda s: s["counts"].get("active_clients") == 5, "5 active clients shown")

    # ... and with the mouse: drag the thumb to 8.
    released, values = drag_slider(page, slider, 8)
    assert released == 8, f"the drag ended at {released} (values while dragging: {values})"
    dash.wait_value(runner_clients, "8", "the runner's clients after the drag")
    dash.wait(lambda s: s["counts"].get("active_clients") == 8, "8 active clients shown")

    # Stop: the badge says what happened, the header where the run was saved.
    dash.root.locator(".lmw-stop").click()
    state = dash.wait(lambda s: s["status"] == "stopped" and s["saved"].startswith("Saved to "),
                      "the run stopped and saved", timeout=30)
    assert state["badge"] == "Stopped", state
    folder = Path(state["saved"].removeprefix("Saved to ").strip())
    assert folder.parent == runs, (folder, runs)
    status = json.loads((folder / "run_status.json").read_text())
    assert status["status"] == "stopped", status
    assert json.loads((folder / "stats.json").read_text())["total_requests"] > 0
    return folder, state
