"""End to end in marimo (issue 12, "Front ends"): the dashboard wrapped in `mo.ui.anywidget`,
in a marimo app opened in Chromium at 1280x720, then Run, the clients slider (keyboard, then
mouse), Stop, and the run's folder on disk.

Both ways of serving a notebook are tested, because they run the dashboard differently:
`marimo edit` runs the cells in a kernel process of its own (cells run when the person presses
"run all"); `marimo run` serves the notebook as an app, each browser session's cells running
on a thread of the server (they run when the page opens).

There is no second kernel client in marimo: what the kernel sees is shown by a probe cell that
reads `dash.clients` and the runner's own client count, and that marimo re-runs every second
(`mo.ui.refresh`) and whenever the page changes the widget (it reads `widget.value`).

The notebook users open, notebooks/marimo_demo.py, is checked to run too.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest
from playwright.sync_api import sync_playwright

from ..chromium import launch
from ..waiting import wait_until
from .dashboard_page import DashboardPage, walk_through_a_run
from .servers import Server, free_port, loopback_only

ROOT = Path(__file__).resolve().parents[2]

APP = '''import marimo

app = marimo.App(width="full")


@app.cell
def _():
    import marimo as mo
    from llmeter_widget import Dashboard
    return Dashboard, mo


@app.cell
def _(Dashboard, mo):
    dash = Dashboard.demo(duration=300, clients=4, max_clients=64, max_tokens=16,
                          output_path=RUNS)
    widget = mo.ui.anywidget(dash)
    widget
    return dash, widget


@app.cell
def _(mo):
    tick = mo.ui.refresh(default_interval="1s")
    tick
    return (tick,)


@app.cell
def _(dash, mo, tick, widget):
    # re-run every second (tick) and whenever the page changes the widget
    tick.value, widget.value
    mo.Html(f'<span id="lmw-probe">status={dash.status} clients={dash.clients} '
            f'running={dash.runner.running} active={dash.runner.active_clients}</span>')
    return


if __name__ == "__main__":
    app.run()
'''

PROBE = re.compile(r"status=(\w+) clients=(\d+) running=(\w+) active=(\d+)")


def probe(page) -> dict[str, str]:
    """What the probe cell printed last ({} before it ran)."""
    text = page.locator("#lmw-probe").all_text_contents()
    match = PROBE.fullmatch(text[0].strip()) if text else None
    return dict(zip(("status", "clients", "running", "active"), match.groups())) if match else {}


@pytest.mark.parametrize("mode", ["edit", "run"])
def test_dashboard_in_marimo(tmp_path, mode):
    runs = tmp_path / "runs"
    app = tmp_path / "dashboard_app.py"
    app.write_text(APP.replace("RUNS", repr(str(runs))))
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    args = [sys.executable, "-m", "marimo", mode, str(app), "--headless", "--no-token",
            "--host=127.0.0.1", f"--port={port}"]
    if mode == "edit":
        args.append("--skip-update-check")  # `marimo edit` asks PyPI for a newer marimo
    server = Server(
        f"marimo {mode}", args, ready_url=f"{url}/health", log=tmp_path / "marimo.log",
        cwd=tmp_path,
        # marimo's own config (XDG) stays in the test's folder; no update check in any case
        env={"XDG_CONFIG_HOME": str(tmp_path / ".config"), "MARIMO_SKIP_UPDATE_CHECK": "1"},
    )
    blocked: list[str] = []
    try:
        server.start()
        with sync_playwright() as p:
            browser = launch(p)
            page = browser.new_page(viewport={"width": 1280, "height": 720})
            loopback_only(page, blocked)
            frames: list[str] = []
            # (a lambda: Playwright tags its handlers, which a builtin like list.append refuses)
            page.on("websocket", lambda ws: ws.on("framereceived", lambda f: frames.append(f)))
            page.goto(url)
            dash = DashboardPage(page)
            if mode == "edit":
                # The notebook opens with its cells not run; "run all" works once the kernel
                # said it is ready (a click before that is lost).
                wait_until(lambda: any('"kernel-ready"' in str(f) for f in frames),
                           "marimo's kernel ready", timeout=60, pause=dash.pause, interval=0.2)
                page.get_by_test_id("run-button").last.click()  # run all (stale) cells
            dash.root.locator(".lmw-run").wait_for(state="visible", timeout=60_000)
            dash.wait_value(lambda: str(probe(page)), str({"status": "idle", "clients": "4",
                            "running": "False", "active": "0"}), "the probe cell")

            folder, _ = walk_through_a_run(dash, lambda: probe(page).get("active", ""), runs)
            # the kernel agrees: the dashboard's status and clients trait, no run going on
            dash.wait_value(lambda: str(probe(page)), str({"status": "stopped", "clients": "8",
                            "running": "False", "active": "0"}), "the probe cell after Stop")
            page.screenshot(path=str(tmp_path / f"marimo-{mode}.png"))
        assert not blocked, f"the page tried to leave 127.0.0.1: {blocked}"
    finally:
        server.stop()


def test_marimo_demo_notebook_runs(tmp_path):
    """notebooks/marimo_demo.py (`marimo edit notebooks/marimo_demo.py`) is a marimo notebook
    whose cells all run: run as an app from Python, it shows the dashboard wrapped for marimo,
    idle, and the line that follows the sliders."""
    code = (
        "import sys\n"
        f"sys.path.insert(0, {str(ROOT / 'notebooks')!r})\n"
        "from marimo_demo import app\n"
        "outputs, defs = app.run()\n"
        "print(type(outputs[2]).__name__, defs['dash'].status, defs['dash'].clients)\n"
        "print(outputs[3].text)\n"
        "defs['dash'].close()\n"
    )
    done = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True,
                          text=True, timeout=60)
    assert done.returncode == 0, done.stderr[-3000:]
    shown, line = done.stdout.strip().split("\n", 1)
    assert shown == "anywidget idle 4", done.stdout
    assert "Next run: <strong>4 clients</strong> for <strong>30 s</strong>" in line, line
