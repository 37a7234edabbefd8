"""End to end, as a person sees it: JupyterLab in Debian's chromium, a real kernel, the
quickstart notebook, the Run button, the sliders (real mouse and keyboard), the stats table,
Stop, and the result on disk.

The Python side is checked through a second client of the notebook's own kernel
(jupyter_client), so the assertions read the runner's real state, not the page. The table's
final text is compared cell by cell with `display.format_value` (Python) applied to the kernel's
`dash.stats` and `dash.spec`: the page formats with js/format.js, an independent implementation
that tests/fixtures/format_cases.json holds to the same output.
Set LLMETER_SCREENSHOT=docs/dashboard.png to refresh the README's picture.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import sys
import time
from pathlib import Path

import pytest
from playwright.sync_api import sync_playwright

from llmeter_widget.display import format_value

from ..chromium import launch
from .dashboard_page import SLIDER_STATE, drag_slider, key_target
from .servers import Kernel, Server, free_port, quiet_jupyter_settings

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    assert (ROOT / "llmeter_widget" / "static" / "widget.js").exists(), "run `npm run build` first"
    work = tmp_path_factory.mktemp("lab")
    shutil.copy(ROOT / "notebooks" / "quickstart.ipynb", work / "quickstart.ipynb")
    runtime = work / ".runtime"
    settings = quiet_jupyter_settings(work)
    port = free_port()
    env = {"JUPYTER_RUNTIME_DIR": str(runtime),
           "JUPYTERLAB_WORKSPACES_DIR": str(work / ".workspaces"),
           "JUPYTERLAB_SETTINGS_DIR": str(settings)}
    url = f"http://127.0.0.1:{port}"
    server = Server(
        "JupyterLab",
        [sys.executable, "-m", "jupyterlab", "--no-browser", "--ServerApp.ip=127.0.0.1",
         f"--port={port}", "--IdentityProvider.token=", "--ServerApp.password=",
         "--ServerApp.disable_check_xsrf=True", "--LabApp.expose_app_in_browser=True",
         "--allow-root", f"--ServerApp.root_dir={work}"],
        ready_url=f"{url}/api/status", log=work / "jupyterlab.log", env=env)
    try:
        server.start()
        yield url, work, runtime
    finally:
        server.stop()


# -- the stats table ---------------------------------------------------------------------------

# Every group table of the dashboard, in page order: its name, then per cell its label, its
# data-key and the text a person reads (the whole value cell: number, unit, overlay lines).
READ_TABLE = """() => [...document.querySelectorAll('div.lmw .lmw-stats table.lmw-group')].map(t => ({
    group: t.dataset.group,
    labels: [...t.querySelectorAll('th.lmw-stat-label')].map(th => ({
        id: th.dataset.id ?? null,
        label: th.querySelector('.lmw-stat-label-text')?.textContent ?? null})),
    cells: [...t.querySelectorAll('td.lmw-value')].map(td => ({
        key: td.dataset.key ?? null, text: td.textContent})),
}))"""


def expected_table(spec: dict, stats: dict) -> list[dict]:
    """What the page must show, from the kernel's spec and stats, formatted by Python."""
    return [
        {"group": group["name"],
         "labels": [{"id": s["id"], "label": s["label"]} for s in group["stats"]],
         "cells": [{"key": s["key"],
                    "text": format_value(stats.get(s["key"]), s["unit"],
                                         invert=s["invert"], scale=s["scale"])}
                   for s in group["stats"]]}
        for group in spec["groups"]
    ]


def table_diff(expected: list[dict], shown: list[dict]) -> list[str]:
    """Readable differences between the expected table and the page's ([] when equal)."""
    diff = []
    if [g["group"] for g in expected] != [g["group"] for g in shown]:
        diff.append(f"groups: expected {[g['group'] for g in expected]}, "
                    f"page {[g['group'] for g in shown]}")
    for want, got in zip(expected, shown):
        if want["labels"] != got["labels"]:
            diff.append(f"{want['group']} labels: expected {want['labels']}, page {got['labels']}")
        if len(want["cells"]) != len(got["cells"]):
            diff.append(f"{want['group']}: {len(want['cells'])} cells expected, "
                        f"{len(got['cells'])} in the page")
        for w, g in zip(want["cells"], got["cells"]):
            if w != g:
                diff.append(f"{want['group']} {w['key']!r}: expected {w['text']!r}, "
                            f"page shows {g['text']!r} (data-key {g['key']!r})")
    return diff


