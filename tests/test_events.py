"""The typed run events (events.py) a real run emits, in order, to its listeners; plain
callables still get snapshots; a broken listener cannot end a run; sweeps wrap each level; a
lost worker is an event; what a plain run shows is the view layer's choice, not the engine's."""

from __future__ import annotations

import asyncio
import dataclasses
import io
import json
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
    Snapshot,
    SweepFinished,
    SweepStarted,
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
        self.sweep_saved_as = None  # load_test.json's status when SweepFinished came

    def on_event(self, event):
        self.events.append(event)
        if isinstance(event, RunFinished) and event.result.output_path:
            self.saved_when_finished = Path(event.result.output_path, "summary.json").exists()
        if isinstance(event, SweepFinished) and event.result.output_path:
            manifest = Path(event.result.output_path, "load_test.json")
            self.sweep_saved_as = json.loads(manifest.read_text())["status"]

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
    assert finished.snapshot.stats["total_requests"] == result.stats["total_requests"]
    assert finished.snapshot.result_path == result.output_path
    # the ticks only count up
    done = [e.snapshot.stats["total_requests"] for e in recorder.events[1:]]
    assert done == sorted(done)
    # the plain callable got the same snapshots, as dicts: every Tick's, then the final one
    assert snapshots == [e.snapshot.to_dict() for e in recorder.events
                         if isinstance(e, (Tick, RunFinished))]
    assert snapshots[-1]["status"] == "completed"
    assert {s["status"] for s in snapshots[:-1]} == {"running"}
    # a second run: new events, a new run id
    await runner.run(clients=1, n_requests=1)
    second = [e for e in recorder.events if e.run_id != started.run_id]
    assert type(second[0]) is RunStarted and type(second[-1]) is RunFinished


def test_a_snapshot_is_a_frozen_dataclass_with_slots():
    assert dataclasses.is_dataclass(Snapshot)
    snap = Snapshot(run_id=1, sent=2)
    with pytest.raises(dataclasses.FrozenInstanceError):
        snap.sent = 3
    assert not hasattr(snap, "__dict__")  # slots: one small object per tick
    assert [f.name for f in dataclasses.fields(Snapshot)] == [
        "run_id", "status", "run_duration", "n_requests", "target_clients", "elapsed",
        "in_flight", "active_clients", "sent", "loop_lag", "stats", "window_stats", "series",
        "next_series_index", "result_path", "slo"]


async def test_a_real_runs_snapshots_fill_every_field(fixed_server, tmp_path):
    runner = Runner(chat(fixed_server), PAYLOAD, output_path=tmp_path, live_view=False,
                    snapshot_interval=0.05)
    recorder, dicts = Recorder(), []
    runner.listeners += [recorder, dicts.append]
    task = asyncio.create_task(runner.run(clients=2, run_duration=1.6, run_name="fields"))
    await eventually(lambda: runner.running and runner.stats.total_requests >= 2, "answers")
    runner.set_clients(3)
    result = await task
    started = recorder.events[0]
    ticks = [e.snapshot for e in recorder.events if isinstance(e, Tick)]
    final = recorder.events[-1].snapshot
    assert all(type(s) is Snapshot for s in [*ticks, final])
    assert len({id(s) for s in ticks}) == len(ticks)  # one new object per tick
    assert {(s.run_id, s.status, s.run_duration, s.n_requests, s.result_path) for s in ticks} == {
        (started.run_id, "running", 1.6, None, None)}
    assert ticks[0].target_clients == 2 and ticks[-1].target_clients == 3  # set_clients
    assert max(s.active_clients for s in ticks) == 3 and max(s.in_flight for s in ticks) >= 1
    elapsed = [s.elapsed for s in ticks]
    assert elapsed == sorted(elapsed) and 1.6 <= final.elapsed < 10
    assert all(s.sent >= s.stats["total_requests"] + s.stats["cancelled_requests"] for s in ticks)
    assert all(s.loop_lag >= 0 for s in ticks)
    # every second's bucket once, in order; next_series_index is the one after the last
    buckets = [b for s in [*ticks, final] for b in s.series]
    assert [b["t"] for b in buckets] == list(range(len(buckets))) and len(buckets) >= 2
    assert final.next_series_index == buckets[-1]["t"] + 1
    assert all(s.next_series_index == (s.series[-1]["t"] + 1) for s in ticks if s.series)
    # the final one: the result's status, stats and folder; nothing in flight any more
    assert (final.status, final.result_path) == ("completed", result.output_path)
    assert (final.active_clients, final.in_flight, final.target_clients) == (0, 0, 3)
    assert final.sent == result.stats["total_requests"] == final.stats["total_requests"]
    # the dicts share the snapshots' stats and series (no copy per tick)
    assert len(dicts) == len(ticks) + 1
    assert all(d["stats"] is s.stats and d["series"] is s.series
               for d, s in zip(dicts, [*ticks, final]))


