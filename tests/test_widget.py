"""The Dashboard's Python side: traits over a recording comm, as a frontend would see them.

The comm is the `comm` package's own base class with publish_msg recording instead of sending:
a kernel's comm, minus the socket. The browser tests drive the real thing.
"""

from __future__ import annotations

import asyncio
import json

import comm
import numpy as np
import pytest
import traitlets
from comm.base_comm import BaseComm

from llmeter_widget import Dashboard, Result, Runner
from llmeter_widget.endpoints import OpenAIChatEndpoint
from llmeter_widget.events import RunFinished, Snapshot, Tick

from .subshell import in_subshell
from .waiting import eventually


class RecordingComm(BaseComm):
    def __init__(self, **kwargs):
        self.messages: list[tuple[str, dict]] = []
        super().__init__(**kwargs)

    def publish_msg(self, msg_type, data=None, metadata=None, buffers=None, **keys):
        self.messages.append((msg_type, data or {}))

    def updates(self):
        return [d for t, d in self.messages if t == "comm_msg" and d.get("method") == "update"]

    def customs(self):
        return [d["content"] for t, d in self.messages if t == "comm_msg" and d.get("method") == "custom"]


@pytest.fixture(autouse=True)
def recording_comm(monkeypatch):
    monkeypatch.setattr(comm, "create_comm", lambda **kw: RecordingComm(**kw))


class Listener:
    """A run listener that hands every event to a function."""

    def __init__(self, function):
        self.on_event = function


def frontend_update(dash, **state):
    """What a slider move in the browser sends to the kernel."""
    dash._handle_msg({"content": {"data": {"method": "update", "state": state, "buffer_paths": []}},
                      "buffers": []})


def frontend_custom(dash, content):
    dash._handle_msg({"content": {"data": {"method": "custom", "content": content}}, "buffers": []})


@pytest.fixture
def dashboard(fixed_server, tmp_path):
    ep = OpenAIChatEndpoint(base_url=fixed_server.base_url, model="sim", api_key="sk-hidden-777")
    payload = OpenAIChatEndpoint.create_payload("Hi", max_tokens=8)
    dash = Dashboard(endpoint=ep, payload=payload, output_path=tmp_path, duration=3, clients=2)
    yield dash
    dash.close()


def test_initial_state_has_spec_title_and_no_secret(dashboard):
    state = dashboard.get_state()
    assert state["status"] == "idle" and state["clients"] == 2 and state["duration"] == 3
    assert [g["name"] for g in state["spec"]["groups"]][:3] == ["Throughput", "TTFT", "TTLT"]
    assert state["title"].startswith("sim @ 127.0.0.1:")
    assert "sk-hidden-777" not in json.dumps(state, default=str)
    assert not any("key" in name.lower() or "header" in name.lower() for name in dashboard.keys)


async def test_one_message_per_tick_bounded_size_and_only_new_points(dashboard):
    sent = dashboard.comm
    sizes_by_tick = []
    original = dashboard.on_event

    def counting(event):
        before = len(sent.updates())
        original(event)
        new = sent.updates()[before:]
        if isinstance(event, (Tick, RunFinished)):
            sizes_by_tick.append((len(new), [len(json.dumps(m)) for m in new]))
        else:
            assert len(new) <= 1, (event, new)

    dashboard.runner.listeners[:] = [Listener(counting)]
    result = await dashboard.run()
    assert result.status == "completed" and dashboard.status == "done"
    assert dashboard.result_path == result.output_path
    assert len(sizes_by_tick) >= 10
    # exactly one comm message per tick (hold_sync folds the trait changes)
    assert all(count == 1 for count, _ in sizes_by_tick), sizes_by_tick
    sizes = [s for _, ss in sizes_by_tick for s in ss]
    # ~3 KB: the stats (every registry metric's aggregations, None until measured: the open
    # loop's four add ~0.6 KB to a closed-loop run's ticks), progress and the new points
    assert max(sizes) <= 5120, max(sizes)
    # the size does not grow with the run: late ticks are no bigger than early ones
    early, late = sizes[2:6], sizes[-6:-1]
    assert max(late) <= max(early) + 300, (early, late)
    # every point travelled once, in order, with consecutive sequence numbers, until the end
    deltas = [m["state"]["series_delta"] for m in sent.updates() if "series_delta" in m["state"]]
    *ticks, final = deltas
    run = final["run"]
    seqs = [d["seq"] for d in ticks if d["run"] == run]
    assert seqs == list(range(len(seqs)))
    ts = [p["t"] for d in ticks if d["run"] == run for p in d["points"]]
    assert ts == list(range(len(ts))) and len(ts) >= 3
    # the run's end: the whole series once more, marked final (what a saved notebook keeps),
    # with the last tick's points (they come in that message) and the last tick's seq
    assert final["final"] is True and final["seq"] >= seqs[-1]
    kept = json.loads(final["points_json"])
    assert [p["t"] for p in kept] == list(range(len(kept)))
    assert len(kept) >= len(ts)
    assert dashboard.series_delta == final  # the trait a saved notebook stores


