"""SLOs and goodput: per-request thresholds scored against a fixed-latency simulator whose
answers come in two known lengths, re-scoring after and during a run (exact and low memory),
and clear errors for bad SLOs."""

from __future__ import annotations

import asyncio
import json
import math
from pathlib import Path

import pytest

from llmeter_widget import Result, Runner
from llmeter_widget.display import DisplaySpec
from llmeter_widget.endpoints import InvocationResponse, OpenAIChatEndpoint
from llmeter_widget.events import RunStarted
from llmeter_widget.keys import check_key
from llmeter_widget.metrics import group_of_key, unit_of
from llmeter_widget.results import iter_responses
from llmeter_widget.simulator import SimulatedServer
from llmeter_widget.slo import Slo
from llmeter_widget.stats import RunningStats, stats_from_responses

from .waiting import eventually

# The simulator answers in ~TTFT + (tokens - 1) x ITL: short answers in ~25 ms, long ones in
# ~415 ms, so a TTLT limit of 0.2 s splits them whatever a loaded machine adds (~100 ms).
TTFT, ITL = 0.02, 0.005
SHORT, LONG = 2, 80
SPLIT = {"time_to_first_token": 1.0, "time_to_last_token": 0.2}
SLO_KEYS = ("goodput-requests_per_minute", "goodput-output_tps", "slo_attainment")


@pytest.fixture
async def server():
    async with SimulatedServer(mode="fixed", ttft=TTFT, itl=ITL) as s:
        yield s


def two_kinds(server: SimulatedServer, tmp_path: Path | None = None, **options) -> Runner:
    """Clients alternate between a short and a long answer (payloads cycle per client)."""
    endpoint = OpenAIChatEndpoint(base_url=server.base_url, model="sim")
    payloads = [OpenAIChatEndpoint.create_payload("short", max_tokens=SHORT),
                OpenAIChatEndpoint.create_payload("long", max_tokens=LONG)]
    return Runner(endpoint, payloads, output_path=tmp_path, live_view=False, **options)


def slo_part(stats: dict) -> dict:
    return {k: v for k, v in stats.items() if k in SLO_KEYS or k.startswith("slo_attainment-")}


def assert_same(got: dict, expected: dict, rel_tol: float = 1e-9) -> None:
    assert got.keys() == expected.keys()
    for key, value in expected.items():
        assert value is not None and math.isclose(got[key], value, rel_tol=rel_tol), \
            (key, got, expected)


async def test_goodput_is_exact_on_a_fixed_latency_server_with_a_known_split(server, tmp_path):
    result = await two_kinds(server, tmp_path, slo=SPLIT).run(clients=4, n_requests=6)
    stats = result.stats
    assert stats["total_requests"] == 24 and stats["failed_requests"] == 0
    # Half the requests (the short ones) meet the TTLT limit; all meet the TTFT one.
    assert stats["slo_attainment"] == 0.5
    assert stats["slo_attainment-time_to_last_token"] == 0.5
    assert stats["slo_attainment-time_to_first_token"] == 1.0
    # Same time base as the throughput: half the requests, the short ones' share of tokens.
    assert math.isclose(stats["goodput-requests_per_minute"], stats["requests_per_minute"] / 2)
    share = 12 * SHORT / (12 * SHORT + 12 * LONG)
    assert math.isclose(stats["goodput-output_tps"], stats["output_tps"] * share)
    # Each response is saved with its own verdict: the short ones passed.
    lines = [json.loads(line) for line in
             (Path(result.output_path) / "responses.jsonl").read_text().splitlines()]
    assert sorted((line["num_tokens_output"], line["slo_pass"]) for line in lines) == \
        [(SHORT, True)] * 12 + [(LONG, False)] * 12
    # The SLO is saved with the run and comes back with it.
    config = json.loads((Path(result.output_path) / "run_config.json").read_text())
    assert config["slo"] == SPLIT
    loaded = Result.load(result.output_path)
    assert loaded.slo == SPLIT and loaded.stats["slo_attainment"] == 0.5


