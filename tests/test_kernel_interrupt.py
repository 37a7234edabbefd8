"""A kernel interrupt (the notebook's stop button) during an awaited run, in a real kernel:
the run ends "interrupted", in-flight requests are saved as cancelled, the folder loads."""

from __future__ import annotations

import json

from typing import Callable

import pytest
from jupyter_client import KernelManager

from .waiting import wait_until


@pytest.fixture
def kernel(tmp_path):
    km = KernelManager(kernel_name="python3")
    km.start_kernel(cwd=str(tmp_path))
    kc = km.client()
    kc.start_channels()
    kc.wait_for_ready(timeout=60)
    yield km, kc
    kc.stop_channels()
    km.shutdown_kernel(now=True)


def run(km, kc, code: str, interrupt_when: Callable[[], bool] | None = None) -> str:
    """Execute `code`; return what it printed and any error as 'ERROR Name'. With
    `interrupt_when`, interrupt the kernel (the notebook's stop button) once it is true."""
    msg_id = kc.execute(code)
    if interrupt_when is not None:
        wait_until(interrupt_when, "the awaited run to be under way", timeout=30)
        km.interrupt_kernel()
    out: list[str] = []
    while True:
        msg = kc.get_iopub_msg(timeout=60)
        if msg["parent_header"].get("msg_id") != msg_id:
            continue
        kind = msg["msg_type"]
        if kind == "stream":
            out.append(msg["content"]["text"])
        elif kind == "error":
            out.append(f"ERROR {msg['content']['ename']}")
        elif kind == "status" and msg["content"]["execution_state"] == "idle":
            return "".join(out).strip()


@pytest.mark.parametrize("await_what", ["runner.run(clients=3, run_duration=60, run_name='cut')",
                                        "dash.run()"])
def test_interrupting_an_awaited_run_keeps_what_was_measured(kernel, await_what, tmp_path):
    km, kc = kernel
    setup = run(km, kc, (
        "from llmeter_widget import Dashboard, Result, Runner\n"
        "from llmeter_widget.endpoints import OpenAIChatEndpoint\n"
        "from llmeter_widget.simulator import SimulatedServer\n"
        "server = SimulatedServer(mode='fixed', ttft=0.02, itl=0.01)\n"
        "await server.start()\n"
        "runner = Runner(OpenAIChatEndpoint(base_url=server.base_url, model='sim'),\n"
        "                OpenAIChatEndpoint.create_payload('hi', max_tokens=30),\n"
        "                output_path='runs', live_view=False, run_name='cut')\n"
        "dash = Dashboard(runner=runner, duration=60, clients=3)\n"
        "print('ready')"))
    assert setup == "ready"
    responses = tmp_path / "runs" / "cut" / "responses.jsonl"  # the kernel's cwd is tmp_path

    def under_way() -> bool:  # requests have finished, and the 3 clients have more in flight
        return responses.exists() and len(responses.read_text().splitlines()) >= 3

    interrupted = run(km, kc, f"result = await {await_what}", interrupt_when=under_way)
    assert interrupted.startswith("ERROR")  # the cell stops (CancelledError / KeyboardInterrupt)
    check = run(km, kc, (
        "r = Result.load(runner.last_result.output_path)\n"
        "print(r.status, r.stats['total_requests'] > 0, r.stats['cancelled_requests'], "
        "runner.running, dash.status)"))
    status, measured, cancelled, running, dash_status = check.split()
    assert status == "interrupted" and measured == "True" and cancelled == "3"
    # every request sent is on disk: those finished and the 3 cancelled
    lines = responses.read_text().splitlines()
    assert sum(json.loads(line)["error_type"] == "cancelled" for line in lines) == 3
    assert running == "False"
    assert dash_status == "interrupted"  # as run_status.json says