async def test_slider_move_from_frontend_reaches_the_running_run(dashboard):
    frontend_custom(dashboard, {"type": "run"})  # the Run button
    assert dashboard.running and dashboard.status == "running"
    runner = dashboard.runner
    await eventually(lambda: runner.running and runner.stats.in_flight == 2, "2 clients sending")
    frontend_update(dashboard, clients=6)  # the clients slider
    assert runner.active_clients == 6
    await eventually(lambda: runner.stats.in_flight == 6, "6 requests in flight")
    await eventually(lambda: dashboard.progress["active_clients"] == 6, "the next tick to show 6")
    frontend_update(dashboard, duration=1.5)  # the duration slider shortens the 3 s run
    result = await dashboard._task
    assert result.run_duration == 1.5 and dashboard.status == "done"
    last_send = max(r.t_send for r in result.responses) - runner.stats.start
    assert last_send < 1.5 and max(r.t_end for r in result.responses) - runner.stats.start >= 1.5


async def test_stop_button_keeps_a_loadable_result(dashboard):
    frontend_custom(dashboard, {"type": "run"})
    runner = dashboard.runner
    await eventually(lambda: runner.running and runner.stats.total_requests >= 2
                     and runner.stats.in_flight == 2, "2 requests done and 2 in flight")
    frontend_custom(dashboard, {"type": "stop"})
    assert dashboard.status == "stopping"
    result = await dashboard._task
    assert result.status == "stopped" and dashboard.status == "stopped"
    loaded = Result.load(dashboard.result_path)
    assert loaded.status == "stopped"
    done = [r for r in loaded.responses if r.error_type != "cancelled"]
    assert loaded.stats["total_requests"] == dashboard.stats["total_requests"] == len(done) >= 2
    assert loaded.stats["cancelled_requests"] == len(loaded.responses) - len(done) == 2


async def test_late_view_gets_the_whole_history_in_one_message(dashboard):
    await dashboard.run()
    before = len(dashboard.comm.customs())
    frontend_custom(dashboard, {"type": "history"})
    replies = dashboard.comm.customs()[before:]
    assert len(replies) == 1
    history = replies[0]
    assert history["type"] == "history"
    assert history["run"] == dashboard.series_delta["run"]
    assert history["seq"] == dashboard.series_delta["seq"]
    assert [p["t"] for p in history["points"]] == list(range(len(history["points"])))
    finished = sum(p["completed"] + p["failed"] for p in history["points"])
    assert finished == dashboard.stats["total_requests"]


async def test_count_mode(dashboard):
    dashboard.mode, dashboard.n_requests = "count", 3
    result = await dashboard.run()
    assert result.stats["total_requests"] == 6 and result.n_requests == 3


def test_out_of_range_values_from_python_are_clear_errors(dashboard):
    with pytest.raises(traitlets.TraitError, match=r"clients=0 is out of range: choose 1..64"):
        dashboard.clients = 0
    with pytest.raises(traitlets.TraitError, match="raise max_clients"):
        dashboard.clients = 65
    with pytest.raises(traitlets.TraitError, match="duration=-1"):
        dashboard.duration = -1
    with pytest.raises(traitlets.TraitError):
        dashboard.status = "exploded"
    assert dashboard.clients == 2


