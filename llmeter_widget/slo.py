"""Service-level objectives: per-request thresholds, and the goodput and attainment they give.

An SLO is a set of thresholds on per-request metrics of the registry (metrics.py), e.g.
`{"time_to_first_token": 0.5, "time_per_output_token": 0.05, "time_to_last_token": 10}`:
a request meets a threshold when its value is at most the limit, and meets the SLO when it
succeeded and meets every threshold. So:

- a failed request meets no threshold (the server did not deliver), whatever it measured;
- a request without a value for a metric fails that metric (no `time_to_first_token`: nothing
  streamed; no `time_per_output_token`: a single output token), rather than passing unseen;
- a cancelled request (cut short by `stop()` or the drain timeout) is not scored (None), as it
  is outside every stat; warm-up and cool-down requests are scored and saved but not counted.

What an SLO gives (`SloTally.stats`, in `RunningStats.to_stats()`):

- `goodput-requests_per_minute`, `goodput-output_tps`: the requests meeting the SLO, and their
  output tokens, over the same time base as `requests_per_minute` and `output_tps` (stats.py);
- `slo_attainment`: the fraction of finished (not cancelled) requests meeting the SLO, and
  `slo_attainment-<metric>` that of each threshold alone.

Scoring reads a record through a getter (`getattr` of an `InvocationResponse`, or `dict.get` of
a line of responses.jsonl), so a run's saved file is re-scored line by line without building
its responses (`tally_file`): that is how a low-memory run is re-scored (see `RunningStats.
set_slo` and `Result.rescore`).

Example:
    >>> from llmeter_widget.endpoints import InvocationResponse
    >>> slo = Slo({"time_to_first_token": 0.5, "time_to_last_token": 2})
    >>> fast = InvocationResponse(t_send=0.0, t_first_token=0.2, t_last_token=1.0).finalize()
    >>> slow = InvocationResponse(t_send=0.0, t_first_token=0.8, t_last_token=1.5).finalize()
    >>> slo.passes(fast), slo.passes(slow), slo.metric_passes(slow)
    (True, False, {'time_to_first_token': False, 'time_to_last_token': True})
"""

from __future__ import annotations

import difflib
import math
from array import array
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any

import orjson

from .metrics import REQUEST_METRICS, metric

# The metrics an SLO may hold: every per-request metric with one value per request (not the
# inter-token latency, which has one per token gap).
SLO_METRICS: tuple[str, ...] = tuple(m.key for m in REQUEST_METRICS if not m.many)
# What the response holds each metric's value under (the metric's own key for all of these).
_SOURCE = {m.key: m.source or m.key for m in REQUEST_METRICS if not m.many}

GOODPUT_KEYS = ("goodput-requests_per_minute", "goodput-output_tps")
ATTAINMENT_KEY = "slo_attainment"
ATTAINMENT_PREFIX = ATTAINMENT_KEY + "-"

Getter = Callable[[str], Any]


def _slo_help() -> str:
    return ("An SLO maps per-request metrics to limits (a request meets one when its value is "
            "at most the limit), e.g. slo={'time_to_first_token': 0.5, 'time_to_last_token': 10}."
            " Metrics: " + ", ".join(SLO_METRICS) + ".")


def _check_metric(name: Any) -> str:
    if not isinstance(name, str):
        raise ValueError(f"SLO metric names are text, got {name!r}. {_slo_help()}")
    if name in SLO_METRICS:
        return name
    if name == "inter_token_latency":
        raise ValueError("The SLO metric inter_token_latency has one value per token gap, not "
                         "one per request: use time_per_output_token (a request's mean gap "
                         "between tokens).")
    base, _, aggregation = name.rpartition("-")
    if base in SLO_METRICS:
        raise ValueError(f"An SLO is per request: give {base!r} (each request's value must be at "
                         f"most the limit), not the aggregate {name!r} ({aggregation}).")
    shorts = {m.short: m.key for m in REQUEST_METRICS if m.short and m.key in SLO_METRICS}
    close = ([shorts[name]] if name in shorts
             else difflib.get_close_matches(name, SLO_METRICS, n=2, cutoff=0.6))
    hint = f" Did you mean {' or '.join(repr(c) for c in close)}?" if close else ""
    raise ValueError(f"Unknown SLO metric {name!r}.{hint} {_slo_help()}")


