"""`llmeter-widget dashboard`: the dashboard as a page of its own, for a room with no code cells.

It writes a one-cell notebook that builds the Dashboard (against `--url`/`--model`, or against
the embedded simulator when no URL is given) and serves it with Voilà, a well-kept Jupyter
project that turns a notebook into a web page: the cell's code is hidden, its widgets are live
(Run, Stop and the sliders drive a real kernel, as in JupyterLab). Voilà binds 127.0.0.1 only.

An API key never enters the notebook: the cell names the environment variable that holds it
(`--api-key-env`), and the kernel Voilà starts inherits the environment.

Example (the notebook's one cell, for the simulator):

    >>> print(dashboard_cell(url=None, model=None, api="chat", api_key_env=None, clients=8,
    ...                      duration=30.0, output="/tmp/runs", max_tokens=48))
    from llmeter_widget import Dashboard
    dash = Dashboard.demo(clients=8, duration=30.0, output_path='/tmp/runs', max_tokens=48)
    dash
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

DEFAULT_PORT = 8866  # Voilà's own default


def dashboard_cell(*, url: str | None, model: str | None, api: str, api_key_env: str | None,
                   clients: int, duration: float, output: str, max_tokens: int,
                   present: bool = False) -> str:
    """The Python source of the page's one cell (repr() quotes every value given by the user);
    `present`: the dashboard opens in presentation mode (`dash.present()`).

    >>> print(dashboard_cell(url=None, model=None, api="chat", api_key_env=None, clients=8,
    ...                      duration=30.0, output="runs", max_tokens=48, present=True))
    from llmeter_widget import Dashboard
    dash = Dashboard.demo(clients=8, duration=30.0, output_path='runs', max_tokens=48)
    dash.present()
    dash
    """
    common = f"clients={clients!r}, duration={duration!r}, output_path={output!r}"
    show = "dash.present()\ndash" if present else "dash"
    if url is None:
        return ("from llmeter_widget import Dashboard\n"
                f"dash = Dashboard.demo({common}, max_tokens={max_tokens!r})\n"
                f"{show}")
    endpoint = "OpenAIChatEndpoint" if api == "chat" else "OpenAICompletionEndpoint"
    return ("from llmeter_widget import Dashboard\n"
            f"from llmeter_widget.endpoints import {endpoint}\n"
            f"endpoint = {endpoint}(base_url={url!r}, model={model!r}, "
            f"api_key_env={api_key_env!r})\n"
            f"payload = {endpoint}.create_payload('Write a short story about a lighthouse keeper.',"
            f" max_tokens={max_tokens!r})\n"
            f"dash = Dashboard(endpoint=endpoint, payload=payload, {common})\n"
            f"{show}")


def write_notebook(folder: Path, cell: str) -> Path:
    """A notebook (nbformat 4) with `cell` as its only code cell."""
    notebook = {
        "cells": [{"cell_type": "code", "execution_count": None, "id": "dashboard",
                   "metadata": {}, "outputs": [], "source": cell}],
        "metadata": {"kernelspec": {"display_name": "Python 3", "language": "python",
                                    "name": "python3"},
                     "language_info": {"name": "python"}},
        "nbformat": 4, "nbformat_minor": 5,
    }
    path = folder / "llmeter-dashboard.ipynb"
    path.write_text(json.dumps(notebook, indent=1), encoding="utf-8")
    return path


def voila_command(notebook: Path, port: int, theme: str) -> list[str]:
    """Voilà serving `notebook` on 127.0.0.1:`port`, without opening a browser."""
    return [sys.executable, "-m", "voila", str(notebook), f"--port={port}", "--no-browser",
            "--Voila.ip=127.0.0.1", f"--theme={theme}", "--Voila.port_retries=0"]


def serve(cell: str, port: int = DEFAULT_PORT, theme: str = "light") -> int:
    """Serve a page whose one cell is `cell` until Ctrl-C; returns Voilà's exit code.

    Raises ValueError naming the fix when Voilà is not installed.
    """
    try:
        import voila  # noqa: F401 (only whether it is there)
    except ImportError:
        raise ValueError("the dashboard page needs Voila: pip install 'llmeter-widget[page]' "
                         "(or pip install voila)") from None
    with tempfile.TemporaryDirectory(prefix="llmeter-page-") as folder:
        notebook = write_notebook(Path(folder), cell)
        print(f"Dashboard page at http://127.0.0.1:{port}/ (Ctrl-C stops it)", file=sys.stderr,
              flush=True)
        env = {**os.environ, "PYTHONUNBUFFERED": "1"}
        process = subprocess.Popen(voila_command(notebook, port, theme), cwd=folder, env=env)
        try:
            return process.wait()
        except KeyboardInterrupt:
            process.terminate()
            try:
                process.wait(10)
            except subprocess.TimeoutExpired:
                process.kill()
            return 130
