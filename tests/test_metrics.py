"""The metric registry (metrics.py) is the one definition: the stats, the keys and their units,
the default table, a sweep's columns, the user guide's table and the frontend's JSON agree with
it; and the per-gap inter-token latency it adds is fed from every gap of every response."""

from __future__ import annotations

import json
import math
import random

import numpy as np
import pytest
from ddsketch import DDSketch
from hypothesis import given, settings
from hypothesis import strategies as st

from llmeter_widget import metrics
from llmeter_widget.display import DEFAULT_STATS, group_of
from llmeter_widget.endpoints.base import InvocationResponse
from llmeter_widget.experiments import TABLE_KEYS
from llmeter_widget.keys import builtin_keys, check_key, default_unit
from llmeter_widget.overlays import COMPARISON_KEYS
from llmeter_widget.stats import Distribution, RunningStats, _sketch_add_many


def test_the_frontend_json_is_the_registry():
    on_disk = json.loads(metrics.JSON_PATH.read_text(encoding="utf-8"))
    assert on_disk == metrics.registry_json(), "js/metrics.json is out of date: run `make metrics`"


def test_the_user_guide_table_is_the_registry():
    text = metrics.GUIDE_PATH.read_text(encoding="utf-8")
    assert metrics.guide_with_table(text) == text, "the guide's table is out of date: `make metrics`"
    for m in metrics.REGISTRY:  # and each metric is in it, once
        key = "errors-{class}" if m is metrics.ERRORS else m.key
        assert text.count(f"| `{key}` |") == 1


def _response(**fields) -> InvocationResponse:
    base = dict(t_send=0.0, t_first_token=0.1, t_last_token=0.5, t_end=0.5, num_tokens_input=4,
                num_tokens_output=5, token_source="usage")
    return InvocationResponse(**{**base, **fields}).finalize()


def test_every_stat_a_run_reports_is_a_registry_key_with_its_unit_and_group():
    rs = RunningStats()
    rs.record_send(0.0)
    rs.update(_response())
    rs.record_send(0.1)
    rs.update(_response(t_send=0.1, error="boom", error_type="timeout", t_end=0.2))
    stats = rs.to_stats()
    assert set(metrics.RUN_KEYS) <= set(stats)
    for m in metrics.REQUEST_METRICS:
        assert {f"{m.key}-{agg}" for agg in metrics.AGGREGATIONS} <= set(stats)
    for key in stats:
        found = metrics.metric_of_key(key)
        assert found is not None, f"{key} is reported but not in the registry"
        assert default_unit(key) == found.unit and group_of(key) == found.group
        check_key(key)  # and the key check knows it
    assert set(builtin_keys()) >= {k for k in stats if not k.startswith("errors-")}


def test_the_default_table_and_the_sweep_columns_come_from_the_registry():
    cells = metrics.default_table()
    assert [(s.label, s.key, s.unit, s.invert) for s in DEFAULT_STATS] == [c[:4] for c in cells]
    assert [group_of(s.key) if s.group is None else s.group for s in DEFAULT_STATS] == [
        c[4] for c in cells]
    assert TABLE_KEYS == metrics.comparison_keys()
    assert set(COMPARISON_KEYS.values()) == set(TABLE_KEYS)
    assert COMPARISON_KEYS["ttft_p90"] == "time_to_first_token-p90"  # the sweep chart reads it


def test_a_metric_added_to_the_registry_reaches_the_stats_and_the_key_check(monkeypatch):
    """What "defined once" buys: one Metric, and RunningStats reports it with its unit."""
    extra = metrics.Metric("time_to_first_byte", "TTFB", "s", "TTFT", "Send to the headers.",
                           per_request=True, source="time_to_first_byte_test")
    monkeypatch.setattr("llmeter_widget.stats.REQUEST_METRICS", (*metrics.REQUEST_METRICS, extra))
    monkeypatch.setitem(metrics._BY_KEY, extra.key, extra)
    rs = RunningStats()
    response = _response()
    response.time_to_first_byte_test = 0.05
    rs.record_send(0.0)
    rs.update(response)
    assert rs.to_stats()["time_to_first_byte-p50"] == 0.05
    assert default_unit("time_to_first_byte-p95") == "s"