def test_rate_mode_from_python_and_its_clear_errors(dashboard):
    """Rate mode (issue 13): `rate=` starts in it; a bad rate or range names the fix."""
    assert (dashboard.mode, dashboard.rate, dashboard.arrival) == ("time", 10.0, "poisson")
    dashboard.mode, dashboard.rate = "rate", 30
    assert dashboard.rate == 30.0
    for bad, fix in ((500, r"rate=500.0 is out of range: choose 0.5..200 requests per second "
                           r"\(raise max_rate= for more\)"),
                     (0.1, "lower min_rate= for less"), (0, "a rate is more than 0"),
                     (float("nan"), "a rate is more than 0")):
        with pytest.raises(traitlets.TraitError, match=fix):
            dashboard.rate = bad
    with pytest.raises(traitlets.TraitError, match="0 < min_rate < max_rate"):
        dashboard.max_rate = 0.2
    with pytest.raises(traitlets.TraitError):
        dashboard.arrival = "gamma"  # from code only (Runner.run): the dashboard has no burstiness
    dashboard.max_rate = 20  # a range that leaves the rate out moves it to the bound
    assert (dashboard.rate, dashboard.max_rate) == (20.0, 20.0)
    # Dashboard(runner, rate=...): rate mode, the slider's range wide enough for it
    dash = Dashboard(dashboard.runner, rate=300, arrival="constant", duration=5)
    assert (dash.mode, dash.rate, dash.max_rate, dash.arrival) == ("rate", 300.0, 300.0, "constant")
    dash.close()


async def test_a_failed_run_shows_its_error(tmp_path):
    ep = OpenAIChatEndpoint(base_url="http://127.0.0.1:9/v1", model="sim")
    dash = Dashboard(endpoint=ep, payload={"messages": []}, output_path=tmp_path / "x" / "y",
                     duration=1, clients=1)
    (tmp_path / "x").write_text("a file where a folder should be")
    with pytest.raises(ValueError):
        await dash.run()
    assert dash.status == "error" and "Cannot write results" in dash.error
    dash.close()


def test_dashboard_needs_an_endpoint():
    with pytest.raises(ValueError, match="Dashboard.demo"):
        Dashboard()


async def test_watching_a_runner_started_from_code(fixed_server):
    runner = Runner(OpenAIChatEndpoint(base_url=fixed_server.base_url, model="sim"),
                    OpenAIChatEndpoint.create_payload("Hi", max_tokens=4))
    dash = Dashboard(runner=runner, controls=False)
    await runner.run(clients=3, n_requests=2, live_view=False)
    assert dash.status == "done" and dash.stats["total_requests"] == 6
    assert dash.controls is False
    dash.close()


async def test_error_classes_join_the_table_as_they_appear(fixed_server, tmp_path):
    ep = OpenAIChatEndpoint(base_url=fixed_server.base_url, model="no-such-model")
    runner = Runner(ep, OpenAIChatEndpoint.create_payload("Hi", max_tokens=4), output_path=tmp_path,
                    stop_when_misconfigured=False)  # see every request fail, not just the first 5
    dash = Dashboard(runner=runner, mode="count", n_requests=3, clients=2)
    errors_before = [g for g in dash.spec["groups"] if g["name"] == "Errors"][0]["stats"]
    assert [s["key"] for s in errors_before] == ["failed_requests", "failed_requests_rate",
                                                "rate_limit_retries"]
    await dash.run()
    errors = [g for g in dash.spec["groups"] if g["name"] == "Errors"][0]["stats"]
    assert [s["key"] for s in errors][-1] == "errors-http_4xx"
    assert dash.stats["errors-http_4xx"] == 6
    dash.close()


# -- client sweep ----------------------------------------------------------------------------------
def comparison_updates(dash):
    return [m["state"]["comparison"] for m in dash.comm.updates() if "comparison" in m["state"]]


