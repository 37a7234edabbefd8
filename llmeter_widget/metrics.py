"""Every metric a run reports, defined once: key, label, unit, group, meaning, aggregations.

Everything else is derived from `REGISTRY`, so a metric added here appears everywhere:

- the stat keys `RunningStats` reports (stats.py: `RUN_KEYS`, one distribution per
  per-request metric, its `-p50/-p90/-p99/-average` keys) and the key check (keys.py);
- the unit a view shows a key with (`unit_of`), its table group (`group_of_key`);
- the default live table (`default_table`, which display.py turns into `DEFAULT_STATS`);
- the columns a sweep compares (`comparison_keys`, experiments.py) and the short names the
  sweep chart reads (`comparison_short_keys`, overlays.py and js/sweep.js);
- the metric table of docs/user_guide.md and js/metrics.json, which the frontend imports for
  its chart labels (`make metrics` rewrites both; tests/test_metrics.py
  fails when either is out of date).

A metric is either *per request* (one value per request, or per token gap: a distribution with
aggregations, keys `<key>-<aggregation>`, any percentile on demand) or *per run* (one value,
key `<key>`). The family `errors-<class>` has one key per error class.

Example:
    >>> metric("time_to_first_token").label, unit_of("time_to_first_token-p95")
    ('TTFT', 's')
    >>> group_of_key("output_tps"), group_of_key("errors-timeout"), group_of_key("cost-total")
    ('Throughput', 'Errors', None)
"""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .endpoints.base import ERROR_TYPES

PERCENTILES: tuple[str, ...] = ("p50", "p90", "p99")
AGGREGATIONS: tuple[str, ...] = (*PERCENTILES, "average")
# The live table's groups, in the order they are shown.
GROUPS: tuple[str, ...] = ("Throughput", "SLO", "TTFT", "TTLT", "Tokens", "Errors", "Other")


@dataclass(frozen=True)
class Cell:
    """One cell of the default live table: an aggregation of its metric ("" for a run metric).

    label, unit: None for the aggregation's name ("p50") or the metric's label, and the
    metric's unit. invert: show 1/value (a time per token shown as tokens per second).
    """

    aggregation: str = ""
    label: str | None = None
    unit: str | None = None
    invert: bool = False


@dataclass(frozen=True)
class Metric:
    """One metric.

    Attributes:
        key: the canonical key (llmeter's name where llmeter has one).
        label: a short name for tables and charts ("TTFT").
        unit: "s", "count", "%" (a 0..1 ratio), or free text ("req/min", "tok/s").
        group: the live table's group (one of GROUPS).
        description: what it means, in one or two sentences (the user guide's table).
        per_request: a distribution (aggregations, any percentile) rather than one value.
        source: the InvocationResponse attribute a per-request value is read from (the key
            itself when None); `many` means it holds a list (one value per token gap).
        sketched: percentiles from a 1% DDSketch even when the run keeps exact ones (a metric
            with a value per token has millions: exact ones would cost the kernel per token).
        table: its cells in the default live table.
        compare: the aggregations ("" for a run metric) a sweep's comparison shows.
        short: the prefix of its comparison names ("ttft" -> "ttft_p90"); the key when None.
    """

    key: str
    label: str
    unit: str
    group: str
    description: str
    per_request: bool = False
    source: str | None = None
    many: bool = False
    sketched: bool = False
    table: tuple[Cell, ...] = ()
    compare: tuple[str, ...] = ()
    short: str | None = None

    @property
    def aggregations(self) -> tuple[str, ...]:
        return AGGREGATIONS if self.per_request else ()

    @property
    def keys(self) -> tuple[str, ...]:
        """Its fixed stat keys: `<key>-<aggregation>` for each aggregation, or the key."""
        if self.key == ERRORS.key:
            return tuple(f"errors-{kind}" for kind in ERROR_TYPES if kind != "cancelled")
        return tuple(f"{self.key}-{a}" for a in self.aggregations) or (self.key,)

    def stat_key(self, aggregation: str = "") -> str:
        return f"{self.key}-{aggregation}" if aggregation else self.key

    def to_json(self) -> dict[str, Any]:
        return {"key": self.key, "label": self.label, "unit": self.unit, "group": self.group,
                "description": self.description, "per_request": self.per_request,
                "aggregations": list(self.aggregations), "short": self.short or self.key}


