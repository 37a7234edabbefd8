"""The Dashboard in a real kernel, driven over the real wire as JupyterLab's widget manager does.

tests/test_widget.py drives the Python side through a fake comm. Here an ipykernel is started
with jupyter_client; the test reads the widget's comm_open and the kernel's comm_msgs on iopub
and sends the frontend's comm_msgs on the shell channel (tests/kernel_frontend.py). What the
kernel really did is read back with a second cell.

One kernel and one dashboard are shared by the tests (Run, the clients slider, Stop, a late view
asking for the history). Tests run in any order (pytest-randomly) and alone (`-k`): each brings
the run to the state it needs (`Session.running()`, `Session.stopped()`).
"""

from __future__ import annotations

import json
import os
import time
from typing import Any

import pytest

from .kernel_frontend import KernelFrontend

DURATION = 120  # longer than the file: the run ends by Stop, not by itself
# The endpoint's API key and header: they reach the kernel through its environment (no cell's
# source holds them, since the kernel echoes every cell's code on iopub), and must never be
# in anything the kernel sends to a frontend.
SECRETS = {"LLMETER_TEST_KEY": "sk-kernel-secret-4242", "LLMETER_TEST_HEADER": "hdr-secret-5151"}
SETUP = f"""
import asyncio
import json
import os
from IPython.display import display
from llmeter_widget import Dashboard, Result
from llmeter_widget.endpoints import OpenAIChatEndpoint
from llmeter_widget.simulator import SimulatedServer
server = SimulatedServer(mode='fixed', ttft=0.02, itl=0.01)
await server.start()
dash = Dashboard(endpoint=OpenAIChatEndpoint(base_url=server.base_url, model='sim',
                                             api_key=os.environ['LLMETER_TEST_KEY'],
                                             headers={{'X-Auth': os.environ['LLMETER_TEST_HEADER']}}),
                 payload=OpenAIChatEndpoint.create_payload('hi', max_tokens=5),
                 output_path='runs', duration={DURATION}, clients=2)
display(dash)
print('ready')
"""
TEARDOWN = """
dash.stop()
for _ in range(100):
    if not dash.running:
        break
    await asyncio.sleep(0.05)
await server.stop()
print('down')
"""


class Session:
    """The shared kernel, the dashboard's comm, and where the run stands.

    pytest-randomly shuffles tests, so each test asks for the state it needs: `running()` (a
    run is going: press Run if none is) or `stopped()` (a run was stopped: press Run, then Stop,
    if needed). `press_run()` and `press_stop()` note where on iopub their answer begins.
    """

    def __init__(self, fe: KernelFrontend) -> None:
        self.fe = fe
        self.comm = fe.widget_comm("AnyModel")
        self.phase = "idle"  # "idle" -> "running" -> "stopped" -> "running" (Run again) ...
        self.run_from = 0  # index in fe.updates(comm) where the answer to the last Run begins
        self.stop_from = 0  # same for the last Stop
        self.unseen_at_stop: int | None = None  # requests done but not yet shown, at Stop

    def updates(self, start: int = 0) -> list[dict[str, Any]]:
        return self.fe.updates(self.comm)[start:]

    def kernel(self, expr: str) -> Any:
        """The value of a JSON-able expression, evaluated in the kernel now."""
        return json.loads(self.fe.execute(f"print(json.dumps({expr}))"))

    def poll_kernel(self, expr: str, want: Any, timeout: float) -> Any:
        """Evaluate `expr` in the kernel until it equals `want` (returns the last value)."""
        end = time.monotonic() + timeout
        while True:
            value = self.kernel(expr)
            if value == want or time.monotonic() > end:
                return value
            self.fe.pump(0.05)

    def deltas(self) -> list[dict[str, Any]]:
        """The series_delta values sent since the last Run, in order."""
        return [s["series_delta"] for s in self.updates(self.run_from) if "series_delta" in s]

    def press_run(self) -> None:
        """Press Run and wait until three ticks with chart points went out."""
        assert self.phase != "running"
        self.fe.barrier()  # what the last run sent is filed: the new run's answer starts here
        self.run_from = len(self.updates())
        self.fe.send_custom(self.comm, {"type": "run"})
        self.phase = "running"
        self.fe.wait_until(lambda: len([d for d in self.deltas() if d["seq"] >= 1]) >= 3,
                           20, "three series_delta updates with new points")

    def press_stop(self) -> None:
        """Press Stop when some requests have finished that no update has shown yet (so the
        final update must carry them), and wait for status "stopped"."""
        assert self.phase == "running"
        end = time.monotonic() + 5
        while True:
            done = self.kernel("dash.runner.stats.to_stats()['total_requests']")
            # The cell's output came after every update sent before it: all are filed.
            shown = ([0] + [s["total_requests"] for s in self.fe.values(self.comm, "stats")])[-1]
            if done > shown or time.monotonic() > end:
                break
        self.unseen_at_stop = done - shown
        self.fe.barrier()
        self.stop_from = len(self.updates())
        self.fe.send_custom(self.comm, {"type": "stop"})
        self.phase = "stopped"
        self.fe.wait_until(
            lambda: "stopped" in [s["status"] for s in self.updates(self.stop_from) if "status" in s],
            20, 'status "stopped" on iopub after Stop')

    def running(self) -> None:
        if self.phase != "running":
            self.press_run()

    def stopped(self) -> None:
        if self.phase != "stopped":
            self.running()
            self.press_stop()


