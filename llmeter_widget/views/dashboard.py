"""The live dashboard: one anywidget holding the stats table, the charts and the controls.

The contract with the frontend (traits, the series protocol, messages) is in
docs/widget_contract.md. In short: the dashboard listens to its runner's run events
(events.py); each one becomes trait changes (views/dashboard_traits.py, pure) set under
`hold_sync()` (one comm message per event), sending only the chart points that are new; a view
that joins late asks for the history.

The dashboard is split by job: this module holds the widget (its traits, their validation,
the frontend's messages, the table's edits, overlays); views/dashboard_control.py starts and
stops runs and sweeps (a background task on the kernel's event loop, so the kernel stays free
and the sliders and Stop answer while it runs); views/dashboard_traits.py turns events into
traits. The endpoint (and its API key) never becomes a trait.
"""

from __future__ import annotations

import asyncio
import math
import weakref
from pathlib import Path
from typing import Any

import anywidget
import ipywidgets
import traitlets

from ..display import (
    DEFAULT_GROUPS,
    DisplaySpec,
    LiveStats,
    callback_keys,
    declared_stats,
    live_stat,
)
from ..events import RunEvent, RunFinished, RunStarted, SweepFinished
from ..experiments import LoadTest, LoadTestResult
from ..keys import check_key
from ..loops import call_on, running_loop
from ..overlays import load_overlay
from ..results import Result
from ..runner import Runner
from .dashboard_control import RunControl
from .dashboard_traits import DashboardTraits, empty_comparison, stat_keys
from .shared_code import DashboardCode, bundle_text, shared_code

# done: completed; stopped, interrupted: as run_status.json says; error: the run failed.
STATUSES = ("idle", "running", "stopping", "done", "stopped", "interrupted", "error")
# time, count, sweep: closed-loop clients; rate: an open loop (requests on a schedule).
MODES = ("time", "count", "sweep", "rate")
# The arrivals the dashboard offers (gamma, with its burstiness, from code: Runner.run).
ARRIVALS = ("poisson", "constant")
DEFAULT_RATE = 10.0
RATE_RANGE = (0.5, 200.0)  # the rate slider's default bounds, requests per second
# What the table's figures cover: the whole run, or the last seconds (the live charts' window).
TABLE_SCOPES = ("run", "window")
DEFAULT_SWEEP_LEVELS = (1, 2, 4, 8, 16)


def _is_rate(value: Any) -> bool:
    """A constant rate (requests per second) the rate slider can show."""
    return (isinstance(value, (int, float)) and not isinstance(value, bool)
            and math.isfinite(value) and value > 0)


# Dashboard.demo(): one simulator process per max_batch, and the open dashboards using one.
_DEMO_SIMULATORS: dict[int, Any] = {}
_DEMO_DASHBOARDS: weakref.WeakSet[Dashboard] = weakref.WeakSet()


