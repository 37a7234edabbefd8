"""Choosing what the live views show (live_stats, groups), callbacks publishing live stats,
and CostModel: against the real simulator, through Runner, LoadTest and the CLI."""

from __future__ import annotations

import io
import statistics
from datetime import timedelta

import numpy as np
import pytest

from llmeter_widget import (
    DEFAULT_GROUPS,
    Callback,
    CostModel,
    DisplaySpec,
    LoadTest,
    Result,
    Runner,
    StatSpec,
    TerminalView,
)
from llmeter_widget.display import format_value, live_stat
from llmeter_widget.endpoints import OpenAIChatEndpoint
from llmeter_widget.events import Snapshot
from llmeter_widget.keys import builtin_keys, check_key, default_unit, parse_percentile


def make_runner(server, tmp_path=None, **kwargs):
    ep = OpenAIChatEndpoint(base_url=server.base_url, model="sim")
    payload = OpenAIChatEndpoint.create_payload("Tell me a story", max_tokens=8)
    return Runner(ep, payload, output_path=tmp_path, live_view=False, **kwargs)


# -- the mapping ---------------------------------------------------------------------------------
def test_a_key_alone_gets_its_usual_unit_and_group():
    spec = DisplaySpec.from_live_stats({
        "p99 TTFT": "time_to_first_token-p99",
        "Req/min": "requests_per_minute",
        "Failures": "failed_requests_rate",
    })
    assert [(s.label, s.key, s.unit) for s in spec.stats] == [
        ("p99 TTFT", "time_to_first_token-p99", "s"),
        ("Req/min", "requests_per_minute", "req/min"),
        ("Failures", "failed_requests_rate", "%"),
    ]
    rows = spec.rows({"time_to_first_token-p99": 0.25, "requests_per_minute": 1234.4,
                      "failed_requests_rate": 0.021})
    assert rows == [("Throughput", [("Req/min", "1,234 req/min")]),
                    ("TTFT", [("p99 TTFT", "250 ms")]),
                    ("Errors", [("Failures", "2.1%")])]


def test_transforms_inverse_number_and_function():
    spec = DisplaySpec.from_live_stats({
        "Per-request tok/s": {"key": "time_per_output_token-p50", "unit": "tok/s",
                              "transform": "inverse"},
        "TTFT p50 (µs)": {"key": "time_to_first_token-p50", "unit": "µs", "transform": 1e6},
        "TTFT p90 tenths": {"key": "time_to_first_token-p90", "unit": "",
                            "transform": lambda v: round(v * 10)},
    })
    stats = {"time_per_output_token-p50": 0.02, "time_to_first_token-p50": 0.000125,
             "time_to_first_token-p90": 0.31}
    cells = dict(cell for _, cells in spec.rows(stats) for cell in cells)
    assert cells == {"Per-request tok/s": "50.0 tok/s", "TTFT p50 (µs)": "125 µs",
                     "TTFT p90 tenths": "3.0"}
    # The function runs in Python: the dashboard gets its result under the cell's own key.
    json_cells = {c["label"]: c for g in spec.to_json()["groups"] for c in g["stats"]}
    assert json_cells["TTFT p90 tenths"]["key"] == "time_to_first_token-p90|TTFT p90 tenths"
    assert spec.shown_values(stats) == {"time_to_first_token-p90|TTFT p90 tenths": 3}
    assert json_cells["TTFT p50 (µs)"]["scale"] == 1e6 and json_cells["Per-request tok/s"]["invert"]


def test_a_failing_transform_shows_a_placeholder_not_an_exception():
    spec = DisplaySpec.from_live_stats({"x": {"key": "output_tps", "transform": lambda v: 1 / 0}})
    assert spec.rows({"output_tps": 3.0}) == [("Throughput", [("x", "—")])]


