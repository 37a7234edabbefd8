"""End to end, as a person sees it: JupyterLab in Debian's chromium, a real kernel, the
quickstart notebook, the Run button, the clients slider, Stop, and the result on disk.

The Python side is checked through a second client of the notebook's own kernel
(jupyter_client), so the assertions read the runner's real state, not the page.
Set LLMETER_SCREENSHOT=docs/dashboard.png to refresh the README's picture.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
from jupyter_client import BlockingKernelClient
from playwright.sync_api import sync_playwright

from ..chromium import launch

ROOT = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    assert (ROOT / "llmeter_widget" / "static" / "widget.js").exists(), "run `npm run build` first"
    work = tmp_path_factory.mktemp("lab")
    shutil.copy(ROOT / "notebooks" / "quickstart.ipynb", work / "quickstart.ipynb")
    runtime = work / ".runtime"
    # No "get Jupyter news?" popup over the dashboard.
    notification = work / ".settings" / "@jupyterlab" / "apputils-extension"
    notification.mkdir(parents=True)
    (notification / "notification.jupyterlab-settings").write_text(
        '{"checkForUpdates": false, "fetchNews": "false"}')
    port = free_port()
    env = {**os.environ, "JUPYTER_RUNTIME_DIR": str(runtime),
           "JUPYTERLAB_WORKSPACES_DIR": str(work / ".workspaces"),
           "JUPYTERLAB_SETTINGS_DIR": str(work / ".settings")}
    proc = subprocess.Popen(
        [sys.executable, "-m", "jupyterlab", "--no-browser", "--ServerApp.ip=127.0.0.1",
         f"--port={port}", "--IdentityProvider.token=", "--ServerApp.password=",
         "--ServerApp.disable_check_xsrf=True", "--LabApp.expose_app_in_browser=True",
         "--allow-root", f"--ServerApp.root_dir={work}"],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 90
    while True:
        try:
            with urllib.request.urlopen(f"{url}/api/status", timeout=2):
                break
        except OSError:
            if proc.poll() is not None or time.monotonic() > deadline:
                proc.kill()
                pytest.fail(f"JupyterLab did not start: {proc.stderr.read()[-2000:]}")
            time.sleep(0.5)
    yield url, work, runtime
    proc.terminate()
    try:
        proc.wait(timeout=20)
    except subprocess.TimeoutExpired:
        proc.kill()


class Kernel:
    """A second client of the notebook's kernel: runs code there and returns what it printed."""

    def __init__(self, connection_file: Path) -> None:
        self.client = BlockingKernelClient()
        self.client.load_connection_file(str(connection_file))
        self.client.start_channels()
        self.client.wait_for_ready(timeout=30)

    def run(self, code: str) -> str:
        out: list[str] = []

        def hook(msg):
            if msg["msg_type"] == "stream":
                out.append(msg["content"]["text"])
            elif msg["msg_type"] == "error":
                out.append("ERROR " + "\n".join(msg["content"]["traceback"]))

        self.client.execute_interactive(code, output_hook=hook, timeout=30)
        return "".join(out).strip()

    def wait_for(self, code: str, expected: str, timeout: float = 20) -> str:
        deadline = time.monotonic() + timeout
        while True:
            got = self.run(code)
            if got == expected or time.monotonic() > deadline:
                return got
            time.sleep(0.5)

    def close(self) -> None:
        self.client.stop_channels()


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
            # drag the clients slider to 24, past the simulator's 16 batch slots (input while
            # dragging, change on release)
            page.evaluate("""() => {
                const s = document.querySelector('input.lmw-clients');
                s.value = '24';
                s.dispatchEvent(new Event('input', {bubbles: true}));
                s.dispatchEvent(new Event('change', {bubbles: true}));
            }""")
            got = kernel.wait_for("print(dash.runner.active_clients)", "24")
            assert got == "24", kernel.run(  # what the kernel saw, to tell a lost message from a slow one
                "print(dash.clients, dash.status, repr(dash.error), dash.runner.running, dash.progress)")
            page.wait_for_function(
                """() => document.querySelector('.lmw-plot[data-chart="latency"]')?.data?.[0]?.x?.length >= 3""",
                timeout=30_000)
            time.sleep(6)  # let the charts show TTFT answering the new load
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
            page.click(".lmw-stop")
            page.wait_for_selector('[data-status="done"]', timeout=30_000)
            loaded = kernel.run(
                "r = Result.load(dash.result_path); "
                "print(r.status, r.stats['total_requests'] > 0, 'time_to_first_token-p95' in r.stats)")
            assert loaded == "stopped True True"
            assert (work / "runs").is_dir()
        finally:
            kernel.run("dash.close()")
            kernel.close()
            browser.close()
