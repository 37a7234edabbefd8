"""Running statistics: updated per response, cheap to read at any moment, mergeable.

`RunningStats` is the one source of truth for every figure a run reports: the final
`stats.json`, the terminal table and the dashboard all read it.

- Exact percentiles (linear interpolation between closest ranks, as numpy's default) from a
  `SortedList` (sortedcontainers): O(log n) to add a value, O(log n) to read a percentile.
- In low-memory mode a DDSketch (Datadog's `ddsketch`, 1% relative accuracy, mergeable)
  replaces the sorted values, so memory stays flat however long the run; a run's percentiles
  read the two ranks around q(n-1)/100 from it and interpolate, as the exact ones do, so each
  is within 1% of numpy's linear percentile (`Distribution.interpolated_percentile`), and they
  are clamped to the observed min/max, so they never exceed what was seen.
- The live charts' TTFT/TTLT p50/p90 cover the last `window` seconds (10) and come from one
  small DDSketch per metric per second (`LiveWindow`): when a second closes, the last 10 are
  merged and read. Nothing per request is kept for them, and a close costs O(window x sketch
  size) whatever the request rate: ~0.4 ms, where sorting the last 10 s of raw values every
  second took 28 ms and held 7 MB at 5,000 req/s (bench/README.md, "Memory"). Both modes do
  this: the charts draw p50/p90 lines whose sampling noise from one second to the next is
  far above the sketch's 1%, and exact per-second lists would keep the cost growing with the
  rate. The window's percentiles interpolate between ranks as the exact ones do, so each is
  within 1% (relative) of `numpy.percentile` of the same responses.
- Throughput counts successful requests only (as vLLM's `bench serve` does): a request that
  failed is work the server did not deliver, and a run where every request fails fast (a
  closed port, a wrong model) must not read as tens of thousands of requests a minute.
  `requests_per_minute`, `output_tps` and the token-per-minute averages count the successful
  requests and their tokens; `total_requests` keeps llmeter's meaning (every finished
  request, failed included: `successful_requests + failed_requests`). The live series do the
  same: a bucket's `completed` counts the requests that succeeded in that second, `failed`
  those that failed, `output_tokens` the successful ones' tokens.
- Throughput's time base is the send window (first request sent to last request sent),
  extended by the mean duration of every finished request (failed ones included: the time
  base is the run's, whatever succeeded): `successful / (send_window + mean_duration)`. In a
  steady state this equals the true rate (the requests sent in the window finish one duration
  later), it is right for a run where every client sends once (send window ~ 0), and it does
  not taper off while the last requests drain. Nothing finished: the rates are None ("—");
  requests finished but none succeeded: they are 0.
"""

from __future__ import annotations

import math
import re
import time
from array import array
from collections import Counter, deque
from collections.abc import Iterable, Mapping, Sequence
from itertools import repeat
from typing import Any

from ddsketch import DDSketch
from ddsketch.mapping import LogarithmicMapping
from sortedcontainers import SortedList

from . import metrics as _metrics
from .endpoints.base import InvocationResponse
from .phases import PHASES
from .slo import Slo, SloRecords, SloTally, empty_stats

# The metrics and their keys are defined once, in metrics.py; re-exported here for callers.
REQUEST_METRICS = _metrics.REQUEST_METRICS
METRICS: tuple[str, ...] = _metrics.METRICS
AGGREGATIONS: tuple[str, ...] = _metrics.AGGREGATIONS
RUN_KEYS: tuple[str, ...] = _metrics.RUN_KEYS
# Above this, the client's own event loop is too busy for its timestamps to be trusted.
LOOP_LAG_WARNING = 0.05
SKETCH_RELATIVE_ACCURACY = 0.01
# A sketch's new values wait in an array until there are this many (Distribution.add_many).
_PENDING_LIMIT = 1024


_PERCENTILE_KEY = re.compile(rf"^({'|'.join(METRICS)})-p(\d+(?:\.\d+)?)$")


def parse_percentile(key: str) -> tuple[str, float] | None:
    """(metric, q) for a percentile key such as 'time_to_first_token-p95', else None.

    Example:
        >>> parse_percentile("time_to_last_token-p99.9"), parse_percentile("output_tps")
        (('time_to_last_token', 99.9), None)
    """
    match = _PERCENTILE_KEY.match(key)
    if not match:
        return None
    q = float(match.group(2))
    return (match.group(1), q) if 0 <= q <= 100 else None


def percentile(sorted_values: Sequence[float], q: float) -> float | None:
    """The q-th percentile (0..100) of sorted values, interpolating linearly between ranks.

    Matches `numpy.percentile(..., method="linear")`; never outside [min, max].

    Example:
        >>> percentile([1.0, 2.0, 3.0, 4.0], 50)
        2.5
    """
    n = len(sorted_values)
    if n == 0:
        return None
    rank = (n - 1) * q / 100.0
    low = math.floor(rank)
    high = min(low + 1, n - 1)
    low_value, high_value = sorted_values[low], sorted_values[high]
    return low_value + (high_value - low_value) * (rank - low)