@pytest.fixture(scope="module")
def live(tmp_path_factory):
    saved = {name: os.environ.get(name) for name in SECRETS}
    os.environ.update(SECRETS)  # the kernel inherits them
    try:
        fe = KernelFrontend(str(tmp_path_factory.mktemp("kernel")))
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
    up = False
    try:
        assert fe.execute(SETUP) == "ready"
        up = True
        yield Session(fe)
    finally:
        try:
            if up:
                fe.execute(TEARDOWN)
        finally:
            fe.shutdown()


def test_run_button_starts_a_background_run_and_streams_consecutive_deltas(live):
    if live.phase == "running":  # another test's run: Run is pressed with no run going
        live.press_stop()
    assert live.kernel("[dash.runner.running, dash.running]") == [False, False]
    live.press_run()
    # The kernel is free while the run goes on: this cell answers, and the run is going.
    assert live.kernel("[dash.runner.running, dash.running, dash.status]") == [
        True, True, "running"]

    states = live.updates(live.run_from)
    statuses = [s["status"] for s in states if "status" in s]
    assert statuses[:1] == ["running"]
    first_running = next(i for i, s in enumerate(states) if s.get("status") == "running")
    first_delta = next(i for i, s in enumerate(states) if "series_delta" in s)
    assert first_running <= first_delta  # the view learns the run started before points come

    deltas = live.deltas()
    runs = {d["run"] for d in deltas}
    assert len(runs) == 1, deltas
    seqs = [d["seq"] for d in deltas]
    assert seqs == list(range(len(seqs))), seqs  # 0 (the run starts), then 1, 2, 3, ...
    assert deltas[0]["points"] == []
    assert all(d["points"] for d in deltas[1:])  # a tick without new points sends no delta
    # The points of successive deltas continue one another: seconds 0, 1, 2, ...
    ts = [p["t"] for d in deltas for p in d["points"]]
    assert ts == list(range(len(ts))), ts


def test_clients_slider_changes_the_running_run(live):
    fe = live.fe
    live.running()
    assert live.kernel("dash.runner.active_clients") == 2
    fe.send_state(live.comm, {"clients": 6})
    reached = live.poll_kernel("[dash.clients, dash.runner.active_clients]", [6, 6], 15)
    assert reached == [6, 6]
    # A progress update sent after the kernel had 6 clients shows them to the view.
    after = len(fe.updates(live.comm))
    progress = fe.wait_until(
        lambda: [s["progress"] for s in fe.updates(live.comm)[after:] if "progress" in s],
        10, "a progress update after the clients change")
    assert progress[0]["active_clients"] == 6, progress[0]
    assert live.kernel("dash.runner.running") is True  # still the same run


def test_stop_ends_the_run_and_saves_what_the_view_last_saw(live):
    fe = live.fe
    live.stopped()
    after_stop = live.updates(live.stop_from)
    statuses = [s["status"] for s in after_stop if "status" in s]
    assert statuses == ["stopping", "stopped"], statuses
    assert live.kernel("[dash.runner.running, dash.running, dash.status]") == [
        False, False, "stopped"]

    last_stats = fe.values(live.comm, "stats")[-1]
    sent_path = fe.values(live.comm, "result_path")[-1]
    kernel_path = live.kernel("dash.result_path")
    assert sent_path and sent_path == kernel_path
    saved = live.kernel(
        "(lambda r: {'status': r.status, 'total_requests': r.stats['total_requests']})"
        "(Result.load(dash.result_path))")
    assert saved["status"] == "stopped"
    assert saved["total_requests"] > 0
    assert last_stats["total_requests"] == saved["total_requests"]


