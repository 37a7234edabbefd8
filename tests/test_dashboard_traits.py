"""The Dashboard's traits from run events (views/dashboard_traits.py), with no widget and no
comm: events in (recorded from real runs, or made here), trait changes out."""

from __future__ import annotations

import subprocess
import sys
from dataclasses import replace

from llmeter_widget import LoadTest, LoadTestResult, Result, Runner
from llmeter_widget.display import DisplaySpec
from llmeter_widget.endpoints import OpenAIChatEndpoint
from llmeter_widget.events import (
    LevelFinished,
    LevelStarted,
    RunFinished,
    RunStarted,
    Snapshot,
    SweepFinished,
    SweepStarted,
    Tick,
    WorkerLost,
)
from llmeter_widget.views.dashboard_traits import SAVED_POINTS, DashboardTraits, comparison_of

PAYLOAD = OpenAIChatEndpoint.create_payload("Hi", max_tokens=8)


class Recorder:
    def __init__(self):
        self.events = []

    def on_event(self, event):
        self.events.append(event)


def traits() -> DashboardTraits:
    return DashboardTraits(DisplaySpec.from_live_stats(None))


def started(run_id: int = 1) -> RunStarted:
    return RunStarted(run_id=run_id, clients=2, n_requests=None, run_duration=5.0, run_name="r",
                      output_path=None, model_id="sim", endpoint_name="local",
                      display=DisplaySpec.from_live_stats(None))


def snapshot(run_id: int = 1, series=(), **stats) -> Snapshot:
    return Snapshot(run_id=run_id, elapsed=1.0, run_duration=5.0, in_flight=1, active_clients=2,
                    sent=3, loop_lag=0.001, series=list(series),
                    stats={"total_requests": 0, "successful_requests": 0, "failed_requests": 0,
                           **stats})


def finished(result: Result, run_id: int = 1) -> RunFinished:
    return RunFinished(run_id, result, replace(snapshot(run_id), status=result.status,
                                               result_path=result.output_path))


def result(status: str = "completed", clients: int = 2, error: str | None = None) -> Result:
    return Result(responses=[], total_requests=0, clients=clients, status=status, error=error,
                  output_path=f"runs/{clients}-clients")