@pytest.mark.parametrize("bad, message", [
    ({"x": 42}, "expected a stat key"),
    ({"x": {"unit": "s"}}, "give a dict with 'key'"),
    ({"x": {"key": "output_tps", "colour": "red"}}, "give a dict with 'key'"),
    ({"x": {"key": "output_tps", "transform": "log"}}, "unknown transform 'log'"),
    ({"x": {"key": "output_tps", "transform": [1]}}, "transform must be"),
    ("time_to_first_token-p99", "must map labels to stat keys"),
])
def test_bad_live_stats_name_the_problem(bad, message):
    with pytest.raises(ValueError, match=message):
        DisplaySpec.from_live_stats(bad)


def test_unknown_keys_suggest_the_closest_and_list_the_available():
    with pytest.raises(ValueError) as info:
        DisplaySpec.from_live_stats({"p99 TTFT": "time_to_frist_token-p99"})
    text = str(info.value)
    assert "Unknown stat key 'time_to_frist_token-p99' for live stat 'p99 TTFT'" in text
    assert "Did you mean 'time_to_first_token-p99'" in text
    assert all(key in text for key in builtin_keys())


def test_any_percentile_is_a_known_key_and_others_are_not():
    check_key("time_to_last_token-p99.9")
    check_key("num_tokens_output-p5")
    check_key("errors-*")
    assert parse_percentile("time_to_first_token-p95") == ("time_to_first_token", 95.0)
    for bad in ("time_to_first_token-p101", "output_tps-p50", "zzz*", "cost-total"):
        with pytest.raises(ValueError, match="Unknown stat key"):
            check_key(bad)
    check_key("cost-total", extra_keys=["cost-total"])
    assert default_unit("num_tokens_output-p50") == "count" and default_unit("mine") == ""


def test_empty_live_stats_turns_the_table_off_and_keeps_the_progress():
    view = TerminalView(DisplaySpec.from_live_stats({}), stream=io.StringIO(), tty=False)
    lines = view.render(Snapshot(elapsed=2.0, stats={"total_requests": 5, "failed_requests": 0}))
    assert len(lines) == 1 and "5 done" in lines[0]
    assert DisplaySpec.from_live_stats({}).to_json()["groups"] == []


# -- groups ----------------------------------------------------------------------------------------
def test_groups_are_a_constructor_argument_and_overridable_per_stat():
    assert isinstance(DEFAULT_GROUPS, tuple) and all(isinstance(p, tuple) for _, p in DEFAULT_GROUPS)
    groups = {"Latency": [r"^time_to_"], "Rates": [r"per_minute|_tps$"]}
    spec = DisplaySpec.from_live_stats(
        {"TTFT": "time_to_first_token-p50", "TTLT": "time_to_last_token-p50",
         "RPM": "requests_per_minute", "Errors": {"key": "failed_requests", "group": "Bad"}},
        groups=groups,
    )
    assert [(name, [s.label for s in items]) for name, items in spec.grouped()] == [
        ("Latency", ["TTFT", "TTLT"]), ("Rates", ["RPM"]), ("Bad", ["Errors"])]
    assert groups == {"Latency": [r"^time_to_"], "Rates": [r"per_minute|_tps$"]}  # not changed
    with pytest.raises(ValueError, match="invalid pattern '\\(unclosed'"):
        DisplaySpec.from_live_stats(None, groups=(("Broken", ("(unclosed",)),))


def test_stat_ids_and_editing_a_spec():
    spec = DisplaySpec()
    ids = [spec.stat_id(s) for s in spec.stats]
    assert "TTFT/p50" in ids and "TTLT/p50" in ids
    smaller = spec.without("TTFT/p50")
    assert "TTFT/p50" not in [smaller.stat_id(s) for s in smaller.stats]
    assert len(spec.stats) == len(smaller.stats) + 1  # spec itself unchanged
    bigger = smaller.with_stat(live_stat("p95", "time_to_first_token-p95"))
    assert bigger.stats[-1].key == "time_to_first_token-p95"
    # a cell made by the errors-* prefix is removed by fixing the prefix to the others
    errs = {"errors-timeout": 1, "errors-http_5xx": 2}
    fixed = spec.without("Errors/timeout", errs)
    assert [s.key for s in fixed.resolve(errs).stats if s.key.startswith("errors-")] == ["errors-http_5xx"]
    with pytest.raises(KeyError):
        spec.without("Nope/nothing")


