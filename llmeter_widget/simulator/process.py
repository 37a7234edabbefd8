"""Run the simulator in a child process (`python -m llmeter_widget.simulator ...`).

A separate process keeps the server off the load generator's event loop and CPU time slice, so
measurements of the client are not bent by the server's own work.

The child must not outlive us: `stop()` ends it, an atexit hook ends any still running, and the
child watches its stdin pipe (`--watch-stdin`) so it exits on its own if we die without cleanup
(the OS closes our end of the pipe even on SIGKILL).
"""

from __future__ import annotations

import asyncio
import atexit
import json
import os
import queue
import re
import subprocess
import sys
import tempfile
import threading
import urllib.request
import weakref
from pathlib import Path
from typing import IO, Any

from .config import SimulatorConfig

LISTENING_PREFIX = "llmeter-widget simulator listening on "
_URL_RE = re.compile(r"listening on (http://\S+)")

_live: weakref.WeakSet[SimulatorProcess] = weakref.WeakSet()


class SimulatorProcess:
    """A simulator running in a child process. Use `SimulatedServer.spawn()` to make one.

    Example::

        proc = SimulatedServer.spawn(mode="fixed", ttft=0.1)
        try:
            ...  # send requests to proc.base_url
        finally:
            proc.stop()

        # or: with SimulatedServer.spawn() as proc: ...
        # or: async with SimulatedServer.spawn() as proc: ...
    """

    def __init__(self, popen: subprocess.Popen[bytes], base_url: str, stderr_file: IO[bytes],
                 config: SimulatorConfig) -> None:
        self._popen = popen
        self._stderr_file = stderr_file
        self.base_url = base_url
        self.config = config
        _live.add(self)

    @property
    def url(self) -> str:
        """The server root, e.g. http://127.0.0.1:8000."""
        return self.base_url[: -len("/v1")]

    @property
    def port(self) -> int:
        return int(self.url.rsplit(":", 1)[1])

    @property
    def pid(self) -> int:
        return self._popen.pid

    @property
    def returncode(self) -> int | None:
        """None while the child runs, else its exit code."""
        return self._popen.poll()

    def is_running(self) -> bool:
        return self._popen.poll() is None

    def stop(self, timeout: float = 5.0) -> None:
        """Terminate the child (SIGTERM, then SIGKILL after `timeout`) and wait for it.

        Safe to call more than once; `returncode` has its exit code. Returns None, so a
        notebook cell ending in `server.stop()` shows nothing (it showed the exit code, 0).
        """
        _terminate(self._popen, timeout)
        if not self._stderr_file.closed:
            self._stderr_file.close()
        _live.discard(self)

    def stats(self, timeout: float = 5.0) -> dict[str, Any]:
        """The child's counters (GET /simulator/stats), as SimulatedServer.stats() gives them:
        requests_served, requests_cancelled, requests_rejected, connections_dropped,
        faults_injected and peak_active (the most requests served at once). Blocking: from async code, `await asyncio.to_thread(proc.stats)`."""
        # no proxy: the child is on this machine, whatever http_proxy says
        opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
        with opener.open(self.url + "/simulator/stats", timeout=timeout) as resp:
            return json.loads(resp.read())

    def stderr_text(self) -> str:
        """What the child wrote to stderr so far."""
        if self._stderr_file.closed:
            return ""
        self._stderr_file.flush()
        self._stderr_file.seek(0)
        return self._stderr_file.read().decode(errors="replace")

    def __enter__(self) -> SimulatorProcess:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    async def __aenter__(self) -> SimulatorProcess:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        # stop() waits for the child: keep the event loop free meanwhile
        await asyncio.to_thread(self.stop)

    def __del__(self) -> None:
        # dropped without stop(): do not leave the child running
        popen = getattr(self, "_popen", None)
        if popen is not None and popen.poll() is None:
            try:
                popen.kill()
            except OSError:
                pass

    def __repr__(self) -> str:
        state = "running" if self.is_running() else f"exited {self.returncode}"
        return f"<SimulatorProcess pid={self.pid} {self.base_url} {state}>"


def spawn(config: SimulatorConfig, *, timeout: float = 15.0,
          python: str | None = None) -> SimulatorProcess:
    """Start `python -m llmeter_widget.simulator` with `config`; return once it is listening.

    Raises RuntimeError (with the child's stderr) if the child exits or does not print its
    listening line within `timeout` seconds.
    """
    cmd = [python or sys.executable, "-m", "llmeter_widget.simulator", *config.to_argv(),
           "--watch-stdin"]
    env = os.environ.copy()
    # the child must import this same package, even when it is not installed
    package_root = str(Path(__file__).resolve().parents[2])
    env["PYTHONPATH"] = os.pathsep.join(p for p in (package_root, env.get("PYTHONPATH")) if p)
    # stderr goes to a file, not a pipe: nobody reads it while the child runs, and a full pipe
    # would block the child
    stderr_file = tempfile.TemporaryFile()
    popen = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                             stderr=stderr_file, env=env)
    lines: queue.Queue[str] = queue.Queue()
    threading.Thread(target=_read_stdout, args=(popen.stdout, lines), daemon=True,
                     name=f"sim-stdout-{popen.pid}").start()
    try:
        first = lines.get(timeout=timeout)
    except queue.Empty:
        first = None
    match = _URL_RE.search(first) if first else None
    if match is None:
        code = _terminate(popen)
        err = _read_all(stderr_file)
        stderr_file.close()
        if first is None:
            what = f"did not print its listening line within {timeout} s"
        elif first == "":
            what = f"exited with code {code} before listening"
        else:
            what = f"printed {first!r} instead of its listening line"
        raise RuntimeError(
            f"simulator process {what}.\ncommand: {' '.join(cmd)}\nstderr:\n{err or '(empty)'}")
    return SimulatorProcess(popen, match.group(1), stderr_file, config)


def _terminate(popen: subprocess.Popen[bytes], timeout: float = 5.0) -> int | None:
    """SIGTERM, then SIGKILL after `timeout`; wait; close our pipe ends. Returns the exit code."""
    if popen.poll() is None:
        try:
            popen.terminate()
            popen.wait(timeout)
        except subprocess.TimeoutExpired:
            popen.kill()
            popen.wait()
        except OSError:  # already gone
            pass
    for stream in (popen.stdin, popen.stdout):
        if stream is not None:
            try:
                stream.close()
            except OSError:
                pass
    return popen.returncode


def _read_stdout(stdout: IO[bytes], lines: queue.Queue[str]) -> None:
    # first line -> spawn(); then keep draining so the child never blocks on a full pipe
    first = True
    try:
        for raw in stdout:
            if first:
                lines.put(raw.decode(errors="replace").strip())
                first = False
    except (OSError, ValueError):  # closed by stop()
        pass
    if first:
        lines.put("")  # EOF before any line: the child died


def _read_all(file: IO[bytes]) -> str:
    try:
        file.seek(0)
        return file.read().decode(errors="replace").strip()
    except (OSError, ValueError):
        return ""


@atexit.register
def _stop_all() -> None:
    for proc in list(_live):
        proc.stop(timeout=2.0)