def test_no_widget_is_needed():
    code = ("import sys; import llmeter_widget.views.dashboard_traits; "
            "print(sorted(m for m in ('anywidget', 'ipywidgets', 'comm') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


async def test_a_real_runs_events_send_every_point_once_in_order(fixed_server):
    runner = Runner(OpenAIChatEndpoint(base_url=fixed_server.base_url, model="sim"), PAYLOAD,
                    live_view=False, snapshot_interval=0.1)
    recorder = Recorder()
    runner.listeners.append(recorder)
    run = await runner.run(clients=2, run_duration=2.5)
    model, status, sent = traits(), "idle", []
    for event in recorder.events:
        changes = model.apply(event, status)
        status = changes.get("status", status)
        sent.append(changes)
    run_id = recorder.events[0].run_id
    deltas = [c["series_delta"] for c in sent if "series_delta" in c]
    assert deltas[0] == {"run": run_id, "seq": 0, "points": []}
    assert [d["seq"] for d in deltas] == list(range(len(deltas)))
    points = [p for d in deltas for p in d["points"]]
    assert points == runner.stats.series(0) and len(points) >= 2  # each point once, in order
    assert sum("spec" in c for c in sent) == 1  # sent once, not per tick (no new error class)
    assert status == "done" and sent[-1]["result_path"] == "" and sent[-1]["error"] == ""
    final = sent[-1]
    assert final["stats"]["total_requests"] == run.stats["total_requests"]
    assert final["progress"]["completed"] + final["progress"]["failed"] == run.stats["total_requests"]


def test_status_and_error_through_a_run():
    model = traits()
    assert model.apply(started(), "idle")["status"] == "running"
    assert "status" not in model.apply(started(2), "stopping")  # Stop was pressed: kept
    assert model.apply(WorkerLost(2, "worker 1 exited with code -9"), "stopping") == {
        "error": "worker 1 exited with code -9 (the run goes on)"}
    assert model.apply(WorkerLost(2, "worker 0 exited with code -9"), "stopping")["error"] == (
        "worker 1 exited with code -9; worker 0 exited with code -9 (the run goes on)")
    changes = model.apply(finished(result("stopped", error="lost"), 2), "stopping")
    assert (changes["status"], changes["error"]) == ("stopped", "lost")
    assert changes["result_path"] == "runs/2-clients"
    model.apply(started(3), "stopped")
    assert model.workers_lost == []  # a new run: no worker lost yet
    changes = model.apply(finished(result("failed"), 3), "running")
    assert (changes["status"], changes["error"]) == ("error", "The run failed.")
    changes = model.apply(finished(result("interrupted", error="Ctrl-C"), 3), "running")
    assert (changes["status"], changes["error"]) == ("interrupted", "Ctrl-C")
    changes = model.apply(finished(result("interrupted"), 3), "running")
    assert (changes["status"], changes["error"]) == ("interrupted", "The run interrupted.")
    assert model.apply(finished(result("completed"), 3), "running")["status"] == "done"


async def real_run_events(server, tmp_path, end, duration: float = 30.0):
    """The events of a real time-bound run of 3 clients against `server`, ended after ~1 s by
    `end(runner, task)`; returns (the events, the result folder's run_status.json)."""
    import asyncio
    import json

    runner = Runner(OpenAIChatEndpoint(base_url=server.base_url, model="sim"), PAYLOAD,
                    output_path=tmp_path, run_name="ended", live_view=False,
                    snapshot_interval=0.1)
    recorder = Recorder()
    runner.listeners.append(recorder)
    task = asyncio.ensure_future(runner.run(clients=3, run_duration=duration))
    await asyncio.sleep(1.0)
    end(runner, task)
    try:
        await task
    except asyncio.CancelledError:
        pass
    saved = json.loads((tmp_path / "ended" / "run_status.json").read_text())
    return recorder.events, saved


def replay(events, status: str = "idle"):
    """Every trait change the events make, in order, and the status after them."""
    model, sent = traits(), []
    for event in events:
        changes = model.apply(event, status)
        status = changes.get("status", status)
        sent.append(changes)
    return sent, status


async def test_a_real_stopped_run_says_stopped_and_how_far_it_got(fixed_server, tmp_path):
    """Issue 12, defect 4: after Stop the badge said DONE and the bar was full at 20 s / 30 s,
    while run_status.json said "stopped"."""
    events, saved = await real_run_events(fixed_server, tmp_path, lambda runner, _: runner.stop())
    assert saved["status"] == "stopped"
    sent, status = replay(events, status="stopping")  # Stop was pressed: the view says stopping
    assert status == "stopped"
    final = sent[-1]
    assert final["status"] == "stopped" and final["error"] == ""
    assert final["result_path"] == str(tmp_path / "ended")
    # the progress it ends with is how far it got: about 1 s of 30, nothing in flight
    assert final["progress"]["duration"] == 30.0
    assert 0.5 < final["progress"]["elapsed"] < 5.0
    assert final["progress"]["in_flight"] == 0
    assert final["progress"]["completed"] == final["stats"]["successful_requests"] > 0


async def test_a_real_interrupted_run_says_interrupted(fixed_server, tmp_path):
    events, saved = await real_run_events(fixed_server, tmp_path, lambda _, task: task.cancel())
    assert saved["status"] == "interrupted"
    sent, status = replay(events, status="running")
    assert status == "interrupted"
    assert sent[-1]["error"] == saved["error"]  # "the run was interrupted (cancelled or Ctrl-C)"


def test_a_view_that_missed_the_start_starts_the_series_at_its_first_tick():
    model = traits()
    changes = model.apply(Tick(5, snapshot(5, series=[{"t": 0}])), "idle")
    assert changes["series_delta"] == {"run": 5, "seq": 1, "points": [{"t": 0}]}
    assert changes["status"] == "running" and model.run_id == 5
    assert "series_delta" not in model.apply(Tick(5, snapshot(5)), "running")  # no new point
    assert model.apply(Tick(5, snapshot(5, series=[{"t": 1}])), "running")["series_delta"]["seq"] == 2


def test_spec_is_resent_only_when_it_changes():
    model = traits()
    first = model.apply(Tick(1, snapshot()), "idle")
    assert "spec" in first
    assert "spec" not in model.apply(Tick(1, snapshot(total_requests=3)), "running")
    # a new error class joins the table's "errors-*" cells: the spec changes
    changed = model.apply(Tick(1, snapshot(**{"errors-http_5xx": 1})), "running")
    errors = [g for g in changed["spec"]["groups"] if g["name"] == "Errors"][0]
    assert errors["stats"][-1]["key"] == "errors-http_5xx"


def test_a_sweep_adds_one_comparison_point_per_level():
    model, levels = traits(), (1, 2)
    seen = []
    for index, clients in enumerate(levels):
        model.apply(LevelStarted("sw", clients, index, levels), "running")
        model.apply(started(10 + index), "running")
        progress = model.apply(Tick(10 + index, snapshot(10 + index)), "running")["progress"]
        seen.append(progress["level"])
        level = result(clients=clients)
        changes = model.apply(finished(level, 10 + index), "running")
        assert "status" not in changes  # the sweep goes on
        assert [lv["clients"] for lv in changes["comparison"]["levels"]] == list(levels[:index + 1])
        assert model.apply(LevelFinished("sw", clients, index, levels, level), "running") == {}
    assert seen == ["1/2 (1 client)", "2/2 (2 clients)"]
    assert model.level is None
    # after the sweep a plain run ends as a run, with no level in its progress
    model.apply(started(20), "done")
    assert "level" not in model.apply(Tick(20, snapshot(20)), "running")["progress"]
    assert model.apply(finished(result(), 20), "running")["status"] == "done"
    # a new sweep starts from no levels
    model.apply(LevelStarted("sw2", 4, 0, (4,)), "running")
    assert model.apply(finished(result(clients=4), 21), "running")["comparison"] == comparison_of(
        {4: result(clients=4)})


async def test_a_real_sweeps_comparison_is_its_stats_table(fixed_server, tmp_path):
    ep = OpenAIChatEndpoint(base_url=fixed_server.base_url, model="sim")
    runner = Runner(ep, PAYLOAD, live_view=False)
    recorder = Recorder()
    runner.listeners.append(recorder)
    sweep = await LoadTest(ep, PAYLOAD, [1, 2], n_requests=3, output_path=tmp_path,
                           runner=runner).run()
    model, status, comparisons = traits(), "running", []
    for event in recorder.events:
        changes = model.apply(event, status)
        status = changes.get("status", status)
        if "comparison" in changes:
            comparisons.append(changes["comparison"])
    assert status == "done"  # said by SweepFinished, not by the last level's RunFinished
    # SweepStarted empties the chart, each level adds its point, SweepFinished sends the whole
    assert [len(c["levels"]) for c in comparisons] == [0, 1, 2, 2]
    assert comparisons[-1] == comparison_of(sweep.results)
    rows = sweep.stats_table()
    assert [lv["output_tps"] for lv in comparisons[-1]["levels"]] == [r["output_tps"] for r in rows]


def test_a_sweeps_end_sets_the_dashboards_end_however_it_ended():
    """SweepFinished ends a sweep that code drove through the dashboard's runner as the
    dashboard's own sweep control does: final comparison, the sweep's folder, its status."""
    model = traits()
    assert model.apply(SweepStarted("sw", (1, 2), "runs/sw"), "idle") == {
        "comparison": {"levels": [], "knee": None, "verdict": ""}}
    model.apply(LevelStarted("sw", 1, 0, (1, 2)), "running")
    model.apply(started(30), "running")
    level = result(clients=1)
    model.apply(finished(level, 30), "running")
    model.apply(LevelFinished("sw", 1, 0, (1, 2), level), "running")
    sweep = LoadTestResult(test_name="sw", sequence_of_clients=[1, 2], results={1: level},
                           output_path="runs/sw", status="stopped")
    changes = model.apply(SweepFinished("sw", sweep), "stopping")
    assert changes == {"comparison": comparison_of({1: level}), "result_path": "runs/sw",
                       "status": "stopped", "error": ""}
    sweep.status = "completed"
    assert model.apply(SweepFinished("sw", sweep), "running")["status"] == "done"
    sweep.status, sweep.error = "interrupted", "the load test was interrupted"
    assert (model.apply(SweepFinished("sw", sweep), "running")["status"]) == "interrupted"
    sweep.status, sweep.error = "failed", "MisconfiguredEndpoint: the first 5 requests failed"
    changes = model.apply(SweepFinished("sw", sweep), "running")
    assert (changes["status"], changes["error"]) == ("error", sweep.error)
    sweep.error = None
    assert model.apply(SweepFinished("sw", sweep), "running")["error"] == "The sweep failed."


async def test_a_real_runs_window_stats_while_a_view_asks(fixed_server):
    """Issue 12, defect 5: the table's "last N s" travels as `window_stats` (only while a view
    asks), the keys the table shows over the last seconds, as the run's stats compute them."""
    runner = Runner(OpenAIChatEndpoint(base_url=fixed_server.base_url, model="sim"), PAYLOAD,
                    live_view=False, snapshot_interval=0.1)
    recorder = Recorder()
    runner.listeners.append(recorder)
    asked_at = []

    class AskAfterASecond:  # a view toggles "last N s" once the run is a second old
        def on_event(self, event):
            if isinstance(event, Tick) and event.snapshot.elapsed > 1.0 and not asked_at:
                runner.stats.want_window_stats = True
                asked_at.append(event.snapshot.elapsed)

    runner.listeners.insert(0, AskAfterASecond())
    await runner.run(clients=2, run_duration=2.5)
    model, sent = traits(), []
    for event in recorder.events:
        sent.append(model.apply(event, "running"))
    ticks = [e for e in recorder.events if isinstance(e, (Tick, RunFinished))]
    with_window = [(e, c) for e, c in zip(recorder.events, sent) if "window_stats" in c]
    # none before a view asked; then every tick (Python sends a trait only when it changed)
    assert with_window and len(with_window) == sum(e.snapshot.window_stats is not None for e in ticks)
    assert all(e.snapshot.elapsed > 1.0 for e, _ in with_window)
    event, changes = with_window[-1]  # the final one: the run's last seconds
    window = changes["window_stats"]
    # asked during second 1: seconds 2 (and the last, partial one) recorded whole since
    assert window["seconds"] == 10 and 1 <= window["covered"] <= 2
    shown = {s["key"] for g in changes.get("spec", model.sent_spec)["groups"] for s in g["stats"]}
    assert set(window["stats"]) <= shown  # only what the table shows
    assert {"time_to_first_token-p50", "requests_per_minute", "total_requests",
            "time_per_output_token-p50"} <= set(window["stats"])
    final = runner.stats.window_stats()
    assert window["covered"] == final["covered"]
    assert {k: window["stats"][k] for k in ("total_requests", "time_to_first_token-p50")} == {
        k: final["stats"][k] for k in ("total_requests", "time_to_first_token-p50")}
    assert 0 < window["stats"]["total_requests"] < event.snapshot.stats["total_requests"]


def test_a_long_runs_final_series_stays_small_enough_to_save():
    """An hour of one-second buckets, shaped like the runner's (floats at full precision): the
    series kept at the run's end for a saved notebook is at most SAVED_POINTS points, in order,
    ending with the run's last seconds, and under 30 KB of JSON (a second dashboard in a saved
    notebook adds <= 50 KB: issue 12)."""
    import json
    import random

    rng = random.Random(7)
    hour = [{"t": t, "completed": 12, "failed": 0, "output_tokens": 192,
             "requests_per_minute": 720.0 + rng.random(), "output_tps": 192.0 + rng.random(),
             "ttft_p50": 0.05 + rng.random() / 100, "ttft_p90": 0.06 + rng.random() / 100,
             "ttlt_p50": 0.32 + rng.random() / 100, "ttlt_p90": 0.33 + rng.random() / 100,
             "active_clients": 4, "in_flight": 4} for t in range(3600)]
    traits = DashboardTraits(DisplaySpec.from_live_stats({}))
    traits.run_id, traits.seq = 1, 3600
    delta = traits.saved_series(hour)["series_delta"]
    points = json.loads(delta["points_json"])
    ts = [p["t"] for p in points]
    assert len(ts) == SAVED_POINTS and ts == sorted(ts) and ts[0] == 0
    assert ts[-10:] == list(range(3590, 3600))
    assert delta["final"] is True and delta["seq"] == 3600
    # in the notebook file: written as nbformat writes it (indent=1, one line per JSON value)
    import nbformat

    nb = nbformat.v4.new_notebook()
    empty = len(nbformat.writes(nb))
    nb.metadata["widgets"] = {"state": {"series_delta": delta}}
    size = len(nbformat.writes(nb)) - empty
    assert size < 30_000, size
    # a picture of the run: each kept second's values, rounded, not averaged
    kept = {p["t"]: p for p in hour}
    assert all(abs(p["ttft_p50"] - kept[p["t"]]["ttft_p50"]) < 1e-5 for p in points)


def test_the_progress_trait_says_when_an_open_loop_run_falls_behind_its_schedule():
    from llmeter_widget.views.dashboard_traits import progress_of

    kept = progress_of(Snapshot(elapsed=1.0), {"schedule_lag-p50": 0.001})
    assert kept["schedule_warning"] == ""
    late = progress_of(Snapshot(elapsed=1.0), {"schedule_lag-p50": 0.25})
    assert late["schedule_warning"].startswith("Schedule not kept: requests went out 250 ms late")
    closed = progress_of(Snapshot(elapsed=1.0), {"time_to_first_token-p50": 0.1})
    assert closed["schedule_warning"] == ""  # a closed loop has no schedule
