"""Runs whose requests are sent from worker processes (`Runner(workers=N)`): the same result as
in one process, the same controls, and nothing lost when a worker dies or the run is cut."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import time
from pathlib import Path

import pytest

from llmeter_widget import Callback, Result, Runner
from llmeter_widget.endpoints import LlmeterEndpoint, OpenAIChatEndpoint
from llmeter_widget.simulator import SimulatedServer
from llmeter_widget.workers import share

from .waiting import eventually

TTFT, ITL = 0.05, 0.01
SECRET = "sk-worker-secret-31337"


@pytest.fixture(scope="module")
def server():
    with SimulatedServer.spawn(mode="fixed", ttft=TTFT, itl=ITL) as process:
        yield process


def runner(server, tmp_path, **kwargs) -> Runner:
    ep = OpenAIChatEndpoint(base_url=server.base_url, model="sim", api_key=SECRET)
    kwargs.setdefault("workers", 2)
    return Runner(ep, kwargs.pop("payload", OpenAIChatEndpoint.create_payload("Hi", max_tokens=8)),
                  output_path=tmp_path, live_view=False, **kwargs)


def peak(server) -> int:
    return server.stats()["peak_active"]


def worker_pids() -> list[int]:
    """The worker processes of this test process (python -m llmeter_widget.workers ...)."""
    pids = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                cmdline = (entry / "cmdline").read_bytes().split(b"\0")
                status = (entry / "status").read_text()
            except OSError:
                continue
            ppid = int(next(line.split()[1] for line in status.splitlines() if line.startswith("PPid:")))
            if b"llmeter_widget.workers" in cmdline and ppid == os.getpid():
                pids.append(int(entry.name))
    return pids


def test_clients_are_shared_round_robin():
    assert [share(10, w, 4) for w in range(4)] == [3, 3, 2, 2]
    assert sum(share(7, w, 3) for w in range(3)) == 7 and share(1, 1, 2) == 0


async def test_a_count_bound_run_gives_the_result_one_process_gives(server, tmp_path):
    payloads = [OpenAIChatEndpoint.create_payload("Hi", max_tokens=n) for n in (4, 5, 6)]
    result = await runner(server, tmp_path, payload=payloads).run(clients=4, n_requests=3,
                                                                  run_name="count")
    assert result.status == "completed" and result.error is None
    assert result.stats["total_requests"] == 12 and result.stats["failed_requests"] == 0
    # client i sends payloads i, i+1, i+2 (mod 3), wherever it runs: 4 of each size
    assert sorted(r.num_tokens_output for r in result.responses) == [4] * 4 + [5] * 4 + [6] * 4
    assert all(r.input_payload in payloads for r in result.responses)  # given back by the parent
    # measured in the workers, right: never before the first token, nowhere near the last
    assert all(TTFT <= r.time_to_first_token < TTFT + 3 * ITL * 2 for r in result.responses)
    loaded = Result.load(tmp_path / "count")
    assert len(loaded.responses) == 12 and loaded.stats["total_requests"] == 12
    config = json.loads((tmp_path / "count" / "run_config.json").read_text())
    assert config["workers"] == 2
    assert worker_pids() == []  # none left behind


async def test_a_time_bound_run_keeps_every_client_busy_until_its_deadline(server, tmp_path):
    result = await runner(server, tmp_path, workers=3).run(clients=7, run_duration=1.5)
    sends = sorted(r.t_send for r in result.responses)
    durations = [r.t_end - r.t_send for r in result.responses]
    assert result.stats["failed_requests"] == 0 and result.stats["cancelled_requests"] == 0
    assert sends[-1] - sends[0] < 1.5
    assert min(durations) >= TTFT + 7 * ITL
    assert sum(durations) >= 7 * 1.5 * 0.8  # 7 clients busy, back to back
    assert result.stats["total_requests"] == len(result.responses)


async def test_set_clients_and_stop_reach_every_worker(server, tmp_path):
    r = runner(server, tmp_path, payload=OpenAIChatEndpoint.create_payload("Hi", max_tokens=40))
    task = asyncio.create_task(r.run(clients=3, run_duration=60, run_name="steered"))
    await eventually(lambda: r.running and r.stats.in_flight == 3, "3 requests in flight")
    r.set_clients(9)  # 5 in one worker, 4 in the other
    await eventually(lambda: r.stats.in_flight == 9 and r.active_clients == 9, "9 in flight",
                     describe=lambda: (r.stats.in_flight, r.active_clients))
    assert peak(server) >= 9
    r.set_clients(2)
    await eventually(lambda: r.active_clients == 2 and r.stats.in_flight <= 2, "2 clients left")
    r.stop()
    result = await task
    assert result.status == "stopped"
    assert result.stats["cancelled_requests"] == 2  # the two in flight, one per worker
    loaded = Result.load(tmp_path / "steered")
    assert loaded.status == "stopped"
    assert sum(resp.error_type == "cancelled" for resp in loaded.responses) == 2
    assert worker_pids() == []


async def test_a_worker_that_dies_is_reported_and_the_run_goes_on(server, tmp_path):
    r = runner(server, tmp_path, payload=OpenAIChatEndpoint.create_payload("Hi", max_tokens=30))
    task = asyncio.create_task(r.run(clients=4, run_duration=3, run_name="lost"))
    await eventually(lambda: r.running and r.stats.total_requests >= 4
                     and r.stats.in_flight == 4, "4 in flight after some answers")
    pids = worker_pids()
    assert len(pids) == 2
    os.kill(pids[0], signal.SIGKILL)
    result = await task
    assert result.status == "completed"  # the other worker went on to the end
    assert "exited with code -9" in result.error and "recorded as cancelled" in result.error
    lost = [resp for resp in result.responses if resp.error_type == "cancelled"]
    assert len(lost) == 2 and all("while this request was in flight" in x.error for x in lost)
    late = [resp for resp in result.responses if resp.ok and resp.t_send - r.stats.start > 2]
    assert late  # requests kept being sent by the surviving worker
    status = json.loads((tmp_path / "lost" / "run_status.json").read_text())
    assert "exited with code -9" in status["error"]
    assert worker_pids() == []


async def test_an_interrupted_run_keeps_what_was_measured_and_leaves_no_process(server, tmp_path):
    r = runner(server, tmp_path, payload=OpenAIChatEndpoint.create_payload("Hi", max_tokens=40))
    task = asyncio.create_task(r.run(clients=4, run_duration=60, run_name="cut"))
    await eventually(lambda: r.running and r.stats.total_requests >= 4 and r.stats.in_flight == 4,
                     "answers, and 4 in flight")
    assert all(SECRET.encode() not in (Path("/proc") / str(pid) / "cmdline").read_bytes()
               for pid in worker_pids())  # the key travels over the socket, not the command line
    task.cancel()  # Ctrl-C / a kernel interrupt
    with pytest.raises(asyncio.CancelledError):
        await task
    loaded = Result.load(tmp_path / "cut")
    assert loaded.status == "interrupted"
    assert loaded.stats["cancelled_requests"] == 4 and loaded.stats["total_requests"] >= 4
    assert worker_pids() == []


class ChangesPayloads(Callback):
    async def before_invoke(self, payload):
        payload["max_tokens"] = 1


@pytest.mark.parametrize("kwargs, message", [
    ({"workers": -1}, "workers must be a whole number >= 0"),
    ({"workers": 2, "callbacks": [ChangesPayloads()]}, "ChangesPayloads.before_invoke"),
])
def test_bad_worker_settings_are_clear_errors(kwargs, message):
    ep = OpenAIChatEndpoint(base_url="http://127.0.0.1:9/v1", model="m")
    with pytest.raises(ValueError, match=message):
        Runner(ep, {"messages": []}, **kwargs)


def test_an_endpoint_that_cannot_travel_is_a_clear_error():
    from llmeter.endpoints.base import Endpoint

    class Local(Endpoint):  # an llmeter endpoint: the adapter runs it in a thread pool
        def __init__(self):
            super().__init__(endpoint_name="local", model_id="m", provider="test")

        def invoke(self, payload):
            return {}

        def process_raw_response(self, raw_response, start_t, response):
            pass

    with pytest.raises(ValueError, match="cannot be pickled.*use workers=0"):
        Runner(LlmeterEndpoint(Local()), {"messages": []}, workers=2)


class BlocksItsLoopOnce(OpenAIChatEndpoint):
    """Blocks the event loop it runs on for 0.3 s, once (in each worker: each has a copy)."""

    async def invoke(self, session, payload):
        if not getattr(self, "_blocked", False):
            self._blocked = True
            time.sleep(0.3)
        return await super().invoke(session, payload)


async def test_a_workers_loop_lag_reaches_the_result(server, tmp_path, monkeypatch):
    monkeypatch.chdir(Path(__file__).parents[1])  # the workers import this module by name
    ep = BlocksItsLoopOnce(base_url=server.base_url, model="sim")
    result = await Runner(ep, OpenAIChatEndpoint.create_payload("Hi", max_tokens=4), workers=2,
                          live_view=False).run(clients=2, run_duration=1.0)
    assert result.stats["failed_requests"] == 0
    # the timestamps of that worker's requests were late: the run says so
    assert result.stats["event_loop_lag_max"] >= 0.25


def launching(r: Runner) -> bool:
    """The workers are starting (their processes are up or coming) and have not been told Start."""
    load = r._run._load if r._run else None
    return r.running and load is not None and not load.started


async def test_controls_while_the_workers_start_apply_when_they_do(server, tmp_path):
    r = runner(server, tmp_path)
    task = asyncio.create_task(r.run(clients=2, run_duration=30))
    await eventually(lambda: launching(r), "the workers to be starting")
    r.set_clients(5)  # before Start: the workers start with 5 clients between them
    await eventually(lambda: r.stats.in_flight == 5, "5 requests in flight",
                     describe=lambda: r.stats and r.stats.in_flight)
    r.stop()
    result = await task
    assert result.status == "stopped" and result.error is None  # no worker "lost"
    assert result.stats["cancelled_requests"] == 5

    task = asyncio.create_task(r.run(clients=2, run_duration=30))
    await eventually(lambda: launching(r), "the workers to be starting")
    r.stop()  # before Start: nothing is sent
    result = await task
    assert result.status == "stopped" and result.error is None
    assert result.stats["total_requests"] == 0 and result.stats["cancelled_requests"] == 0
    assert worker_pids() == []


async def test_a_dashboard_drives_a_run_in_workers(server, tmp_path):
    from llmeter_widget import Dashboard

    dash = Dashboard(endpoint=OpenAIChatEndpoint(base_url=server.base_url, model="sim"),
                     payload=OpenAIChatEndpoint.create_payload("Hi", max_tokens=30),
                     output_path=tmp_path, duration=30, clients=2, workers=2)
    try:
        task = dash.start()
        await eventually(lambda: dash.runner.running and dash.stats.get("total_requests", 0) >= 2,
                         "the dashboard to show answers")
        dash.clients = 5  # the slider
        await eventually(lambda: dash.progress.get("active_clients") == 5
                         and dash.runner.stats.in_flight == 5, "5 clients in the workers",
                         describe=lambda: dash.progress)
        dash.stop()
        result = await task
        assert result.status == "stopped" and dash.status == "stopped"
        assert json.loads((Path(result.output_path) / "run_config.json").read_text())["workers"] == 2
        assert Result.load(dash.result_path).stats["total_requests"] == dash.stats["total_requests"]
    finally:
        dash.close()


def test_the_parent_keeps_one_send_time_per_request_in_flight_not_per_request():
    from llmeter_widget.endpoints import InvocationResponse
    from llmeter_widget.workers.pool import ProcessWorkers, _Worker
    from llmeter_widget.workers.protocol import Records

    seen = []
    pool = ProcessWorkers(1, on_send=lambda t: None, on_response=seen.append,
                          after_response=None, on_clients=lambda n: None,
                          on_worker_lost=lambda m: None)
    worker = _Worker(0, process=None, conn=None)
    for batch in range(100):  # 100 batches of 100 sends; all answered but the last 8
        sends = [batch * 100 + i for i in range(100)]
        answered = 100 if batch < 99 else 92
        pool._take_records(worker, Records(
            sends=sends, responses=[InvocationResponse(t_send=t) for t in sends[:answered]],
            payload_indices=[None] * answered, active_clients=8, in_flight=8))
    assert len(seen) == 9_992
    assert list(worker.recent_sends) == [9_992 + i for i in range(8)]  # the in-flight ones


@pytest.mark.parametrize("workers", [0, 2])
async def test_a_drain_cut_is_warned_about_once_in_workers_as_in_one_process(tmp_path, caplog,
                                                                             workers):
    """Requests still in flight at deadline + drain_timeout are cancelled; the parent says so
    with the same single warning whether they were sent from worker processes or not."""
    with SimulatedServer.spawn(mode="fixed", ttft=60, itl=0.01) as slow:
        ep = OpenAIChatEndpoint(base_url=slow.base_url, model="sim")
        r = Runner(ep, OpenAIChatEndpoint.create_payload("Hi", max_tokens=8), workers=workers,
                   output_path=tmp_path, live_view=False, drain_timeout=0.3)
        with caplog.at_level("WARNING", logger="llmeter_widget.runner"):
            result = await r.run(clients=3, run_duration=0.5, run_name=f"cut-{workers}")
    assert result.stats["cancelled_requests"] == 3 and result.stats["total_requests"] == 0
    warnings = [rec.getMessage() for rec in caplog.records
                if rec.name == "llmeter_widget.runner" and rec.levelname == "WARNING"]
    assert warnings == ["3 request(s) still in flight 0.3 s after the run's deadline were "
                        "cancelled (drain_timeout=0.3 s): they are recorded as cancelled."]