class Distribution:
    """Count, sum, min, max and percentiles of one metric; exact or sketched."""

    def __init__(self, exact: bool = True) -> None:
        self.exact = exact
        self.count = 0
        self.total = 0.0
        self.min = math.inf
        self.max = -math.inf
        self._values: SortedList | None = SortedList() if exact else None
        self._sketch: DDSketch | None = None if exact else DDSketch(SKETCH_RELATIVE_ACCURACY)
        self._pending = array("d")  # values not yet in the sketch (see add_many)

    def add(self, value: float) -> None:
        self.count += 1
        self.total += value
        if value < self.min:
            self.min = value
        if value > self.max:
            self.max = value
        if self._values is not None:
            self._values.add(value)
        else:
            # Into the sketch by the thousand (see add_many). DDSketch maps values to
            # log-spaced bins and cannot hold 0 in them; it keeps a separate zero count, so
            # values <= 0 are still counted exactly.
            self._pending.append(value)
            if len(self._pending) >= _PENDING_LIMIT:
                self._fold_pending()

    def add_many(self, values: Sequence[float]) -> None:
        """Add several values at once (one request's token gaps): the same as `add()` for each.

        In a sketch, values (these and `add`'s) wait in an array and go in by the thousand
        (`_sketch_add_many`), so values that share a bin cost one bin update: ~0.3 us a value
        instead of ~1.3 us each (one request's 64 gaps fall in ~55 bins; a thousand gaps in a
        few hundred). Reading a percentile, or merging, folds the waiting values in first.
        The array is bounded (`_PENDING_LIMIT` values, 8 bytes each), so memory stays flat.
        """
        if not values:
            return
        self.count += len(values)
        self.total += sum(values)
        self.min = min(self.min, min(values))
        self.max = max(self.max, max(values))
        if self._values is not None:
            self._values.update(values)
            return
        self._pending.extend(values)
        if len(self._pending) >= _PENDING_LIMIT:
            self._fold_pending()

    def _fold_pending(self) -> None:
        if self._pending:
            _sketch_add_many(self._sketch, self._pending)  # type: ignore[arg-type]
            self._pending = array("d")

    def percentile(self, q: float) -> float | None:
        if self.count == 0:
            return None
        if self._values is not None:
            return percentile(self._values, q)
        self._fold_pending()
        value = self._sketch.get_quantile_value(q / 100.0)  # type: ignore[union-attr]
        return min(max(value, self.min), self.max)

    def interpolated_percentile(self, q: float) -> float | None:
        """The q-th percentile interpolated between ranks, as `percentile()` of sorted values.

        Exact: the same as `percentile(q)`. Sketched: the two values around rank (n-1)q/100
        are each read from the sketch (each within its relative accuracy) and interpolated,
        so the result is within that accuracy of numpy's linear percentile, where the
        sketch's own rule (the lower of the two) can be a whole rank off on few values.

        Example:
            >>> d = Distribution(exact=False)
            >>> for v in (0.1, 0.3, 0.5, 0.7):
            ...     d.add(v)
            >>> round(d.percentile(50), 2), round(d.interpolated_percentile(50), 2)  # numpy: 0.4
            (0.3, 0.4)
        """
        if self._values is not None or self.count == 0:
            return self.percentile(q)
        self._fold_pending()
        rank = (self.count - 1) * q / 100.0
        low = math.floor(rank)
        high = min(low + 1, self.count - 1)
        low_value = self._order_statistic(low)
        high_value = low_value if high == low else self._order_statistic(high)
        value = low_value + (high_value - low_value) * (rank - low)
        return min(max(value, self.min), self.max)

    def _order_statistic(self, k: int) -> float:
        """The k-th smallest value (0-based): exact for the smallest and the largest, else
        the sketch's value for it."""
        n = self.count
        if k <= 0:
            return self.min
        if k >= n - 1:
            return self.max
        # DDSketch returns the bin holding the value of rank floor(quantile * (n - 1)); aiming
        # at k + 0.5 keeps a rounding error in quantile * (n - 1) from landing on rank k - 1.
        value = self._sketch.get_quantile_value((k + 0.5) / (n - 1))  # type: ignore[union-attr]
        return min(max(value, self.min), self.max)

    @property
    def mean(self) -> float | None:
        return self.total / self.count if self.count else None

    def merge(self, other: Distribution) -> None:
        """Fold another distribution of the same kind into this one."""
        if self.exact != other.exact:
            raise ValueError("cannot merge an exact distribution with a sketched one")
        self.count += other.count
        self.total += other.total
        self.min = min(self.min, other.min)
        self.max = max(self.max, other.max)
        if self._values is not None:
            self._values.update(other._values)  # type: ignore[arg-type]
        else:
            self._fold_pending()
            other._fold_pending()
            self._sketch.merge(other._sketch)  # type: ignore[union-attr,arg-type]


def _sketch_add_many(sketch: DDSketch, values: Sequence[float]) -> None:
    """`sketch.add(v)` for each value, with the bin keys computed by C-level `map`s and
    counted once per bin: a metric with a value per token (inter-token latency) would otherwise
    cost ~1.3 us per token on the kernel's loop, ~0.25 us this way (bench: see tests).

    It reads DDSketch's mapping and stores (ddsketch 3.x, pinned below 4 in pyproject.toml);
    for another mapping, or a negative value, it falls back to `add()` per value.
    tests/test_metrics.py holds it to `add()` value for value.
    """
    mapping = sketch._mapping
    if type(mapping) is not LogarithmicMapping or min(values) < 0:
        for value in values:
            sketch.add(value)
        return
    smallest = mapping.min_possible
    positive = [v for v in values if v > smallest]
    scale = mapping._multiplier.__mul__
    bins = Counter(map(math.ceil, map(scale, map(math.log, positive, repeat(2.0)))))
    offset = mapping._offset
    for key, count in bins.items():
        sketch._store.add(int(key + offset), count)
    sketch._zero_count += len(values) - len(positive)
    sketch._count += len(values)
    sketch._sum += sum(values)
    sketch._min = min(sketch._min, min(values))
    sketch._max = max(sketch._max, max(values))


# The metrics the live charts read from the window every second (always recorded).
_CHART_METRICS = ("time_to_first_token", "time_to_last_token")