def test_a_late_view_gets_the_whole_history_in_one_message(live):
    fe = live.fe
    live.stopped()
    fe.barrier()  # every message from the run is on iopub (and filed) by now
    last_delta = live.deltas()[-1]
    before = len(fe.customs(live.comm))
    fe.send_custom(live.comm, {"type": "history"})
    fe.wait_until(lambda: len(fe.customs(live.comm)) > before, 10, "the history reply")
    fe.barrier()  # the kernel handled the request: a second reply would be here now
    replies = [c for c in fe.customs(live.comm)[before:] if c.get("type") == "history"]
    assert len(replies) == 1, replies
    reply = replies[0]
    assert set(reply) == {"type", "run", "seq", "points"}
    assert (reply["run"], reply["seq"]) == (last_delta["run"], last_delta["seq"])
    ts = [p["t"] for p in reply["points"]]
    assert ts == list(range(len(ts))) and ts, ts
    saved_total = live.kernel("Result.load(dash.result_path).stats['total_requests']")
    assert sum(p["completed"] + p["failed"] for p in reply["points"]) == saved_total


def test_no_secret_in_anything_the_kernel_sent(live):
    """After a whole run (Run, ticks, Stop, history), the API key and the header's value are in
    no widget message: not in comm_open (the initial state), not in any update or reply."""
    live.stopped()
    live.fe.send_custom(live.comm, {"type": "history"})
    live.fe.barrier()
    assert live.kernel("dash.runner.endpoint._api_key == os.environ['LLMETER_TEST_KEY']") is True
    sent = json.dumps([live.fe.opens, live.fe.comm_msgs])
    assert len(live.fe.comm_msgs) > 10 and '"stats"' in sent  # the test means something
    for secret in SECRETS.values():
        assert secret not in sent


# A second dashboard in the same kernel, for rate mode: a closed-loop one switched to a rate by
# the frontend (the Clients | Rate switch sends mode, the rate slider rate), even arrivals so
# the sent rate is exact to compare.
RATE_SETUP = """
import time
rdash = Dashboard(endpoint=OpenAIChatEndpoint(base_url=server.base_url, model='sim'),
                  payload=OpenAIChatEndpoint.create_payload('hi', max_tokens=5),
                  duration=5, clients=2)
switched = []  # when the kernel took the new rate (perf_counter, as t_send)
rdash.observe(lambda change: switched.append(time.perf_counter()), 'rate')
display(rdash)
print('ready')
"""


def test_rate_mode_runs_an_open_loop_and_the_rate_slider_changes_it_mid_run(live):
    fe = live.fe
    assert fe.execute(RATE_SETUP) == "ready"
    comm = fe.widget_comm("AnyModel")  # rdash's (the last opened)
    assert comm != live.comm
    fe.send_state(comm, {"mode": "rate", "rate": 10, "arrival": "constant"})  # the switch
    fe.barrier()
    assert live.kernel("[rdash.mode, rdash.rate, rdash.arrival]") == ["rate", 10, "constant"]
    fe.send_custom(comm, {"type": "run"})
    # the header learns the schedule's rate from the progress updates
    fe.wait_until(lambda: [p for p in fe.values(comm, "progress") if p.get("rate") == 10
                           and p["elapsed"] >= 2], 15, "2 s of progress at rate 10")
    fe.send_state(comm, {"rate": 40})  # the rate slider released at 40, mid-run
    assert live.poll_kernel("rdash.runner.current_rate", 40, 10) == 40
    fe.send_state(comm, {"mode": "time"})  # a mode change mid-run is refused (TraitError)
    fe.barrier()
    assert live.kernel("[rdash.mode, rdash.runner.running]") == ["rate", True]
    fe.wait_until(lambda: [p for p in fe.values(comm, "progress") if p.get("rate") == 40],
                  10, "a progress update at rate 40")
    assert live.poll_kernel("rdash.status", "done", 20) == "done"
    # The requests really went out at each rate: sends per second before and after the switch
    # (from the responses' send times).
    rates = live.kernel("""(lambda r, at: [
        sum(1 for x in r.responses if x.t_send < at) / (at - min(x.t_send for x in r.responses)),
        sum(1 for x in r.responses if x.t_send >= at + 0.2)
        / (max(x.t_send for x in r.responses) - at - 0.2)])(rdash.result, switched[-1])""")
    assert 8 <= rates[0] <= 12 and 34 <= rates[1] <= 46, rates
    # The final state a saved notebook keeps: the series with its scheduled rate, 10 then 40.
    final = fe.values(comm, "series_delta")[-1]
    scheduled = [p.get("rate") for p in json.loads(final["points_json"])]
    assert scheduled[0] == 10 and scheduled[-1] == 40 and set(scheduled) == {10, 40}, scheduled
