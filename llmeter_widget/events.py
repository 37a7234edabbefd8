"""What a run tells the outside while it goes on: typed run events, and who listens to them.

The engine (Runner, LoadTest) knows no view. It hands small frozen events to listeners, and the
views (llmeter_widget/views/: the terminal table, the Dashboard, the read-only notebook view)
are such listeners, as is any code that wants to follow a run. One run emits, in order:

    RunStarted                 the run is set up; its clock starts
    Tick(snapshot)             every `snapshot_interval` (~250 ms) while it goes on
    WorkerLost(message)        a worker process died mid-run (workers=N); the run goes on
    RunFinished(result)        last, when the result (and its folder) is complete

A sweep (LoadTest) wraps each of its runs in LevelStarted / LevelFinished, on the listeners of
the Runner that runs its levels.

A listener implements one method, `on_event(event)` (the `RunListener` protocol), and picks the
events it cares about (`isinstance` or `match`); a new kind of event does not break it. One
method rather than one per event (GuideLLM's progress has started/update/finished hooks): a
listener that follows three of six events stays three branches long, and forwarding (the
read-only view hands every event to its dashboard) is one line.

A plain callable in `Runner.listeners` (no `on_event`) still works: it is called with each
snapshot dict, that of every Tick and, last, RunFinished's (whose "status" is the result's and
which carries "result_path"). It is the short way to watch numbers, e.g.
`runner.listeners.append(snapshots.append)`; anything that must know how a run ended reads the
typed events.

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
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol, Union, runtime_checkable

if TYPE_CHECKING:
    from .display import DisplaySpec
    from .results import Result

logger = logging.getLogger(__name__)

Snapshot = dict[str, Any]
"""`RunningStats.snapshot()` plus the run's identity: {"run_id", "status", "run_duration",
"n_requests", "target_clients", "elapsed", "in_flight", "active_clients", "sent", "loop_lag",
"stats": {stat key: value}, "series": [new per-second buckets], "next_series_index"}; the final
one also has "result_path". Shared, not copied: a listener must not change it."""


@dataclass(frozen=True)
class RunStarted:
    """A run is set up (folder written, workers launched) and its clock starts now.

    Attributes:
        run_id: this run's number (unique in the process); every later event of the run has it.
        clients, n_requests, run_duration: the run's bounds (n_requests per client, or seconds).
        run_name, output_path: the run's name and folder (None: in memory only).
        model_id, endpoint_name: what is load-tested (a view's title).
        display: what the run's live views show (`Runner(live_stats=...)`).
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


RunEvent = Union[RunStarted, Tick, WorkerLost, RunFinished, LevelStarted, LevelFinished]


@runtime_checkable
class RunListener(Protocol):
    """Anything with `on_event(event)`: a view, a logger, a test's recorder."""

    def on_event(self, event: RunEvent) -> None: ...


SnapshotCallable = Callable[[Snapshot], Any]
Listener = Union[RunListener, SnapshotCallable]


def deliver(listener: Listener, event: RunEvent) -> None:
    """Hand one event to one listener: `on_event(event)`, or, for a plain callable, the
    snapshot of a Tick or RunFinished (other events are not for it)."""
    if isinstance(listener, RunListener):
        listener.on_event(event)
    elif isinstance(event, (Tick, RunFinished)):
        listener(event.snapshot)


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