class Dashboard(RunControl, anywidget.AnyWidget):
    """A live dashboard for load tests: grouped stats table, streaming charts, sliders, Run/Stop.

    Args:
        endpoint, payload, output_path, low_memory, callbacks, workers: as for `Runner`
            (ignored when `runner=` is given); `workers=N` sends the requests from N worker
            processes, so the kernel's loop only merges and draws; "auto" chooses per run.
        runner: drive (or watch) this Runner instead of making one (its `live_stats` and
            `groups` apply unless given here).
        duration, clients, n_requests, mode: the initial control values; `mode="count"`
            runs `n_requests` per client instead of a duration; `mode="sweep"` runs one level
            of `duration` seconds per client count of `sweep_levels` (a `LoadTest`);
            `mode="rate"` runs an open loop: `rate` requests per second for `duration`
            seconds. Default: "rate" when `rate=` is given (or the runner has one), else "time".
        rate, arrival: the open loop's requests per second and arrival ("poisson" or
            "constant"); default: the runner's, else 10 per second, Poisson.
        min_rate, max_rate: the rate slider's bounds (default 0.5 and 200, or `rate`).
        sweep_levels: the client counts of a sweep (default 1, 2, 4, 8, 16).
        max_clients, max_duration: the sliders' upper bounds.
        controls: False shows a read-only dashboard (no sliders, no buttons).
        live_stats: what the table shows, as for `Runner`: label -> stat key (or a dict with
            "key", "unit", "transform", "group"); None for the default table plus the
            callbacks' stats, `{}` for none. `add_stat` / `remove_stat` (or the table's own
            "+ stat" and "×" buttons) change it while a run goes on.
        groups: the table's groups, (name, key patterns) pairs matched in order.

    Example: in a notebook, a cell that ends with `dash` shows it (Run / Stop buttons,
    sliders); the buttons start and stop runs, and so do `dash.start()` / `dash.stop()`.
    `dash.run()` runs with the current control values and returns the Result (`await
    dash.run()` in a notebook cell; `asyncio.run(dash.run())` in a script). Here: 2 clients
    sending 2 requests each (`ep`, `payload`: an endpoint and a payload).

        >>> import asyncio
        >>> from llmeter_widget import Dashboard
        >>> dash = Dashboard(endpoint=ep, payload=payload, output_path="runs",
        ...                  mode="count", n_requests=2, clients=2, max_clients=64)
        >>> result = asyncio.run(dash.run())
        >>> dash.status, result.stats["total_requests"], result.stats["failed_requests"]
        ('done', 4, 0)
        >>> dash.close()

    Rate mode: requests go out on a schedule (an open loop), whatever the responses do; the
    rate slider (or `dash.rate = 30`) changes the running run's rate.

        >>> dash = Dashboard(endpoint=ep, payload=payload, rate=20, duration=1)
        >>> dash.mode, dash.rate, dash.arrival
        ('rate', 20.0, 'poisson')
        >>> dash.rate = 500  # doctest: +NORMALIZE_WHITESPACE
        Traceback (most recent call last):
        ...
        traitlets.traitlets.TraitError: rate=500.0 is out of range: choose 0.5..200 requests
        per second (raise max_rate= for more).
        >>> result = asyncio.run(dash.run())
        >>> result.stats["total_requests"] > 0, dash.runner.current_rate
        (True, 20.0)
        >>> dash.close()
    """

    # The loader (a few KB), not the bundle: the bundle and its stylesheet are in the one
    # shared model `_code` names, so N dashboards send and save them once, not N times
    # (views/shared_code.py); no `_css` here (the loader adds the shared one).
    _esm = bundle_text("loader.js")
    _code = traitlets.Instance(DashboardCode).tag(sync=True, **ipywidgets.widget_serialization)

    title = traitlets.Unicode("").tag(sync=True)
    controls = traitlets.Bool(True).tag(sync=True)
    # What Run starts: "time" (clients for `duration` s), "count" (`n_requests` per client),
    # "sweep" (a level of `duration` s per client count of `sweep_levels`), or "rate" (an open
    # loop: `rate` requests per second for `duration` s). The dashboard's Clients / Rate switch
    # and its "Run" select set it; fixed while a run goes on (TraitError).
    mode = traitlets.Enum(MODES, default_value="time").tag(sync=True)
    duration = traitlets.Float(30.0).tag(sync=True)
    max_duration = traitlets.Float(600.0).tag(sync=True)
    clients = traitlets.Int(4).tag(sync=True)
    max_clients = traitlets.Int(64).tag(sync=True)
    n_requests = traitlets.Int(10).tag(sync=True)
    # Requests per second in mode "rate" (the rate slider, `min_rate..max_rate` in log steps,
    # and its number box); moving it mid-run changes the running schedule (`Runner.set_rate`).
    rate = traitlets.Float(DEFAULT_RATE).tag(sync=True)
    # The rate slider's bounds, requests per second: 0 < min_rate < max_rate.
    min_rate = traitlets.Float(RATE_RANGE[0]).tag(sync=True)
    max_rate = traitlets.Float(RATE_RANGE[1]).tag(sync=True)
    # How a run in mode "rate" spaces its requests: "poisson" (exponential gaps, as many
    # independent users) or "constant" (every 1/rate s); fixed once the run started.
    arrival = traitlets.Enum(ARRIVALS, default_value="poisson").tag(sync=True)
    status = traitlets.Enum(STATUSES, default_value="idle").tag(sync=True)
    error = traitlets.Unicode("").tag(sync=True)
    # {"completed": succeeded, "failed": failed, ...}: completed + failed = finished requests
    # (docs/widget_contract.md).
    progress = traitlets.Dict().tag(sync=True)
    stats = traitlets.Dict().tag(sync=True)
    spec = traitlets.Dict().tag(sync=True)
    series_delta = traitlets.Dict().tag(sync=True)
    result_path = traitlets.Unicode("").tag(sync=True)
    sweep_levels = traitlets.List(traitlets.Int(), default_value=list(DEFAULT_SWEEP_LEVELS)
                                  ).tag(sync=True)
    comparison = traitlets.Dict(default_value=empty_comparison()).tag(sync=True)
    overlays = traitlets.List(traitlets.Dict()).tag(sync=True)
    # "run": the table shows the whole run (`stats`); "window": the last N seconds
    # (`window_stats`, sent only then). Either side sets it (the table's toggle).
    table_scope = traitlets.Enum(TABLE_SCOPES, default_value="run").tag(sync=True)
    # {"seconds": N, "covered": s, "stats": {key: value}} while table_scope == "window", else {}
    window_stats = traitlets.Dict().tag(sync=True)
    # Presentation mode: the dashboard fills the screen in projector-sized type (js/present.js).
    # The Present button sets it (and asks for fullscreen), Esc clears it; `present()` sets it.
    presenting = traitlets.Bool(False).tag(sync=True)

    def __init__(
        self,
        endpoint: Any = None,
        payload: Any = None,
        output_path: str | Path | None = None,
        *,
        runner: Runner | None = None,
        duration: float = 30.0,
        clients: int = 4,
        n_requests: int = 10,
        mode: str | None = None,
        sweep_levels: list[int] | None = None,
        max_clients: int = 64,
        max_duration: float | None = None,
        rate: float | None = None,
        arrival: str | None = None,
        min_rate: float = RATE_RANGE[0],
        max_rate: float | None = None,
        controls: bool = True,
        low_memory: bool = False,
        callbacks: list | None = None,
        live_stats: LiveStats | DisplaySpec | None = None,
        groups: Any = DEFAULT_GROUPS,
        workers: int | str = 0,
        **kwargs: Any,
    ) -> None:
        if runner is None and isinstance(endpoint, Runner):  # Dashboard(runner, rate=20)
            runner, endpoint = endpoint, None
        if runner is None:
            if endpoint is None:
                raise ValueError(
                    "Dashboard needs endpoint= (with payload=) or runner=; "
                    "Dashboard.demo() gives one wired to the embedded simulator."
                )
            runner = Runner(endpoint, payload, output_path=output_path, low_memory=low_memory,
                            callbacks=callbacks, live_view=False, workers=workers)
        if live_stats is None and groups is DEFAULT_GROUPS:  # a given runner's own choice
            live_stats, groups = runner.live_stats, runner.groups
        display = DisplaySpec.from_live_stats(live_stats, groups, runner.callbacks)
        # What run events make of the traits (pure; it holds the table's spec).
        self._model = DashboardTraits(display, callback_keys(runner.callbacks))
        super().__init__(
            title=f"{runner.endpoint.model_id} @ {runner.endpoint.endpoint_name}",
            controls=controls,
            max_clients=max_clients,
            max_duration=max_duration or max(600.0, float(duration)),
            **kwargs,
        )
        self.runner = runner
        self.result: Result | LoadTestResult | None = None
        self._sweep: LoadTest | None = None  # the running (or last) sweep
        self._task: asyncio.Task[Any] | None = None
        self._run_mode = mode  # the mode of the running (or last) run: start() sets it
        self._overlay_entries: list[dict[str, Any]] = []  # as loaded; `overlays` adds transforms
        self._send_spec({})  # prefix keys ("errors-*") resolve as stats arrive
        # Set after the bounds, so the validators check them against the right maxima.
        self.duration, self.clients, self.n_requests = duration, clients, n_requests
        if rate is None and _is_rate(runner.rate):  # a runner's constant rate (not a ramp)
            rate = runner.rate
        self.mode = mode if mode is not None else ("rate" if rate is not None else "time")
        rate = DEFAULT_RATE if rate is None else rate
        with self.hold_trait_notifications():  # the bounds and the rate checked together
            self.min_rate = min_rate
            if max_rate is None:
                max_rate = RATE_RANGE[1]
                if _is_rate(rate):
                    max_rate = max(max_rate, float(rate))
            self.max_rate = max_rate
            self.rate = rate
        self.arrival = arrival or (runner.arrival if runner.arrival in ARRIVALS else "poisson")
        self.sweep_levels = (list(sweep_levels) if sweep_levels is not None else
                             [c for c in DEFAULT_SWEEP_LEVELS if c <= max_clients] or [1])
        self._simulator: Any = None  # the process Dashboard.demo() started, if any
        # The loop runs start on: the kernel's main loop, where this cell runs. Messages from
        # the browser may arrive on a subshell thread with its own loop (JupyterLab 4 with
        # ipykernel 7); they are handed over to this one (see loops.py).
        self._home_loop = running_loop()
        runner.listeners.append(self)  # it hears the runner's events: on_event
        self.on_msg(self._on_message)

    @traitlets.default("_code")
    def _default_code(self) -> DashboardCode:
        return shared_code()

    # -- validation: a clear error for values the sliders could not produce ----------------------
    @traitlets.validate("clients")
    def _check_clients(self, proposal: dict) -> int:
        value = proposal["value"]
        if not 1 <= value <= self.max_clients:
            raise traitlets.TraitError(
                f"clients={value} is out of range: choose 1..{self.max_clients} "
                "(raise max_clients= for more)."
            )
        return value

    @traitlets.validate("duration")
    def _check_duration(self, proposal: dict) -> float:
        value = proposal["value"]
        if not 0 < value <= self.max_duration:
            raise traitlets.TraitError(
                f"duration={value} is out of range: choose more than 0 and at most "
                f"{self.max_duration:g} seconds (raise max_duration= for longer runs)."
            )
        return value

    @traitlets.validate("sweep_levels")
    def _check_sweep_levels(self, proposal: dict) -> list[int]:
        levels = list(proposal["value"])
        if not levels:
            raise traitlets.TraitError(
                "sweep_levels is empty: give at least one client count, e.g. [1, 2, 4, 8, 16]."
            )
        bad = [c for c in levels if isinstance(c, bool) or not 1 <= c <= self.max_clients]
        if bad:
            raise traitlets.TraitError(
                f"sweep_levels={levels} has {bad} out of range: choose client counts in "
                f"1..{self.max_clients} (raise max_clients= for more)."
            )
        repeated = sorted({c for c in levels if levels.count(c) > 1})
        if repeated:
            raise traitlets.TraitError(
                f"sweep_levels={levels} repeats {repeated}: give each client count once."
            )
        return levels

    @traitlets.validate("rate")
    def _check_rate(self, proposal: dict) -> float:
        value = proposal["value"]
        lo, hi = self.min_rate, self.max_rate
        if not (math.isfinite(value) and lo <= value <= hi):
            fix = ("raise max_rate= for more" if value > hi else
                   "lower min_rate= for less" if value > 0 else "a rate is more than 0")
            raise traitlets.TraitError(
                f"rate={value} is out of range: choose {lo:g}..{hi:g} requests per second "
                f"({fix}).")
        return float(value)

    @traitlets.validate("min_rate", "max_rate")
    def _check_rate_range(self, proposal: dict) -> float:
        value = proposal["value"]
        lo = value if proposal["trait"].name == "min_rate" else self.min_rate
        hi = value if proposal["trait"].name == "max_rate" else self.max_rate
        if not (math.isfinite(lo) and math.isfinite(hi) and 0 < lo < hi):
            raise traitlets.TraitError(
                f"min_rate={lo:g}, max_rate={hi:g}: the rate slider needs 0 < min_rate < "
                "max_rate (requests per second), e.g. min_rate=0.5, max_rate=200.")
        return float(value)

    @traitlets.observe("min_rate", "max_rate")
    def _rate_range_changed(self, change: dict) -> None:
        """A new range that leaves the rate out moves it to the nearest bound."""
        clamped = min(max(self.rate, self.min_rate), self.max_rate)
        if clamped != self.rate:
            self.rate = clamped

    @traitlets.validate("mode")
    def _check_mode(self, proposal: dict) -> str:
        # compared with the running run's mode: the trait may hold the new value already (a
        # frontend's update is validated at the end of hold_trait_notifications)
        if getattr(self, "_task", None) is not None and self.running \
                and proposal["value"] != self._run_mode:
            raise traitlets.TraitError(
                f"mode={proposal['value']!r}: the mode is fixed while a run goes on; stop() it "
                "first (or wait for its end).")
        return proposal["value"]

    @traitlets.validate("n_requests")
    def _check_n_requests(self, proposal: dict) -> int:
        if proposal["value"] < 1:
            raise traitlets.TraitError(f"n_requests={proposal['value']} must be 1 or more.")
        return proposal["value"]

    # -- controls reach the running run ----------------------------------------------------------
    @traitlets.observe("clients")
    def _clients_changed(self, change: dict) -> None:
        if self.runner.running and not self.sweeping:  # a sweep's levels set the clients
            self.runner.set_clients(change["new"])

    @traitlets.observe("rate")
    def _rate_changed(self, change: dict) -> None:
        # current_rate: None for a closed loop (a run started from code): the rate waits
        if (getattr(self, "runner", None) is not None and self.runner.running
                and self.mode == "rate" and self.runner.current_rate is not None):
            self.runner.set_rate(change["new"])  # handed to the run's loop if need be

    @traitlets.observe("table_scope")
    def _table_scope_changed(self, change: dict) -> None:
        # From the table's toggle, perhaps on a subshell thread: read the stats on their loop.
        if call_on(getattr(self, "_home_loop", None), self._table_scope_changed, change):
            return
        self._refresh_window()

    def _refresh_window(self) -> None:
        """Ask the run for the last N seconds (or stop asking), and show them at once."""
        runner = getattr(self, "runner", None)  # None while __init__ sets the traits
        stats = runner.stats if runner is not None else None
        wanted = self.table_scope == "window"
        if stats is not None:
            stats.want_window_stats = wanted
        if wanted and stats is not None:
            self.window_stats = self._model.window(stats.window_stats())
        elif not wanted and self.window_stats:
            self.window_stats = {}

    @traitlets.observe("duration")
    def _duration_changed(self, change: dict) -> None:
        if self.runner.running and self.mode in ("time", "rate") and not self.sweeping:
            self.runner.set_duration(change["new"])

    def _on_message(self, widget: Any, content: dict, buffers: list) -> None:
        if call_on(self._home_loop, self._on_message, widget, content, buffers):
            return  # handled on the loop that owns the run
        kind = content.get("type") if isinstance(content, dict) else None
        if kind == "run":
            if not self.running:
                self.start()
        elif kind == "stop":
            self.stop()
        elif kind == "history":
            self.send_history()
        elif kind == "code":
            self.send_code()
        elif kind == "add_stat":
            self._stat_request(lambda: self.add_stat(str(content.get("label") or content.get("key")),
                                                     str(content.get("key") or "")))
        elif kind == "remove_stat":
            self._stat_request(lambda: self.remove_stat(str(content.get("id") or "")))

    def _stat_request(self, change: Any) -> None:
        """Apply a table edit from the frontend; a bad one is answered, not raised."""
        try:
            change()
        except (ValueError, KeyError) as exc:
            message = exc.args[0] if exc.args else str(exc)
            if isinstance(exc, KeyError):
                message = f"No stat {message!r} in the table."
            # The full list of keys is in the form's suggestions: keep the message short.
            message = message.split(" Available keys:")[0]
            self.send({"type": "stat_error", "message": message})

    # -- what the table shows ------------------------------------------------------------------------
    @property
    def live_stats(self) -> DisplaySpec:
        """What the table shows now (a `DisplaySpec`; `add_stat` / `remove_stat` change it)."""
        return self._model.display

    def add_stat(
        self,
        label: str,
        key: str,
        unit: str | None = None,
        transform: Any = None,
        group: str | None = None,
    ) -> None:
        """Add a stat to the table (also while a run goes on; a cell with the same group and
        label is replaced).

        Args:
            label: the cell's label.
            key: a stat key, e.g. "time_to_first_token-p95" (any percentile works).
            unit, transform, group: as in `live_stats` (default unit: the key's usual one).

        Raises:
            ValueError: an unknown key (naming the closest ones), or a bad transform.

        Example:
            >>> dash.add_stat("p95 TTFT", "time_to_first_token-p95")
            >>> [stat["label"] for group in dash.spec["groups"] if group["name"] == "TTFT"
            ...  for stat in group["stats"]]
            ['p50', 'p90', 'p99', 'p95 TTFT']
            >>> dash.add_stat("p95 TTFT", "time_to_frist_token-p95")  # doctest: +NORMALIZE_WHITESPACE
            Traceback (most recent call last):
            ...
            ValueError: Unknown stat key 'time_to_frist_token-p95' for live stat 'p95 TTFT'.
            Did you mean 'time_to_first_token-p95'? ...
        """
        fields: dict[str, Any] = {"key": key, "transform": transform, "group": group, "unit": unit}
        # A callback's key keeps the unit and group the callback declares for it.
        stat = live_stat(label, fields, declared_stats(self.runner.callbacks))
        # Keys a callback publishes without declaring them are accepted once they appear.
        check_key(stat.key, [*self._model.extra_keys, *stat_keys(self.stats)], label)
        self._model.display = self._model.display.with_stat(stat)
        self._refresh_stats()

    def remove_stat(self, stat: str) -> None:
        """Remove a stat from the table, by its id ("TTFT/p50") or its label if unique.

        Raises:
            KeyError: no stat (or more than one) has that id or label.
        """
        spec = self.live_stats.resolve(self.stats)
        ids = [spec.stat_id(s) for s in spec.stats]
        if stat not in ids:
            matches = [spec.stat_id(s) for s in spec.stats if s.label == stat]
            if len(matches) != 1:
                raise KeyError(stat)
            stat = matches[0]
        self._model.display = self.live_stats.without(stat, self.stats)
        self._refresh_stats()

    def _refresh_stats(self) -> None:
        """Show the current spec at once, with values (not only from the next tick)."""
        stats = self.runner.stats
        with self.hold_sync():
            if stats is not None:
                stats.request_keys(self.live_stats.keys())
                self.stats = self._model.shown_stats(stats.to_stats())
            self._send_spec(self.stats)
            self._refresh_window()  # a new cell's value over the last N seconds too

    def _send_spec(self, stats: dict[str, Any]) -> None:
        self._set(self._model.spec(stats))

    def _set(self, changes: dict[str, Any]) -> None:
        """Set trait changes in one message; a new spec also refreshes the overlays (a new
        transform needs its value for the saved runs too)."""
        if not changes:
            return
        with self.hold_sync():
            for name, value in changes.items():
                setattr(self, name, value)
            if "spec" in changes:
                self._show_overlays()

    # -- run events: what the runner (and a sweep driving it) tells the dashboard ----------------
    def on_event(self, event: RunEvent) -> None:
        """Follow the runner (`Runner.listeners`): each event is at most one comm message."""
        if isinstance(event, RunStarted) and self.runner.stats is not None:
            # e.g. a sweep's next level, or a stat added since the run was set up: the table's
            # percentiles are computed (and saved) from the start
            self.runner.stats.request_keys(self.live_stats.keys())
            # and its last N seconds, while the table shows them
            self.runner.stats.want_window_stats = self.table_scope == "window"
        level = self._model.level
        changes = self._model.apply(event, self.status, self.runner.current_rate)
        if isinstance(event, RunFinished) and self.runner.stats is not None:
            # the whole series in the trait, for a saved notebook (its views cannot ask for it)
            changes.update(self._model.saved_series(self.runner.stats.series(0)))
        self._set(changes)
        if (isinstance(event, RunFinished) and level is None) or isinstance(event, SweepFinished):
            self.result = event.result  # a run's, or a sweep's (not one of its levels')

    def send_history(self) -> None:
        """Send the whole series of the current (or last) run to the views, in one message."""
        stats = self.runner.stats
        points = self._model.with_rates(stats.series(0)) if stats is not None else []
        self.send({"type": "history", "run": self._model.run_id, "seq": self._model.seq,
                   "points": points})

    def send_code(self) -> None:
        """Send the dashboard's bundle to the views, for a front end whose loader cannot read
        the shared model (no `widget_manager.get_model`): `{"type": "code", ...}`."""
        self.send({"type": "code", "version": self._code.version, "code": self._code.code,
                   "css": self._code.css})

    # -- presentation mode -------------------------------------------------------------------------
    def present(self, on: bool = True) -> None:
        """Show the dashboard in presentation mode: it fills the browser window, values in
        48 px type, laid out for a 1280x720 projector; Esc (or `present(False)`) returns.

        The Present button in the dashboard's title row does the same and also makes it
        fullscreen: browsers allow fullscreen only from a click or a key, never from code, so
        from here it fills the window (F11 makes the window fullscreen).

        Example:
            >>> from llmeter_widget.endpoints import OpenAIChatEndpoint
            >>> dash = Dashboard(endpoint=OpenAIChatEndpoint(base_url="http://127.0.0.1:8000/v1",
            ...                                              model="m"), payload={"messages": []})
            >>> dash.present(); dash.presenting
            True
            >>> dash.present(False); dash.presenting
            False
        """
        self.presenting = bool(on)

    # -- overlays: saved runs and sweeps beside the live one -------------------------------------
    def add_overlay(self, path: str | Path, label: str | None = None) -> dict[str, Any]:
        """Show a saved run or sweep beside the live one (charts and table); returns its entry.

        Args:
            path: a run's folder (as `Result.load`) or a sweep's folder (as
                `LoadTestResult.load`: it holds load_test.json or `<N>-clients` folders).
            label: the name shown in the table and the legends (default: the folder's name).

        Raises:
            FileNotFoundError: no folder at `path`, or one that holds no run or sweep.

        Example: a saved sweep's folder (`sweep_folder`: 1, 2 and 4 clients), then one of its
        runs' folders.

            >>> entry = dash.add_overlay(sweep_folder, label="before")
            >>> entry["kind"], entry["label"], [level["clients"] for level in entry["levels"]]
            ('sweep', 'before', [1, 2, 4])
            >>> entry = dash.add_overlay(f"{sweep_folder}/1-clients")
            >>> entry["kind"], entry["label"], entry["stats"]["total_requests"]
            ('run', '1-clients', 4)
            >>> [overlay["label"] for overlay in dash.overlays]
            ['before', '1-clients']
        """
        entry = load_overlay(path, label)
        self._overlay_entries.append(entry)
        self._show_overlays()  # one message, sent once (not per tick)
        return entry

    def clear_overlays(self) -> None:
        """Remove every overlay."""
        self._overlay_entries = []
        self._show_overlays()

    def _show_overlays(self) -> None:
        """The `overlays` trait: each saved run's stats gain the values of the table's Python
        transforms (as the live stats do), so its line under such a cell is not empty."""
        overlays = [self._model.overlay(e) for e in self._overlay_entries]
        if overlays != self.overlays:
            self.overlays = overlays

    # -- demo ------------------------------------------------------------------------------------
    @classmethod
    def demo(
        cls,
        max_batch: int = 16,
        output_path: str | Path = "runs",
        max_tokens: int = 48,
        **kwargs: Any,
    ) -> Dashboard:
        """A dashboard wired to the simulated LLM server, started in its own process.

        One simulator process per `max_batch` serves every demo dashboard of this Python
        process: running the cell again (a new dashboard) reuses it instead of starting a
        second one, which the replaced dashboard would have kept alive until the kernel
        exits. `close()` on the last open demo dashboard stops it (so does the end of the
        Python process).

        Example: in a notebook, `Dashboard.demo(duration=20, clients=8)` in a cell shows a
        dashboard ready to run. Here it runs 2 clients sending 1 short request each:

            >>> import asyncio
            >>> dash = Dashboard.demo(mode="count", clients=2, n_requests=1, max_tokens=8)
            >>> result = asyncio.run(dash.run())
            >>> result.stats["total_requests"], result.stats["failed_requests"]
            (2, 0)
            >>> dash.close()
        """
        from ..endpoints import OpenAIChatEndpoint
        from ..simulator import SimulatedServer

        process = _DEMO_SIMULATORS.get(max_batch)
        if process is None or not process.is_running():
            process = _DEMO_SIMULATORS[max_batch] = SimulatedServer.spawn(max_batch=max_batch)
        endpoint = OpenAIChatEndpoint(base_url=process.base_url, model="sim")
        payload = OpenAIChatEndpoint.create_payload(
            "Write a short story about a lighthouse keeper.", max_tokens=max_tokens)
        dash = cls(endpoint=endpoint, payload=payload, output_path=output_path, **kwargs)
        dash._simulator = process
        _DEMO_DASHBOARDS.add(dash)
        return dash

    def close(self) -> None:
        """Close the widget (and stop the demo simulator, if this dashboard started one)."""
        # getattr: close() also runs from __del__ on an instance whose __init__ raised.
        simulator = getattr(self, "_simulator", None)
        if simulator is not None:
            self._simulator = None
            _DEMO_DASHBOARDS.discard(self)
            if not any(d._simulator is simulator for d in list(_DEMO_DASHBOARDS)):
                # the last open demo dashboard on it
                simulator.stop()
                if _DEMO_SIMULATORS.get(simulator.config.max_batch) is simulator:
                    del _DEMO_SIMULATORS[simulator.config.max_batch]
        runner = getattr(self, "runner", None)
        if runner is not None and self in runner.listeners:
            runner.listeners.remove(self)
        super().close()
