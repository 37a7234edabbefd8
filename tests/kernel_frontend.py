"""A frontend in a test: a real ipykernel (jupyter_client), spoken to over the real wire.

It does what JupyterLab's widget manager does with a widget: it reads the widget's `comm_open`
and the kernel's `comm_msg`s from iopub, and sends `comm_msg`s on the shell channel
(`{"method": "update", "state": ...}` for a slider, `{"method": "custom", "content": ...}` for a
button). Everything read from iopub is kept, in order, so a test can look at what a view saw.

There is one iopub stream: the output of an execute and the widget's messages arrive mixed,
so every read goes through `pump()`, which files each message where it belongs.
"""

from __future__ import annotations

import queue
import re
import time
from typing import Any, Callable

from jupyter_client import KernelManager

WIDGET_TARGET = "jupyter.widget"
ANSI = re.compile(r"\x1b\[[0-9;]*m")


class KernelFrontend:
    """A kernel plus the bookkeeping a widget frontend keeps for it."""

    def __init__(self, cwd: str) -> None:
        self.km = KernelManager(kernel_name="python3")
        self.km.start_kernel(cwd=cwd)
        self.kc = self.km.client()
        self.kc.start_channels()
        self.kc.wait_for_ready(timeout=60)
        self.opens: list[dict[str, Any]] = []  # comm_open contents, in order
        self.comm_msgs: list[dict[str, Any]] = []  # (kernel -> frontend) comm_msg contents
        self._outputs: dict[str, list[str]] = {}  # execute msg_id -> printed text and errors
        self._idle: set[str] = set()  # execute msg_ids whose cell finished

    def shutdown(self) -> None:
        try:
            self.kc.stop_channels()
        finally:
            self.km.shutdown_kernel(now=True)

    # -- reading iopub ---------------------------------------------------------------------------
    def pump(self, timeout: float = 0.1) -> int:
        """File every iopub message available (waiting up to `timeout` for the first)."""
        n = 0
        while True:
            try:
                msg = self.kc.get_iopub_msg(timeout=timeout if n == 0 else 0)
            except queue.Empty:
                return n
            n += 1
            kind, content = msg["msg_type"], msg["content"]
            parent = msg["parent_header"].get("msg_id")
            if kind == "comm_open":
                self.opens.append(content)
            elif kind == "comm_msg":
                self.comm_msgs.append(content)
            elif parent in self._outputs:
                if kind == "stream":
                    self._outputs[parent].append(content["text"])
                elif kind == "error":
                    self._outputs[parent].append(
                        f"ERROR {content['ename']}: {content['evalue']}\n"
                        + ANSI.sub("", "\n".join(content.get("traceback", []))))
                elif kind == "status" and content["execution_state"] == "idle":
                    self._idle.add(parent)

    def wait_until(self, condition: Callable[[], Any], timeout: float, what: str) -> Any:
        """Pump iopub until `condition()` is truthy; return its value, or fail naming `what`."""
        deadline = time.monotonic() + timeout
        while True:
            value = condition()
            if value:
                return value
            if time.monotonic() > deadline:
                raise AssertionError(f"timed out after {timeout:g} s waiting for {what}")
            self.pump(0.05)

    # -- executing -------------------------------------------------------------------------------
    def execute(self, code: str, timeout: float = 30) -> str:
        """Run a cell; return what it printed (an error fails the test with the traceback)."""
        msg_id = self.kc.execute(code)
        self._outputs[msg_id] = []
        self.wait_until(lambda: msg_id in self._idle, timeout, f"the cell {code[:60]!r}")
        self._drain_shell()
        text = "".join(self._outputs.pop(msg_id))
        self._idle.discard(msg_id)
        assert "ERROR " not in text, f"the cell failed:\n{code}\n{text}"
        return text.strip()

    def barrier(self) -> None:
        """Wait until the kernel has handled every message sent before: the shell channel is
        handled in order, and iopub keeps that order, so what an earlier message made the kernel
        send is on iopub before this empty cell's idle status."""
        self.execute("pass")

    def _drain_shell(self) -> None:
        while True:
            try:
                self.kc.get_shell_msg(timeout=0)
            except queue.Empty:
                return

    # -- the widget ------------------------------------------------------------------------------
    def widget_comm(self, model_name: str) -> str:
        """The comm id of the last widget opened with this `_model_name`."""
        ids = [o["comm_id"] for o in self.opens if o.get("target_name") == WIDGET_TARGET
               and o["data"]["state"].get("_model_name") == model_name]
        assert ids, f"no comm_open for a {model_name} on iopub (saw {len(self.opens)} opens)"
        return ids[-1]

    def send(self, comm_id: str, data: dict[str, Any]) -> None:
        """A comm_msg from the frontend, on the shell channel, as the widget manager sends it."""
        self.kc.shell_channel.send(
            self.kc.session.msg("comm_msg", {"comm_id": comm_id, "data": data}))

    def send_custom(self, comm_id: str, content: dict[str, Any]) -> None:
        """`model.send(content)` in the frontend (a button)."""
        self.send(comm_id, {"method": "custom", "content": content})

    def send_state(self, comm_id: str, state: dict[str, Any]) -> None:
        """`model.set(...); model.save_changes()` in the frontend (a slider)."""
        self.send(comm_id, {"method": "update", "state": state, "buffer_paths": []})

    def updates(self, comm_id: str) -> list[dict[str, Any]]:
        """The state of every `update` the kernel sent for this comm, in order."""
        return [m["data"]["state"] for m in self.comm_msgs
                if m["comm_id"] == comm_id and m["data"].get("method") == "update"]

    def values(self, comm_id: str, trait: str) -> list[Any]:
        """Every value of `trait` the kernel sent for this comm, in order."""
        return [s[trait] for s in self.updates(comm_id) if trait in s]

    def customs(self, comm_id: str) -> list[dict[str, Any]]:
        """The content of every custom message the kernel sent for this comm, in order."""
        return [m["data"]["content"] for m in self.comm_msgs
                if m["comm_id"] == comm_id and m["data"].get("method") == "custom"]
