"""The typed run events (events.py) a real run emits, in order, to its listeners; plain
callables still get snapshots; a broken listener cannot end a run; sweeps wrap each level; a
lost worker is an event; what a plain run shows is the view layer's choice, not the engine's."""

from __future__ import annotations

import asyncio
import io
import os
import signal
from pathlib import Path

import pytest

from llmeter_widget import LoadTest, Runner
from llmeter_widget import runner as runner_module
from llmeter_widget.endpoints import OpenAIChatEndpoint
from llmeter_widget.events import (
    LevelFinished,
    LevelStarted,
    RunFinished,
    RunListener,
    RunStarted,
    Tick,
    WorkerLost,
)
from llmeter_widget.runner import MisconfiguredEndpoint
from llmeter_widget.simulator import SimulatedServer
from llmeter_widget.views import TerminalView, default_view

from .waiting import eventually


class Recorder:
    """A run listener that keeps every event."""

    def __init__(self):
        self.events = []
        self.saved_when_finished = None

    def on_event(self, event):
        self.events.append(event)
        if isinstance(event, RunFinished) and event.result.output_path:
            self.saved_when_finished = Path(event.result.output_path, "summary.json").exists()

    def kinds(self, *types):
        return [type(e).__name__ for e in self.events if not types or isinstance(e, types)]


def chat(server):
    return OpenAIChatEndpoint(base_url=server.base_url, model="sim")


PAYLOAD = OpenAIChatEndpoint.create_payload("Hi", max_tokens=8)


async def test_a_run_emits_started_ticks_and_finished_in_order(fixed_server, tmp_path):
    runner = Runner(chat(fixed_server), PAYLOAD, output_path=tmp_path, live_view=False,
                    snapshot_interval=0.05)
    recorder, snapshots = Recorder(), []
    runner.listeners += [recorder, snapshots.append]  # a listener, and a plain callable
    assert isinstance(recorder, RunListener) and not isinstance(snapshots.append, RunListener)
    result = await runner.run(clients=2, run_duration=0.6, run_name="r")
    kinds = recorder.kinds()
    assert kinds[0] == "RunStarted" and kinds[-1] == "RunFinished"
    assert set(kinds[1:-1]) == {"Tick"} and len(kinds) >= 4
    started, finished = recorder.events[0], recorder.events[-1]
    assert len({e.run_id for e in recorder.events}) == 1
    assert (started.clients, started.run_duration, started.n_requests) == (2, 0.6, None)
    assert started.output_path == result.output_path and started.model_id == "sim"
    assert started.display.keys()  # what the views show: the default table
    # RunFinished: the returned result, complete and saved, and the final snapshot
    assert finished.result is result and finished.status == "completed"
    assert recorder.saved_when_finished  # heard last, once the folder is complete
    assert finished.snapshot["stats"]["total_requests"] == result.stats["total_requests"]
    assert finished.snapshot["result_path"] == result.output_path
    # the ticks only count up
    done = [e.snapshot["stats"]["total_requests"] for e in recorder.events[1:]]
    assert done == sorted(done)
    # the plain callable got the same snapshots: every Tick's, then the final one
    assert snapshots == [e.snapshot for e in recorder.events if isinstance(e, (Tick, RunFinished))]
    assert snapshots[-1]["status"] == "completed"
    assert {s["status"] for s in snapshots[:-1]} == {"running"}
    # a second run: new events, a new run id
    await runner.run(clients=1, n_requests=1)
    second = [e for e in recorder.events if e.run_id != started.run_id]
    assert type(second[0]) is RunStarted and type(second[-1]) is RunFinished


async def test_a_listener_that_raises_is_dropped_and_the_run_goes_on(fixed_server, caplog):
    class Broken:
        def on_event(self, event):
            if isinstance(event, Tick):
                raise RuntimeError("view bug")

    runner = Runner(chat(fixed_server), PAYLOAD, live_view=False, snapshot_interval=0.05)
    broken, recorder = Broken(), Recorder()
    runner.listeners += [broken, recorder]
    result = await runner.run(clients=2, run_duration=0.5)
    assert result.status == "completed"
    assert recorder.kinds()[-1] == "RunFinished"  # the others heard everything
    assert "view bug" in caplog.text and "it is removed" in caplog.text
    removed = [r for r in caplog.records if "it is removed" in r.getMessage()]
    assert len(removed) == 1  # dropped after its first failure
    assert broken in runner.listeners  # from that run only: the next run tries it again


