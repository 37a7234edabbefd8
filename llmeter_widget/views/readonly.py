"""What a plain `Runner.run()` shows in a notebook: a dashboard without controls, for one run."""

from __future__ import annotations

from ..display import DisplaySpec
from ..events import RunEvent
from ..runner import Runner
from .dashboard import Dashboard


class ReadOnlyView:
    """A read-only `Dashboard` (no sliders, no buttons) that follows one run.

    It is a run listener (events.py) of that run only, not of the runner: the Runner adds it
    for the run it was made for (views/default.py), it hands every event to its dashboard, and
    afterwards the dashboard keeps showing the final state.
    """

    def __init__(self, runner: Runner, clients: int, run_duration: float | None,
                 display: DisplaySpec | None = None) -> None:
        self.dashboard = Dashboard(
            runner=runner, controls=False, clients=clients,
            max_clients=max(64, clients), duration=run_duration or 30.0,
            mode="time" if run_duration else "count", live_stats=display,
        )
        runner.listeners.remove(self.dashboard)  # fed by this run only, through this view

    def on_event(self, event: RunEvent) -> None:
        self.dashboard.on_event(event)