def test_metric_of_key_reads_aggregations_and_refuses_the_rest():
    assert metrics.metric_of_key("time_to_last_token-p99.9").key == "time_to_last_token"
    assert metrics.metric_of_key("inter_token_latency-average").key == "inter_token_latency"
    assert metrics.metric_of_key("errors-http_5xx") is metrics.ERRORS
    for key in ("output_tps-p50", "time_to_last_token-max", "cost-total", "time_to_last_token-px"):
        assert metrics.metric_of_key(key) is None, key


# -- inter-token latency: one value per gap --------------------------------------------------------

def test_inter_token_latency_counts_every_gap_of_every_response():
    rng = random.Random(7)
    rs, low = RunningStats(), RunningStats(low_memory=True)
    gaps_seen: list[float] = []
    for i in range(300):
        gaps = [round(rng.expovariate(40), 6) for _ in range(rng.randrange(0, 30))]
        gaps += [0.0] * rng.randrange(0, 3)  # events that arrived in one read
        gaps_seen += gaps
        response = _response(t_send=float(i), t_first_token=i + 0.1, t_last_token=i + 0.5,
                             t_end=i + 0.5, inter_token_latencies=gaps or None)
        for stats in (rs, low):
            stats.record_send(float(i))
            stats.update(response)
    for stats in (rs, low):
        itl = stats.distributions["inter_token_latency"]
        assert itl.count == len(gaps_seen) and itl.total == pytest.approx(sum(gaps_seen))
        out = stats.to_stats()
        assert out["inter_token_latency-average"] == pytest.approx(np.mean(gaps_seen))
        for q in (50, 90, 99):
            exact = float(np.percentile(gaps_seen, q))
            assert out[f"inter_token_latency-p{q}"] == pytest.approx(exact, rel=0.011), q


def test_a_response_without_gaps_adds_none():
    rs = RunningStats()
    rs.record_send(0.0)
    rs.update(_response(inter_token_latencies=None))
    assert rs.distributions["inter_token_latency"].count == 0
    assert rs.to_stats()["inter_token_latency-p50"] is None


@settings(max_examples=200, deadline=None)
@given(st.lists(st.one_of(st.just(0.0), st.floats(1e-7, 1e3, allow_nan=False)), max_size=60),
       st.lists(st.floats(1e-7, 1e3, allow_nan=False), max_size=20))
def test_adding_many_values_to_a_sketch_is_adding_each(values, before):
    one_by_one, batched = DDSketch(0.01), DDSketch(0.01)
    for value in before:  # a sketch that already holds values
        one_by_one.add(value)
        batched.add(value)
    for value in values:
        one_by_one.add(value)
    if values:
        _sketch_add_many(batched, values)
    assert batched.count == one_by_one.count and batched._zero_count == one_by_one._zero_count
    assert math.isclose(batched.sum, one_by_one.sum, rel_tol=1e-9, abs_tol=1e-12)
    if one_by_one.count:
        assert batched._min == one_by_one._min and batched._max == one_by_one._max
    assert batched._store.bins == one_by_one._store.bins
    assert batched._store.offset == one_by_one._store.offset
    for q in (0.0, 0.25, 0.5, 0.9, 0.99, 1.0):
        assert batched.get_quantile_value(q) == one_by_one.get_quantile_value(q)


def test_add_many_keeps_the_distributions_figures():
    exact, sketched = Distribution(), Distribution(exact=False)
    for d in (exact, sketched):
        d.add_many([0.3, 0.1, 0.2])
        d.add_many([])
        d.add(0.4)
    assert exact.count == sketched.count == 4 and exact.min == 0.1 and sketched.max == 0.4
    assert exact.percentile(50) == pytest.approx(0.25)
    assert sketched.interpolated_percentile(50) == pytest.approx(0.25, rel=0.01)


def test_values_waiting_for_the_sketch_count_in_reads_and_merges():
    """add_many's values wait in a list (folded in by thousands): a read or a merge in between
    must see them."""
    a, b = Distribution(exact=False), Distribution(exact=False)
    a.add_many([0.1] * 10)
    b.add_many([0.5] * 30)
    assert len(a._pending) and len(b._pending)  # below the fold size: still waiting
    a.merge(b)
    assert a.count == 40 and a.interpolated_percentile(90) == pytest.approx(0.5, rel=0.01)
    many = Distribution(exact=False)
    many.add_many([0.2] * 5000)  # past the fold size: folded at once
    assert len(many._pending) < 1024 and many._sketch.count + len(many._pending) == 5000