class WindowSecond:
    """One second of a `LiveWindow`: a sketched `Distribution` per per-request metric (of the
    metric registry, `REQUEST_METRICS`) and the second's counts. Mergeable: nothing per request
    is kept, so its size does not grow with the rate. `complete`: every metric was recorded for
    the whole second (the window's `record_all` was on), not only the charts' TTFT and TTLT.

    While the second is open, a metric's values wait in an array and go into its sketch by the
    thousand (`Distribution.add_many`: count, sum, min and max in C, the bins counted once), so
    a value costs an append, not a Python-level update of five fields; `seal()` (when the
    second closes) puts the rest in.
    """

    __slots__ = ("dists", "_waiting", "complete", "total", "failed", "cancelled", "retries",
                 "input_tokens", "output_tokens", "ok_input_tokens", "ok_output_tokens", "errors")

    def __init__(self, complete: bool = True) -> None:
        # Every metric recorded for the whole second (else only the charts' TTFT and TTLT).
        self.complete = complete
        self.dists: dict[str, Distribution] = {m.key: Distribution(exact=False)
                                               for m in REQUEST_METRICS}
        self._waiting: dict[str, array] = {m.key: array("d") for m in REQUEST_METRICS}
        self.total = self.failed = self.cancelled = self.retries = 0
        self.input_tokens = self.output_tokens = 0
        self.ok_input_tokens = self.ok_output_tokens = 0
        self.errors: Counter[str] = Counter()

    def add(self, key: str, value: float) -> None:
        waiting = self._waiting[key]
        waiting.append(value)
        if len(waiting) >= _PENDING_LIMIT:
            self._flush(key)

    def add_many(self, key: str, values: Sequence[float]) -> None:
        waiting = self._waiting[key]
        waiting.extend(values)
        if len(waiting) >= _PENDING_LIMIT:
            self._flush(key)

    def _flush(self, key: str) -> None:
        waiting = self._waiting[key]
        if waiting:
            self.dists[key].add_many(waiting)
            self._waiting[key] = array("d")

    def seal(self) -> None:
        """The second is closed: every value into its sketch (no array of values is kept)."""
        for key in self._waiting:
            self._flush(key)
            self.dists[key]._fold_pending()