def _check_limit(name: str, limit: Any) -> float:
    if (isinstance(limit, bool) or not isinstance(limit, (int, float)) or not math.isfinite(limit)
            or limit <= 0):
        unit = metric(name).unit
        example = 0.5 if unit == "s" else 100
        raise ValueError(f"The SLO limit of {name!r} must be a positive number ({unit}), got "
                         f"{limit!r}: e.g. slo={{{name!r}: {example}}}.")
    return float(limit)


class Slo:
    """Per-request thresholds: `{metric: limit}`, each met when the request's value <= limit.

    Args:
        thresholds: metric key (one of `SLO_METRICS`) -> a positive limit, in the metric's
            unit (seconds for times).

    Raises:
        ValueError: an unknown metric (naming the close ones and the list), an aggregate key
            ("time_to_first_token-p99"), or a limit that is not a positive number.

    Example:
        >>> Slo({"time_to_first_token": 0.5}).thresholds
        {'time_to_first_token': 0.5}
        >>> Slo({"ttft": 0.5})
        Traceback (most recent call last):
        ...
        ValueError: Unknown SLO metric 'ttft'. Did you mean 'time_to_first_token'? An SLO maps ...
    """

    __slots__ = ("thresholds", "_checks")

    def __init__(self, thresholds: Mapping[str, float]) -> None:
        if not isinstance(thresholds, Mapping):
            raise ValueError(f"slo must be a dict, got {thresholds!r}. {_slo_help()}")
        if not thresholds:
            raise ValueError(f"An SLO needs at least one threshold (slo=None for none). "
                             f"{_slo_help()}")
        checked = {_check_metric(k): 0.0 for k in thresholds}
        for name, limit in thresholds.items():
            checked[name] = _check_limit(name, limit)
        self.thresholds: dict[str, float] = checked
        self._checks = tuple((name, _SOURCE[name], limit) for name, limit in checked.items())

    @classmethod
    def of(cls, value: Slo | Mapping[str, float] | None) -> Slo | None:
        """An Slo from what a caller passed (a dict, an Slo, or None for none)."""
        if value is None or isinstance(value, Slo):
            return value
        return cls(value)

    @property
    def metrics(self) -> tuple[str, ...]:
        return tuple(self.thresholds)

    def to_config(self) -> dict[str, float]:
        """The thresholds as saved (run_config.json, run_status.json)."""
        return dict(self.thresholds)

    def stat_keys(self) -> tuple[str, ...]:
        """The stat keys this SLO gives: goodput, attainment, and each metric's attainment."""
        return (*GOODPUT_KEYS, ATTAINMENT_KEY,
                *(ATTAINMENT_PREFIX + name for name in self.thresholds))

    # -- scoring ---------------------------------------------------------------------------------
    def score(self, ok: bool, get: Getter) -> list[bool]:
        """Each threshold's pass (in `metrics` order) for a finished request."""
        if not ok:
            return [False] * len(self._checks)
        passes = []
        for _, source, limit in self._checks:
            value = get(source)
            passes.append(value is not None and value <= limit)
        return passes

    def metric_passes(self, response: Any) -> dict[str, bool] | None:
        """Each threshold's pass for one response (None: cancelled, not scored)."""
        if response.error_type == "cancelled":
            return None
        return dict(zip(self.thresholds, self.score(response.error is None,
                                                    lambda name: getattr(response, name, None))))

    def passes(self, response: Any) -> bool | None:
        """True when the response succeeded and meets every threshold (None: cancelled)."""
        if response.error_type == "cancelled":
            return None
        return all(self.score(response.error is None, lambda name: getattr(response, name, None)))

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Slo) and self.thresholds == other.thresholds

    def __hash__(self) -> int:
        return hash(tuple(sorted(self.thresholds.items())))

    def __repr__(self) -> str:
        return f"Slo({self.thresholds!r})"