async def test_sweep_fills_the_comparison_one_level_at_a_time(dashboard):
    from llmeter_widget import LoadTestResult

    dashboard.mode, dashboard.sweep_levels, dashboard.duration = "sweep", [1, 2, 4], 0.8
    messages_per_tick, original, kinds = [], dashboard.on_event, []

    def counting(event):
        before = len(dashboard.comm.updates())
        original(event)
        count = len(dashboard.comm.updates()) - before
        kinds.append(type(event).__name__)
        if isinstance(event, (Tick, RunFinished)):
            messages_per_tick.append(count)
        else:
            assert count <= 1, (event, count)

    dashboard.runner.listeners[:] = [Listener(counting)]
    result = await dashboard.run()
    assert isinstance(result, LoadTestResult) and dashboard.result is result
    assert result.status == "completed" and dashboard.status == "done"
    assert sorted(result.results) == [1, 2, 4]
    assert all(count == 1 for count in messages_per_tick), messages_per_tick
    # exactly one more level per finished level
    sizes = [len(c["levels"]) for c in comparison_updates(dashboard)]
    assert sizes == [1, 2, 3], sizes
    final = dashboard.comparison
    assert [lv["clients"] for lv in final["levels"]] == [1, 2, 4]
    for level, row in zip(final["levels"], result.stats_table()):
        assert level["output_tps"] == row["output_tps"] > 0
        assert level["requests_per_minute"] == row["requests_per_minute"]
        assert level["ttft_p50"] == row["time_to_first_token-p50"]
        assert level["ttft_p90"] == row["time_to_first_token-p90"]
        assert level["ttlt_p90"] == row["time_to_last_token-p90"]
        assert level["failed_requests_rate"] == row["failed_requests_rate"]
    # the knee is ringed only where the sweep saturates ("no saturation seen" has none)
    knee = result.knee_details()
    assert final["knee"] == (knee.clients if knee.saturated else None)
    assert final["verdict"] == result.verdict() != ""
    # each level was a new run for the series protocol, saved under the dashboard's output_path
    runs = {m["state"]["series_delta"]["run"] for m in dashboard.comm.updates()
            if "series_delta" in m["state"]}
    assert len(runs) == 3
    assert dashboard.result_path == result.output_path
    assert str(dashboard.runner.output_path) in result.output_path
    assert LoadTestResult.load(result.output_path).stats_table() == result.stats_table()
    levels_seen = {m["state"]["progress"].get("level") for m in dashboard.comm.updates()
                   if "progress" in m["state"]}
    assert {"1/3 (1 client)", "2/3 (2 clients)", "3/3 (4 clients)"} <= levels_seen
    # each level's run is wrapped in its LevelStarted / LevelFinished, on the runner's listeners
    wraps = [k for k in kinds if k in ("LevelStarted", "RunStarted", "RunFinished", "LevelFinished")]
    assert wraps == ["LevelStarted", "RunStarted", "RunFinished", "LevelFinished"] * 3, wraps


async def test_stop_mid_sweep_keeps_what_ran(dashboard):
    from llmeter_widget import LoadTestResult

    dashboard.mode, dashboard.sweep_levels, dashboard.duration = "sweep", [1, 2, 4], 0.8
    dashboard.comparison = {"levels": [{"clients": 99}], "knee": 99, "verdict": "old"}
    frontend_custom(dashboard, {"type": "run"})
    assert dashboard.sweeping and dashboard.status == "running"
    assert comparison_updates(dashboard)[-1] == {"levels": [], "knee": None, "verdict": ""}
    await eventually(lambda: len(dashboard.comparison["levels"]) == 1 and dashboard.runner.running,
                     "the second level to start",
                     describe=lambda: dashboard.progress)
    frontend_update(dashboard, clients=7)  # the clients slider does not touch a sweep's level
    frontend_custom(dashboard, {"type": "stop"})
    result = await dashboard._task
    assert result.status == "stopped" and dashboard.status == "stopped"
    # the finished level and the stopped one are kept; the third never ran
    assert sorted(result.results) == [1, 2] and result.missing == [4]
    assert [result.results[c].status for c in (1, 2)] == ["completed", "stopped"]
    assert len(dashboard.comparison["levels"]) == len(result.results)
    loaded = LoadTestResult.load(dashboard.result_path)
    assert loaded.status == "stopped" and sorted(loaded.results) == sorted(result.results)


