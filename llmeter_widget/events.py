"""What a run tells the outside while it goes on: typed run events, and who listens to them.

The engine (Runner, LoadTest) knows no view. It hands small frozen events to listeners, and the
views (llmeter_widget/views/: the terminal table, the Dashboard, the read-only notebook view)
are such listeners, as is any code that wants to follow a run. One run emits, in order:

    RunStarted                 the run is set up; its clock starts
    Tick(snapshot)             every `snapshot_interval` (~250 ms) while it goes on
    WorkerLost(message)        a worker process died mid-run (workers=N); the run goes on
    RunFinished(result)        last, when the result (and its folder) is complete

A sweep (LoadTest) emits, on the listeners of the Runner that runs its levels:

    SweepStarted               before anything else of the sweep
    LevelStarted               then, for each level: this, the level's run's events, and
      RunStarted ... RunFinished
    LevelFinished              (also when the level failed)
    SweepFinished(result)      last, however the sweep ended (completed, stopped, a level
                               failed, interrupted), once load_test.json is saved

A Tick's figures are a `Snapshot`: a frozen object with one attribute per figure, read as
`event.snapshot.stats["total_requests"]` or `event.snapshot.in_flight`.

A listener implements one method, `on_event(event)` (the `RunListener` protocol), and picks the
events it cares about (`isinstance` or `match`); a new kind of event does not break it. One
method rather than one per event (GuideLLM's progress has started/update/finished hooks): a
listener that follows three of eight events stays three branches long, and forwarding (the
read-only view hands every event to its dashboard) is one line.

A plain callable in `Runner.listeners` (no `on_event`) still works: it is called with each
snapshot as a dict (`Snapshot.to_dict()`), that of every Tick and, last, RunFinished's (whose
"status" is the result's and which carries "result_path"). It is the short way to watch
numbers, e.g. `runner.listeners.append(snapshots.append)`; anything that must know how a run (or
a sweep) ended reads the typed events.

Example: a listener that counts the events of a short run.

    >>> import asyncio
    >>> from collections import Counter
    >>> from llmeter_widget import Runner
    >>> from llmeter_widget.events import RunFinished
    >>> class Seen:
    ...     def __init__(self):
    ...         self.kinds, self.status = Counter(), None
    ...     def on_event(self, event):
    ...         self.kinds[type(event).__name__] += 1
    ...         if isinstance(event, RunFinished):
    ...             self.status = event.result.status
    >>> seen = Seen()
    >>> runner = Runner(ep, payload, live_view=False)
    >>> runner.listeners.append(seen)
    >>> result = asyncio.run(runner.run(clients=2, n_requests=2))
    >>> seen.kinds["RunStarted"], seen.kinds["Tick"] >= 1, seen.kinds["RunFinished"], seen.status
    (1, True, 1, 'completed')
"""

from __future__ import annotations

import logging
from collections.abc import Callable, MutableSequence
from dataclasses import dataclass, field, fields
from typing import TYPE_CHECKING, Any, Protocol, Union, runtime_checkable

if TYPE_CHECKING:
    from .display import DisplaySpec
    from .results import Result

logger = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Snapshot:
    """A run's figures at one moment: what each Tick carries, and RunFinished the final one.

    The Runner makes one per tick around `RunningStats.snapshot()` (stats.py), adding the run's
    identity and settings. Its `stats` dict and `series` list are shared, not copied: a listener
    reads them and must not change them. `Snapshot()` is a run that has measured nothing yet.

    Example:
        >>> snap = Snapshot(run_id=3, elapsed=1.5, sent=4, in_flight=1,
        ...                 stats={"total_requests": 3})
        >>> snap.stats["total_requests"], snap.in_flight, snap.result_path
        (3, 1, None)
        >>> snap.to_dict()["sent"], "result_path" in snap.to_dict()  # still running
        (4, False)
    """

    run_id: int = 0
    """The run's number (`RunStarted.run_id`)."""
    status: str = "running"
    """While the run goes on, "running"; in the final snapshot, the result's status
    ("completed", "stopped", "interrupted" or "failed")."""
    run_duration: float | None = None
    """Seconds the run sends for, now (`set_duration` changes it); None for a count-bound run."""
    n_requests: int | None = None
    """Requests per client of a count-bound run; None for a time-bound run (or one pass)."""
    target_clients: int = 0
    """The clients asked for now (`set_clients` changes it)."""
    elapsed: float = 0.0
    """Seconds since the run's clock started."""
    in_flight: int = 0
    """Requests sent and not answered yet."""
    active_clients: int = 0
    """Clients running now (0 in the final snapshot; fewer than `target_clients` while the
    removed ones finish, or as count-bound clients are done)."""
    sent: int = 0
    """Requests sent so far."""
    loop_lag: float = 0.0
    """The largest lateness of the client's event loop since the previous snapshot, seconds
    (above `stats.LOOP_LAG_WARNING`, the latencies read high)."""
    stats: dict[str, Any] = field(default_factory=dict)
    """Stat key -> value now, as `Result.stats` (`RunningStats.to_stats()`)."""
    window_stats: dict[str, Any] | None = None
    """The stat keys over the last `window` seconds (`RunningStats.window_stats()`), while a
    view asks for them (`RunningStats.want_window_stats`); else None."""
    series: list[dict[str, Any]] = field(default_factory=list)
    """The per-second buckets closed since the previous snapshot (each second once, in order);
    their format is `RunningStats.snapshot()`'s, the one the dashboard's charts read."""
    next_series_index: int = 0
    """The index (`"t"`) of the next bucket to come."""
    result_path: str | None = None
    """The result's folder, in the final snapshot (None: in memory only, or not final yet)."""
    slo: dict[str, float] | None = None
    """The run's SLO now (`Runner.set_slo` changes it): metric -> limit; None without one.
    Its goodput and attainment are in `stats` (slo.py)."""

    def to_dict(self) -> dict[str, Any]:
        """The dict a plain-callable listener gets: each field by name (`stats` and `series`
        shared, not copied), "result_path" only in the final snapshot, as the dicts of
        `Runner.listeners` always had it; not `window_stats` (a view's, when it asks) nor `slo`.

        Example:
            >>> final = Snapshot(status="completed", result_path="runs/r").to_dict()
            >>> final["result_path"], len(final)
            ('runs/r', 14)
        """
        names = _RUNNING_FIELDS if self.status == "running" else _FINAL_FIELDS
        return {name: getattr(self, name) for name in names}


