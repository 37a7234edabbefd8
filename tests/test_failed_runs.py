"""Runs whose requests fail, against real sockets: throughput counts successful requests only,
and every finished request is counted once, as completed (succeeded) or failed.

Issue 11: a closed port read `Requests/min 90,205`, a wrong model `29,483 req/min`, and the
count-mode progress bar counted failures twice. Expected values here are derived from the
saved responses themselves (their ok flags, raw timestamps and token counts), not from the
statistics under test.
"""

from __future__ import annotations

import io
from collections import Counter
from contextlib import AsyncExitStack

import pytest

from llmeter_widget import Dashboard, Result, Runner
from llmeter_widget.display import format_value
from llmeter_widget.endpoints import OpenAIChatEndpoint
from llmeter_widget.events import Snapshot
from llmeter_widget.runner import MisconfiguredEndpoint
from llmeter_widget.simulator import SimulatedServer
from llmeter_widget.stats import stats_from_responses
from llmeter_widget.terminal import TerminalView

PAYLOAD = OpenAIChatEndpoint.create_payload("Hi", max_tokens=8)
RATE_KEYS = ("requests_per_minute", "output_tps", "average_input_tokens_per_minute",
             "average_output_tokens_per_minute")


async def failing_endpoint(case: str, stack: AsyncExitStack) -> tuple[OpenAIChatEndpoint, str]:
    """An endpoint every request to which fails, and the error class it fails with."""
    if case == "unreachable":  # nothing listens there: connection refused, within a millisecond
        return OpenAIChatEndpoint(base_url=SimulatedServer.closed_url(), model="sim"), "connect"
    server = await stack.enter_async_context(SimulatedServer(mode="fixed", ttft=0.01, itl=0.002))
    return OpenAIChatEndpoint(base_url=server.base_url, model="no-such-model"), "http_4xx"


def terminal_lines(stats: dict) -> list[str]:
    return TerminalView(stream=io.StringIO(), tty=False).render(Snapshot(stats=stats))


def responses_by_outcome(result: Result) -> tuple[list, list]:
    finished = [r for r in result.responses if r.error_type != "cancelled"]
    return [r for r in finished if r.ok], [r for r in finished if not r.ok]


@pytest.mark.parametrize("case", ["unreachable", "wrong model"])
async def test_an_all_failing_run_reads_zero_throughput(case, tmp_path):
    async with AsyncExitStack() as stack:
        ep, error_type = await failing_endpoint(case, stack)
        result = await Runner(ep, PAYLOAD, output_path=tmp_path, stop_when_misconfigured=False,
                              live_view=False).run(clients=2, n_requests=5)
    ok, failed = responses_by_outcome(result)
    assert (len(ok), len(failed)) == (0, 10)
    assert {r.error_type for r in failed} == {error_type}
    stats = result.stats
    for key in RATE_KEYS:
        assert stats[key] == 0, key
    for key in RATE_KEYS:  # and so in the saved folder
        assert Result.load(result.output_path).stats[key] == 0, key
    counts = (stats["total_requests"], stats["successful_requests"], stats["failed_requests"])
    assert counts == (10, 0, 10)
    # the terminal shows 0, not a rate of tens of thousands
    progress, throughput = terminal_lines(stats)[:2]
    assert "10 done (0 completed, 10 failed)" in progress
    assert f"Requests/min {format_value(0.0, 'req/min')}" in throughput
    assert f"Output tokens/s {format_value(0.0, 'tok/s')}" in throughput


async def test_a_run_stopped_as_misconfigured_reads_zero_throughput():
    ep = OpenAIChatEndpoint(base_url=SimulatedServer.closed_url(), model="sim")
    runner = Runner(ep, PAYLOAD, live_view=False)  # stops after the first few failures
    with pytest.raises(MisconfiguredEndpoint):
        await runner.run(clients=2, n_requests=50)
    stats = runner.last_result.stats
    assert stats["total_requests"] == stats["failed_requests"] > 0
    assert stats["requests_per_minute"] == 0 and stats["output_tps"] == 0


async def test_the_dashboard_of_an_all_failing_run_shows_zero_beside_the_failures(tmp_path):
    async with AsyncExitStack() as stack:
        ep, _ = await failing_endpoint("wrong model", stack)
        runner = Runner(ep, PAYLOAD, output_path=tmp_path, stop_when_misconfigured=False,
                        live_view=False)
        dash = Dashboard(runner=runner, mode="count", clients=2, n_requests=5)
        ticks: list[dict] = []
        dash.observe(lambda change: ticks.append(dict(change["new"])), "progress")
        result = await dash.run()
    assert dash.status == "done"
    ok, failed = responses_by_outcome(result)
    assert (len(ok), len(failed)) == (0, 10)
    for key in RATE_KEYS:
        assert dash.stats[key] == 0, key
    assert (dash.progress["completed"], dash.progress["failed"]) == (0, 10)
    assert ticks and all(t["completed"] == 0 and t["failed"] <= 10 for t in ticks), ticks
    dash.close()