def test_invalid_sweep_levels_are_clear_errors(dashboard):
    assert dashboard.sweep_levels == [1, 2, 4, 8, 16]
    assert dashboard.comparison == {"levels": [], "knee": None, "verdict": ""}
    with pytest.raises(traitlets.TraitError, match="sweep_levels is empty"):
        dashboard.sweep_levels = []
    with pytest.raises(traitlets.TraitError, match=r"\[0\] out of range: choose client counts in 1..64"):
        dashboard.sweep_levels = [0, 2]
    with pytest.raises(traitlets.TraitError, match="raise max_clients"):
        dashboard.sweep_levels = [1, 65]
    with pytest.raises(traitlets.TraitError, match=r"repeats \[2\]"):
        dashboard.sweep_levels = [1, 2, 2]
    with pytest.raises(traitlets.TraitError):
        dashboard.sweep_levels = [1, "x"]
    with pytest.raises(traitlets.TraitError):
        dashboard.mode = "random"
    assert dashboard.sweep_levels == [1, 2, 4, 8, 16]
    dashboard.mode = "sweep"
    frontend_update(dashboard, sweep_levels=[2, 8])  # the levels input
    assert dashboard.sweep_levels == [2, 8]
    small = Dashboard(runner=dashboard.runner, max_clients=6)
    assert small.sweep_levels == [1, 2, 4]  # the default, within the clients maximum
    small.close()
    with pytest.raises(traitlets.TraitError, match="sweep_levels"):
        Dashboard(runner=dashboard.runner, sweep_levels=[1, 200])


# -- overlays: saved runs and sweeps beside the live one -----------------------------------------
def overlay_updates(dash):
    return [m["state"]["overlays"] for m in dash.comm.updates() if "overlays" in m["state"]]


async def test_overlays_of_a_saved_run_and_a_sweep(fixed_server, tmp_path):
    from llmeter_widget import LoadTest

    ep = OpenAIChatEndpoint(base_url=fixed_server.base_url, model="sim")
    payload = OpenAIChatEndpoint.create_payload("Hi", max_tokens=8)
    saved = await Runner(ep, payload, output_path=tmp_path / "runs").run(
        clients=2, run_duration=1.5, live_view=False)
    sweep = await LoadTest(ep, payload, [1, 2], run_duration=0.5, output_path=tmp_path / "sweeps",
                           test_name="sw").run()

    dash = Dashboard(endpoint=ep, payload=payload, output_path=tmp_path / "live", duration=1,
                     clients=2)
    assert dash.overlays == [] and dash.get_state()["overlays"] == []
    dash.add_overlay(saved.output_path)
    assert len(overlay_updates(dash)) == 1  # one message when it changes
    (run,) = dash.overlays
    loaded = Result.load(saved.output_path)
    assert run["kind"] == "run" and run["label"] == saved.output_path.rstrip("/").split("/")[-1]
    for key in ("total_requests", "output_tps", "time_to_first_token-p50",
                "time_to_last_token-p90", "failed_requests"):
        assert run["stats"][key] == loaded.stats[key], key
    assert run["series"] and [b["t"] for b in run["series"]] == list(range(len(run["series"])))
    finished = sum(b["completed"] + b["failed"] for b in run["series"])
    assert finished == loaded.stats["total_requests"] > 0
    assert {"ttft_p90", "output_tps", "in_flight"} <= set(run["series"][-1])
    json.dumps(dash.get_state()["overlays"], allow_nan=False)  # plain JSON (no NaN, no dates)

    dash.add_overlay(sweep.output_path, label="sweep A")
    assert len(overlay_updates(dash)) == 2
    entry = dash.overlays[1]
    assert entry["kind"] == "sweep" and entry["label"] == "sweep A"
    assert [lv["clients"] for lv in entry["levels"]] == [1, 2]
    assert entry["levels"][0]["output_tps"] == sweep.stats_table()[0]["output_tps"]
    assert dash.overlays[0]["label"] == run["label"]  # the first one is kept

    # Overlays are not resent with the ticks of a live run.
    before = len(dash.comm.updates())
    await dash.run()
    assert len(overlay_updates(dash)) == 2
    assert all("overlays" not in m["state"] for m in dash.comm.updates()[before:])

    dash.clear_overlays()
    assert dash.overlays == [] and overlay_updates(dash)[-1] == []
    dash.close()


def test_overlay_of_a_bad_path_is_a_clear_error(dashboard, tmp_path):
    with pytest.raises(FileNotFoundError, match="no-such-run"):
        dashboard.add_overlay(tmp_path / "no-such-run")
    (tmp_path / "empty").mkdir()
    with pytest.raises(FileNotFoundError, match="empty holds no saved run or sweep"):
        dashboard.add_overlay(tmp_path / "empty")
    assert dashboard.overlays == [] and overlay_updates(dashboard) == []


# -- choosing the table's stats ------------------------------------------------------------------
def cells(dash):
    return {c["id"]: c for g in dash.spec["groups"] for c in g["stats"]}