# window_stats is a view's (the dashboard's table, when asked), and so is slo (its SLO lines
# and cells; the stats carry the figures): not in the plain dicts, which keep their keys.
_FINAL_FIELDS = tuple(f.name for f in fields(Snapshot) if f.name not in ("window_stats", "slo"))
_RUNNING_FIELDS = tuple(name for name in _FINAL_FIELDS if name != "result_path")


@dataclass(frozen=True)
class RunStarted:
    """A run is set up (folder written, workers launched) and its clock starts now.

    Attributes:
        run_id: this run's number (unique in the process); every later event of the run has it.
        clients, n_requests, run_duration: the run's bounds (n_requests per client, or seconds).
        run_name, output_path: the run's name and folder (None: in memory only).
        model_id, endpoint_name: what is load-tested (a view's title).
        display: what the run's live views show (`Runner(live_stats=...)`); with an SLO and
            the default table, its "SLO" group (`DisplaySpec.with_slo`).
        slo: the run's SLO at its start (metric -> limit; None without one); a Tick's
            `snapshot.slo` follows `set_slo`.
        warmup, cooldown: the spans left out of the stats ("30s", "50 requests"; phases.py).
    """

    run_id: int
    clients: int
    n_requests: int | None
    run_duration: float | None
    run_name: str
    output_path: str | None
    model_id: str
    endpoint_name: str
    display: DisplaySpec
    slo: dict[str, float] | None = None
    warmup: str | None = None
    cooldown: str | None = None


@dataclass(frozen=True)
class Tick:
    """The run's figures now (every `snapshot_interval` seconds, and once at the start)."""

    run_id: int
    snapshot: Snapshot


@dataclass(frozen=True)
class WorkerLost:
    """A worker process died mid-run; its in-flight requests are recorded as cancelled and
    the run goes on with the others (the message ends up in the result's `error`)."""

    run_id: int
    message: str


@dataclass(frozen=True)
class RunFinished:
    """The run ended, however (completed, stopped, interrupted, failed): the last event of a
    run. `result` is complete and, with an output_path, saved; `snapshot` is the final one."""

    run_id: int
    result: Result
    snapshot: Snapshot

    @property
    def status(self) -> str:
        return self.result.status


@dataclass(frozen=True)
class LevelStarted:
    """A sweep (LoadTest) starts the level of `clients` clients, `levels[index]`."""

    test_name: str
    clients: int
    index: int
    levels: tuple[int, ...]


@dataclass(frozen=True)
class LevelFinished:
    """A sweep's level ended (after its run's RunFinished); `result` is None if the level
    failed before its run made one."""

    test_name: str
    clients: int
    index: int
    levels: tuple[int, ...]
    result: Result | None


@dataclass(frozen=True)
class SweepStarted:
    """A sweep (LoadTest) starts: before its first LevelStarted.

    Attributes:
        test_name: the sweep's name (its folder's name, with an output_path).
        levels: the client counts it will run, in order.
        output_path: the sweep's folder (None: in memory only).
    """

    test_name: str
    levels: tuple[int, ...]
    output_path: str | None


@dataclass(frozen=True)
class SweepFinished:
    """A sweep ended, however (completed, stopped, a level failed, interrupted): the last event
    of a sweep, after its last LevelFinished, once its load_test.json is saved. `result` is the
    sweep's `LoadTestResult` (experiments.py), with the levels measured and `status`."""

    test_name: str
    result: Any  # a LoadTestResult: experiments.py imports this module, not the other way

    @property
    def status(self) -> str:
        return self.result.status


RunEvent = Union[RunStarted, Tick, WorkerLost, RunFinished, LevelStarted, LevelFinished,
                 SweepStarted, SweepFinished]


@runtime_checkable
class RunListener(Protocol):
    """Anything with `on_event(event)`: a view, a logger, a test's recorder."""

    def on_event(self, event: RunEvent) -> None: ...


SnapshotCallable = Callable[[dict[str, Any]], Any]
Listener = Union[RunListener, SnapshotCallable]


def deliver(listener: Listener, event: RunEvent) -> None:
    """Hand one event to one listener: `on_event(event)`, or, for a plain callable, the
    snapshot of a Tick or RunFinished as a dict (other events are not for it)."""
    if isinstance(listener, RunListener):
        listener.on_event(event)
    elif isinstance(event, (Tick, RunFinished)):
        listener(event.snapshot.to_dict())


def emit(listeners: MutableSequence[Listener], event: RunEvent) -> None:
    """Hand `event` to every listener, in order. A listener that raises is logged and dropped
    from `listeners`: a broken view must not end the run."""
    for listener in list(listeners):
        try:
            deliver(listener, event)
        except Exception:
            logger.exception("A run listener (%r) failed on %s; it is removed.",
                             listener, type(event).__name__)
            if listener in listeners:
                listeners.remove(listener)