@pytest.fixture
async def half_failing_server():
    """Half the requests get a 500 (seeded, so the same pattern each time); the others stream
    16 tokens in about 0.2 s, so a run lasts long enough for several live ticks."""
    async with SimulatedServer(mode="fixed", ttft=0.05, itl=0.01, error_500_rate=0.5,
                               seed=11) as server:
        yield server


def expected_rates(result: Result) -> dict[str, float]:
    """Throughput from the responses alone: successful requests (and their tokens) over the
    send window (first to last t_send) plus the mean duration of every finished request."""
    ok, failed = responses_by_outcome(result)
    finished = ok + failed
    sends = [r.t_send for r in finished]
    mean_duration = sum(r.t_end - r.t_send for r in finished) / len(finished)
    window = max(sends) - min(sends) + mean_duration
    return {
        "requests_per_minute": len(ok) * 60 / window,
        "output_tps": sum(r.num_tokens_output for r in ok) / window,
        "average_output_tokens_per_minute": sum(r.num_tokens_output for r in ok) * 60 / window,
        "average_input_tokens_per_minute": sum(r.num_tokens_input for r in ok) * 60 / window,
    }


async def test_a_half_failing_runs_rates_count_its_successful_requests(half_failing_server,
                                                                       tmp_path):
    ep = OpenAIChatEndpoint(base_url=half_failing_server.base_url, model="sim")
    result = await Runner(ep, OpenAIChatEndpoint.create_payload("Hi", max_tokens=16),
                          output_path=tmp_path, stop_when_misconfigured=False,
                          live_view=False).run(clients=2, n_requests=12)
    ok, failed = responses_by_outcome(result)
    assert ok and failed and len(ok) + len(failed) == 24, "the seed gives both outcomes"
    assert {r.error_type for r in failed} == {"http_5xx"}
    expected = expected_rates(result)
    # replayed from the saved responses (their own timestamps): exactly
    replayed = stats_from_responses(Result.load(result.output_path).responses).to_stats()
    for key, value in expected.items():
        assert replayed[key] == pytest.approx(value, rel=1e-9), key
    # live (the runner stamps a send just before the endpoint does): to a small fraction
    for key, value in expected.items():
        assert result.stats[key] == pytest.approx(value, rel=0.02), key
    assert result.stats["successful_requests"] == len(ok)
    assert result.stats["total_requests"] == len(ok) + len(failed)  # llmeter's meaning


async def test_a_half_failing_runs_live_series_count_successes_per_second(half_failing_server):
    ep = OpenAIChatEndpoint(base_url=half_failing_server.base_url, model="sim")
    runner = Runner(ep, PAYLOAD, stop_when_misconfigured=False, live_view=False)
    result = await runner.run(clients=2, n_requests=12)
    ok, failed = responses_by_outcome(result)
    assert ok and failed
    live = runner.stats.series(0)
    assert sum(b["completed"] for b in live) == len(ok)
    assert sum(b["failed"] for b in live) == len(failed)
    assert sum(b["output_tokens"] for b in live) == sum(r.num_tokens_output for r in ok)
    # each second's live rate: successes (and their tokens) of the last <= 5 seconds, per
    # second, with seconds counted from the first send (as the replay does)
    t0 = min(r.t_send for r in ok + failed)
    per_second = Counter(int(r.t_end - t0) for r in ok)
    tokens = Counter()
    for r in ok:
        tokens[int(r.t_end - t0)] += r.num_tokens_output
    series = stats_from_responses(result.responses).series(0)
    assert series
    for bucket in series:
        k = bucket["t"]
        seconds = range(max(0, k - 4), k + 1)
        assert bucket["requests_per_minute"] == pytest.approx(
            sum(per_second[s] for s in seconds) * 60 / len(seconds)), k
        assert bucket["output_tps"] == pytest.approx(
            sum(tokens[s] for s in seconds) / len(seconds)), k


async def test_count_mode_progress_counts_each_finished_request_once(half_failing_server, tmp_path):
    ep = OpenAIChatEndpoint(base_url=half_failing_server.base_url, model="sim")
    runner = Runner(ep, OpenAIChatEndpoint.create_payload("Hi", max_tokens=16),
                    output_path=tmp_path, stop_when_misconfigured=False, live_view=False)
    clients, n_requests = 2, 12
    dash = Dashboard(runner=runner, mode="count", clients=clients, n_requests=n_requests)
    ticks: list[tuple[dict, int]] = []  # (progress, finished requests per the stats of that tick)
    dash.observe(lambda change: ticks.append((dict(change["new"]), dash.stats["total_requests"])),
                 "progress")
    result = await dash.run()
    ok, failed = responses_by_outcome(result)
    assert ok and failed
    target = clients * n_requests
    assert (dash.progress["completed"], dash.progress["failed"]) == (len(ok), len(failed))
    assert dash.progress["completed"] + dash.progress["failed"] == target
    assert any(p["failed"] > 0 and finished < target for p, finished in ticks), \
        "a tick mid-run with failures"
    for progress, finished in ticks:
        # the count-mode bar's numerator: every finished request once, never past the target
        assert progress["completed"] + progress["failed"] == finished <= target, progress
    # the terminal's progress line says the same
    line = terminal_lines(result.stats)[0]
    assert f"{target} done ({len(ok)} completed, {len(failed)} failed)" in line
    dash.close()