async def test_add_and_remove_stats_from_the_table_while_a_run_goes_on(dashboard):
    frontend_custom(dashboard, {"type": "run"})
    runner = dashboard.runner
    await eventually(lambda: runner.running and runner.stats.total_requests >= 4, "4 requests done")
    assert "TTFT/p95" not in cells(dashboard)
    frontend_custom(dashboard, {"type": "add_stat", "key": "time_to_first_token-p95", "label": "p95"})
    assert cells(dashboard)["TTFT/p95"]["key"] == "time_to_first_token-p95"
    # a value at once, not next tick: the running run's exact p95 of what it has seen so far
    ttfts = [r.time_to_first_token for r in runner._run.responses if r.ok]
    assert dashboard.stats["time_to_first_token-p95"] == pytest.approx(np.percentile(ttfts, 95))
    frontend_custom(dashboard, {"type": "remove_stat", "id": "TTFT/p50"})
    assert "TTFT/p50" not in cells(dashboard) and "TTLT/p50" in cells(dashboard)
    result = await dashboard._task
    # the run kept computing the added percentile, and saved it
    assert result.stats["time_to_first_token-p95"] == dashboard.stats["time_to_first_token-p95"]
    assert "TTFT/p95" in cells(dashboard) and "TTFT/p50" not in cells(dashboard)
    # the next run keeps the edited table
    await dashboard.run()
    assert "time_to_first_token-p95" in Result.load(dashboard.result_path).stats


def test_bad_table_edits_are_answered_not_raised(dashboard):
    before = dashboard.spec
    frontend_custom(dashboard, {"type": "add_stat", "key": "time_to_frist_token-p95", "label": "x"})
    frontend_custom(dashboard, {"type": "remove_stat", "id": "Nope/none"})
    replies = [m for m in dashboard.comm.customs() if m.get("type") == "stat_error"]
    assert len(replies) == 2
    assert "Did you mean 'time_to_first_token-p95'" in replies[0]["message"]
    assert "Available keys" not in replies[0]["message"]  # the form lists them already
    assert "Nope/none" in replies[1]["message"]
    assert dashboard.spec == before
    with pytest.raises(ValueError, match="Unknown stat key"):
        dashboard.add_stat("x", "ttft")


def test_spec_lists_the_keys_a_person_may_add(fixed_server, tmp_path):
    from llmeter_widget import CostModel

    ep = OpenAIChatEndpoint(base_url=fixed_server.base_url, model="sim")
    dash = Dashboard(endpoint=ep, payload={"messages": []}, callbacks=[CostModel(1, 2)],
                     live_stats={"TTFT p50": "time_to_first_token-p50"})
    available = dash.spec["available"]
    assert "time_to_first_token-p99" in available and "cost-total" in available
    assert [c["label"] for c in cells(dash).values()] == ["TTFT p50"]  # exactly what was asked
    dash.add_stat("Cost", "cost-total")
    assert cells(dash)["Cost/Cost"]["unit"] == "$"  # the callback's group and unit, not the defaults
    dash.close()


async def test_empty_table_and_python_transforms(fixed_server, tmp_path):
    ep = OpenAIChatEndpoint(base_url=fixed_server.base_url, model="sim")
    payload = OpenAIChatEndpoint.create_payload("Hi", max_tokens=8)
    dash = Dashboard(endpoint=ep, payload=payload, live_stats={}, duration=1, clients=1)
    assert dash.spec["groups"] == []
    dash.add_stat("TTFT in tenths", "time_to_first_token-p50", transform=lambda v: v * 10, unit="")
    result = await dash.run()
    cell = cells(dash)["TTFT/TTFT in tenths"]
    assert dash.stats[cell["key"]] == pytest.approx(result.stats["time_to_first_token-p50"] * 10)
    dash.remove_stat("TTFT in tenths")  # by label
    assert dash.spec["groups"] == []
    dash.close()