_TIME = "s"
_P3 = tuple(Cell(p) for p in PERCENTILES)

# Per-run metrics, in the order stats.json lists them.
RUN_METRICS: tuple[Metric, ...] = (
    Metric("total_requests", "Requests", "count", "Throughput",
           "Requests that finished, failed ones included (llmeter's meaning); cancelled ones "
           "are not counted.", table=(Cell(),)),
    Metric("failed_requests", "Failed", "count", "Errors",
           "Requests that failed: `successful_requests + failed_requests = total_requests`.",
           table=(Cell(),)),
    Metric("successful_requests", "Succeeded", "count", "Throughput",
           "Requests that succeeded (the dashboard's \"completed\")."),
    Metric("failed_requests_rate", "Failure rate", "%", "Errors",
           "`failed_requests / total_requests`, a 0..1 ratio.", table=(Cell(),), compare=("",)),
    Metric("cancelled_requests", "Cancelled", "count", "Errors",
           "Requests cut short by `stop()`, the drain timeout or an interrupt: saved, counted "
           "neither as served nor as failed."),
    Metric("rate_limit_retries", "429 retries", "count", "Errors",
           "HTTP 429 answers retried (`retry_rate_limited`).", table=(Cell(),)),
    Metric("requests_per_minute", "Requests/min", "req/min", "Throughput",
           "Successful requests per minute over the send window extended by the mean request "
           "duration.", table=(Cell(),), compare=("",)),
    Metric("output_tps", "Output tokens/s", "tok/s", "Throughput",
           "The successful requests' output tokens per second, over the same time base.",
           table=(Cell(),), compare=("",)),
    Metric("total_input_tokens", "Input tokens", "count", "Tokens",
           "Input tokens of every finished request, failed ones included.",
           table=(Cell(label="Input"),)),
    Metric("total_output_tokens", "Output tokens", "count", "Tokens",
           "Output tokens of every finished request (a broken stream keeps those that arrived).",
           table=(Cell(label="Output"),)),
    Metric("average_input_tokens_per_minute", "Input tokens/min", "tok/min", "Throughput",
           "The successful requests' input tokens per minute, over the same time base."),
    Metric("average_output_tokens_per_minute", "Output tokens/min", "tok/min", "Throughput",
           "The successful requests' output tokens per minute, over the same time base."),
    # With an SLO (slo.py): None without one. The default table shows them when a run has one.
    Metric("goodput-requests_per_minute", "Goodput", "req/min", "SLO",
           "Requests that met the SLO (succeeded and met every threshold) per minute, over the "
           "same time base as `requests_per_minute`."),
    Metric("goodput-output_tps", "Goodput tokens/s", "tok/s", "SLO",
           "The output tokens of the requests that met the SLO per second, over the same time "
           "base as `output_tps`."),
    Metric("slo_attainment", "SLO attainment", "%", "SLO",
           "The fraction of finished (not cancelled) requests that met the SLO; "
           "`slo_attainment-<metric>`: that of one threshold (a failed request meets none)."),
    Metric("warmup_requests", "Warm-up", "count", "Other",
           "Requests sent during the warm-up (`warmup=`): saved, left out of every other stat."),
    Metric("cooldown_requests", "Cool-down", "count", "Other",
           "Requests sent during the cool-down (`cooldown=`): saved, left out of every other "
           "stat."),
    Metric("send_window", "Send window", _TIME, "Other",
           "Seconds from the first request sent to the last one sent."),
    Metric("event_loop_lag_max", "Loop lag max", _TIME, "Other",
           "The client event loop's worst lateness; above 0.05 s its timestamps are late too."),
)

