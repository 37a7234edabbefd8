"""End to end in Jupyter Notebook 7 (issue 12, "Front ends"): a notebook with a demo dashboard
opened in Chromium at 1280x720, its cell run from the Run menu, then Run, the clients slider
(keyboard, then mouse), Stop, and the run's folder on disk.

The kernel is read through a second client of it (jupyter_client): the runner's own client
count, not what the page says. Notebook 7 is built from JupyterLab's pieces: `window.jupyterapp`
(with `--JupyterNotebookApp.expose_app_in_browser`), the same session and kernel objects, the
same menus; it opens one notebook per browser tab at /notebooks/<path>, behind a token here.
"""

from __future__ import annotations

import sys

import nbformat
from playwright.sync_api import sync_playwright

from ..chromium import launch
from .dashboard_page import DashboardPage, walk_through_a_run
from .servers import Kernel, Server, free_port, loopback_only, quiet_jupyter_settings

TOKEN = "llmeter-e2e"


def write_notebook(path, runs) -> None:
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3",
                                 "language": "python"}
    nb.cells = [
        nbformat.v4.new_markdown_cell("# Dashboard in Notebook 7"),
        nbformat.v4.new_code_cell(
            "from llmeter_widget import Dashboard\n\n"
            f"dash = Dashboard.demo(duration=300, clients=4, max_clients=64, max_tokens=16,\n"
            f"                      output_path={str(runs)!r})\n"
            "dash"),
    ]
    nbformat.write(nb, path)


def test_dashboard_in_notebook7(tmp_path):
    runs = tmp_path / "runs"
    write_notebook(tmp_path / "dashboard.ipynb", runs)
    runtime = tmp_path / ".runtime"
    settings = quiet_jupyter_settings(tmp_path)
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    server = Server(
        "Jupyter Notebook",
        [sys.executable, "-m", "notebook", "--no-browser", f"--port={port}",
         "--ServerApp.ip=127.0.0.1", f"--IdentityProvider.token={TOKEN}",
         f"--ServerApp.root_dir={tmp_path}", "--JupyterNotebookApp.expose_app_in_browser=True",
         "--allow-root"],
        ready_url=f"{url}/api/status?token={TOKEN}", log=tmp_path / "notebook.log",
        env={"JUPYTER_RUNTIME_DIR": str(runtime),
             "JUPYTERLAB_SETTINGS_DIR": str(settings),
             "JUPYTERLAB_WORKSPACES_DIR": str(tmp_path / ".workspaces")},
    )
    kernel = None
    blocked: list[str] = []
    try:
        server.start()
        with sync_playwright() as p:
            browser = launch(p)
            page = browser.new_page(viewport={"width": 1280, "height": 720})
            loopback_only(page, blocked)
            page.goto(f"{url}/notebooks/dashboard.ipynb?token={TOKEN}")
            page.wait_for_function(
                "() => window.jupyterapp?.shell?.currentWidget?.sessionContext?.session"
                "?.kernel?.status === 'idle'", timeout=60_000)
            assert page.evaluate("() => window.jupyterapp.name") == "Jupyter Notebook"
            # Run the cells as a person does: Run menu, Run All Cells.
            page.get_by_role("menuitem", name="Run", exact=True).click()
            page.get_by_role("menuitem", name="Run All Cells", exact=True).click()
            page.locator("div.lmw .lmw-run").wait_for(state="visible", timeout=60_000)
            kernel_id = page.evaluate(
                "() => window.jupyterapp.shell.currentWidget.sessionContext.session.kernel.id")
            kernel = Kernel(runtime / f"kernel-{kernel_id}.json")
            assert kernel.run("print(dash.status, dash.runner.running, dash.clients)") == \
                "idle False 4"

            dash = DashboardPage(page)
            folder, _ = walk_through_a_run(
                dash, lambda: kernel.run("print(dash.runner.active_clients)"), runs)
            # the kernel agrees: the dashboard's status, its clients trait, the saved result
            assert kernel.run("print(dash.status, dash.clients, dash.result_path)") == \
                f"stopped 8 {folder}"
            assert kernel.run("from llmeter_widget import Result\n"
                              "print(Result.load(dash.result_path).status)") == "stopped"
            page.screenshot(path=str(tmp_path / "notebook7.png"))
        assert not blocked, f"the page tried to leave 127.0.0.1: {blocked}"
    finally:
        if kernel is not None:
            try:
                kernel.run("dash.close()")
            finally:
                kernel.close()
        server.stop()