async def test_messages_handled_on_a_subshell_thread_reach_the_run(fixed_server, tmp_path):
    # Made in a running loop, as in a notebook cell: that loop is where runs start.
    ep = OpenAIChatEndpoint(base_url=fixed_server.base_url, model="sim")
    dashboard = Dashboard(endpoint=ep, payload=OpenAIChatEndpoint.create_payload("Hi", max_tokens=8),
                          output_path=tmp_path, duration=3, clients=2)
    in_subshell(lambda: frontend_custom(dashboard, {"type": "run"}))  # the Run button
    await eventually(lambda: dashboard.running and dashboard.runner.running, "the run to start")
    assert dashboard._task.get_loop() is asyncio.get_running_loop()
    in_subshell(lambda: frontend_update(dashboard, clients=6))  # the clients slider
    await eventually(lambda: dashboard.runner.active_clients == 6
                     and dashboard.runner.stats.in_flight == 6, "6 clients sending")
    in_subshell(lambda: frontend_custom(dashboard, {"type": "add_stat", "key": "time_to_first_token-p95",
                                                    "label": "p95"}))
    in_subshell(lambda: frontend_custom(dashboard, {"type": "stop"}))
    result = await dashboard._task
    assert result.status == "stopped" and dashboard.status == "stopped" and dashboard.error == ""
    assert result.stats["failed_requests"] == 0 and "time_to_first_token-p95" in result.stats


async def test_terminal_and_dashboard_show_the_same_choice(fixed_server, tmp_path, capsys):
    live = {"Req/min": "requests_per_minute", "p95": "time_to_first_token-p95",
            "TTLT p50": {"key": "time_to_last_token-p50", "group": "Latency"},
            "Per-request tok/s": {"key": "time_per_output_token-p50", "transform": "inverse",
                                  "unit": "tok/s"}}
    groups = (("Latency", (r"^time_to_first",)), ("Speed", (r"per_minute|per_output",)))
    ep = OpenAIChatEndpoint(base_url=fixed_server.base_url, model="sim")
    payload = OpenAIChatEndpoint.create_payload("Hi", max_tokens=8)
    runner = Runner(ep, payload, output_path=tmp_path, live_stats=live, groups=groups,
                    live_view=True)  # the terminal table, on stderr (not a TTY: printed at the end)
    result = await runner.run(clients=2, n_requests=2)
    lines = capsys.readouterr().err.splitlines()
    # the final table: the last progress line (no " | ": that is a log line) and what follows
    start = max(i for i, line in enumerate(lines) if line.startswith("sim @") and " | " not in line)
    table = lines[start + 1:]
    dash = Dashboard(endpoint=ep, payload=payload, live_stats=live, groups=groups)
    dash.on_event(Tick(1, Snapshot(run_id=1, stats=result.stats)))
    widget = [(g["name"], [c["label"] for c in g["stats"]]) for g in dash.spec["groups"]]
    assert widget == [("Latency", ["p95", "TTLT p50"]), ("Speed", ["Req/min", "Per-request tok/s"])]
    assert [line.split()[0] for line in table] == [name for name, _ in widget]
    for line, (_, labels) in zip(table, widget):
        positions = [line.index(f"   {label} ") for label in labels]
        assert positions == sorted(positions), line
    # the same text in a cell as in the terminal (JS formats with the shared cases)
    from llmeter_widget.display import format_value

    tpot = result.stats["time_per_output_token-p50"]
    assert f"Per-request tok/s {format_value(tpot, 'tok/s', invert=True)}" in table[1]
    dash.close()


async def test_an_undeclared_published_key_can_be_added_once_it_appears(fixed_server, tmp_path):
    from llmeter_widget import Callback

    class Undeclared(Callback):
        async def after_invoke(self, response):
            self.publish({"mine-count": self.published.get("mine-count", 0) + 1})

    ep = OpenAIChatEndpoint(base_url=fixed_server.base_url, model="sim")
    dash = Dashboard(endpoint=ep, payload=OpenAIChatEndpoint.create_payload("Hi", max_tokens=4),
                     callbacks=[Undeclared()], duration=1, clients=1,
                     live_stats={"x": {"key": "time_to_first_token-p50", "transform": lambda v: v}})
    with pytest.raises(ValueError, match="Unknown stat key 'mine-count'"):
        dash.add_stat("Mine", "mine-count")  # not published yet, not declared
    result = await dash.run()
    assert "mine-count" in dash.spec["available"]
    assert not any("|" in k for k in dash.spec["available"])  # a transform's key is not offered
    dash.add_stat("Mine", "mine-count")
    assert dash.stats["mine-count"] == result.stats["total_requests"]
    dash.close()