class LiveWindow:
    """The responses of the last `seconds` seconds, one `WindowSecond` per second: the live
    charts' TTFT and TTLT p50/p90 (`close()`, every second), and, when a view asks, the
    dashboard table's "last N s" figures (`stats()`: every per-request metric's percentiles and
    average, the requests, failures and rates of the window).

    Closing a second keeps it (the oldest drops out); reading merges the kept seconds' sketches
    into fresh ones. Memory and the cost of a close or a read are O(seconds x metrics x sketch
    size): the same at 1 and at 10,000 requests a second. Percentiles interpolate between ranks
    read from the merged sketch, so each is within 1% of `numpy.percentile` of the same values.

    The charts' TTFT and TTLT and the counts are always recorded; the other metrics only while
    `record_all` is on (a view shows the table's "last N s"): a value costs ~0.3 us to sketch,
    and a response has one per metric and one per token gap, which would otherwise cost every
    run a few microseconds a response for a table nobody looks at. `stats()` therefore covers
    the trailing seconds recorded whole (`covered`): after `record_all` goes on, it grows a
    second at a time to `seconds`, as at a run's start.

    Example:
        >>> from llmeter_widget.endpoints import InvocationResponse
        >>> def done(ttft, ttlt=None, error=None):
        ...     r = InvocationResponse(t_send=0.0, t_first_token=ttft, t_last_token=ttlt,
        ...                            t_end=ttlt or ttft, num_tokens_output=4)
        ...     if error:
        ...         r.error, r.error_type = "boom", error
        ...     return r.finalize()
        >>> w = LiveWindow(seconds=2)
        >>> w.record_all = True                       # a view shows the table's "last 2 s"
        >>> w.add(done(0.1, 1.0)); w.add(done(0.3, 2.0))
        >>> {k: round(v, 3) for k, v in w.close().items()}
        {'ttft_p50': 0.2, 'ttft_p90': 0.28, 'ttlt_p50': 1.5, 'ttlt_p90': 1.9}
        >>> w.add(done(0.5, error="broken_stream"))  # a failed request: its TTFT, no TTLT
        >>> round(w.close()["ttft_p50"], 2)           # seconds 0 and 1: 0.1, 0.3, 0.5
        0.3
        >>> window = w.stats()                        # the same two seconds, for the table
        >>> window["total_requests"], window["failed_requests"], window["requests_per_minute"]
        (3, 1, 60.0)
        >>> round(window["time_to_first_token-p50"], 2), window["errors-broken_stream"]
        (0.3, 1)
        >>> w.close()["ttlt_p50"] is None             # seconds 1 and 2: no TTLT left
        True
    """

    def __init__(self, seconds: int) -> None:
        if seconds < 1:
            raise ValueError(f"a live window covers at least 1 second, got {seconds}")
        self.seconds = seconds
        self._record_all = False
        self._open = WindowSecond(complete=False)
        self._closed: deque[WindowSecond] = deque(maxlen=seconds)
        # (metric key, the response attribute it reads, whether that holds a list)
        self._feeds = [(m.key, m.source or m.key, m.many) for m in REQUEST_METRICS]
        self._chart_feeds = [f for f in self._feeds if f[0] in _CHART_METRICS]

    @property
    def record_all(self) -> bool:
        """Record every metric (for `stats()`), not only the charts' TTFT and TTLT."""
        return self._record_all

    @record_all.setter
    def record_all(self, value: bool) -> None:
        value = bool(value)
        if value != self._record_all:
            self._record_all = value
            # The open second is recorded whole only if it has recorded nothing yet.
            second = self._open
            second.complete = value and second.total == 0 and second.cancelled == 0

    def add(self, response: InvocationResponse) -> None:
        """A finished (or failed, or cancelled) response, recorded in the open second."""
        second = self._open
        if response.error_type == "cancelled":
            second.cancelled += 1
            return
        second.total += 1
        second.retries += response.retries or 0
        second.input_tokens += response.num_tokens_input or 0
        second.output_tokens += response.num_tokens_output or 0
        if response.ok:
            second.ok_input_tokens += response.num_tokens_input or 0
            second.ok_output_tokens += response.num_tokens_output or 0
        else:
            second.failed += 1
            second.errors[response.error_type or "unknown"] += 1
        for key, attribute, many in self._feeds if second.complete else self._chart_feeds:
            value = getattr(response, attribute, None)
            if value is not None:
                if many:
                    if value:
                        second.add_many(key, value)
                else:
                    second.add(key, value)

    def _merged(self, key: str, seconds: Iterable[WindowSecond] | None = None) -> Distribution:
        merged = Distribution(exact=False)
        for second in self._closed if seconds is None else seconds:
            if second.dists[key].count:
                merged.merge(second.dists[key])
        return merged

    def close(self) -> dict[str, float | None]:
        """Close the open second; the p50/p90 of the last `seconds` closed seconds."""
        self._open.seal()  # into its sketches now: a closed second holds no array of values
        self._closed.append(self._open)
        self._open = WindowSecond(complete=self._record_all)
        ttft, ttlt = self._merged("time_to_first_token"), self._merged("time_to_last_token")
        return {
            "ttft_p50": ttft.interpolated_percentile(50),
            "ttft_p90": ttft.interpolated_percentile(90),
            "ttlt_p50": ttlt.interpolated_percentile(50),
            "ttlt_p90": ttlt.interpolated_percentile(90),
        }

    def _recorded(self) -> list[WindowSecond]:
        """The trailing closed seconds recorded whole (every metric), oldest first."""
        kept: list[WindowSecond] = []
        for second in reversed(self._closed):
            if not second.complete:
                break
            kept.append(second)
        kept.reverse()
        return kept

    @property
    def covered(self) -> int:
        """The seconds `stats()` covers now: the trailing closed seconds recorded whole
        (`seconds` once the run is that old and `record_all` has been on that long)."""
        return len(self._recorded())

    def stats(self, extra_percentiles: Mapping[str, tuple[str, float]] | None = None,
              error_types: Iterable[str] = ()) -> dict[str, Any]:
        """The stat keys that have a meaning over the last `seconds` closed seconds.

        Every per-request metric's `-p50/-p90/-p99/-average` (None when the window has no
        value), the percentiles asked for (key -> (metric, q), as
        `RunningStats.extra_percentiles`: {"time_to_first_token-p95": ("time_to_first_token",
        95.0)}), the window's requests (total, failed, successful,
        cancelled, 429 retries), failure rate, tokens, `errors-<class>` (0 for each of
        `error_types` not seen in the window), and its rates: successful requests and their
        tokens over the seconds it covers (`covered`, fewer than `seconds` in a run's first
        seconds; the rates are None before a second closed). Keys with no meaning over
        a window (the send window, the loop lag, what callbacks publish) are absent.
        """
        closed = self._recorded()
        covered = len(closed)
        total = sum(s.total for s in closed)
        failed = sum(s.failed for s in closed)
        successful = total - failed
        per_minute = 60.0 / covered if covered else None
        errors: Counter[str] = Counter({kind: 0 for kind in error_types})
        for second in closed:
            errors.update(second.errors)
        ok_input = sum(s.ok_input_tokens for s in closed)
        ok_output = sum(s.ok_output_tokens for s in closed)
        stats: dict[str, Any] = {
            "total_requests": total,
            "failed_requests": failed,
            "successful_requests": successful,
            "failed_requests_rate": failed / total if total else None,
            "cancelled_requests": sum(s.cancelled for s in closed),
            "rate_limit_retries": sum(s.retries for s in closed),
            "requests_per_minute": successful * per_minute if per_minute else None,
            "output_tps": ok_output / covered if covered else None,
            "total_input_tokens": sum(s.input_tokens for s in closed),
            "total_output_tokens": sum(s.output_tokens for s in closed),
            "average_input_tokens_per_minute": ok_input * per_minute if per_minute else None,
            "average_output_tokens_per_minute": ok_output * per_minute if per_minute else None,
        }
        for kind, count in sorted(errors.items()):
            stats[f"errors-{kind}"] = count
        wanted: dict[str, list[tuple[str, float]]] = {}
        for stat_key, (metric, q) in (extra_percentiles or {}).items():
            wanted.setdefault(metric, []).append((stat_key, q))
        for key, _, _ in self._feeds:
            dist = self._merged(key, closed)
            for agg in AGGREGATIONS:
                stats[f"{key}-{agg}"] = (
                    dist.mean if agg == "average" else dist.interpolated_percentile(float(agg[1:]))
                )
            for stat_key, q in wanted.get(key, ()):
                stats.setdefault(stat_key, dist.interpolated_percentile(q))
        return stats

    def clear(self) -> None:
        """Forget every second (after a silence longer than the window)."""
        self._closed.clear()
        self._open = WindowSecond(complete=self._record_all)


