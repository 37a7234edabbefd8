"""From run events to the Dashboard's traits: pure, no widget, no comm.

`DashboardTraits.apply(event, status)` returns the trait changes one run event makes (trait
name -> new value); the Dashboard sets them under one `hold_sync()`, so one event is at most
one comm message. What it keeps between events is what the series protocol and the sweep chart
need: the run's number and sequence (docs/widget_contract.md, "Series protocol"), the sweep
level going on and the levels measured so far, the spec last sent. It reads no trait of the
widget except its `status` (given), and changes nothing outside itself: tests feed it events
and read the dicts.

Example: a run starts, ticks, and ends.

    >>> from llmeter_widget.display import DisplaySpec
    >>> from llmeter_widget.events import RunStarted, Snapshot, Tick
    >>> traits = DashboardTraits(DisplaySpec.from_live_stats({"Done": "total_requests"}))
    >>> start = RunStarted(run_id=7, clients=2, n_requests=None, run_duration=10.0,
    ...                    run_name="r", output_path=None, model_id="sim",
    ...                    endpoint_name="local", display=traits.display)
    >>> traits.apply(start, status="idle")  # doctest: +NORMALIZE_WHITESPACE
    {'series_delta': {'run': 7, 'seq': 0, 'points': []}, 'result_path': '',
     'status': 'running', 'error': ''}
    >>> snapshot = Snapshot(run_id=7, elapsed=1.0, run_duration=10.0, active_clients=2,
    ...                     stats={"total_requests": 5, "successful_requests": 4,
    ...                            "failed_requests": 1}, series=[{"t": 0, "completed": 4}])
    >>> changes = traits.apply(Tick(7, snapshot), status="running")
    >>> sorted(changes)
    ['progress', 'series_delta', 'spec', 'stats']
    >>> changes["series_delta"]
    {'run': 7, 'seq': 1, 'points': [{'t': 0, 'completed': 4}]}
    >>> changes["progress"]["completed"], changes["progress"]["failed"]
    (4, 1)
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import orjson

from ..display import DisplaySpec
from ..events import (
    LevelFinished,
    LevelStarted,
    RunEvent,
    RunFinished,
    RunStarted,
    Snapshot,
    SweepFinished,
    SweepStarted,
    Tick,
    WorkerLost,
)
from ..experiments import LoadTestResult
from ..keys import builtin_keys
from ..overlays import clean, comparison_levels
from ..results import Result
from ..load.schedule import schedule_warning
from ..stats import LOOP_LAG_WARNING

Changes = dict[str, Any]


# A finished run's chart points kept in the `series_delta` trait (so a saved notebook draws the
# charts with no kernel): at most this many, the last SAVED_TAIL of them all kept, their numbers
# to SAVED_DIGITS significant digits (a picture: under 30 KB in the saved notebook).
SAVED_POINTS = 120
SAVED_TAIL = 10
SAVED_DIGITS = 4


def compact_point(point: Mapping[str, Any], digits: int = SAVED_DIGITS) -> dict[str, Any]:
    """A bucket with its floats to `digits` significant digits (what a chart can show).

    >>> compact_point({"t": 3, "ttft_p50": 0.05233194236154525, "output_tps": 192.0, "x": None})
    {'t': 3, 'ttft_p50': 0.05233, 'output_tps': 192.0, 'x': None}
    """
    return {k: float(f"{v:.{digits}g}") if isinstance(v, float) else v for k, v in point.items()}


def thin_points(points: Sequence[Mapping[str, Any]], most: int = SAVED_POINTS,
                tail: int = SAVED_TAIL) -> list[Mapping[str, Any]]:
    """At most `most` of `points`, evenly spread, first and last `tail` ones kept.

    A picture of the run for a saved notebook, not a statistic: the kept seconds are shown as
    they were (a second's percentiles cannot be merged with its neighbours').

    >>> [p["t"] for p in thin_points([{"t": t} for t in range(1000)], most=20, tail=3)]
    [0, 62, 124, 187, 249, 311, 374, 436, 498, 560, 622, 685, 747, 809, 872, 934, 996, 997, 998, 999]
    >>> len(thin_points([{"t": t} for t in range(50)]))
    50
    """
    if len(points) <= most:
        return list(points)
    head, last = points[:-tail], points[-tail:]
    room = most - tail
    step = (len(head) - 1) / (room - 1)
    return [head[round(i * step)] for i in range(room)] + list(last)


def empty_comparison() -> dict[str, Any]:
    return {"levels": [], "knee": None, "verdict": ""}


def comparison_of(results: Mapping[int, Result]) -> dict[str, Any]:
    """The `comparison` trait for the levels measured so far (one point per level).

    The numbers are `LoadTestResult.stats_table()`'s, the knee and verdict its `knee()` and
    `verdict()`.
    """
    if not results:
        return empty_comparison()
    sweep = LoadTestResult(test_name="", sequence_of_clients=sorted(results), results=dict(results))
    knee = sweep.saturated_knee()  # mid-sweep, or with no saturation, none is ringed
    return {"levels": comparison_levels(sweep),
            "knee": knee.clients if knee is not None else None,
            "verdict": sweep.verdict()}


def stat_keys(stats: Mapping[str, Any]) -> list[str]:
    """The stat keys among `stats`: not those a transform made (they hold "<key>|<label>")."""
    return [k for k in stats if "|" not in k]


def level_text(level: LevelStarted) -> str:
    """progress["level"] during a sweep.

    Example:
        >>> level_text(LevelStarted("sweep", clients=4, index=2, levels=(1, 2, 4)))
        '3/3 (4 clients)'
    """
    noun = "client" if level.clients == 1 else "clients"
    return f"{level.index + 1}/{len(level.levels)} ({level.clients} {noun})"


def progress_of(snapshot: Snapshot, stats: Mapping[str, Any],
                level: LevelStarted | None = None, rate: float | None = None) -> dict[str, Any]:
    """The `progress` trait: completed = succeeded, failed = failed (their sum: finished);
    for an open loop, `rate` (requests per second its schedule sends at now)."""
    lag = snapshot.loop_lag or 0.0
    progress = {
        "elapsed": snapshot.elapsed,
        "duration": snapshot.run_duration,
        "completed": stats.get("successful_requests", 0),
        "failed": stats.get("failed_requests", 0),
        "in_flight": snapshot.in_flight,
        "active_clients": snapshot.active_clients,
        "sent": snapshot.sent,
        "loop_lag": snapshot.loop_lag,
        "overloaded": lag > LOOP_LAG_WARNING,
        # an open-loop run that falls behind its schedule (or waits for slots) says so live
        "schedule_warning": schedule_warning(stats) or "",
    }
    if level is not None:
        progress["level"] = level_text(level)
    if rate is not None:
        progress["rate"] = rate
    return progress


# How a run (or sweep) ended (its run_status.json / load_test.json) -> the dashboard's status.
FINISHED_STATUS = {"completed": "done", "stopped": "stopped", "interrupted": "interrupted",
                   "failed": "error"}


def finished_state(result: Result | LoadTestResult) -> tuple[str, str]:
    """(status, error) of the dashboard once a run (or a sweep) ended, as its saved status says:
    "done" (completed), "stopped" (Stop, or `stop()`), "interrupted" (cancelled, Ctrl-C) or
    "error" (failed). error: what the result says (e.g. a worker lost on the way); a failed or
    interrupted one always has a text.

    Example:
        >>> finished_state(Result(responses=[], total_requests=0, status="stopped"))
        ('stopped', '')
        >>> finished_state(Result(responses=[], total_requests=0, status="failed"))
        ('error', 'The run failed.')
    """
    status = FINISHED_STATUS.get(result.status, "error")
    if status in ("done", "stopped"):
        return status, result.error or ""
    what = "sweep" if isinstance(result, LoadTestResult) else "run"
    return status, result.error or f"The {what} {result.status}."


class DashboardTraits:
    """The Dashboard's traits, event by event (see the module's docstring).

    Args:
        display: what the table shows (`add_stat` / `remove_stat` replace it: `self.display`).
        extra_keys: keys a person may add besides the built-in ones (the callbacks').
    """

    def __init__(self, display: DisplaySpec, extra_keys: Sequence[str] = ()) -> None:
        self.display = display
        self.extra_keys = list(extra_keys)
        self.run_id: int | None = None  # the run the series protocol follows
        self.seq = 0
        self.level: LevelStarted | None = None  # the sweep level going on
        self.sweep_results: dict[int, Result] = {}  # the sweep's levels measured so far
        self.sent_spec: dict[str, Any] | None = None
        self.workers_lost: list[str] = []  # the run's WorkerLost messages
        # An open loop's rate when each second closed (t -> requests per second): the load
        # chart's "target" line; the buckets (RunningStats') do not know the schedule.
        self.rates: dict[int, float] = {}

    # -- pieces the Dashboard also uses on its own (table edits, overlays) ----------------------
    def shown_stats(self, stats: Mapping[str, Any]) -> dict[str, Any]:
        """The `stats` trait: every stat, plus the values of Python-side transforms."""
        shown = {k: clean(v) for k, v in stats.items()}
        shown.update({k: clean(v) for k, v in self.display.shown_values(stats).items()})
        return shown

    def window(self, window: Mapping[str, Any]) -> dict[str, Any]:
        """The `window_stats` trait from `RunningStats.window_stats()`: the keys the table
        shows (its spec's cells: a key with no meaning over a window is left out, and the table
        shows "—"), as the `stats` trait has them (NaN as null, the Python transforms' cells
        computed). Only those keys: the message stays small."""
        shown = self.shown_stats(window["stats"])
        if self.sent_spec is not None:
            keys = {stat["key"] for group in self.sent_spec["groups"] for stat in group["stats"]}
            shown = {k: v for k, v in shown.items() if k in keys}
        return {"seconds": window["seconds"], "covered": window["covered"], "stats": shown}

    def spec(self, stats: Mapping[str, Any]) -> Changes:
        """{"spec": ...} when the table's spec (resolved against `stats`) differs from the one
        last sent, else {}: it is rare (a new error class, an edit) and resent whole."""
        spec = self.display.resolve(stats).to_json(
            available=list(dict.fromkeys([*builtin_keys(), *self.extra_keys, *stat_keys(stats)])))
        if spec == self.sent_spec:
            return {}
        self.sent_spec = spec
        return {"spec": spec}

    def overlay(self, entry: Mapping[str, Any]) -> dict[str, Any]:
        """An `overlays` entry as shown: a saved run's stats gain the values of the table's
        Python transforms (as the live stats do)."""
        extra = self.display.shown_values(entry["stats"]) if entry["stats"] else {}
        return {**entry, "stats": {**entry["stats"], **{k: clean(v) for k, v in extra.items()}}}

    # -- events ----------------------------------------------------------------------------------
    def apply(self, event: RunEvent, status: str, rate: float | None = None) -> Changes:
        """The trait changes `event` makes; `status` is the dashboard's status now, `rate` the
        open loop's requests per second now (`Runner.current_rate`; None: clients)."""
        if isinstance(event, RunStarted):
            return self._start(event.run_id, status)
        if isinstance(event, Tick):
            return {**self._start_if_new(event.run_id, status),
                    **self._tick(event.snapshot, rate)}
        if isinstance(event, RunFinished):
            changes = {**self._start_if_new(event.run_id, status),
                       **self._tick(event.snapshot, rate)}
            return {**changes, **self._finish(event.result, event.snapshot.result_path)}
        if isinstance(event, WorkerLost):
            self.workers_lost.append(event.message)
            return {"error": "; ".join(self.workers_lost) + " (the run goes on)"}
        if isinstance(event, SweepStarted):
            self.sweep_results, self.level = {}, None
            return {"comparison": empty_comparison()}
        if isinstance(event, LevelStarted):
            if event.index == 0:  # a sweep whose SweepStarted this view missed
                self.sweep_results = {}
            self.level = event
        elif isinstance(event, LevelFinished):
            self.level = None
        elif isinstance(event, SweepFinished):
            return self._sweep_finished(event.result)
        return {}

    def with_rates(self, points: Sequence[Mapping[str, Any]]) -> list[Mapping[str, Any]]:
        """`points` with an open loop's target rate (`"rate"`) in each second it was known
        (copies: the buckets are RunningStats'); as they are for a closed loop.

        >>> traits = DashboardTraits(DisplaySpec.from_live_stats({}))
        >>> traits.rates = {1: 20.0}
        >>> traits.with_rates([{"t": 0}, {"t": 1}])
        [{'t': 0}, {'t': 1, 'rate': 20.0}]
        """
        rates = self.rates
        if not rates:
            return list(points)
        return [{**p, "rate": rates[p["t"]]} if p.get("t") in rates else p for p in points]

    def saved_series(self, points: Sequence[Mapping[str, Any]]) -> Changes:
        """At a run's end, the whole series (thinned) as `series_delta`, marked `final`: what a
        saved notebook keeps, so its charts draw with no kernel to ask for the history. A view
        that followed the run keeps its own points and takes only those it lacks (the last
        tick's); a view that did not (a saved notebook opened later) draws these.

        The points travel as one JSON text (`points_json`), not a list: a notebook file is
        written with one line per JSON value (indent=1), which makes a list of buckets ~1.5
        times its JSON; a string stays one line.

        >>> traits = DashboardTraits(DisplaySpec.from_live_stats({}))
        >>> traits.run_id, traits.seq = 3, 12
        >>> traits.saved_series([{"t": 0, "ttft_p50": 0.123456}, {"t": 1}])["series_delta"]
        {'run': 3, 'seq': 12, 'points': [], 'points_json': '[{"t":0,"ttft_p50":0.1235},{"t":1}]', 'final': True}
        """
        kept = [compact_point(p) for p in thin_points(self.with_rates(points))]
        return {"series_delta": {"run": self.run_id, "seq": self.seq, "points": [],
                                 "points_json": orjson.dumps(kept).decode(), "final": True}}

    def _start(self, run_id: int, status: str) -> Changes:
        self.run_id, self.seq, self.workers_lost, self.rates = run_id, 0, [], {}
        changes: Changes = {"series_delta": {"run": run_id, "seq": 0, "points": []},
                            "result_path": ""}
        if status not in ("running", "stopping"):
            changes.update(status="running", error="")
        return changes

    def _start_if_new(self, run_id: int, status: str) -> Changes:
        """A view that missed RunStarted (it joined late) starts the series at the first tick."""
        return self._start(run_id, status) if run_id != self.run_id else {}

    def _tick(self, snapshot: Snapshot, rate: float | None = None) -> Changes:
        stats = self.shown_stats(snapshot.stats)
        changes: Changes = {}
        if snapshot.series:
            self.seq += 1
            if rate is not None:  # the rate now: each new second closed within this tick
                self.rates.update((p["t"], rate) for p in snapshot.series)
            changes["series_delta"] = {"run": self.run_id, "seq": self.seq,
                                       "points": self.with_rates(snapshot.series)}
        changes.update(self.spec(stats))
        changes["stats"] = stats
        if snapshot.window_stats is not None:  # a view shows the table's "last N s"
            changes["window_stats"] = self.window(snapshot.window_stats)
        changes["progress"] = progress_of(snapshot, stats, self.level, rate)
        return changes

    def _finish(self, result: Result, result_path: str | None) -> Changes:
        if self.level is not None:  # one level of a sweep: one more point; the sweep goes on
            self.sweep_results[result.clients] = result
            return {"comparison": comparison_of(self.sweep_results),
                    "result_path": result_path or ""}
        status, error = finished_state(result)
        return {"result_path": result_path or "", "status": status, "error": error}

    def _sweep_finished(self, sweep: LoadTestResult) -> Changes:
        """The sweep's end: its levels, its folder, and how it ended (the Dashboard's own
        sweeps set the same when their task returns; a sweep driven from code ends here)."""
        status, error = finished_state(sweep)
        return {"comparison": comparison_of(sweep.results),
                "result_path": sweep.output_path or "", "status": status, "error": error}
