"""What the end-to-end tests share: a free port, a server process started and always ended, a
second client of a notebook's kernel, and a page that may only talk to 127.0.0.1.

Each front end (JupyterLab, Notebook 7, marimo) is a real server on 127.0.0.1, started by the
test and killed in its `finally`; its log goes to a file (a pipe nobody reads fills up and
blocks the server), whose tail is in the failure message when it does not start.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import time
import urllib.request
from pathlib import Path
from typing import Sequence

import pytest
from jupyter_client import BlockingKernelClient

from ..waiting import wait_until


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def quiet_jupyter_settings(folder: Path) -> Path:
    """A JupyterLab settings folder (JUPYTERLAB_SETTINGS_DIR) in `folder` that asks for no news
    and no update check: no "get Jupyter news?" popup over the dashboard (Notebook 7 shares
    JupyterLab's settings)."""
    settings = folder / ".settings"
    news = settings / "@jupyterlab" / "apputils-extension"
    news.mkdir(parents=True)
    (news / "notification.jupyterlab-settings").write_text(
        '{"checkForUpdates": false, "fetchNews": "false"}')
    return settings


def _answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2):
            return True
    except OSError:
        return False


class Server:
    """A front end's server in its own process group (so its kernels end with it).

    `start()` returns once `ready_url` answers; `stop()` ends the whole group, politely first.
    """

    def __init__(self, name: str, args: Sequence[str], ready_url: str, log: Path,
                 env: dict[str, str] | None = None, cwd: Path | None = None) -> None:
        self.name, self.args, self.ready_url, self.log_path = name, list(args), ready_url, log
        self.env, self.cwd = env, cwd
        self.proc: subprocess.Popen | None = None

    def log_tail(self, n: int = 3000) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-n:]
        except OSError:
            return ""

    def start(self, timeout: float = 90) -> Server:
        log = open(self.log_path, "w")  # noqa: SIM115  (the child writes to it; closed below)
        try:
            self.proc = subprocess.Popen(self.args, env={**os.environ, **(self.env or {})},
                                         cwd=self.cwd, stdout=log, stderr=subprocess.STDOUT,
                                         stdin=subprocess.DEVNULL, start_new_session=True)
        finally:
            log.close()
        proc = self.proc
        try:
            wait_until(lambda: proc.poll() is not None or _answers(self.ready_url),
                       f"{self.name} to answer at {self.ready_url}", timeout=timeout)
        except AssertionError:
            self.stop()
            pytest.fail(f"{self.name} did not start in {timeout} s:\n{self.log_tail()}")
        if proc.poll() is not None:
            pytest.fail(f"{self.name} exited with {proc.returncode}:\n{self.log_tail()}")
        return self

    def stop(self) -> None:
        """End the server and every process it started (kernels, simulators)."""
        proc = self.proc
        if proc is None:
            return
        for sig, wait in ((signal.SIGTERM, 20), (signal.SIGKILL, 10)):
            try:
                os.killpg(proc.pid, sig)
            except ProcessLookupError:
                break
            try:
                proc.wait(timeout=wait)
                break
            except subprocess.TimeoutExpired:
                continue
        # the group may outlive its leader (a kernel being shut down): end what is left
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass


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


def loopback_only(page, blocked: list[str]) -> None:
    """Let the page reach 127.0.0.1 (and inline data/blob URLs) only; list what it tried else.

    The front ends must not need the network: a request elsewhere is aborted and recorded, and
    the test fails on it at the end.
    """

    def route(r):  # noqa: ANN001
        url = r.request.url
        if url.startswith(("http://127.0.0.1", "ws://127.0.0.1", "data:", "blob:")):
            r.continue_()
        else:
            blocked.append(url)
            r.abort()

    page.route("**/*", route)