async def test_a_stat_added_during_a_sweep_is_computed_in_every_later_level(dashboard):
    dashboard.mode, dashboard.sweep_levels, dashboard.duration = "sweep", [1, 2], 1.0
    task = dashboard.start()
    await eventually(lambda: dashboard.runner.running and dashboard.runner.stats.total_requests >= 1,
                     "the first level to answer")
    dashboard.add_stat("p95", "time_to_first_token-p95")
    result = await task
    assert sorted(result.results) == [1, 2]
    for clients, level in result.results.items():  # exact, from each level's saved responses
        ttfts = [r.time_to_first_token for r in Result.load(level.output_path).responses]
        assert level.stats["time_to_first_token-p95"] == pytest.approx(np.percentile(ttfts, 95)), clients
    assert dashboard.stats["time_to_first_token-p95"] == result.results[2].stats["time_to_first_token-p95"]


async def test_overlays_get_the_values_of_python_transforms(fixed_server, tmp_path):
    ep = OpenAIChatEndpoint(base_url=fixed_server.base_url, model="sim")
    payload = OpenAIChatEndpoint.create_payload("Hi", max_tokens=4)
    saved = await Runner(ep, payload, output_path=tmp_path, live_view=False).run(clients=1, n_requests=3)
    dash = Dashboard(endpoint=ep, payload=payload)
    dash.add_overlay(saved.output_path, label="before")
    dash.add_stat("TTFT in tenths", "time_to_first_token-p50", transform=lambda v: v * 10)
    key = cells(dash)["TTFT/TTFT in tenths"]["key"]
    assert dash.overlays[0]["stats"][key] == pytest.approx(saved.stats["time_to_first_token-p50"] * 10)
    dash.clear_overlays()
    assert dash.overlays == []
    dash.close()


def test_a_given_runners_live_stats_apply_unless_given(fixed_server):
    ep = OpenAIChatEndpoint(base_url=fixed_server.base_url, model="sim")
    runner = Runner(ep, {"messages": []}, live_stats={"p95": "time_to_first_token-p95"}, live_view=False)
    dash = Dashboard(runner=runner)
    assert [c["label"] for c in cells(dash).values()] == ["p95"]
    other = Dashboard(runner=runner, live_stats={"Done": "total_requests"})
    assert [c["label"] for c in cells(other).values()] == ["Done"]
    dash.close()
    other.close()


async def test_the_tables_last_seconds_travel_only_while_a_view_shows_them(dashboard):
    """Issue 12, defect 5: the table's toggle ("whole run" / "last 10 s") sets `table_scope`;
    while it is "window" each tick carries `window_stats` (the table's keys over the last
    seconds), in the same message as the tick's other changes, and none otherwise."""
    sent = dashboard.comm
    frontend_custom(dashboard, {"type": "run"})
    runner = dashboard.runner
    await eventually(lambda: runner.running and runner.stats.total_requests >= 4, "4 done")
    assert dashboard.window_stats == {}
    assert not any("window_stats" in m["state"] for m in sent.updates())
    frontend_update(dashboard, table_scope="window")  # the toggle in the table's header
    assert runner.stats.want_window_stats
    assert dashboard.window_stats["seconds"] == 10  # shown at once, not at the next tick
    before = len(sent.updates())
    await eventually(lambda: dashboard.window_stats["covered"] >= 2, "two seconds in the window")
    window = dashboard.window_stats["stats"]
    shown = {s["key"] for g in dashboard.spec["groups"] for s in g["stats"]}
    assert set(window) <= shown and window["time_to_first_token-p50"] > 0
    assert 0 < window["total_requests"] <= dashboard.stats["total_requests"]
    # each window update is part of a tick's message (at most one message per tick)
    assert all("stats" in m["state"] for m in sent.updates()[before:] if "window_stats" in m["state"])
    frontend_update(dashboard, table_scope="run")
    assert dashboard.window_stats == {} and not runner.stats.want_window_stats
    after = len(sent.updates())
    await dashboard._task
    assert not any("window_stats" in m["state"] for m in sent.updates()[after + 1:])
    # a new run keeps asking while the toggle says so (the scope is the view's, not the run's)
    dashboard.table_scope = "window"
    dashboard.duration = 1.5
    await dashboard.run()
    assert dashboard.window_stats["covered"] >= 1
    assert dashboard.window_stats["stats"]["total_requests"] > 0