class SloTally:
    """The counts an SLO's stats come from: finished requests scored, those meeting the SLO
    and their output tokens, and each threshold's passes. Mergeable (`merge`).

    Example:
        >>> from llmeter_widget.endpoints import InvocationResponse
        >>> tally = SloTally(Slo({"time_to_first_token": 0.5}))
        >>> for ttft in (0.2, 0.4, 0.9):
        ...     _ = tally.add(InvocationResponse(t_send=0.0, t_first_token=ttft,
        ...                   t_last_token=1.0, num_tokens_output=10).finalize())
        >>> s = tally.stats(duration=2.0)
        >>> round(s["slo_attainment"], 3), s["goodput-requests_per_minute"], s["goodput-output_tps"]
        (0.667, 60.0, 10.0)
    """

    __slots__ = ("slo", "scored", "good", "good_output_tokens", "passed")

    def __init__(self, slo: Slo) -> None:
        self.slo = slo
        self.scored = 0
        self.good = 0
        self.good_output_tokens = 0
        self.passed = [0] * len(slo.thresholds)

    def add_record(self, ok: bool, output_tokens: int | None, get: Getter) -> bool:
        """Score one finished, not cancelled, request read through `get`; its joint pass."""
        passes = self.slo.score(ok, get)
        self.scored += 1
        for i, passed in enumerate(passes):
            if passed:
                self.passed[i] += 1
        good = all(passes)
        if good:
            self.good += 1
            self.good_output_tokens += output_tokens or 0
        return good

    def add(self, response: Any) -> bool | None:
        """Score one response (cancelled ones are not scored: None)."""
        if response.error_type == "cancelled":
            return None
        return self.add_record(response.error is None, response.num_tokens_output,
                               lambda name: getattr(response, name, None))

    def merge(self, other: SloTally) -> None:
        if other.slo != self.slo:
            raise ValueError("cannot merge the tallies of two different SLOs")
        self.scored += other.scored
        self.good += other.good
        self.good_output_tokens += other.good_output_tokens
        self.passed = [a + b for a, b in zip(self.passed, other.passed)]

    def stats(self, duration: float | None, finished: int | None = None) -> dict[str, Any]:
        """The SLO's stat keys, over `duration` seconds (the run's throughput time base; None:
        not known yet) and `finished` requests (default: those scored)."""
        finished = self.scored if finished is None else finished
        stats: dict[str, Any] = {
            "goodput-requests_per_minute": self.good * 60.0 / duration if duration else None,
            "goodput-output_tps": self.good_output_tokens / duration if duration else None,
            ATTAINMENT_KEY: self.good / finished if finished else None,
        }
        for name, passed in zip(self.slo.thresholds, self.passed):
            stats[ATTAINMENT_PREFIX + name] = passed / finished if finished else None
        return stats


def empty_stats() -> dict[str, Any]:
    """The SLO keys of a run without an SLO: the fixed ones, None."""
    return dict.fromkeys((*GOODPUT_KEYS, ATTAINMENT_KEY))


def is_slo_key(key: str) -> bool:
    """True for `slo_attainment-<metric>` of a metric an SLO may hold."""
    return key.startswith(ATTAINMENT_PREFIX) and key[len(ATTAINMENT_PREFIX):] in SLO_METRICS