# -- runs ------------------------------------------------------------------------------------------
async def test_a_typo_fails_before_anything_runs(fixed_server, tmp_path):
    with pytest.raises(ValueError, match="time_to_first_token-p99"):
        make_runner(fixed_server, tmp_path, live_stats={"p99": "time_to_first_token_p99"})
    runner = make_runner(fixed_server, tmp_path)
    with pytest.raises(ValueError, match="Unknown stat key"):
        await runner.run(clients=1, n_requests=1, live_stats={"x": "ttft"})
    assert not list(tmp_path.iterdir())  # no folder for a run that never started
    with pytest.raises(ValueError, match="Unknown stat key 'cost-total'"):
        make_runner(fixed_server, tmp_path, live_stats={"Cost": "cost-total"})  # no CostModel


async def test_requested_percentiles_are_exact_and_saved(fixed_server, tmp_path):
    runner = make_runner(fixed_server, tmp_path,
                         live_stats={"p95 TTFT": "time_to_first_token-p95",
                                     "p99.9 TTLT": "time_to_last_token-p99.9"})
    seen = []
    runner.listeners.append(lambda snap: seen.append(snap["stats"].get("time_to_first_token-p95")))
    result = await runner.run(clients=4, n_requests=6)
    ttfts = [r.time_to_first_token for r in result.responses]
    # statistics.quantiles' "inclusive" method is numpy's linear interpolation.
    assert result.stats["time_to_first_token-p95"] == pytest.approx(
        statistics.quantiles(ttfts, n=20, method="inclusive")[18])
    assert result.stats["time_to_last_token-p99.9"] <= max(r.time_to_last_token for r in result.responses)
    assert any(v is not None for v in seen[:-1])  # live, not only at the end
    saved = Result.load(result.output_path, load_responses=False)
    assert saved.stats["time_to_first_token-p95"] == result.stats["time_to_first_token-p95"]


async def test_terminal_view_shows_the_chosen_stats(fixed_server, tmp_path):
    live = {"p95 TTFT": "time_to_first_token-p95", "Done": "total_requests"}
    runner = make_runner(fixed_server, tmp_path, live_stats=live)
    stream = io.StringIO()
    view = TerminalView(DisplaySpec.from_live_stats(live), stream=stream, tty=False)
    runner.listeners.append(view)  # a run listener: the final table at RunFinished
    result = await runner.run(clients=2, n_requests=3)
    table = stream.getvalue().splitlines()[-2:]
    # the cell's text from the responses themselves (numpy), formatted as the shared cases say
    p95 = np.percentile([r.time_to_first_token for r in result.responses], 95)
    assert table == [f"  Throughput   Done {len(result.responses)}",
                     f"  TTFT         p95 TTFT {format_value(float(p95), 's')}"]
    assert "Requests/min" not in stream.getvalue()  # the default table is replaced


class Counter(Callback):
    """Publishes how many responses it saw, live; and a last value from after_run."""

    live_stats = {"Seen": {"key": "counter-seen", "unit": "count"}}
    stat_keys = ("counter-final", "counter-note")

    async def before_run(self, run_config):
        self.seen = 0
        self.publish({"counter-seen": 0, "counter-note": "text is shown, not charted"})

    async def after_invoke(self, response):
        self.seen += 1
        self.publish({"counter-seen": self.seen})

    async def after_run(self, result):
        self.publish({"counter-final": self.seen * 10})