async def test_a_sweep_wraps_each_level_in_level_events(fixed_server, tmp_path):
    runner = Runner(chat(fixed_server), PAYLOAD, live_view=False)
    recorder = Recorder()
    runner.listeners.append(recorder)
    lt = LoadTest(chat(fixed_server), PAYLOAD, [1, 2], n_requests=2, output_path=tmp_path,
                  test_name="sw", runner=runner)
    result = await lt.run()
    assert recorder.kinds(LevelStarted, LevelFinished, RunStarted, RunFinished) == [
        "LevelStarted", "RunStarted", "RunFinished", "LevelFinished"] * 2
    levels = [e for e in recorder.events if isinstance(e, (LevelStarted, LevelFinished))]
    assert [(e.clients, e.index, e.levels, e.test_name) for e in levels] == [
        (1, 0, (1, 2), "sw"), (1, 0, (1, 2), "sw"), (2, 1, (1, 2), "sw"), (2, 1, (1, 2), "sw")]
    assert [e.result for e in levels if isinstance(e, LevelFinished)] == [
        result.results[1], result.results[2]]


async def test_a_failed_level_is_finished_too(tmp_path):
    ep = OpenAIChatEndpoint(base_url=SimulatedServer.closed_url(), model="sim")
    runner = Runner(ep, PAYLOAD, live_view=False)
    recorder = Recorder()
    runner.listeners.append(recorder)
    lt = LoadTest(ep, PAYLOAD, [1, 2], n_requests=5, output_path=tmp_path, runner=runner)
    with pytest.raises(MisconfiguredEndpoint):
        await lt.run()
    assert recorder.kinds(LevelStarted, LevelFinished, RunStarted, RunFinished) == [
        "LevelStarted", "RunStarted", "RunFinished", "LevelFinished"]
    finished = recorder.events[-1]
    assert finished.result is lt.result.results[1] and finished.result.status == "failed"


def worker_pids() -> list[int]:
    """This process's worker processes (python -m llmeter_widget.workers)."""
    pids = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes()
            status = (entry / "status").read_text()
        except OSError:
            continue
        ppid = next(int(line.split()[1]) for line in status.splitlines() if line.startswith("PPid:"))
        if b"llmeter_widget.workers" in cmdline and ppid == os.getpid():
            pids.append(int(entry.name))
    return pids


async def test_a_lost_worker_is_an_event_and_the_table_says_so(tmp_path):
    with SimulatedServer.spawn(mode="fixed", ttft=0.05, itl=0.01) as server:
        runner = Runner(chat(server), OpenAIChatEndpoint.create_payload("Hi", max_tokens=30),
                        output_path=tmp_path, live_view=False, workers=2)
        recorder, out = Recorder(), io.StringIO()
        table = TerminalView(stream=out, tty=False, plain_interval=3600)
        runner.listeners += [recorder, table]
        task = asyncio.create_task(runner.run(clients=4, run_duration=2.5))
        await eventually(lambda: runner.running and runner.stats.total_requests >= 4
                         and len(worker_pids()) == 2, "both workers answering")
        os.kill(worker_pids()[0], signal.SIGKILL)
        result = await task
    (lost,) = [e for e in recorder.events if isinstance(e, WorkerLost)]
    kinds = recorder.kinds()
    assert kinds.index("RunStarted") < kinds.index("WorkerLost") < kinds.index("RunFinished")
    assert "exited with code -9" in lost.message and lost.message in result.error
    assert result.status == "completed"  # the other worker went on
    # the final table's progress line (the only line printed after the loss) says so
    assert "1 worker lost" in out.getvalue()


# -- what a plain run shows: the view layer's choice ----------------------------------------------
async def test_the_default_view_is_the_view_layers_choice(fixed_server, monkeypatch):
    calls = []

    def factory(runner, settings, forced):
        calls.append((runner, settings.clients, forced))
        return recorder

    recorder = Recorder()
    previous = runner_module.set_default_view(factory)
    try:
        assert previous is default_view  # registered by llmeter_widget.views on import
        runner = Runner(chat(fixed_server), PAYLOAD)
        await runner.run(clients=2, n_requests=1)
        await runner.run(clients=1, n_requests=1, live_view=True)
        await runner.run(clients=1, n_requests=1, live_view=False)  # no view: not asked
        assert calls == [(runner, 2, False), (runner, 1, True)]
        assert recorder.kinds().count("RunFinished") == 2  # the view heard both runs' events
        assert recorder not in runner.listeners  # a view follows its run only
        runner_module.set_default_view(None)  # no view layer: runs show nothing
        await runner.run(clients=1, n_requests=1, live_view=True)
        assert len(calls) == 2
    finally:
        runner_module.set_default_view(previous)


def test_the_default_view_outside_a_notebook(monkeypatch):
    runner = Runner(OpenAIChatEndpoint(base_url="http://127.0.0.1:9/v1", model="sim"), PAYLOAD)
    settings = runner._settings()
    monkeypatch.setattr("sys.stderr", io.StringIO())  # not a terminal
    assert default_view(runner, settings, forced=False) is None
    view = default_view(runner, settings, forced=True)
    assert isinstance(view, TerminalView) and view.title.startswith("sim @ ")
