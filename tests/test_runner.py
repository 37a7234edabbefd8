"""The Runner end to end against the simulator: bounds, live control, stop, callbacks, folders."""

from __future__ import annotations

import asyncio
import itertools
import json
import time
from datetime import timedelta
from pathlib import Path

import numpy as np
import pytest

from llmeter_widget import Callback, Result, Runner
from llmeter_widget.runner import MisconfiguredEndpoint
from llmeter_widget.endpoints import OpenAIChatEndpoint
from llmeter_widget.simulator import SimulatedServer

from .conftest import ITL, TTFT
from .subshell import in_subshell
from .waiting import eventually


def chat(server, **kw):
    return OpenAIChatEndpoint(base_url=server.base_url, model="sim", **kw)


def payload(max_tokens=16):
    return OpenAIChatEndpoint.create_payload("Tell me a story", max_tokens=max_tokens)


async def test_count_bound_run_writes_a_loadable_folder(fixed_server, tmp_path):
    runner = Runner(chat(fixed_server), payload(), output_path=tmp_path)
    result = await runner.run(clients=4, n_requests=3, run_name="count")
    assert result.status == "completed"
    assert result.stats["total_requests"] == 12 and result.stats["failed_requests"] == 0
    folder = Path(result.output_path)
    assert folder == tmp_path / "count"
    names = {p.name for p in folder.iterdir()}
    assert {"run_config.json", "responses.jsonl", "stats.json", "summary.json",
            "run_status.json", "payload.jsonl"} <= names
    assert len((folder / "responses.jsonl").read_text().splitlines()) == 12
    # the live stats are the saved stats are the loaded stats
    loaded = Result.load(folder)
    assert loaded.status == "completed" and len(loaded.responses) == 12
    for key in ("time_to_first_token-p50", "time_to_last_token-p90", "requests_per_minute",
                "output_tps", "total_output_tokens"):
        assert loaded.stats[key] == pytest.approx(result.stats[key]), key
    # timestamps keep microseconds
    raw = json.loads((folder / "responses.jsonl").read_text().splitlines()[0])
    assert len(raw["request_time"].split(".")[1]) == 7  # 6 digits + Z
    by_id = {r.id: r for r in result.responses}
    assert {r.id for r in loaded.responses} == set(by_id)
    for r in loaded.responses:
        assert r.request_time == by_id[r.id].request_time
        assert r.time_to_first_token == by_id[r.id].time_to_first_token
    assert result.stats["time_to_first_token-p50"] == pytest.approx(
        np.percentile([r.time_to_first_token for r in loaded.responses], 50))
    # stamped on the first token (never before it), not on the last (15 tokens later)
    assert TTFT <= result.stats["time_to_first_token-p50"] < TTFT + 15 * ITL


async def test_without_bounds_each_client_sends_each_payload_once(fixed_server):
    payloads = [payload(4), payload(5), payload(6)]
    result = await Runner(chat(fixed_server), payloads).run(clients=2)
    assert result.stats["total_requests"] == 6
    assert sorted(r.num_tokens_output for r in result.responses) == [4, 4, 5, 5, 6, 6]


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"clients": 0}, "clients must be"),
        ({"clients": 2.5}, "clients must be"),
        ({"n_requests": 3, "run_duration": 5}, "mutually exclusive"),
        ({"run_duration": 0}, "must be positive"),
        ({"run_duration": -1}, "must be positive"),
        ({"n_requests": 0}, "n_requests must be"),
        ({"payload": []}, "empty"),
        ({"payload": "/no/such/file.jsonl"}, "does not exist"),
        ({"payload": "NOT_JSON"}, "is not valid JSON"),
        ({"payload": "NOT_JSONL"}, "Line 2 of .* is not valid JSON"),
        ({"low_memory": True, "output_path": None}, "needs output_path"),
    ],
)
async def test_bad_input_is_refused_before_anything_is_written(tmp_path, kwargs, message):
    ep = OpenAIChatEndpoint(base_url="http://127.0.0.1:9/v1", model="sim")
    inputs = tmp_path / "inputs"
    inputs.mkdir()
    (inputs / "bad.json").write_text("{'single': 'quotes'}")
    (inputs / "bad.jsonl").write_text('{"ok": 1}\nnot json\n')
    files = {"NOT_JSON": inputs / "bad.json", "NOT_JSONL": inputs / "bad.jsonl"}
    kwargs = {k: files.get(v, v) if isinstance(v, str) else v for k, v in kwargs.items()}
    out = tmp_path / "runs"
    runner = Runner(ep, payload(), output_path=kwargs.pop("output_path", out))
    with pytest.raises(ValueError, match=message):
        await runner.run(**kwargs)
    assert not runner.running
    assert not out.exists()  # nothing half-written