async def test_callbacks_publish_live_into_stats_series_and_saved_stats(fixed_server, tmp_path):
    counter = Counter()
    runner = make_runner(fixed_server, tmp_path, callbacks=[counter])
    snapshots = []
    runner.listeners.append(snapshots.append)
    result = await runner.run(clients=2, run_duration=2.2)
    live_values = [s["stats"].get("counter-seen") for s in snapshots[:-1]]
    assert live_values[0] == 0 and max(live_values) > 0
    assert live_values == sorted(live_values)  # counted up live, tick by tick
    buckets = [b for s in snapshots for b in s["series"]]
    published = [b["published"] for b in buckets if "published" in b]
    assert len(published) >= 2 and all("counter-note" not in p for p in published)  # numbers only
    assert published[-1]["counter-seen"] <= result.stats["total_requests"]
    # In the live view by default (Other group), and in stats.json with after_run's value.
    spec = DisplaySpec.from_live_stats(None, callbacks=[counter])
    assert ("Other", [("Seen", f"{result.stats['total_requests']:,}")]) in spec.rows(result.stats)
    assert result.stats["counter-seen"] == result.stats["total_requests"]
    assert result.stats["counter-final"] == 10 * result.stats["total_requests"]
    loaded = Result.load(result.output_path)
    assert loaded.stats["counter-seen"] == result.stats["counter-seen"]
    assert loaded.stats["counter-final"] == result.stats["counter-final"]
    assert loaded.stats["counter-note"] == "text is shown, not charted"
    # A second run starts from fresh values (nothing leaks from the first).
    second = await runner.run(clients=1, n_requests=1)
    assert second.stats["counter-seen"] == 1


def test_publishing_a_built_in_key_is_refused():
    with pytest.raises(ValueError, match="cannot publish 'total_requests'"):
        Counter().publish({"total_requests": 3})
    with pytest.raises(ValueError, match="cannot publish 'time_to_first_token-p95'"):
        Counter().publish({"time_to_first_token-p95": 3})


# -- CostModel -------------------------------------------------------------------------------------
def expected_cost(responses, input_price, output_price):
    priced = [r for r in responses if r.error_type != "cancelled"
              and (r.num_tokens_input is not None or r.num_tokens_output is not None)]
    total = sum((r.num_tokens_input or 0) * input_price + (r.num_tokens_output or 0) * output_price
                for r in priced) / 1e6
    return total, len(priced)


async def test_cost_model_live_and_at_the_end(fixed_server, tmp_path):
    cost = CostModel(input_per_million=3.0, output_per_million=15.0)
    runner = make_runner(fixed_server, tmp_path, callbacks=[cost])
    snapshots = []
    runner.listeners.append(snapshots.append)
    result = await runner.run(clients=3, run_duration=2.0)
    total, priced = expected_cost(result.responses, 3.0, 15.0)
    assert priced == result.stats["total_requests"] > 0
    assert result.stats["cost-total"] == pytest.approx(total, rel=1e-9)
    assert result.stats["cost-per_request"] == pytest.approx(total / priced, rel=1e-9)
    assert result.stats["cost-input"] + result.stats["cost-output"] == pytest.approx(total)
    assert result.stats["cost-requests"] == priced and result.stats["cost-unpriced_requests"] == 0
    live = [s["stats"]["cost-total"] for s in snapshots[:-1]]
    at_most = total * (1 + 1e-9)  # the same sum, added in another order
    assert live[0] == 0.0 and 0 < max(live) <= at_most and live == sorted(live)
    assert [b["published"]["cost-total"] for s in snapshots for b in s["series"]
            if "published" in b][-1] <= at_most
    # The default table gains a Cost group; the terminal shows dollars.
    rows = dict(DisplaySpec.from_live_stats(None, callbacks=[cost]).rows(result.stats))
    assert [label for label, _ in rows["Cost"]] == ["Cost so far", "Cost per request"]
    assert rows["Cost"][0][1].startswith("$")
    loaded = Result.load(result.output_path, load_responses=False)
    assert loaded.stats["cost-total"] == pytest.approx(total)
    config = Result.load(result.output_path)  # the prices are recorded with the run
    assert config.output_path and (tmp_path / result.run_name / "run_config.json").read_text().count(
        '"input_per_million": 3.0') == 1


async def test_cost_model_counts_unpriced_failures_and_resets_per_run(tmp_path):
    from llmeter_widget.simulator import SimulatedServer

    async with SimulatedServer(mode="fixed", ttft=0.01, itl=0.002,
                               error_500_rate=0.5, seed=3) as server:
        cost = CostModel(input_per_million=1.0, output_per_million=2.0)
        runner = make_runner(server, tmp_path, callbacks=[cost], stop_when_misconfigured=False)
        first = await runner.run(clients=2, n_requests=10)
        second = await runner.run(clients=1, n_requests=4)
    failed = first.stats["failed_requests"]
    assert failed > 0 and first.stats["cost-unpriced_requests"] == failed
    total, priced = expected_cost(first.responses, 1.0, 2.0)
    assert first.stats["cost-requests"] == priced == first.stats["total_requests"] - failed
    assert first.stats["cost-total"] == pytest.approx(total)
    total2, priced2 = expected_cost(second.responses, 1.0, 2.0)
    assert second.stats["cost-total"] == pytest.approx(total2) and second.stats["cost-requests"] == priced2