@pytest.mark.parametrize("low_memory", [False, True], ids=["exact", "low_memory"])
async def test_a_rescored_slo_equals_a_fresh_computation(server, tmp_path, low_memory):
    result = await two_kinds(server, tmp_path, slo=SPLIT).run(
        clients=3, n_requests=4, low_memory=low_memory)
    saved = list(iter_responses(Path(result.output_path) / "responses.jsonl"))
    for slo in ({"time_to_last_token": 1.0}, {"time_to_first_token": 0.001},
                {"time_to_last_token": 0.2, "num_tokens_output": SHORT}):
        fresh = slo_part(stats_from_responses(saved, slo=slo).to_stats())
        assert_same(slo_part(result.rescore(slo)), fresh)
        # Also from the folder alone, read line by line (a stats-only load).
        assert_same(slo_part(Result.load(result.output_path, load_responses=False).rescore(slo)),
                    fresh)
    assert slo_part(result.rescore({"time_to_first_token": 0.001}))["slo_attainment"] == 0.0
    # Rescoring returns a new dict: the result keeps its own SLO and figures.
    assert result.stats["slo_attainment"] == 0.5 and result.slo == SPLIT
    assert result.rescore(None)["slo_attainment"] is None


@pytest.mark.parametrize("low_memory", [False, True], ids=["exact", "low_memory"])
async def test_set_slo_mid_run_rescores_what_was_measured(server, tmp_path, low_memory):
    runner = two_kinds(server, tmp_path)  # no SLO at the start
    task = asyncio.ensure_future(runner.run(clients=2, n_requests=8, low_memory=low_memory))
    await eventually(lambda: runner.stats is not None and runner.stats.total_requests >= 4,
                     "four requests measured")
    runner.set_slo(SPLIT)
    result = await task
    saved = list(iter_responses(Path(result.output_path) / "responses.jsonl"))
    assert len(saved) == 16 and result.slo == SPLIT
    # Every request counts, those measured before the change too. (A live run's send window
    # comes from its on_send stamps, microseconds before each t_send: the rates agree to 1e-3.)
    assert_same(slo_part(result.stats), slo_part(stats_from_responses(saved, slo=SPLIT).to_stats()),
                rel_tol=1e-3)
    assert result.stats["slo_attainment"] == 0.5
    assert Result.load(result.output_path).slo == SPLIT  # the SLO the stats used


def test_running_stats_rescore_from_kept_values_and_low_memory_waits_for_the_file():
    def done(ttft: float, ok: bool = True) -> InvocationResponse:
        r = InvocationResponse(t_send=0.0, t_first_token=ttft, t_last_token=1.0, t_end=1.0,
                               num_tokens_output=3)
        if not ok:
            r.error, r.error_type = "boom", "http_5xx"
        return r.finalize()

    exact = RunningStats()
    for r in (done(0.1), done(0.4), done(0.2, ok=False), done(0.9)):
        exact.update(r)
    assert exact.to_stats()["slo_attainment"] is None  # no SLO: the keys, empty
    assert exact.set_slo({"time_to_first_token": 0.5}) is None  # done at once
    # A failed request meets no threshold, however fast its first token.
    assert exact.to_stats()["slo_attainment"] == 0.5
    assert exact.to_stats()["slo_attainment-time_to_first_token"] == 0.5
    low = RunningStats(low_memory=True)
    low.update(done(0.1))
    token = low.set_slo({"time_to_first_token": 0.5})
    assert token is not None and low.to_stats()["slo_attainment"] is None  # waits for the past
    low.update(done(0.9))
    past = Slo({"time_to_first_token": 0.5})
    from llmeter_widget.slo import SloTally
    tally = SloTally(past)
    tally.add(done(0.1))
    assert not low.add_past_slo_tally(token + 1, tally)  # another set_slo's: ignored
    assert low.add_past_slo_tally(token, tally)
    assert low.to_stats()["slo_attainment"] == 0.5