# Per-request metrics: one distribution each.
REQUEST_METRICS: tuple[Metric, ...] = (
    Metric("time_to_first_token", "TTFT", _TIME, "TTFT",
           "Send to the first SSE event carrying output text, content or reasoning.",
           per_request=True, table=_P3, compare=PERCENTILES, short="ttft"),
    Metric("time_to_second_token", "TT2T", _TIME, "TTFT",
           "Send to the second output-carrying event: TTFT plus the first decode step.",
           per_request=True, short="tt2t"),
    Metric("time_to_first_content_token", "TTFT content", _TIME, "TTFT",
           "Send to the first event carrying answer text (`content`), reasoning excluded.",
           per_request=True, short="ttfct"),
    Metric("time_to_first_reasoning_token", "TTFT reasoning", _TIME, "TTFT",
           "Send to the first event carrying reasoning text (`reasoning_content` or "
           "`reasoning`); none for a model that does not reason.",
           per_request=True, short="ttfrt"),
    Metric("time_to_last_token", "TTLT", _TIME, "TTLT",
           "Send to the last output-carrying event, successful requests only.",
           per_request=True, table=_P3, compare=("p50", "p90"), short="ttlt"),
    Metric("time_per_output_token", "TPOT", _TIME, "Tokens",
           "`(TTLT - TTFT) / (output tokens - 1)`: a request's mean gap between tokens; its "
           "inverse is the speed one client sees.", per_request=True,
           table=(Cell("p50", label="Per-request tok/s p50", unit="tok/s", invert=True),),
           short="tpot"),
    Metric("inter_token_latency", "ITL", _TIME, "Tokens",
           "Every gap between consecutive output-carrying events, over all requests (one value "
           "per gap, not per request); 1% sketch in both modes.",
           per_request=True, source="inter_token_latencies", many=True, sketched=True,
           short="itl"),
    # An open-loop run's schedule (rate=): none in a closed loop.
    Metric("scheduled_time_to_first_token", "TTFT from schedule", _TIME, "TTFT",
           "Open loop: intended send to the first output event. What a user of an overloaded "
           "service waits: it includes the time the request waited to go out.",
           per_request=True, short="sttft"),
    Metric("scheduled_time_to_last_token", "TTLT from schedule", _TIME, "TTLT",
           "Open loop: intended send to the last output event, successful requests only.",
           per_request=True, short="sttlt"),
    Metric("schedule_lag", "Schedule lag", _TIME, "Other",
           "Open loop: actual send minus intended send. Above ~10 ms the generator did not "
           "keep the schedule: the load was not what was asked for.",
           per_request=True, short="lag"),
    Metric("concurrency_wait", "Slot wait", _TIME, "Other",
           "Open loop with `max_concurrency`: how long a request waited for a free slot "
           "(0 when one was free); part of its schedule lag.",
           per_request=True, short="slot_wait"),
    Metric("num_tokens_input", "Input tokens per request", "count", "Tokens",
           "The server's `prompt_tokens`.", per_request=True),
    Metric("num_tokens_output", "Output tokens per request", "count", "Tokens",
           "The server's `completion_tokens`, or the count of text-carrying events "
           "(`token_source: counted`).", per_request=True),
)

ERRORS = Metric("errors", "Errors", "count", "Errors",
                "Failed requests by class: `errors-timeout`, `errors-connect`, ... (see \"When "
                "things go wrong\").", table=(Cell(label=""),))

REGISTRY: tuple[Metric, ...] = (*RUN_METRICS, *REQUEST_METRICS, ERRORS)
_BY_KEY = {m.key: m for m in REGISTRY}

RUN_KEYS: tuple[str, ...] = tuple(m.key for m in RUN_METRICS)
METRICS: tuple[str, ...] = tuple(m.key for m in REQUEST_METRICS)


def metric(key: str) -> Metric:
    """The metric named `key` ("time_to_first_token", "output_tps", "errors")."""
    return _BY_KEY[key]


def metric_of_key(key: str) -> Metric | None:
    """The metric a stat key belongs to ("time_to_first_token-p95" -> TTFT), or None."""
    if key in _BY_KEY:
        return _BY_KEY[key]
    if key.startswith("errors-"):
        return ERRORS
    if key.startswith("slo_attainment-"):
        return _BY_KEY["slo_attainment"] if key[len("slo_attainment-"):] in _BY_KEY else None
    base, _, aggregation = key.rpartition("-")
    found = _BY_KEY.get(base)
    if found is not None and found.per_request and (aggregation == "average" or (
            aggregation.startswith("p") and aggregation[1:].replace(".", "", 1).isdigit())):
        return found
    return None


