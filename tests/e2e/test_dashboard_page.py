"""`llmeter-widget dashboard --present`: the dashboard as a page of its own (Voilà on 127.0.0.1),
opened in Chromium at a projector's 1280x720: it renders in presentation mode with no code on
the page, Run drives the simulator through the page's kernel, the run ends and is saved, and
Esc returns to the page's layout."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from playwright.sync_api import sync_playwright

from ..chromium import launch
from .dashboard_page import DashboardPage
from .servers import free_port


def _wait_until_served(log: Path, process: subprocess.Popen, timeout: float = 60) -> None:
    """Until Voilà says it is running (a request would start a kernel, and a simulator, of its
    own: Voilà runs the notebook for each page it serves)."""
    deadline = time.monotonic() + timeout
    while "is running at" not in log.read_text():
        assert process.poll() is None, "the dashboard command exited:\n" + log.read_text()
        assert time.monotonic() < deadline, f"not served within {timeout} s"
        time.sleep(0.2)


def test_the_dashboard_page_runs_a_load_test(tmp_path):
    port, output = free_port(), tmp_path / "runs"
    command = [sys.executable, "-m", "llmeter_widget.cli", "dashboard", "--port", str(port),
               "--clients", "4", "--duration", "3", "--output", str(output), "--present"]
    log = (tmp_path / "page.log").open("w")
    server = subprocess.Popen(command, cwd=tmp_path, stdout=log, stderr=subprocess.STDOUT,
                              start_new_session=True)  # Voilà, its kernel, the simulator
    try:
        url = f"http://127.0.0.1:{port}/"
        _wait_until_served(tmp_path / "page.log", server)
        with sync_playwright() as p:
            browser = launch(p)
            page = browser.new_page(viewport={"width": 1280, "height": 720})
            errors: list[str] = []
            page.on("pageerror", lambda e: errors.append(str(e)))
            page.goto(url)
            page.wait_for_selector(".lmw-run", state="visible", timeout=90_000)
            assert "Dashboard.demo" not in page.content()  # Voilà hides the cell's code
            # --present: the room's layout, filling the window, values in 48 px type
            page.wait_for_selector(".lmw.lmw-presenting", timeout=30_000)
            shown = page.evaluate("""() => { const r = document.querySelector('.lmw')
                .getBoundingClientRect(); return [Math.round(r.width), Math.round(r.height),
                parseFloat(getComputedStyle(document.querySelector('.lmw-num')).fontSize)]; }""")
            assert shown == [1280, 720, 48], shown
            page.click(".lmw-run")
            page.wait_for_function(
                """() => Number(document.querySelector('[data-key="completed"] .lmw-count-value')
                            ?.textContent.replace(/,/g, '')) > 0""", timeout=60_000)
            page.wait_for_selector('.lmw-badge[data-status="done"]', timeout=60_000)
            # the run drawn: the throughput chart's lines are on its canvas
            state = DashboardPage(page).state()
            charts = {c["id"]: c for c in state["charts"]}
            assert charts["throughput"]["points"] > 0 and charts["throughput"]["lines"] > 0, charts
            assert state["styled"]  # the shared stylesheet reached Voila's page
            page.focus(".lmw")
            page.keyboard.press("Escape")  # back to the page's layout
            page.wait_for_selector(".lmw:not(.lmw-presenting)", timeout=10_000)
            browser.close()
        assert errors == []
        statuses = [json.loads(p.read_text())["status"] for p in output.rglob("run_status.json")]
        assert statuses == ["completed"]
    finally:
        try:
            os.killpg(server.pid, signal.SIGTERM)
            server.wait(15)
        except (ProcessLookupError, subprocess.TimeoutExpired):
            os.killpg(server.pid, signal.SIGKILL)
        log.close()
        print(Path(tmp_path / "page.log").read_text()[-3000:])