def test_a_request_without_the_value_fails_that_threshold_and_cancelled_ones_are_not_scored():
    slo = Slo({"time_per_output_token": 0.1})
    one_token = InvocationResponse(t_send=0.0, t_first_token=0.1, t_last_token=0.1,
                                   num_tokens_output=1).finalize()
    assert one_token.time_per_output_token is None and slo.passes(one_token) is False
    cancelled = InvocationResponse(t_send=0.0, error="stopped", error_type="cancelled")
    assert slo.passes(cancelled) is None and slo.metric_passes(cancelled) is None


@pytest.mark.parametrize("slo, message", [
    ({"ttft": 0.5}, "Did you mean 'time_to_first_token'? An SLO maps"),
    ({"time_to_frist_token": 0.5}, "Did you mean 'time_to_first_token'"),
    ({"time_to_first_token-p99": 0.5}, "An SLO is per request: give 'time_to_first_token'"),
    ({"inter_token_latency": 0.05}, "use time_per_output_token"),
    ({"time_to_first_token": 0}, "must be a positive number (s)"),
    ({"time_to_first_token": -1}, "must be a positive number"),
    ({"time_to_first_token": float("nan")}, "must be a positive number"),
    ({"time_to_first_token": True}, "must be a positive number"),
    ({"time_to_first_token": "0.5"}, "must be a positive number"),
    ({}, "at least one threshold"),
    (["time_to_first_token"], "slo must be a dict"),
])
def test_bad_slos_are_clear_errors(server, slo, message):
    with pytest.raises(ValueError) as caught:
        Slo(slo)
    assert message in str(caught.value)
    with pytest.raises(ValueError) as caught:
        two_kinds(server, slo=slo)  # refused when the Runner is made, not at run()
    assert message in str(caught.value) and ("SLO" in str(caught.value) or "slo" in str(caught.value))


async def test_set_slo_needs_a_running_run_and_a_valid_slo(server):
    runner = two_kinds(server)
    with pytest.raises(ValueError, match="Unknown SLO metric"):
        runner.set_slo({"latency": 1})
    with pytest.raises(RuntimeError, match="result.rescore"):
        runner.set_slo(SPLIT)


async def test_the_default_table_shows_the_slo_group_and_the_keys_are_known(server):
    started: list[RunStarted] = []
    runner = two_kinds(server, slo=SPLIT)
    runner.listeners.append(lambda snapshot: None)
    runner.listeners.append(type("L", (), {"on_event": lambda self, e: started.append(e)
                                           if isinstance(e, RunStarted) else None})())
    result = await runner.run(clients=1, n_requests=2)
    assert started[0].slo == SPLIT
    rows = dict(started[0].display.rows(result.stats))
    assert rows["SLO"] == [("Goodput", rows["SLO"][0][1]), ("Attainment", "50.0%"),
                           ("TTFT ≤ 1.00 s", "100.0%"), ("TTLT ≤ 200 ms", "50.0%")]
    assert "SLO" not in dict(DisplaySpec().rows(result.stats))  # no SLO: no group
    check_key("slo_attainment-time_to_last_token")
    assert group_of_key("slo_attainment-time_to_last_token") == "SLO"
    assert unit_of("goodput-output_tps") == "tok/s"


def test_an_older_file_without_slo_fields_still_loads_and_rescores(tmp_path):
    line = {"response_text": "hi", "time_to_first_token": 0.2, "time_to_last_token": 0.5,
            "num_tokens_output": 3, "t_send": 1.0, "t_first_token": 1.2, "t_last_token": 1.5,
            "t_end": 1.5, "error": None}
    (tmp_path / "responses.jsonl").write_text(json.dumps(line) + "\n")
    result = Result.load(tmp_path)
    assert result.responses[0].slo_pass is None and result.responses[0].phase is None
    assert result.rescore({"time_to_first_token": 0.3})["slo_attainment"] == 1.0
    assert result.rescore({"time_to_first_token": 0.1})["slo_attainment"] == 0.0
