"""Warm-up and cool-down: requests sent, saved and flagged, and left out of every stat, exactly;
checked against stats rebuilt from the saved measured responses."""

from __future__ import annotations

import json
import math
from datetime import timedelta
from pathlib import Path

import pytest

from llmeter_widget import Result, Runner
from llmeter_widget.endpoints import OpenAIChatEndpoint
from llmeter_widget.phases import Span
from llmeter_widget.results import iter_responses
from llmeter_widget.simulator import SimulatedServer
from llmeter_widget.stats import stats_from_responses

PAYLOAD = OpenAIChatEndpoint.create_payload("Hi", max_tokens=4)
SLO = {"time_to_first_token": 1.0}
# Not figures of the requests: the loop's lag (a replay has none) and the left-out counts.
NOT_COMPARED = {"event_loop_lag_max", "warmup_requests", "cooldown_requests"}


@pytest.fixture
async def server():
    async with SimulatedServer(mode="fixed", ttft=0.01, itl=0.002) as s:
        yield s


def runner(server: SimulatedServer, tmp_path: Path | None = None, **options) -> Runner:
    endpoint = OpenAIChatEndpoint(base_url=server.base_url, model="sim")
    return Runner(endpoint, PAYLOAD, output_path=tmp_path, live_view=False, **options)


def saved(result: Result) -> list:
    return sorted(iter_responses(Path(result.output_path) / "responses.jsonl"),
                  key=lambda r: r.t_send)


def assert_stats_of_measured(result: Result, responses: list) -> None:
    """The run's stats are those of its measured responses alone, key by key."""
    measured = [r for r in responses if r.phase is None]
    expected = stats_from_responses(measured, slo=result.slo).to_stats()
    got = result.stats
    for key, value in expected.items():
        if key in NOT_COMPARED:
            continue
        if isinstance(value, float):
            assert math.isclose(got[key], value, rel_tol=1e-9), (key, got[key], value)
        else:
            assert got[key] == value, (key, got[key], value)


async def test_warmup_and_cooldown_by_count_are_left_out_exactly(server, tmp_path):
    run = runner(server, tmp_path, slo=SLO)
    result = await run.run(clients=3, n_requests=6, warmup="4 requests", cooldown="3 requests")
    responses = saved(result)
    assert len(responses) == 18
    # The first 4 sent are the warm-up, the last 3 the cool-down, saved and flagged.
    assert [r.phase for r in responses] == ["warmup"] * 4 + [None] * 11 + ["cooldown"] * 3
    assert all(r.slo_pass is True for r in responses)  # scored all the same
    stats = result.stats
    assert (stats["total_requests"], stats["warmup_requests"], stats["cooldown_requests"]) == \
        (11, 4, 3)
    assert_stats_of_measured(result, responses)
    # The requests in flight counted every send and every answer: none left over.
    assert run.stats.in_flight == 0 and run.stats.sent == 18
    # A folder rebuilt from responses.jsonl alone (a crash) leaves them out the same way.
    (Path(result.output_path) / "stats.json").unlink()
    (Path(result.output_path) / "summary.json").unlink()
    rebuilt = Result.load(result.output_path).stats
    assert (rebuilt["total_requests"], rebuilt["warmup_requests"]) == (11, 4)
    config = json.loads((Path(result.output_path) / "run_config.json").read_text())
    assert (config["warmup"], config["cooldown"]) == ("4 requests", "3 requests")


async def test_warmup_and_cooldown_by_time_in_an_open_loop(server, tmp_path):
    result = await runner(server, tmp_path).run(rate=40.0, arrival="constant",
                                                run_duration=1.2, warmup="0.3s",
                                                cooldown=timedelta(seconds=0.3))
    responses = saved(result)
    phases = [r.phase for r in responses]
    # In send order: a warm-up, then measured requests, then a cool-down, each not empty.
    first_measured, last_measured = phases.index(None), len(phases) - 1 - phases[::-1].index(None)
    assert set(phases[:first_measured]) == {"warmup"} and first_measured >= 5
    assert set(phases[first_measured:last_measured + 1]) == {None}
    assert set(phases[last_measured + 1:]) == {"cooldown"} and len(phases) - last_measured > 5
    # Sent 25 ms apart: the 0.3 s ends hold ~12 requests each, the 0.6 s between ~24.
    warm_end = responses[first_measured].t_send - responses[0].t_send
    assert 0.2 < warm_end < 0.45
    assert_stats_of_measured(result, responses)
    assert result.stats["warmup_requests"] == first_measured


@pytest.mark.parametrize("options, message", [
    ({"warmup": 20}, "warmup=20 is ambiguous: write warmup='20s'"),
    ({"cooldown": 2.5}, "cooldown='2.5 requests'"),
    ({"warmup": "20 parsecs"}, "must be a time such as '30s'"),
    ({"warmup": "0s"}, "more than 0"),
    ({"warmup": "2.5 requests"}, "a whole number"),
    ({"warmup": timedelta(0)}, "longer than 0"),
])
def test_bad_spans_are_refused_when_the_runner_is_made(server, options, message):
    with pytest.raises(ValueError) as caught:
        runner(server, **options)
    assert message in str(caught.value)


@pytest.mark.parametrize("run, message", [
    ({"n_requests": 5, "cooldown": "2s"}, "give run_duration="),
    ({"run_duration": 5, "cooldown": "2 requests"}, "give n_requests="),
    ({"run_duration": 5, "warmup": "5s"}, "nothing would be measured"),
    ({"run_duration": 5, "warmup": "3s", "cooldown": "2s"}, "take 5 s of a 5 s run"),
    ({"clients": 2, "n_requests": 3, "warmup": "4 requests", "cooldown": "2 requests"},
     "take 6 of the run's 6 requests"),
    ({"rate": 10.0, "n_requests": 5, "warmup": "5 requests"}, "take 5 of the run's 5"),
])
async def test_impossible_combinations_are_refused_before_the_run(server, tmp_path, run, message):
    with pytest.raises(ValueError) as caught:
        await runner(server, tmp_path).run(**run)
    assert message in str(caught.value)
    assert not any(tmp_path.iterdir())  # nothing written


def test_a_span_reads_back_what_it_saves():
    for text in ("30s", "2min", "50 requests", "1 req", "0.5 seconds"):
        span = Span.parse("warmup", text)
        assert Span.parse("warmup", span.to_config()) == span
    assert Span.parse("warmup", "2min") == Span(120.0, "s")