# The keys of the dicts a plain callable has always had (they must not change under it).
TICK_KEYS = {"run_id", "status", "run_duration", "n_requests", "target_clients", "elapsed",
             "in_flight", "active_clients", "sent", "loop_lag", "stats", "series",
             "next_series_index"}
FINAL_KEYS = TICK_KEYS | {"result_path"}


async def test_a_plain_callable_still_gets_dicts_with_the_same_keys(fixed_server, tmp_path):
    runner = Runner(chat(fixed_server), PAYLOAD, output_path=tmp_path, live_view=False,
                    snapshot_interval=0.05)
    snapshots = []
    runner.listeners.append(snapshots.append)  # the short way, as user code writes it
    result = await runner.run(clients=2, n_requests=3, run_name="plain")
    assert len(snapshots) >= 2 and all(type(s) is dict for s in snapshots)
    assert all(set(s) == TICK_KEYS for s in snapshots[:-1]), [set(s) for s in snapshots[:-1]]
    assert set(snapshots[-1]) == FINAL_KEYS
    assert snapshots[-1]["result_path"] == result.output_path
    assert snapshots[-1]["status"] == "completed" and snapshots[-1]["n_requests"] == 3
    assert snapshots[-1]["stats"]["total_requests"] == 6
    # in memory only: the final dict still says where the result is (nowhere)
    memory = Runner(chat(fixed_server), PAYLOAD, live_view=False)
    memory.listeners.append(snapshots.append)
    await memory.run(clients=1, n_requests=1)
    assert set(snapshots[-1]) == FINAL_KEYS and snapshots[-1]["result_path"] is None


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


SWEEP_EVENTS = (SweepStarted, LevelStarted, RunStarted, RunFinished, LevelFinished, SweepFinished)


async def test_a_sweep_wraps_each_level_in_level_events(fixed_server, tmp_path):
    runner = Runner(chat(fixed_server), PAYLOAD, live_view=False)
    recorder, snapshots = Recorder(), []
    runner.listeners += [recorder, snapshots.append]
    lt = LoadTest(chat(fixed_server), PAYLOAD, [1, 2], n_requests=2, output_path=tmp_path,
                  test_name="sw", runner=runner)
    result = await lt.run()
    assert recorder.kinds(*SWEEP_EVENTS) == [
        "SweepStarted", *["LevelStarted", "RunStarted", "RunFinished", "LevelFinished"] * 2,
        "SweepFinished"]
    assert recorder.kinds()[0] == "SweepStarted" and recorder.kinds()[-1] == "SweepFinished"
    sweep_started, sweep_finished = recorder.events[0], recorder.events[-1]
    assert (sweep_started.test_name, sweep_started.levels) == ("sw", (1, 2))
    assert sweep_started.output_path == result.output_path == str(tmp_path / "sw")
    assert sweep_finished.test_name == "sw" and sweep_finished.result is result
    assert sweep_finished.status == "completed"
    assert recorder.sweep_saved_as == "completed"  # heard once load_test.json says so
    # a plain callable hears the levels' snapshots only, as dicts
    assert snapshots and all(type(s) is dict for s in snapshots)
    assert [s["status"] for s in snapshots if s["status"] != "running"] == ["completed"] * 2
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
    assert recorder.kinds(*SWEEP_EVENTS) == [
        "SweepStarted", "LevelStarted", "RunStarted", "RunFinished", "LevelFinished",
        "SweepFinished"]
    finished = [e for e in recorder.events if isinstance(e, LevelFinished)][-1]
    assert finished.result is lt.result.results[1] and finished.result.status == "failed"
    sweep = recorder.events[-1]  # the sweep's end, although a level raised
    assert sweep.result is lt.result and sweep.status == "failed"
    assert "MisconfiguredEndpoint" in sweep.result.error and recorder.sweep_saved_as == "failed"


async def test_a_sweep_stopped_mid_way_ends_with_sweep_finished(fixed_server, tmp_path):
    runner = Runner(chat(fixed_server), PAYLOAD, live_view=False, snapshot_interval=0.05)
    recorder = Recorder()
    runner.listeners.append(recorder)
    lt = LoadTest(chat(fixed_server), PAYLOAD, [1, 2, 4], run_duration=2.0, output_path=tmp_path,
                  test_name="cut", runner=runner)
    task = asyncio.create_task(lt.run())
    await eventually(lambda: lt.current_clients == 2 and runner.running
                     and runner.stats.total_requests >= 1, "the second level answering")
    lt.stop()
    result = await task
    assert result.status == "stopped" and sorted(result.results) == [1, 2]
    assert recorder.kinds(*SWEEP_EVENTS) == [
        "SweepStarted", *["LevelStarted", "RunStarted", "RunFinished", "LevelFinished"] * 2,
        "SweepFinished"]  # the third level never started
    assert recorder.events[-1].result is result and recorder.events[-1].status == "stopped"
    assert recorder.sweep_saved_as == "stopped"
    assert [e.clients for e in recorder.events if isinstance(e, LevelStarted)] == [1, 2]


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