@pytest.mark.parametrize("kwargs", [
    {"input_per_million": -1, "output_per_million": 1},
    {"input_per_million": 1, "output_per_million": "0.6"},
    {"input_per_million": float("nan"), "output_per_million": 1},
])
def test_cost_model_prices_are_checked(kwargs):
    with pytest.raises(ValueError, match="per million tokens"):
        CostModel(**kwargs)


async def test_explicit_live_stats_are_exact_but_may_name_callback_keys(fixed_server, tmp_path):
    cost = CostModel(input_per_million=1, output_per_million=1)
    runner = make_runner(fixed_server, tmp_path, callbacks=[cost],
                         live_stats={"$ so far": "cost-total", "Done": "total_requests"})
    spec = DisplaySpec.from_live_stats(runner.live_stats, callbacks=[cost])
    assert [s.label for s in spec.stats] == ["$ so far", "Done"]  # no default Cost cells added
    # a callback's key named alone keeps the unit and group the callback declares for it
    assert (spec.stats[0].unit, spec.stats[0].group) == ("$", "Cost")
    own = DisplaySpec.from_live_stats({"c": {"key": "cost-total", "unit": "USD", "group": "Mine"}},
                                      callbacks=[cost])
    assert (own.stats[0].unit, own.stats[0].group) == ("USD", "Mine")
    result = await runner.run(clients=1, n_requests=2)
    assert result.stats["cost-total"] > 0


# -- LoadTest --------------------------------------------------------------------------------------
async def test_load_test_forwards_live_stats_low_memory_and_cost(fixed_server, tmp_path):
    ep = OpenAIChatEndpoint(base_url=fixed_server.base_url, model="sim")
    payload = OpenAIChatEndpoint.create_payload("Hi", max_tokens=4)
    with pytest.raises(ValueError, match="Unknown stat key"):
        LoadTest(endpoint=ep, payload=payload, sequence_of_clients=[1, 2],
                 run_duration=1, live_stats={"x": "nope"})
    cost = CostModel(input_per_million=1.0, output_per_million=4.0)
    lt = LoadTest(endpoint=ep, payload=payload, sequence_of_clients=[1, 2],
                  run_duration=timedelta(seconds=1), low_memory=True, output_path=tmp_path,
                  callbacks=[cost], live_view=False,
                  live_stats={"p95 TTFT": "time_to_first_token-p95", "Cost": "cost-total"})
    result = await lt.run()
    for clients, level in result.results.items():
        loaded = Result.load(level.output_path, load_responses=True)
        assert loaded.low_memory and "time_to_first_token-p95" in loaded.stats
        total, _ = expected_cost(loaded.responses, 1.0, 4.0)
        assert loaded.stats["cost-total"] == pytest.approx(total), clients


def test_statspec_in_a_mapping_takes_the_mapping_label():
    stat = live_stat("Mine", StatSpec("ignored", "output_tps", "tok/s", group="Speed"))
    assert (stat.label, stat.key, stat.group) == ("Mine", "output_tps", "Speed")


def test_an_unknown_key_lists_each_available_key_once():
    # after a run the dashboard passes the keys it has seen, built-in ones among them
    with pytest.raises(ValueError) as info:
        check_key("ttft", extra_keys=[*builtin_keys(), "cost-total"])
    # the keys are listed after "Available keys:", wrapped over indented lines
    listed = " ".join(str(info.value).split("Available keys:")[1].split()).split(", ")
    assert len(listed) == len(set(listed)) and listed[-1] == "cost-total"
    assert set(listed) == {*builtin_keys(), "cost-total"}
