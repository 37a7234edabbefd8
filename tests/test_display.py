"""The display spec, value formatting and the terminal view."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest

from llmeter_widget.display import DEFAULT_GROUPS, DisplaySpec, StatSpec, format_value, group_of
from llmeter_widget.events import Snapshot
from llmeter_widget.terminal import TerminalView, progress_line
from llmeter_widget.stats import RunningStats


@pytest.mark.parametrize(
    "key, group",
    [
        ("requests_per_minute", "Throughput"), ("output_tps", "Throughput"),
        ("time_to_first_token-p90", "TTFT"), ("time_to_last_token-p50", "TTLT"),
        ("total_output_tokens", "Tokens"), ("time_per_output_token-p50", "Tokens"),
        ("failed_requests", "Errors"), ("errors-timeout", "Errors"),
        ("failed_requests_rate", "Errors"), ("cost_so_far", "Other"),
        ("total_requests", "Throughput"), ("successful_requests", "Throughput"),
    ],
)
def test_groups_by_key_pattern(key, group):
    assert group_of(key) == group


def test_every_canonical_key_has_a_group_and_default_stats_exist():
    keys = RunningStats().to_stats().keys()
    assert all(group_of(k) for k in keys)
    spec = DisplaySpec()
    assert [name for name, _ in spec.grouped()] == ["Throughput", "TTFT", "TTLT", "Tokens", "Errors"]
    assert {s.key for s in spec.stats if not s.key.endswith("*")} <= set(keys)


def test_error_classes_get_a_cell_each_as_they_appear():
    spec = DisplaySpec()
    before = [label for _, cells in spec.rows({"failed_requests": 0}) for label, _ in cells]
    assert "timeout" not in before
    rows = dict(spec.rows({"failed_requests": 3, "errors-timeout": 1, "errors-http_5xx": 2}))
    assert rows["Errors"][-2:] == [("http_5xx", "2"), ("timeout", "1")]
    resolved = spec.resolve({"errors-connect": 4}).to_json()
    errors = [g for g in resolved["groups"] if g["name"] == "Errors"][0]["stats"]
    assert errors[-1] == {"id": "Errors/connect", "label": "connect", "key": "errors-connect",
                          "unit": "count", "invert": False, "scale": 1.0, "group": "Errors"}


def test_spec_overrides_group_and_custom_groups():
    spec = DisplaySpec(
        stats=[StatSpec("p99", "time_to_first_token-p99", "s", group="Latency"),
               StatSpec("Cost", "cost_so_far", "$")],
        groups=(("Latency", ("time_",)), *DEFAULT_GROUPS),
    )
    assert spec.to_json() == {"groups": [
        {"name": "Latency", "stats": [{"id": "Latency/p99", "label": "p99",
                                        "key": "time_to_first_token-p99", "unit": "s",
                                        "invert": False, "scale": 1.0, "group": "Latency"}]},
        {"name": "Other", "stats": [{"id": "Other/Cost", "label": "Cost", "key": "cost_so_far",
                                      "unit": "$", "invert": False, "scale": 1.0, "group": None}]},
    ]}


FORMAT_CASES = json.loads((Path(__file__).parent / "fixtures" / "format_cases.json").read_text())


@pytest.mark.parametrize("case", FORMAT_CASES["cases"], ids=str)
def test_format_value_matches_the_shared_cases(case):
    # js/format.test.js checks the dashboard's formatter against the same cases:
    # [value, unit, invert, text] or [value, unit, invert, text, scale].
    value, unit, invert, text, *scale = case
    assert format_value(value, unit, invert, *scale) == text


def test_format_value_nan_is_a_placeholder():
    assert format_value(float("nan"), "s") == "—"


def test_tty_view_draws_placeholders_then_redraws_in_place():
    out = io.StringIO()
    view = TerminalView(stream=out, tty=True, title="sim", max_rate=1000)
    first = out.getvalue()
    assert "—" in first and "Throughput" in first and "TTFT" in first
    lines = len(view.render(Snapshot()))
    rs = RunningStats()
    snap = Snapshot(**rs.snapshot())
    snap.stats["time_to_first_token-p50"] = 0.123
    view.update(snap)
    redraw = out.getvalue()[len(first):]
    assert redraw.startswith(f"\x1b[{lines}F")  # cursor back up over the old table
    assert "123 ms" in redraw
    view.close()


def test_non_tty_view_prints_plain_lines_at_most_every_interval():
    out = io.StringIO()
    view = TerminalView(stream=out, tty=False, plain_interval=3600)
    assert out.getvalue() == ""  # no placeholder table in logs
    for _ in range(50):
        view.update(Snapshot(stats={"total_requests": 3}, elapsed=1.0, active_clients=2))
    assert out.getvalue().count("\n") == 1
    assert "\x1b" not in out.getvalue()
    assert "2 clients" in out.getvalue() and "Throughput Requests=3" in out.getvalue()
    view.close()  # the full table once at the end
    assert out.getvalue().count("\n") == 1 + len(view.render(Snapshot()))


def test_progress_line_warns_when_the_client_loop_lags():
    calm = progress_line(Snapshot(loop_lag=0.004))
    assert "overloaded" not in calm
    busy = progress_line(Snapshot(loop_lag=0.120))
    assert "client overloaded: event loop 120 ms late" in busy


@pytest.mark.parametrize("total, failed", [(10, 4), (5, 5), (7, 0)])
def test_progress_line_splits_the_finished_requests_without_counting_one_twice(total, failed):
    stats = RunningStats().to_stats() | {"total_requests": total, "failed_requests": failed,
                                         "successful_requests": total - failed}
    line = progress_line(Snapshot(elapsed=3.0, stats=stats))
    assert f" · {total:,} done ({total - failed:,} completed, {failed:,} failed)" in line
    assert line.count("failed") == 1  # no second failure count elsewhere in the line