async def test_unwritable_output_path_is_a_clear_error(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    runner = Runner(OpenAIChatEndpoint(base_url="http://127.0.0.1:9/v1", model="m"), payload(),
                    output_path=blocker)
    with pytest.raises(ValueError, match="Cannot write results"):
        await runner.run()


async def test_time_bound_run_stops_sending_on_time_and_drains(fixed_server):
    # each request takes at least 0.05 + 15 * 0.01 = 0.2 s (the server holds every token)
    started = time.perf_counter()
    result = await Runner(chat(fixed_server), payload()).run(clients=4, run_duration=timedelta(seconds=1))
    elapsed = time.perf_counter() - started
    sends = sorted(r.t_send for r in result.responses)
    ends = [r.t_end for r in result.responses]
    durations = [r.t_end - r.t_send for r in result.responses]
    # no request sent after the deadline; the run ended when the last one sent had finished
    assert sends[-1] - sends[0] < 1.0
    assert max(ends) - sends[0] >= 1.0 - 0.01  # someone was busy up to the deadline
    assert 1.0 <= elapsed < max(ends) - sends[0] + 0.5
    # every in-flight request at the deadline finished and was counted
    assert result.stats["failed_requests"] == 0 and result.stats["cancelled_requests"] == 0
    assert result.stats["total_requests"] == len(result.responses)
    assert min(durations) >= 0.2
    # closed loop: the 4 clients were busy, back to back, from the start to the deadline
    assert 4 * 0.9 <= sum(durations) <= 4 * (1.0 + max(durations))
    # send-window rate: requests / (send window + mean duration), derived here from the responses
    # (whose t_send is stamped microseconds after the runner counts the send)
    window = sends[-1] - sends[0] + float(np.mean(durations))
    assert result.stats["requests_per_minute"] == pytest.approx(len(sends) * 60 / window, rel=1e-4)
    assert result.stats["requests_per_minute"] <= 4 * 60 / 0.2  # at most 4 clients / 0.2 s


async def test_set_clients_grows_and_shrinks_a_running_run(fixed_server):
    runner = Runner(chat(fixed_server), payload())
    task = asyncio.create_task(runner.run(clients=2, run_duration=60))

    def state():
        return runner.active_clients, runner.stats and runner.stats.in_flight, series_levels()

    def series_levels():  # active clients as each per-second bucket closed
        return [b["active_clients"] for b in runner.stats.series()] if runner.stats else []

    await eventually(lambda: runner.running and runner.stats.total_requests >= 2 and series_levels(),
                     "2 clients to answer for a second", describe=state)
    assert runner.active_clients == 2 and runner.stats.in_flight <= 2
    runner.set_clients(6)
    assert runner.active_clients == 6  # at once: the new clients' tasks exist
    await eventually(lambda: runner.stats.in_flight == 6, "6 requests in flight", describe=state)
    await eventually(lambda: 6 in series_levels(), "a second at 6 clients", describe=state)
    runner.set_clients(1)
    assert runner.active_clients == 1
    # removed clients finish their request (~0.2 s) first, then send no more
    await eventually(lambda: runner.stats.in_flight <= 1 and series_levels()[-1] == 1,
                     "the 5 removed clients to finish", describe=state)
    sent = runner.stats.sent
    await eventually(lambda: runner.stats.sent >= sent + 2, "the one client to go on")
    assert runner.stats.in_flight <= 1
    runner.stop(wait_in_flight=True)
    result = await task
    assert result.stats["failed_requests"] == 0 and result.stats["cancelled_requests"] == 0
    assert result.stats["total_requests"] == len(result.responses) == runner.stats.sent
    # the per-second series saw each level, in order (and 0 once the run was over)
    levels = [n for n, _ in itertools.groupby(series_levels())]
    assert levels in ([2, 6, 1], [2, 6, 1, 0]), series_levels()
    with pytest.raises(RuntimeError):
        runner.set_clients(3)  # no run going on


@pytest.mark.parametrize("first, then", [(1.0, 2.0), (3.0, 1.0)], ids=["extend", "shorten"])
async def test_set_duration_changes_a_running_run(fixed_server, first, then):
    runner = Runner(chat(fixed_server), payload())
    task = asyncio.create_task(runner.run(clients=2, run_duration=first))
    await eventually(lambda: runner.running and runner.stats.sent >= 2, "the run to start sending")
    runner.set_duration(then)
    result = await task
    sends = sorted(r.t_send for r in result.responses)
    ends = [r.t_end for r in result.responses]
    # requests go on being sent up to the new end (each takes ~0.2 s), and none after it
    assert then - 0.5 < sends[-1] - runner.stats.start < then
    assert max(ends) - runner.stats.start >= then - 0.01
    assert result.run_duration == then  # and it is what the saved result says


async def test_a_time_bound_run_ends_at_most_drain_timeout_after_its_deadline(tmp_path):
    """A server that never answers in time (first token after 60 s) cannot hold the run: the
    requests still in flight at deadline + drain_timeout are cancelled and recorded as such."""
    async with SimulatedServer(mode="fixed", ttft=60, itl=0.01) as server:
        runner = Runner(chat(server), payload(), output_path=tmp_path, drain_timeout=0.5)
        started = time.perf_counter()
        result = await runner.run(clients=3, run_duration=0.5, run_name="drained")
        elapsed = time.perf_counter() - started
    assert 0.5 + 0.5 <= elapsed < 10  # not before the drain ends; nowhere near the 60 s answer
    assert result.status == "completed"  # the run lasted its duration; nothing was stopped
    assert result.stats["cancelled_requests"] == 3 and result.stats["total_requests"] == 0
    loaded = Result.load(tmp_path / "drained")
    assert [r.error_type for r in loaded.responses] == ["cancelled"] * 3
    assert all(r.t_end - r.t_send >= 1.0 - 0.01 for r in loaded.responses)  # cut at 0.5 + 0.5 s


@pytest.mark.parametrize("bad", [-1, float("nan"), "30", True])
def test_drain_timeout_is_checked(bad):
    with pytest.raises(ValueError, match="drain_timeout must be seconds >= 0"):
        Runner(OpenAIChatEndpoint(base_url="http://127.0.0.1:9/v1", model="m"), payload(),
               drain_timeout=bad)


async def test_stop_ends_early_records_in_flight_as_cancelled(fixed_server, tmp_path):
    runner = Runner(chat(fixed_server), payload(1000), output_path=tmp_path)  # ~10 s per request
    task = asyncio.create_task(runner.run(clients=3, run_duration=30, run_name="stopped"))
    await eventually(lambda: runner.running and runner.stats.in_flight == 3, "3 requests in flight")
    await asyncio.sleep(0.3)  # their first tokens (0.05 s) arrive: a cancelled one keeps its TTFT
    started = time.perf_counter()
    runner.stop()
    result = await task
    # without waiting for the in-flight requests (they would take ~9.5 s more)
    assert time.perf_counter() - started < 3.0
    assert result.status == "stopped"
    assert result.stats["cancelled_requests"] == 3
    assert result.stats["total_requests"] == 0
    cancelled = [r for r in result.responses if r.error_type == "cancelled"]
    assert len(cancelled) == 3 and all(r.time_to_first_token for r in cancelled)
    loaded = Result.load(tmp_path / "stopped")
    assert loaded.status == "stopped" and len(loaded.responses) == 3


async def test_interrupted_run_leaves_a_loadable_folder(fixed_server, tmp_path):
    runner = Runner(chat(fixed_server), payload(20), output_path=tmp_path)
    task = asyncio.create_task(runner.run(clients=2, run_duration=30, run_name="cut"))
    await eventually(lambda: runner.running and runner.stats.total_requests >= 4
                     and runner.stats.in_flight == 2,
                     "4 requests done, 2 in flight")
    task.cancel()  # what Ctrl-C (asyncio.run) or a kernel interrupt does
    with pytest.raises(asyncio.CancelledError):
        await task
    loaded = Result.load(tmp_path / "cut")
    assert loaded.status == "interrupted"
    assert loaded.stats["total_requests"] >= 4
    assert loaded.stats["cancelled_requests"] == 2
    assert runner.last_result.status == "interrupted"


async def test_low_memory_keeps_no_responses_but_writes_them_all(fixed_server, tmp_path):
    runner = Runner(chat(fixed_server), payload(4), output_path=tmp_path, low_memory=True)
    result = await runner.run(clients=8, n_requests=10, run_name="lm")
    assert result.responses == []
    assert result.stats["total_requests"] == 80
    lines = (tmp_path / "lm" / "responses.jsonl").read_text().splitlines()
    assert len(lines) == 80 and len({json.loads(line)["id"] for line in lines}) == 80
    assert Result.load(tmp_path / "lm", load_responses=False).stats["total_requests"] == 80
    # what low-memory keeps (and does not keep) in memory: tests/test_low_memory.py


class Recorder(Callback):
    def __init__(self):
        self.events = []

    async def before_run(self, run_config):
        self.events.append(("before_run", run_config["clients"]))

    async def before_invoke(self, payload):
        self.events.append("before_invoke")

    async def after_invoke(self, response):
        self.events.append("after_invoke")

    async def after_run(self, result):
        self.events.append("after_run")
        result.add_stats({"custom_metric": 42.5, "custom_count": len(self.events)})


async def test_callbacks_run_in_order_and_their_stats_survive_load(fixed_server, tmp_path):
    cb = Recorder()
    result = await Runner(chat(fixed_server), payload(3), output_path=tmp_path, callbacks=[cb]).run(
        clients=2, n_requests=2, run_name="cb")
    assert cb.events[0] == ("before_run", 2) and cb.events[-1] == "after_run"
    assert cb.events.count("before_invoke") == 4 and cb.events.count("after_invoke") == 4
    assert result.stats["custom_metric"] == 42.5
    loaded = Result.load(tmp_path / "cb")
    assert loaded.stats["custom_metric"] == 42.5 and loaded.stats["custom_count"] == 10
    assert Result.load(tmp_path / "cb", load_responses=False).stats["custom_metric"] == 42.5


async def test_crashed_folder_with_truncated_line_loads_with_warning(fixed_server, tmp_path, caplog):
    result = await Runner(chat(fixed_server), payload(3), output_path=tmp_path).run(
        clients=2, n_requests=3, run_name="crash")
    folder = Path(result.output_path)
    # what a killed process leaves: no summary/stats, status still "running", half a line
    for name in ("summary.json", "stats.json"):
        (folder / name).unlink()
    (folder / "run_status.json").write_text('{"status": "running"}')
    with (folder / "responses.jsonl").open("a") as f:
        f.write('{"id": "half-writ')
    loaded = Result.load(folder)
    assert loaded.status == "interrupted"
    assert len(loaded.responses) == 6 and loaded.stats["total_requests"] == 6
    assert loaded.stats["time_to_first_token-p50"] == pytest.approx(
        result.stats["time_to_first_token-p50"])
    assert loaded.model_id == "sim" and loaded.clients == 2
    assert "Skipping unreadable line 7" in caplog.text


async def test_no_api_key_in_any_saved_file(fixed_server, tmp_path):
    ep = chat(fixed_server, api_key="sk-very-secret-999")
    await Runner(ep, payload(2), output_path=tmp_path).run(clients=1, n_requests=1, run_name="k")
    for path in (tmp_path / "k").iterdir():
        assert "sk-very-secret-999" not in path.read_text(), path.name


async def test_ttft_is_stamped_on_the_first_token_under_load():
    # The server in its own process, as in the benches (in-process, its work would delay ours).
    # How close we get to the truth, beside a bare aiohttp loop, is measured in bench/; here:
    # the right event is stamped (the first byte would read ~0 ms, the last token ~120 ms).
    with SimulatedServer.spawn(mode="fixed", ttft=TTFT, itl=ITL) as server:
        result = await Runner(chat(server), payload(8)).run(clients=16, n_requests=4)
    assert result.stats["failed_requests"] == 0
    # never before the first token; stamping the last token would read >= TTFT + 7 ITL
    assert TTFT <= result.stats["time_to_first_token-p50"] < TTFT + 7 * ITL
    # tokens cannot come faster than the server's ITL; (n - 1) intervals, not n (0.875 ITL)
    assert ITL * 0.9 <= result.stats["time_per_output_token-p50"] < ITL * 2


async def test_batching_curve_seen_through_the_runner():
    """Throughput rises then flattens at max_batch (8); TTFT climbs steeply past it.
    (The server in its own process: in ours, its batching steps would wait on our clients.)"""
    figures = {}
    with SimulatedServer.spawn(mode="batching", max_batch=8, seed=1) as server:
        ep = chat(server)
        for clients in (1, 8, 32):
            result = await Runner(ep, payload(32)).run(clients=clients, run_duration=1.5)
            figures[clients] = (result.stats["output_tps"], result.stats["time_to_first_token-p50"])
    tps = {c: f[0] for c, f in figures.items()}
    ttft = {c: f[1] for c, f in figures.items()}
    assert tps[8] > 3 * tps[1], figures
    assert tps[32] < 1.4 * tps[8], figures
    assert ttft[32] > 3 * ttft[8], figures


async def test_a_wrong_model_stops_the_run_with_a_clear_error(fixed_server, tmp_path):
    ep = OpenAIChatEndpoint(base_url=fixed_server.base_url, model="no-such-model")
    runner = Runner(ep, payload(4), output_path=tmp_path)
    with pytest.raises(MisconfiguredEndpoint, match=r"HTTP 404.*Check model= \('no-such-model'\)"):
        await runner.run(clients=2, run_duration=30, run_name="wrong")
    result = runner.last_result
    assert result.status == "failed" and "Check model=" in result.error
    # the server's message ends with a full stop: one, not two ("serves model `sim`.. Check")
    assert "`sim`. Check model=" in result.error and ".." not in result.error
    assert result.stats["failed_requests"] <= 6 and result.total_test_time < 5
    assert Result.load(tmp_path / "wrong").status == "failed"


async def test_no_server_stops_the_run_with_a_clear_error():
    ep = OpenAIChatEndpoint(base_url="http://127.0.0.1:9/v1", model="sim")
    with pytest.raises(MisconfiguredEndpoint, match="Is the server running"):
        await Runner(ep, payload()).run(clients=1, run_duration=30)


async def test_misconfiguration_watch_can_be_turned_off(fixed_server):
    ep = OpenAIChatEndpoint(base_url=fixed_server.base_url, model="no-such-model")
    result = await Runner(ep, payload(), stop_when_misconfigured=False).run(clients=2, n_requests=4)
    assert result.status == "completed" and result.stats["errors-http_4xx"] == 8


class BlocksTheLoop(Callback):
    """A badly written callback: blocks the event loop once for 0.3 s."""

    def __init__(self):
        self.done = False

    async def after_invoke(self, response):
        if not self.done:
            self.done = True
            time.sleep(0.3)


async def test_event_loop_lag_is_measured_and_reported(fixed_server):
    quiet = await Runner(chat(fixed_server), payload(4)).run(clients=2, run_duration=1.0)
    runner = Runner(chat(fixed_server), payload(4), callbacks=[BlocksTheLoop()])
    seen = []
    runner.listeners.append(seen.append)
    blocked = await runner.run(clients=2, run_duration=1.5)
    # a 0.3 s block delays the 0.05 s watch timer by at least 0.25 s
    assert blocked.stats["event_loop_lag_max"] >= 0.25
    assert max(s["loop_lag"] for s in seen) == pytest.approx(blocked.stats["event_loop_lag_max"])
    # with nothing blocking, the lag is a scheduler's hiccup at most, well under the block
    assert quiet.stats["event_loop_lag_max"] < 0.15


class ExplodesOnThirdResponse(Callback):
    def __init__(self):
        self.seen = 0
        self.after_run_called = False

    async def after_invoke(self, response):
        self.seen += 1
        if self.seen == 3:
            raise RuntimeError("callback bug")

    async def after_run(self, result):
        self.after_run_called = True


async def test_a_failing_callback_fails_the_run_but_keeps_a_loadable_result(fixed_server, tmp_path):
    cb = ExplodesOnThirdResponse()
    runner = Runner(chat(fixed_server), payload(40), output_path=tmp_path, callbacks=[cb])
    with pytest.raises(RuntimeError, match="callback bug"):
        await runner.run(clients=3, run_duration=30, run_name="cb-bug")
    assert cb.after_run_called
    loaded = Result.load(tmp_path / "cb-bug")
    assert loaded.status == "failed" and "callback bug" in loaded.error
    # the requests in flight when it failed are saved as cancelled, not lost
    assert loaded.stats["total_requests"] >= 3
    assert loaded.stats["cancelled_requests"] >= 1
    assert loaded.stats["total_requests"] + loaded.stats["cancelled_requests"] == len(loaded.responses)


def test_open_file_limit_is_raised_for_many_clients():
    import resource

    from llmeter_widget.limits import ensure_open_files

    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    try:
        resource.setrlimit(resource.RLIMIT_NOFILE, (256, hard))
        ensure_open_files(1064)
        assert resource.getrlimit(resource.RLIMIT_NOFILE)[0] == min(1064, hard)
        ensure_open_files(100)  # never lowered
        assert resource.getrlimit(resource.RLIMIT_NOFILE)[0] == min(1064, hard)
    finally:
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))


async def test_controls_from_another_thread_are_handed_to_the_runs_loop(fixed_server, tmp_path):
    """A widget message may be handled on another thread with its own event loop (a kernel
    subshell): set_clients / set_duration / stop from there must act on the run's loop."""
    ep = OpenAIChatEndpoint(base_url=fixed_server.base_url, model="sim")
    runner = Runner(ep, OpenAIChatEndpoint.create_payload("Hi", max_tokens=8), output_path=tmp_path,
                    live_view=False)
    task = asyncio.create_task(runner.run(clients=2, run_duration=30))
    await eventually(lambda: runner.running and runner.stats.sent >= 2, "the run to start")

    in_subshell(lambda: runner.set_clients(5))
    await eventually(lambda: runner.active_clients == 5 and runner.stats.in_flight == 5,
                     "5 clients sending")
    in_subshell(lambda: runner.set_duration(1.5))
    await eventually(lambda: runner._run.deadline == runner.stats.start + 1.5, "the new deadline")
    in_subshell(lambda: runner.stop(wait_in_flight=True))
    result = await task
    assert result.status == "stopped" and result.stats["failed_requests"] == 0
    assert result.stats["cancelled_requests"] == 0  # wait_in_flight: they finished
    assert result.run_duration == 1.5