def unit_of(key: str) -> str | None:
    """The unit of a built-in stat key (None: not one of ours)."""
    found = metric_of_key(key)
    return found.unit if found is not None else None


def group_of_key(key: str) -> str | None:
    """The live table's group of a built-in stat key (None: not one of ours)."""
    found = metric_of_key(key)
    return found.group if found is not None else None


def default_table() -> list[tuple[str, str, str, bool, str]]:
    """The default live table's cells, group by group: (label, key, unit, invert, group).

    Example:
        >>> [cell[:2] for cell in default_table()][:3]
        [('Requests', 'total_requests'), ('Requests/min', 'requests_per_minute'), ('Output tokens/s', 'output_tps')]
    """
    cells = []
    for group in GROUPS:
        for m in REGISTRY:
            if m.group != group:
                continue
            for cell in m.table:
                key = "errors-*" if m is ERRORS else m.stat_key(cell.aggregation)
                label = cell.label if cell.label is not None else (cell.aggregation or m.label)
                cells.append((label, key, cell.unit or m.unit, cell.invert, group))
    return cells


def _compared() -> list[tuple[Metric, str]]:
    return [(m, agg) for group in GROUPS for m in REGISTRY if m.group == group
            for agg in m.compare]


def comparison_keys() -> tuple[str, ...]:
    """The stat keys a sweep compares level by level (`LoadTestResult.stats_table`)."""
    return tuple(m.stat_key(agg) for m, agg in _compared())


def comparison_short_keys() -> dict[str, str]:
    """The sweep comparison's short names (the JS contract) -> stat keys.

    Example:
        >>> comparison_short_keys()["ttft_p90"]
        'time_to_first_token-p90'
    """
    return {(f"{m.short or m.key}_{agg}" if agg else m.short or m.key): m.stat_key(agg)
            for m, agg in _compared()}


def registry_json() -> dict[str, Any]:
    """What js/metrics.json holds: the groups and every metric (the frontend's labels)."""
    return {"generated_by": "make metrics (llmeter_widget/metrics.py)", "groups": list(GROUPS),
            "metrics": [m.to_json() for m in REGISTRY]}


def markdown_table() -> str:
    """The user guide's metric table."""
    rows = ["| key | label | unit | group | aggregations | meaning |",
            "| --- | --- | --- | --- | --- | --- |"]
    for m in REGISTRY:
        key = "errors-{class}" if m is ERRORS else m.key
        aggs = ", ".join(m.aggregations) + (", any pNN" if m.per_request else "") or "—"
        rows.append(f"| `{key}` | {m.label} | {m.unit} | {m.group} | {aggs} | {m.description} |")
    return "\n".join(rows)


ROOT = Path(__file__).resolve().parent.parent
JSON_PATH = ROOT / "js" / "metrics.json"
GUIDE_PATH = ROOT / "docs" / "user_guide.md"
TABLE_START = "<!-- metrics table: written from llmeter_widget/metrics.py by `make metrics`; do not edit -->"
TABLE_END = "<!-- end of metrics table -->"


def guide_with_table(text: str) -> str:
    """The user guide's text with its metric table replaced by `markdown_table()`."""
    start, end = text.index(TABLE_START), text.index(TABLE_END)
    return text[:start] + TABLE_START + "\n\n" + markdown_table() + "\n\n" + text[end:]


def main() -> None:  # pragma: no cover (run by hand when a metric changes)
    JSON_PATH.write_text(json.dumps(registry_json(), indent=2, ensure_ascii=False) + "\n")
    GUIDE_PATH.write_text(guide_with_table(GUIDE_PATH.read_text(encoding="utf-8")),
                          encoding="utf-8")
    print(f"wrote {JSON_PATH} and the table in {GUIDE_PATH}", file=sys.stderr)


if __name__ == "__main__":  # pragma: no cover
    main()
