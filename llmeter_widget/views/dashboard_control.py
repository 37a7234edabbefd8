"""The Dashboard's run and sweep control: start, run, stop, as background tasks.

A run (clients; in mode "rate" an open loop at `rate`; in mode "sweep", a `LoadTest` over
`sweep_levels`) is a task on the kernel's event loop, never a blocking cell, so the sliders and
Stop answer while it runs. What the run shows does not go through here: the dashboard hears it
as run events (views/dashboard_traits.py). Here only what the control decides: that a run
started, how it ended when it raised, the result.

`RunControl` is a mixin of `Dashboard` (views/dashboard.py): it uses the widget's `runner`,
its control traits (`mode`, `duration`, `clients`, `n_requests`, `sweep_levels`, `rate`,
`arrival`), `status`, `error`, `comparison`, `result_path`, and its table's spec (`live_stats`).
"""

from __future__ import annotations

import asyncio
from datetime import datetime
from typing import Any

from ..experiments import LoadTest, LoadTestResult
from ..results import Result
from .dashboard_traits import comparison_of, empty_comparison, finished_state


class RunControl:
    """Start, run and stop the dashboard's runs and sweeps (a mixin of `Dashboard`)."""

    runner: Any
    result: Result | LoadTestResult | None
    _task: asyncio.Task[Any] | None
    _sweep: LoadTest | None
    _home_loop: asyncio.AbstractEventLoop | None
    _run_mode: str | None

    @property
    def running(self) -> bool:
        return self._task is not None and not self._task.done()

    @property
    def sweeping(self) -> bool:
        """True while a sweep (mode "sweep") runs."""
        return self._sweep is not None and self.running

    def start(self) -> asyncio.Task[Any]:
        """Start a run (or, in mode "sweep", a sweep) in the background; returns its task."""
        if self.running or self.runner.running:
            raise RuntimeError("A run is already going on: stop() it first.")
        loop = asyncio.get_event_loop()
        self._home_loop = self._home_loop or loop
        self._run_mode = self.mode  # fixed until the run ends (Dashboard._check_mode)
        if self.mode == "sweep":
            sweep = self._new_sweep()  # raises before anything changes if the settings are wrong
            self._sweep = sweep
            with self.hold_sync():
                self.status, self.error = "running", ""
                self.comparison = empty_comparison()
            self._task = loop.create_task(self._run_sweep(sweep))
            return self._task
        self._sweep = None
        self.status, self.error = "running", ""
        self._task = loop.create_task(self._run())  # a reference is kept: tasks can be GC'd
        return self._task

    async def run(self) -> Result | LoadTestResult:
        """Run with the current control values and return the Result (the display stays live).

        In mode "sweep" this is a client sweep, and it returns the `LoadTestResult`.
        """
        return await self.start()

    def stop(self) -> None:
        """Stop the running run (or sweep); what was measured is kept and saved."""
        if self.sweeping:
            self.status = "stopping"
            self._sweep.stop()  # type: ignore[union-attr]  (a level starts within a tick)
        elif self.runner.running:
            self.status = "stopping"
            self.runner.stop()

    def _new_sweep(self) -> LoadTest:
        runner = self.runner
        return LoadTest(
            endpoint=runner.endpoint, payload=runner.payload,
            sequence_of_clients=list(self.sweep_levels), run_duration=self.duration,
            output_path=runner.output_path,
            test_name="sweep-" + datetime.now().strftime("%Y%m%d-%H%M%S"),
            low_memory=runner.low_memory, callbacks=runner.callbacks,
            run_description=runner.run_description, runner=runner,
            live_stats=self.live_stats,
        )

    async def _run_sweep(self, sweep: LoadTest) -> LoadTestResult:
        live_view, self.runner.live_view = self.runner.live_view, False  # this is the view
        try:
            result = await sweep.run()
        except asyncio.CancelledError:
            self.result = sweep.result
            self.status, self.error = "interrupted", "The sweep was interrupted."
            raise
        except Exception as exc:
            self.result = sweep.result
            self.status, self.error = "error", f"{type(exc).__name__}: {exc}"
            raise
        finally:
            self.runner.live_view = live_view
        self.result = result
        status, error = finished_state(result)  # "stopped" after Stop, as load_test.json says
        with self.hold_sync():
            self.comparison = comparison_of(result.results)
            self.result_path = result.output_path or ""
            self.status, self.error = status, error
        return result

    async def _run(self) -> Result:
        if self.mode == "rate":  # an open loop: the schedule sends, for the duration
            load: dict[str, Any] = {"rate": self.rate, "arrival": self.arrival,
                                    "run_duration": self.duration}
        elif self.mode == "time":
            load = {"clients": self.clients, "run_duration": self.duration}
        else:
            load = {"clients": self.clients, "n_requests": self.n_requests}
        try:
            result = await self.runner.run(live_view=False, live_stats=self.live_stats, **load)
        except asyncio.CancelledError:
            self.status, self.error = "interrupted", "The run was interrupted."
            raise
        except Exception as exc:
            self.status, self.error = "error", f"{type(exc).__name__}: {exc}"
            raise
        self.result = result
        return result
