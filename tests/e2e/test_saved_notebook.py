"""A saved notebook, opened later, shows its dashboards' last state with no kernel behind them
(issue 12, finding 1): the bench's notebook (bench/bench_notebook_size.py) with two demo
dashboards, each run once, executed by nbclient and saved with its widget state, then opened in
JupyterLab in Chromium. Nothing is run: the fresh kernel JupyterLab starts has no dashboard.

Every dashboard shows what was saved: its status badge, its table (each cell as Python formats
the saved `stats` with the saved `spec`), its chart boxes; the page reaches only 127.0.0.1, and
raises no error. The dashboards' `_esm` is the small loader: it finds the bundle in the one
shared `DashboardCode` model of the saved state, through the widget manager that restored it.

How JupyterLab 4 with ipywidgets 8 restores (jupyterlab_widgets 3): once the notebook's kernel is
ready, the widget manager asks the kernel for its open widget comms (none: a fresh kernel), then
creates every model of the notebook's metadata `widgets["application/vnd.jupyter.widget-state+
json"]` (not connected to a comm), and re-renders the outputs that waited for them. Widget
outputs are not "safe" output: JupyterLab renders them only in a trusted notebook, so the file
is signed first (else it shows the outputs' text/plain).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import nbformat
import pytest
from nbformat.sign import NotebookNotary
from playwright.sync_api import sync_playwright

from ..chart_pixels import chart_pixels
from ..chromium import launch
from ..saved_notebooks import WIDGET_STATE, models_of, saved_notebook, shown_cells
from ..waiting import wait_until
from .servers import Server, free_port, loopback_only, quiet_jupyter_settings

ROOT = Path(__file__).resolve().parents[2]

# Each dashboard as the page shows it: badge, table cells (data-key -> text), chart boxes, the
# points each live chart draws (the figure it carries, `div.data`: js/plot.js), and the
# loader's message if it could not load the bundle.
READ_DASHBOARDS = """() => [...document.querySelectorAll('div.lmw')].map(root => {
    const badge = root.querySelector('.lmw-badge');
    return {
        status: badge?.dataset.status ?? null,
        badge: badge?.textContent ?? null,
        cells: Object.fromEntries([...root.querySelectorAll('td.lmw-value')].map(
            td => [td.dataset.key, td.textContent])),
        chart_boxes: root.querySelectorAll('.lmw-charts section.lmw-chart').length,
        styled: getComputedStyle(root).getPropertyValue('--lmw-focus').trim() !== '',
        chart_points: [...root.querySelectorAll('.lmw-charts .lmw-plot')].map(
            p => (p.data ?? [])[0]?.x?.length ?? 0),
    };
})"""
LOADER_ERRORS = "() => [...document.querySelectorAll('.lmw-loader-error')].map(e => e.textContent)"


@pytest.fixture(scope="module")
def saved(tmp_path_factory):
    """The notebook with two dashboards, saved with widget state and signed (trusted)."""
    work = tmp_path_factory.mktemp("saved")
    path, _, state = saved_notebook(2, work)
    notary = work / ".notary"
    notary.mkdir()
    nb = nbformat.read(path, as_version=4)
    NotebookNotary(data_dir=str(notary)).sign(nb)
    nbformat.write(nb, path)
    return work, path, notary, state


def test_saved_notebook_shows_its_dashboards_without_a_kernel(saved):
    work, path, notary, state = saved
    dashboards = models_of(state, "Dashboard")
    assert len(dashboards) == 2 and len(models_of(state, "DashboardCode")) == 1
    # the saved state is a finished run's, worth looking at
    assert all(d["status"] == "done" and d["stats"].get("total_requests") for d in
               dashboards.values()), [d["status"] for d in dashboards.values()]
    # in page order: the outputs name their models
    nb = json.loads(path.read_text())
    assert WIDGET_STATE in nb["metadata"]["widgets"]
    order = [o["data"]["application/vnd.jupyter.widget-view+json"]["model_id"]
             for cell in nb["cells"] for o in cell.get("outputs", [])
             if "application/vnd.jupyter.widget-view+json" in o.get("data", {})]
    expected = [{"status": dashboards[i]["status"],
                 "cells": shown_cells(dashboards[i]["spec"], dashboards[i]["stats"])}
                for i in order]
    assert len(expected) == 2
    # the run's series is in the saved state (the run's end put it there, `final`)
    saved_points = [len(json.loads(dashboards[i]["series_delta"]["points_json"])) for i in order]
    assert all(dashboards[i]["series_delta"].get("final") for i in order)
    assert all(n > 0 for n in saved_points), saved_points

    port = free_port()
    url = f"http://127.0.0.1:{port}"
    env = {"JUPYTER_RUNTIME_DIR": str(work / ".runtime"),
           "JUPYTERLAB_WORKSPACES_DIR": str(work / ".workspaces"),
           "JUPYTERLAB_SETTINGS_DIR": str(quiet_jupyter_settings(work))}
    server = Server(
        "JupyterLab",
        [sys.executable, "-m", "jupyterlab", "--no-browser", "--ServerApp.ip=127.0.0.1",
         f"--port={port}", "--IdentityProvider.token=", "--ServerApp.password=",
         "--ServerApp.disable_check_xsrf=True", "--LabApp.expose_app_in_browser=True",
         "--allow-root", f"--ServerApp.root_dir={work}",
         f"--NotebookNotary.data_dir={notary}"],  # where the signature above is known
        ready_url=f"{url}/api/status", log=work / "jupyterlab.log", env=env)
    blocked: list[str] = []
    errors: list[str] = []
    try:
        server.start()
        with sync_playwright() as p:
            browser = launch(p)
            page = browser.new_page(viewport={"width": 1300, "height": 2400})
            loopback_only(page, blocked)
            page.on("pageerror", lambda exc: errors.append(f"pageerror: {exc}"))
            page.goto(f"{url}/lab/tree/{path.name}")
            page.wait_for_function(
                "() => window.jupyterapp?.shell?.currentWidget?.sessionContext?.session?.kernel"
                "?.status === 'idle'", timeout=90_000)
            # JupyterLab 4 keeps trust per cell: every code cell trusted (the signature checked)
            assert page.evaluate(
                "() => window.jupyterapp.shell.currentWidget.content.widgets"
                ".filter(c => c.model.type === 'code').map(c => c.model.trusted)"
            ) == [True, True, True]
            seen: list = []

            def restored() -> bool:
                seen.append({"dashboards": page.evaluate(READ_DASHBOARDS),
                             "loader_errors": page.evaluate(LOADER_ERRORS)})
                shown = seen[-1]["dashboards"]
                return (len(shown) == 2
                        and [{"status": d["status"], "cells": d["cells"]} for d in shown]
                        == expected
                        and all(d["chart_boxes"] >= 3 and d["styled"] for d in shown)
                        and [d["chart_points"] for d in shown] == [[n] * 3 for n in saved_points])

            wait_until(restored, "both dashboards restored as saved", timeout=60,
                       describe=lambda: {"seen": seen[-1] if seen else None,
                                         "expected": expected, "errors": errors},
                       pause=lambda s: page.wait_for_timeout(s * 1000), interval=0.5)
            shown = seen[-1]["dashboards"]
            assert [d["badge"] for d in shown] == ["Done", "Done"], shown
            assert seen[-1]["loader_errors"] == []
            # and the lines are drawn: the throughput chart's first line, in its colour
            color = page.evaluate(
                "() => document.querySelector('.lmw-plot[data-chart=throughput]').data[0].line.color")
            drawn = chart_pixels(page, ".lmw-plot[data-chart=throughput]", [{"color": color}])
            assert drawn and len(drawn["found"][0]) > 10, drawn
            # nothing was run: the kernel has no dashboard, and never sent one
            assert page.evaluate(
                "() => window.jupyterapp.shell.currentWidget.sessionContext.session.kernel"
                ".status") == "idle"
            page.wait_for_timeout(1000)  # let late errors (a failed history request) show
            browser.close()
    finally:
        server.stop()
    assert errors == [], errors
    assert blocked == [], f"the page tried to reach other hosts: {blocked}"