def test_dashboard_in_jupyterlab(lab):
    url, work, runtime = lab
    with sync_playwright() as p:
        browser = launch(p)
        page = browser.new_page(viewport={"width": 1300, "height": 2200})
        page.goto(f"{url}/lab/tree/quickstart.ipynb")
        page.wait_for_function(
            "() => window.jupyterapp?.shell?.currentWidget?.sessionContext?.session?.kernel?.status === 'idle'",
            timeout=90_000)
        # Run the title cell and the dashboard cell only: the person presses Run.
        page.evaluate("""async () => {
            const app = window.jupyterapp;
            app.shell.currentWidget.content.activeCellIndex = 0;
            await app.commands.execute('notebook:run-cell-and-select-next');
            await app.commands.execute('notebook:run-cell-and-select-next');
        }""")
        page.wait_for_selector(".lmw-run", state="visible", timeout=90_000)
        kernel_id = page.evaluate(
            "() => window.jupyterapp.shell.currentWidget.sessionContext.session.kernel.id")
        kernel = Kernel(runtime / f"kernel-{kernel_id}.json")
        try:
            assert kernel.run("print(dash.status, dash.runner.running)") == "idle False"
            page.click(".lmw-run")
            # the table fills with numbers
            page.wait_for_function(
                """() => { const c = document.querySelector('[data-key="time_to_first_token-p50"]');
                           return c && /\\d/.test(c.textContent); }""", timeout=30_000)
            assert kernel.wait_for("print(dash.runner.active_clients)", "4") == "4"
            active = "print(dash.runner.active_clients)"
            # what the kernel saw, to tell a lost message from a slow one
            seen = "print(dash.clients, dash.status, repr(dash.error), dash.runner.running, dash.progress)"

            # The duration slider, by keyboard: End is its maximum, and the running run is
            # extended to it (also so the demo's 30 s run outlasts the steps below).
            duration = page.locator("div.lmw input.lmw-duration")
            duration.focus()
            page.keyboard.press("End")
            top = duration.evaluate(SLIDER_STATE)[1]
            want = f"{float(top)!r} {float(top)!r}"
            got = kernel.wait_for("print(dash.duration, dash.progress.get('duration'))", want)
            assert got == want, kernel.run(seen)

            # Every clients change the kernel receives, in order.
            assert kernel.run("_e2e_clients = []\n"
                              "dash.observe(lambda c: _e2e_clients.append(c['new']), 'clients')"
                              ) == ""
            clients = page.locator("div.lmw input.lmw-clients")
            box = page.locator("div.lmw input.lmw-clients-box")  # the number box beside it

            # The clients slider, by keyboard: each press moves the slider, its number box and
            # the running run's clients, one message per press. A press that misses is recorded
            # (with what JupyterLab did with it instead) and reported at the end, so the rest of
            # the test still runs.
            page.evaluate("""() => { window._e2eCommands = [];
                window.jupyterapp.commands.commandExecuted.connect(
                    (_, args) => window._e2eCommands.push(args.id)); }""")
            lo, hi, step, value = clients.evaluate(SLIDER_STATE)
            assert (lo, hi, step, value) == (1, 64, 1, 4)
            moved, missed = [], []
            for key in ["ArrowRight", "ArrowRight", "ArrowLeft", "Home", "PageUp", "ArrowUp",
                        "ArrowDown", "PageDown"]:
                clients.focus()
                page.evaluate("() => { window._e2eCommands.length = 0; }")
                want = key_target(key, value, lo, hi, step)
                page.keyboard.press(key)
                shown = clients.evaluate("s => Number(s.value)")
                if shown != want:
                    missed.append(
                        f"{key} on the clients slider at {value}: it shows {shown}, not {want}; "
                        f"JupyterLab ran {page.evaluate('() => window._e2eCommands')} and focus "
                        "went to ." + page.evaluate("() => document.activeElement.className")
                        .replace(" ", "."))
                    value = shown
                    continue
                assert box.input_value() == str(int(want)), (key, box.input_value())
                got = kernel.wait_for(active, str(int(want)))
                assert got == str(int(want)), f"{key}: {kernel.run(seen)}"
                moved.append(int(want))
                value = want
            assert moved, "no key moved the clients slider"
            assert kernel.run("print(_e2e_clients)") == str(moved)

            # ... by typing in its number box (issue 12, defect 2): Tab from the slider, 42,
            # Enter; the box shows JupyterLab's keyboard focus, the slider and the run follow.
            assert kernel.run("_e2e_clients.clear()") == ""
            clients.focus()
            page.keyboard.press("Tab")
            assert page.evaluate("() => document.activeElement.classList.contains('lmw-clients-box')"), \
                page.evaluate("() => document.activeElement.className")
            ring = box.evaluate("b => [b.matches(':focus-visible'), getComputedStyle(b).outlineStyle,"
                                " parseFloat(getComputedStyle(b).outlineWidth)]")
            assert ring[0] and ring[1] == "solid" and ring[2] >= 2, ring
            page.keyboard.press("Control+A")
            page.keyboard.type("42")
            page.keyboard.press("Enter")
            assert clients.evaluate("s => Number(s.value)") == 42
            got = kernel.wait_for(active, "42")
            assert got == "42", kernel.run(seen)
            assert kernel.run("print(_e2e_clients)") == "[42]"

            # ... and with the mouse: drag the thumb to 24, past the simulator's 16 batch slots.
            # The box follows the drag; the kernel hears once, on release.
            assert kernel.run("_e2e_clients.clear()") == ""
            released, values = drag_slider(page, clients, 24)
            assert released == 24, f"the drag ended at {released} (values while dragging: {values})"
            assert box.input_value() == "24"
            got = kernel.wait_for(active, "24")
            assert got == "24", kernel.run(seen)
            assert kernel.run("print(_e2e_clients)") == "[24]"
            page.wait_for_function(
                """() => document.querySelector('.lmw-plot[data-chart="latency"]')?.data?.[0]?.x?.length >= 3""",
                timeout=30_000)
            time.sleep(6)  # let the charts show TTFT answering the new load
            # styled by the shared stylesheet the loader put in the page (no dashboard has _css)
            assert page.evaluate("() => getComputedStyle(document.querySelector('div.lmw'))"
                                 ".getPropertyValue('--lmw-focus').trim()") != ""
            screenshot = os.environ.get("LLMETER_SCREENSHOT")
            widget = page.locator("div.lmw").first
            widget.screenshot(path=screenshot or str(work / "dashboard.png"))
            # add a stat while the run goes on: a typo is answered in the form, then the right key
            page.click(".lmw-stat-add")
            page.fill(".lmw-stat-key", "time_to_frist_token-p95")
            page.fill(".lmw-stat-label-input", "p95")
            page.press(".lmw-stat-label-input", "Enter")
            page.wait_for_function(
                "() => /Did you mean 'time_to_first_token-p95'/.test("
                "document.querySelector('.lmw-stat-error')?.textContent || '')", timeout=15_000)
            page.fill(".lmw-stat-key", "time_to_first_token-p95")
            page.press(".lmw-stat-key", "Enter")
            page.wait_for_function(
                """() => { const c = document.querySelector('[data-key="time_to_first_token-p95"]');
                           return c && /\\d/.test(c.textContent); }""", timeout=15_000)
            ids = "print(sorted(i for i in (dash.live_stats.stat_id(s) for s in dash.live_stats.stats) if i.startswith('TTFT')), dash.runner.running)"
            assert kernel.run(ids) == "['TTFT/p50', 'TTFT/p90', 'TTFT/p95', 'TTFT/p99'] True"
            # and remove one
            page.click('th[data-id="TTFT/p50"] .lmw-stat-remove')
            page.wait_for_selector('[data-key="time_to_first_token-p50"]', state="detached",
                                   timeout=15_000)
            assert kernel.run(ids) == "['TTFT/p90', 'TTFT/p95', 'TTFT/p99'] True"
            # from code: a cell a Python function computes (key "<key>|<label>"), a scaled one,
            # and a latency below a second (shown in ms)
            assert kernel.run(
                "dash.add_stat('p90 x1000', 'time_to_first_token-p90', unit='ms', "
                "transform=lambda v: v * 1000)\n"
                "dash.add_stat('Output per hour', 'output_tps', unit='tok/h', transform=3600)\n"
                "dash.add_stat('TPOT p50', 'time_per_output_token-p50', unit='s')") == ""
            page.wait_for_selector('[data-key="time_to_first_token-p90|p90 x1000"]', timeout=15_000)
            # the table's scope (issue 12, defect 5): "last 10 s" asks the kernel for the window's
            # figures, which the table then shows; back to the whole run before Stop
            page.click("div.lmw .lmw-scope-button[data-scope='window']")
            window = kernel.wait_for(
                "print(dash.table_scope, dash.runner.stats.want_window_stats, "
                "bool(dash.window_stats.get('stats', {}).get('total_requests')))",
                "window True True")
            assert window == "window True True", kernel.run(seen)
            page.wait_for_function(
                """() => /last 10 s/.test(document.querySelector('div.lmw .lmw-scope-caption').textContent)
                   && /\\d/.test(document.querySelector('div.lmw [data-key="time_to_first_token-p90"]').textContent)""",
                timeout=15_000)
            page.click("div.lmw .lmw-scope-button[data-scope='run']")
            assert kernel.wait_for("print(dash.table_scope, dash.window_stats)", "run {}") == "run {}"
            page.click(".lmw-stop")
            # the badge says what happened (issue 12, defect 4): stopped, as run_status.json
            page.wait_for_selector('.lmw-badge[data-status="stopped"]', timeout=30_000)
            assert page.text_content("div.lmw .lmw-badge") == "Stopped"

            # After Stop, every cell shows the kernel's final value, formatted as Python formats
            # it (display.format_value, held to js/format.js by tests/fixtures/format_cases.json).
            # Polled: the last stats may reach the page just after the status.
            final = ("import json; print(json.dumps({'status': dash.status, 'spec': dash.spec, "
                     "'stats': dash.stats}))")
            deadline = time.monotonic() + 20
            while True:
                state = json.loads(kernel.run(final))
                expected = expected_table(state["spec"], state["stats"])
                shown = page.evaluate(READ_TABLE)
                diff = table_diff(expected, shown)
                if not diff or time.monotonic() > deadline:
                    break
                time.sleep(0.5)
            assert state["status"] == "stopped"
            assert not diff, "the table differs from dash.stats:\n" + "\n".join(diff)
            n_cells = sum(len(g["stats"]) for g in state["spec"]["groups"])
            assert page.locator("div.lmw td.lmw-value").count() == n_cells
            assert sum(len(g["cells"]) for g in shown) == n_cells
            cells = {(g["group"], head["label"]): (cell["key"], cell["text"]) for g in shown
                     for head, cell in zip(g["labels"], g["cells"])}
            stats = state["stats"]
            assert stats["total_requests"] > 0
            assert cells["Throughput", "Requests"] == (
                "total_requests", f"{stats['total_requests']:,}")
            # the edited cells are there, with numbers: the added p95, a cell computed by a
            # Python function (its own key), a scaled one; the removed p50 is gone
            assert re.fullmatch(r"\d+ ms|\d+\.\d\d s", cells["TTFT", "p95"][1]), cells
            key, text = cells["TTFT", "p90 x1000"]
            assert key == "time_to_first_token-p90|p90 x1000", key
            assert stats[key] == pytest.approx(stats["time_to_first_token-p90"] * 1000)
            assert re.fullmatch(r"[\d,.]+ ms", text), text
            key, text = cells["Throughput", "Output per hour"]
            assert key == "output_tps" and re.fullmatch(r"[\d,]+ tok/h", text), (key, text)
            assert re.fullmatch(r"\d+ ms", cells["Tokens", "TPOT p50"][1]), cells
            assert ("TTFT", "p50") not in cells
            loaded = kernel.run(
                "r = Result.load(dash.result_path); "
                "print(r.status, r.stats['total_requests'] > 0, 'time_to_first_token-p95' in r.stats)")
            assert loaded == "stopped True True"
            assert (work / "runs").is_dir()
            # reported last, so that a keyboard bug does not hide the checks above
            assert not missed, "keys that did not reach the slider:\n" + "\n".join(missed)
        finally:
            kernel.run("dash.close()")
            kernel.close()
            browser.close()