class SloRecords:
    """What an exact-mode run keeps per request so that any SLO can be scored again later:
    whether it succeeded, its output tokens and its value of each of `SLO_METRICS` (NaN for
    none), in typed arrays (~110 bytes a request; the exact percentiles keep as much).

    Example:
        >>> from llmeter_widget.endpoints import InvocationResponse
        >>> records = SloRecords()
        >>> records.add(InvocationResponse(t_send=0.0, t_first_token=0.3, t_last_token=1.0,
        ...                                num_tokens_output=5).finalize())
        >>> records.tally(Slo({"time_to_first_token": 0.25})).good, len(records)
        (0, 1)
    """

    __slots__ = ("ok", "output_tokens", "columns")

    def __init__(self) -> None:
        self.ok = array("b")
        self.output_tokens = array("q")
        self.columns: dict[str, array] = {name: array("d") for name in SLO_METRICS}

    def __len__(self) -> int:
        return len(self.ok)

    def add(self, response: Any) -> None:
        """A finished, not cancelled, counted request."""
        self.ok.append(response.error is None)
        self.output_tokens.append(response.num_tokens_output or 0)
        nan = math.nan
        for name, column in self.columns.items():
            value = getattr(response, _SOURCE[name], None)
            column.append(nan if value is None else value)

    def tally(self, slo: Slo) -> SloTally:
        """Every kept request scored against `slo`."""
        tally = SloTally(slo)
        columns = self.columns
        for i, ok in enumerate(self.ok):
            # NaN <= limit is False: a missing value fails its threshold, as in `Slo.score`.
            tally.add_record(bool(ok), self.output_tokens[i],
                             lambda name, i=i: columns[name][i])
        return tally


class TimeBase:
    """The throughput time base of `RunningStats` (stats.py, module docstring), rebuilt from
    saved records: the send window of the timed requests, extended by the mean duration of the
    finished ones."""

    __slots__ = ("first", "last", "duration_sum", "finished")

    def __init__(self) -> None:
        self.first = self.last = None
        self.duration_sum = 0.0
        self.finished = 0

    def add(self, t_send: Any, t_end: Any, cancelled: bool) -> None:
        if not cancelled:
            self.finished += 1
        if t_send is None or t_end is None:
            return
        self.first = t_send if self.first is None else min(self.first, t_send)
        self.last = t_send if self.last is None else max(self.last, t_send)
        if not cancelled:
            self.duration_sum += t_end - t_send

    @property
    def duration(self) -> float | None:
        if self.first is None or not self.finished:
            return None
        duration = self.last - self.first + self.duration_sum / self.finished
        return duration if duration > 0 else None


def score_records(records: Iterable[Getter], slo: Slo) -> tuple[SloTally, TimeBase]:
    """Score saved records (each read through a getter) against `slo`, with the run's time
    base; warm-up and cool-down records (a `phase`) and cancelled ones are not counted."""
    tally, base = SloTally(slo), TimeBase()
    for get in records:
        if get("phase") is not None:
            continue
        cancelled = get("error_type") == "cancelled"
        base.add(get("t_send"), get("t_end"), cancelled)
        if not cancelled:
            tally.add_record(get("error") is None, get("num_tokens_output"), get)
    return tally, base


def file_records(path: Path, limit: int | None = None) -> Iterable[Getter]:
    """The lines of a responses.jsonl (the first `limit`), each as a getter of its fields:
    parsed with orjson and nothing more, so re-scoring a long file stays fast and its memory
    flat; lines that do not parse are skipped (as `results.iter_responses` skips them)."""
    with path.open("rb") as f:
        for number, line in enumerate(f):
            if limit is not None and number >= limit:
                break
            try:
                data = orjson.loads(line)
            except orjson.JSONDecodeError:
                continue
            if isinstance(data, dict):
                yield data.get


def tally_file(path: Path, slo: Slo, limit: int | None = None) -> SloTally:
    """`slo` scored over the first `limit` lines of a responses.jsonl (all by default)."""
    return score_records(file_records(path, limit), slo)[0]