class RunningStats:
    """Streaming statistics of a run, with per-second time series for live charts.

    Args:
        low_memory: sketch percentiles instead of keeping every value (1% relative error).
        window: seconds of recent responses the live TTFT/TTLT percentiles cover (whole
            seconds, rounded up; see `LiveWindow`).
        rate_window: seconds the live throughput of each series bucket averages over (one
            second alone is jumpy when requests last longer than a second and finish in waves).
        history_limit: per-second buckets kept for views that join late (older ones drop).
        clock: a monotonic clock, `time.perf_counter` unless testing.
        published: the dict callbacks publish live stats into (`Callback.publish`); its
            entries join `to_stats()`, and its numbers each per-second bucket ("published").
        slo: per-request thresholds (slo.py): goodput and attainment join `to_stats()`;
            `set_slo` changes them, re-scoring what was counted already.

    A response with a `phase` ("warmup", "cooldown": phases.py) only leaves the requests in
    flight; it is counted in `warmup_requests` / `cooldown_requests` and nowhere else. With
    `sends_at_response` the send window comes from the counted responses' `t_send` (not from
    `record_send`), so the warm-up's sends do not stretch the throughput's time base: a run with
    a warm-up or cool-down sets it, and so does `stats_from_responses`.

    Example:
        >>> from llmeter_widget.endpoints import InvocationResponse
        >>> rs = RunningStats()
        >>> rs.record_send(0.0)
        >>> rs.update(InvocationResponse(t_send=0.0, t_first_token=0.2, t_last_token=1.0,
        ...                              t_end=1.0, num_tokens_output=9).finalize())
        >>> rs.to_stats()["time_to_first_token-p50"], rs.to_stats()["total_output_tokens"]
        (0.2, 9)
    """

    def __init__(
        self,
        low_memory: bool = False,
        window: float = 10.0,
        rate_window: int = 5,
        history_limit: int = 7200,
        clock: Any = time.perf_counter,
        published: dict[str, Any] | None = None,
        slo: Slo | None = None,
    ) -> None:
        self.low_memory = low_memory
        self.published: dict[str, Any] = published if published is not None else {}
        # Percentiles beyond p50/p90/p99 that a view asked for: key -> (metric, q).
        self.extra_percentiles: dict[str, tuple[str, float]] = {}
        self.window = window
        self.rate_window = max(1, int(rate_window))
        self._clock = clock
        self.start = clock()
        self.distributions = {m.key: Distribution(exact=not (low_memory or m.sketched))
                              for m in REQUEST_METRICS}
        # (distribution, the response attribute it reads, whether that holds a list)
        self._feeds = [(self.distributions[m.key], m.source or m.key, m.many)
                       for m in REQUEST_METRICS]
        self.total_requests = 0
        self.failed_requests = 0
        self.cancelled_requests = 0
        self.rate_limit_retries = 0  # HTTP 429s retried (endpoint's retry_rate_limited)
        self.errors_by_type: Counter[str] = Counter()
        self.total_input_tokens = 0
        self.total_output_tokens = 0
        # The throughput counts successful requests only (see the module docstring).
        self.successful_input_tokens = 0
        self.successful_output_tokens = 0
        self.token_sources: Counter[str] = Counter()
        self.sent = 0
        self.in_flight = 0
        self.active_clients = 0
        self.first_send: float | None = None
        self.last_send: float | None = None
        self._duration_sum = 0.0  # sum of (t_end - t_send) over finished requests
        self.sends_at_response = False  # the send window from counted responses (see above)
        self.excluded: Counter[str] = Counter()  # warm-up and cool-down requests, by phase
        # The SLO: its counts, and (exact mode) what any SLO needs of each counted request.
        self.slo: Slo | None = None
        self._slo_tally: SloTally | None = None
        self._slo_pending = 0  # low-memory set_slo: the re-scoring of the past not merged yet
        self._slo_generation = 0
        self._slo_records: SloRecords | None = None if low_memory else SloRecords()
        if slo is not None:
            self.set_slo(slo)
        self.loop_lag = 0.0  # the largest event-loop lag since the last default snapshot, seconds
        self.loop_lag_max = 0.0
        # Live series: the open bucket, the last seconds' latency sketches, closed buckets.
        self._bucket_index = 0
        self._bucket = self._empty_bucket(0)
        self._live = LiveWindow(max(1, math.ceil(window)))
        self._window_cache: tuple[Any, dict[str, Any]] | None = None
        # (successful requests, their output tokens) of the last seconds: the live rates.
        self._recent_buckets: deque[tuple[int, int]] = deque(maxlen=self.rate_window)
        self.history: deque[dict[str, Any]] = deque(maxlen=history_limit)
        self._series_cursor = 0  # index of the next bucket the default snapshot() returns

    # -- feeding ---------------------------------------------------------------------------------
    def record_send(self, t: float | None = None) -> None:
        """A request is about to be sent (call right before invoking the endpoint)."""
        t = self._clock() if t is None else t
        self._advance_buckets(t)  # a second that has passed is closed with what was in flight
        if not self.sends_at_response:
            if self.first_send is None:
                self.first_send = t
            self.last_send = t
        self.sent += 1
        self.in_flight += 1

    def update(self, response: InvocationResponse) -> None:
        """Account for one finished (or failed, or cancelled) request."""
        end = response.t_end if response.t_end is not None else self._clock()
        self._advance_buckets(end)  # first: a second that has passed had this one in flight
        self.in_flight = max(0, self.in_flight - 1)
        phase = getattr(response, "phase", None)
        if phase is not None:  # warm-up or cool-down: saved, not counted
            self.excluded[phase] += 1
            return
        if self.sends_at_response and response.t_send is not None and response.t_end is not None:
            t = response.t_send
            if self.first_send is None or t < self.first_send:
                self.first_send = t
            if self.last_send is None or t > self.last_send:
                self.last_send = t
        if response.error_type == "cancelled":
            # Cut short by us, not by the server: recorded, but not a request the server served.
            self.cancelled_requests += 1
            self._live.add(response)  # counted as cancelled in its second
            return
        self.total_requests += 1
        self.rate_limit_retries += response.retries or 0
        if response.ok:
            self._bucket["completed"] += 1
            self.successful_input_tokens += response.num_tokens_input or 0
            self.successful_output_tokens += response.num_tokens_output or 0
            self._bucket["output_tokens"] += response.num_tokens_output or 0
        else:
            self.failed_requests += 1
            self.errors_by_type[response.error_type or "unknown"] += 1
            self._bucket["failed"] += 1
        if response.t_send is not None and response.t_end is not None:
            self._duration_sum += response.t_end - response.t_send
        for dist, attribute, many in self._feeds:
            value = getattr(response, attribute, None)  # None too in a file older than the metric
            if value is not None:
                if many:
                    dist.add_many(value)
                else:
                    dist.add(value)
        if response.num_tokens_input:
            self.total_input_tokens += response.num_tokens_input
        if response.num_tokens_output:
            self.total_output_tokens += response.num_tokens_output
        if response.token_source:
            self.token_sources[response.token_source] += 1
        if self._slo_records is not None:
            self._slo_records.add(response)
        if self._slo_tally is not None:
            self._slo_tally.add(response)
        # In the open second: its end's second, or a later one if it was recorded late.
        self._live.add(response)

    def request_keys(self, keys: Iterable[str]) -> None:
        """Also report these percentile keys (e.g. "time_to_first_token-p95"); others are ignored.

        Example:
            >>> rs = RunningStats()
            >>> rs.request_keys(["time_to_first_token-p95", "output_tps"])
            >>> "time_to_first_token-p95" in rs.to_stats()
            True
        """
        for key in keys:
            parsed = parse_percentile(key)
            if parsed is not None:
                self.extra_percentiles[key] = parsed

    def set_slo(self, slo: Slo | dict[str, float] | None) -> int | None:
        """Score against `slo` (None: no SLO) from now on, and re-score what was counted.

        Exact mode re-scores at once, from the values it keeps of each counted request
        (`SloRecords`): returns None. Low-memory mode keeps no value per request, and the joint
        attainment cannot come from one sketch per metric, so the requests counted so far are
        re-scored from responses.jsonl (`slo.tally_file` over its first lines, as many as were
        recorded until now) and handed in with `add_past_slo_tally(token, tally)`; until then
        the SLO's keys are None. Returns that token.

        Example:
            >>> from llmeter_widget.endpoints import InvocationResponse
            >>> rs = RunningStats()
            >>> for ttft in (0.1, 0.3, 0.6, 0.9):
            ...     rs.update(InvocationResponse(t_send=0.0, t_first_token=ttft,
            ...                                  t_last_token=1.0, t_end=1.0).finalize())
            >>> rs.set_slo({"time_to_first_token": 0.5}); rs.to_stats()["slo_attainment"]
            0.5
            >>> rs.set_slo({"time_to_first_token": 0.7}); rs.to_stats()["slo_attainment"]
            0.75
        """
        slo = Slo.of(slo)
        self.slo = slo
        self._slo_generation += 1
        self._slo_pending = 0
        if slo is None:
            self._slo_tally = None
            return None
        if self._slo_records is not None:
            self._slo_tally = self._slo_records.tally(slo)
            return None
        self._slo_tally = SloTally(slo)
        if self.total_requests:
            self._slo_pending = self._slo_generation
            return self._slo_generation
        return None

    def add_past_slo_tally(self, token: int, tally: SloTally) -> bool:
        """The requests counted before a low-memory `set_slo`, scored (`set_slo`'s token);
        False (ignored) when the SLO has changed again since."""
        if token != self._slo_pending or self._slo_tally is None or tally.slo != self.slo:
            return False
        self._slo_tally.merge(tally)
        self._slo_pending = 0
        return True

    @property
    def slo_pending(self) -> bool:
        """A low-memory `set_slo` still waits for the past's re-scoring."""
        return bool(self._slo_pending)

    def set_active_clients(self, n: int) -> None:
        self.active_clients = n

    def record_loop_lag(self, lag: float) -> None:
        """How late the event loop woke a timer just now (seconds): the live views' health check."""
        self.loop_lag = max(self.loop_lag, lag)
        self.loop_lag_max = max(self.loop_lag_max, lag)

    def merge(self, other: RunningStats) -> None:
        """Fold the totals and distributions of another run's stats into this one."""
        for metric, dist in self.distributions.items():
            dist.merge(other.distributions[metric])
        for name in ("total_requests", "failed_requests", "cancelled_requests", "rate_limit_retries",
                     "total_input_tokens", "total_output_tokens", "successful_input_tokens",
                     "successful_output_tokens", "sent", "_duration_sum"):
            setattr(self, name, getattr(self, name) + getattr(other, name))
        self.errors_by_type.update(other.errors_by_type)
        self.token_sources.update(other.token_sources)
        self.excluded.update(other.excluded)
        if self._slo_records is not None and other._slo_records is not None:
            for name, column in self._slo_records.columns.items():
                column.extend(other._slo_records.columns[name])
            self._slo_records.ok.extend(other._slo_records.ok)
            self._slo_records.output_tokens.extend(other._slo_records.output_tokens)
        if self._slo_tally is not None and other._slo_tally is not None:
            self._slo_tally.merge(other._slo_tally)
        sends = [t for t in (self.first_send, other.first_send) if t is not None]
        self.first_send = min(sends) if sends else None
        lasts = [t for t in (self.last_send, other.last_send) if t is not None]
        self.last_send = max(lasts) if lasts else None

    # -- reading ---------------------------------------------------------------------------------
    @property
    def successful_requests(self) -> int:
        """Finished requests that succeeded: `total_requests - failed_requests`."""
        return self.total_requests - self.failed_requests

    @property
    def send_window(self) -> float | None:
        """Seconds from the first request sent to the last one sent."""
        if self.first_send is None or self.last_send is None:
            return None
        return self.last_send - self.first_send

    def _rate_duration(self) -> float | None:
        """The send window extended by the mean duration of every finished request (see the
        module docstring); None before a request finished."""
        window = self.send_window
        finished = self.total_requests
        if window is None or finished == 0:
            return None
        duration = window + self._duration_sum / finished
        return duration if duration > 0 else None

    def to_stats(self) -> dict[str, Any]:
        """The canonical stat keys: `{metric}-{agg}` plus run-level keys (None when unknown)."""
        stats: dict[str, Any] = {}
        duration = self._rate_duration()
        per_minute = (60.0 / duration) if duration else None
        stats["total_requests"] = self.total_requests
        stats["failed_requests"] = self.failed_requests
        stats["successful_requests"] = self.successful_requests
        stats["failed_requests_rate"] = (
            self.failed_requests / self.total_requests if self.total_requests else None
        )
        stats["cancelled_requests"] = self.cancelled_requests
        stats["rate_limit_retries"] = self.rate_limit_retries
        # Throughput: successful requests only; 0 when all failed, None when none finished.
        stats["requests_per_minute"] = self.successful_requests * per_minute if per_minute else None
        stats["output_tps"] = self.successful_output_tokens / duration if duration else None
        stats["total_input_tokens"] = self.total_input_tokens
        stats["total_output_tokens"] = self.total_output_tokens
        stats["average_input_tokens_per_minute"] = (
            self.successful_input_tokens * per_minute if per_minute else None
        )
        stats["average_output_tokens_per_minute"] = (
            self.successful_output_tokens * per_minute if per_minute else None
        )
        if self._slo_tally is None or self._slo_pending:
            stats.update(empty_stats())
            if self.slo is not None:  # re-scoring the past (low memory): not known yet
                stats.update(dict.fromkeys(self.slo.stat_keys()))
        else:
            stats.update(self._slo_tally.stats(duration, self.total_requests))
        stats["warmup_requests"] = self.excluded["warmup"]
        stats["cooldown_requests"] = self.excluded["cooldown"]
        stats["send_window"] = self.send_window
        stats["event_loop_lag_max"] = self.loop_lag_max
        for error_type, count in sorted(self.errors_by_type.items()):
            stats[f"errors-{error_type}"] = count
        for metric, dist in self.distributions.items():
            for agg in AGGREGATIONS:
                stats[f"{metric}-{agg}"] = (
                    dist.mean if agg == "average" else dist.interpolated_percentile(float(agg[1:]))
                )
        for key, (metric, q) in self.extra_percentiles.items():
            stats.setdefault(key, self.distributions[metric].interpolated_percentile(q))
        for key, value in self.published.items():  # callbacks cannot replace built-in keys
            stats.setdefault(key, value)
        return stats

    @property
    def want_window_stats(self) -> bool:
        """A view shows the table over the last `window` seconds: snapshots carry
        `window_stats()`, and the window records every metric (`LiveWindow.record_all`)."""
        return self._live.record_all

    @want_window_stats.setter
    def want_window_stats(self, value: bool) -> None:
        self._live.record_all = value

    def window_stats(self) -> dict[str, Any]:
        """The figures of the last `window` seconds (the dashboard table's "last N s"):
        {"seconds": the window's length, "covered": the closed seconds it holds now (fewer at
        a run's start), "stats": the stat keys that have a meaning over a window
        (`LiveWindow.stats()`, with the percentiles asked for by `request_keys`, and 0 for each
        error class of the run the window did not see)}.

        It merges per-second sketches (no value per request is kept), so its cost does not grow
        with the rate or the run's length; it is computed at most once per closed second and
        the dict is shared (do not change it).

        Example:
            >>> from llmeter_widget.endpoints import InvocationResponse
            >>> class Clock:
            ...     now = 0.0
            ...     def __call__(self):
            ...         return self.now
            >>> def done(end, ttft):
            ...     return InvocationResponse(t_send=end - 1, t_first_token=end - 1 + ttft,
            ...                               t_last_token=end, t_end=end).finalize()
            >>> clock = Clock()
            >>> rs = RunningStats(clock=clock, window=10)
            >>> rs.want_window_stats = True  # a view shows them (before any response here)
            >>> rs.update(done(0.5, 0.5)); rs.update(done(12.5, 0.1))  # at 0.5 s and 12.5 s
            >>> clock.now = 13.0
            >>> _ = rs.snapshot()  # seconds 0..12 closed: the window is seconds 3..12
            >>> window = rs.window_stats()
            >>> rs.to_stats()["total_requests"], window["stats"]["total_requests"]
            (2, 1)
            >>> round(window["stats"]["time_to_first_token-p50"], 3), window["covered"]
            (0.1, 10)
        """
        key = (self._bucket_index, tuple(self.extra_percentiles), len(self.errors_by_type),
               self.want_window_stats)
        if self._window_cache is None or self._window_cache[0] != key:
            live = self._live
            self._window_cache = (key, {
                "seconds": live.seconds, "covered": live.covered,
                "stats": live.stats(self.extra_percentiles, self.errors_by_type)})
        return self._window_cache[1]

    def snapshot(self, series_since: int | None = None, final: bool = False) -> dict[str, Any]:
        """Stats now, plus the per-second series buckets closed since the last snapshot.

        Args:
            series_since: return buckets from this index on (for a consumer that keeps its own
                cursor); by default, those closed since the previous default call.
            final: also close the current, partial, second (at the end of a run).

        Returns:
            {"elapsed", "in_flight", "active_clients", "sent", "loop_lag", "stats": to_stats(),
             "window_stats": window_stats() while `want_window_stats` is true (a view shows
             them), else None, "series": [bucket, ...], "next_series_index"}; a bucket is
            {"t": second index, "completed" (succeeded in that second), "failed" (failed in
             it), "output_tokens" (of those that succeeded), "requests_per_minute", "output_tps"
             (both of successful requests, over the last `rate_window` seconds), "ttft_p50",
             "ttft_p90", "ttlt_p50", "ttlt_p90" (of the responses of the last `window`
             seconds, within 1% of numpy's linear percentile; None when there are none),
             "active_clients", "in_flight"}.
        """
        now = self._clock()
        self._advance_buckets(now)
        if final:
            self.close_series()
        own_cursor = series_since is None
        series = self.series(self._series_cursor if own_cursor else series_since)
        next_index = self._bucket_index
        loop_lag = self.loop_lag
        if own_cursor:
            self._series_cursor = next_index
            self.loop_lag = 0.0
        return {
            "elapsed": now - self.start,
            "in_flight": self.in_flight,
            "active_clients": self.active_clients,
            "sent": self.sent,
            "loop_lag": loop_lag,
            "stats": self.to_stats(),
            "window_stats": self.window_stats() if self.want_window_stats else None,
            "series": series,
            "next_series_index": next_index,
        }

    def close_series(self) -> None:
        """Close the current, partial, second: the run is over."""
        self._close_bucket()

    def series(self, since: int = 0) -> list[dict[str, Any]]:
        """Closed buckets with index >= since (those still kept in history)."""
        return [b for b in self.history if b["t"] >= since]

    # -- per-second buckets ----------------------------------------------------------------------
    @staticmethod
    def _empty_bucket(index: int) -> dict[str, Any]:
        return {"t": index, "completed": 0, "failed": 0, "output_tokens": 0}

    def _advance_buckets(self, now: float) -> None:
        """Close every bucket whose second has passed."""
        behind = now - self.start - self._bucket_index
        if behind >= self.history.maxlen + 2:  # type: ignore[operator]
            # A long silence: the skipped seconds would fall out of history anyway.
            self._close_bucket()
            self._live.clear()  # its seconds are long past the window
            self._bucket_index = int(now - self.start) - self.history.maxlen  # type: ignore[operator]
            self._bucket = self._empty_bucket(self._bucket_index)
        while now - self.start >= self._bucket_index + 1:
            self._close_bucket()

    def _close_bucket(self) -> None:
        bucket = self._bucket
        self._recent_buckets.append((bucket["completed"], bucket["output_tokens"]))
        seconds = len(self._recent_buckets)
        bucket.update(
            requests_per_minute=sum(c for c, _ in self._recent_buckets) * 60.0 / seconds,
            output_tps=sum(t for _, t in self._recent_buckets) / seconds,
            **self._live.close(),  # ttft_p50, ttft_p90, ttlt_p50, ttlt_p90
            active_clients=self.active_clients,
            in_flight=self.in_flight,
        )
        numbers = {k: v for k, v in self.published.items() if _is_number(v)}
        if numbers:
            bucket["published"] = numbers
        self.history.append(bucket)
        self._bucket_index += 1
        self._bucket = self._empty_bucket(self._bucket_index)


def _is_number(value: Any) -> bool:
    return (isinstance(value, (int, float)) and not isinstance(value, bool)
            and math.isfinite(value))


def stats_from_responses(
    responses: Iterable[InvocationResponse], low_memory: bool = False,
    slo: Slo | dict[str, float] | None = None,
) -> RunningStats:
    """Rebuild RunningStats from saved responses (a folder without stats.json, an overlay).

    The run is replayed in time order (each send, each end), so the per-second series comes
    back as the live views saw it, relative to the run's first send. Active clients are not
    saved per response: the series shows the requests in flight for both. Responses without
    raw timestamps (llmeter's) count in the totals but not in the series. Warm-up and
    cool-down responses (a `phase`) are counted in `warmup_requests` / `cooldown_requests`
    only, as the live run counted them; `slo` scores the others (goodput, attainment).
    """
    counted: list[InvocationResponse] = []
    excluded: Counter[str] = Counter()
    for r in responses:
        phase = getattr(r, "phase", None)
        if phase is None:
            counted.append(r)
        else:
            excluded[phase if phase in PHASES else "warmup"] += 1
    responses = counted
    events: list[tuple[float, int, InvocationResponse]] = []
    untimed: list[InvocationResponse] = []
    for r in responses:
        if r.t_send is None or r.t_end is None:
            untimed.append(r)
            continue
        events.append((r.t_send, 0, r))  # 0: sent (sorts before an end at the same time)
        events.append((r.t_end, 1, r))
    events.sort(key=lambda e: (e[0], e[1]))
    rs = RunningStats(low_memory=low_memory, slo=slo)
    rs.sends_at_response = True  # the same window as record_send(t_send) of each: no excluded
    rs.excluded = excluded
    rs.start = events[0][0] if events else 0.0
    for t, kind, r in events:
        if kind == 0:
            rs.record_send(t)
        else:
            rs.update(r)
        rs.set_active_clients(rs.in_flight)
    if events:
        rs.close_series()
    last = events[-1][0] if events else 0.0
    rs._clock = lambda: last  # untimed responses: in the totals, never in the series
    for r in untimed:
        rs.sent += 1
        rs.in_flight += 1
        rs.update(r)
    return rs
