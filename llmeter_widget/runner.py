"""The Runner: many closed-loop clients on one event loop, for a count or for a time.

Each client is an asyncio task that sends a request, waits for the answer, records it and
sends the next (a closed loop). All clients share one aiohttp session. Every response goes,
as it arrives, to RunningStats, to responses.jsonl and to the callbacks. While the run goes
on, the number of clients and the duration can change, and `stop()` ends it early; however it
ends, the result folder is complete and loadable.

What the run tells the outside goes out as typed events (events.py: RunStarted, Tick,
WorkerLost, RunFinished; a Tick's figures are a `Snapshot`) to `Runner.listeners`. The Runner
imports no view: what a plain `run()` shows (a table in a terminal, a read-only dashboard in a
notebook) is chosen by the view layer, which registers its choice with `set_default_view` when
it is imported (llmeter_widget/views/default.py).
"""

from __future__ import annotations

import asyncio
import itertools
import json
import logging
import math
import os
import time
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, Callable

from .callbacks import Callback
from .display import DEFAULT_GROUPS, DisplaySpec, LiveStats
from .endpoints.base import Endpoint, InvocationResponse, utc_now
from .endpoints.http import create_session
from .events import (
    Listener,
    RunEvent,
    RunFinished,
    RunListener,
    RunStarted,
    Snapshot,
    Tick,
    WorkerLost,
    emit,
)
from .load import ArrivalSchedule, ClosedLoop, LoadProfile, OpenLoop, Ramp, Steps
from .load.schedule import check_rate, schedule_warning
from .workers import ProcessWorkers, check_sendable
from .workers.choice import choose_workers
from .loops import call_on
from .payloads import load_payloads
from .results import ResponseWriter, Result, new_folder, write_json
from .stats import RunningStats
from .phases import PhaseClock, Span, check_phases
from .slo import Slo, tally_file

logger = logging.getLogger(__name__)

# What a plain run() shows: given the Runner, the run's settings and whether a view was asked
# for (live_view=True) rather than left to where we run (None), the listener to add to this run,
# or None. The view layer sets it (views/default.py); with none set, runs show nothing.
ViewFactory = Callable[["Runner", "RunSettings", bool], "RunListener | None"]
_default_view: ViewFactory | None = None


def set_default_view(factory: ViewFactory | None) -> ViewFactory | None:
    """Choose what a `Runner.run()` with `live_view` None or True shows; returns the previous
    choice. llmeter_widget.views registers its own when the package is imported."""
    global _default_view
    previous, _default_view = _default_view, factory
    return previous


# How long in-flight requests may go on after a time-bound run's deadline (k6's gracefulStop has
# the same default): a server that never answers cannot hold a run, or a notebook, for longer.
DEFAULT_DRAIN_TIMEOUT = 30.0

# A run whose first few requests all fail the same way (4xx or no connection) is misconfigured,
# not under load: it stops at once and says what to fix, rather than hammering a wrong URL.
MISCONFIGURED_AFTER = 5


class MisconfiguredEndpoint(ValueError):
    """The first requests of a run all failed with a client error or no connection.

    The run's result (status "failed") is still saved; `Runner.last_result` holds it.
    """


def _sentence(text: str | None) -> str:
    """`text` ended with one full stop (a server's message may already end with one)."""
    text = (text or "").rstrip()
    return text if text.endswith((".", "!", "?")) else text + "."


def _misconfiguration_hint(response: InvocationResponse, endpoint: Endpoint) -> str:
    where = getattr(endpoint, "base_url", endpoint.endpoint_name)
    if response.error_type == "connect":
        return f"Is the server running, and is base_url right ({where})?"
    if response.http_status in (401, 403):
        return "Check the API key: pass api_key= or api_key_env= (the name of the variable)."
    if response.http_status == 404:
        return (f"Check model= ({endpoint.model_id!r}) against the server's models "
                f"({where}/models) and check base_url ({where}).")
    return "Check the payload and the endpoint's settings against the server's API."


def _seconds(run_duration: float | timedelta | None) -> float | None:
    if run_duration is None:
        return None
    seconds = run_duration.total_seconds() if isinstance(run_duration, timedelta) else run_duration
    if isinstance(seconds, bool) or not isinstance(seconds, (int, float)) or not math.isfinite(seconds):
        raise ValueError(f"run_duration must be seconds (a number) or a timedelta, got {run_duration!r}.")
    if seconds <= 0:
        raise ValueError(f"run_duration must be positive, got {seconds} s: e.g. run_duration=30.")
    return float(seconds)


def check_bounds(n_requests: Any, run_duration: Any) -> float | None:
    """Validate a run's bound: n_requests (per client) or run_duration, not both.

    Returns run_duration in seconds (None for a count-bound run).

    Example:
        >>> check_bounds(None, timedelta(minutes=1)), check_bounds(5, None)
        (60.0, None)
    """
    if n_requests is not None and run_duration is not None:
        raise ValueError(
            "n_requests and run_duration are mutually exclusive: give n_requests for a "
            "count-bound run (requests per client) or run_duration for a time-bound run."
        )
    if n_requests is not None and (
        isinstance(n_requests, bool) or not isinstance(n_requests, int) or n_requests < 1
    ):
        raise ValueError(f"n_requests must be a whole number >= 1 (per client), got {n_requests!r}.")
    return _seconds(run_duration)


def _check_drain_timeout(drain_timeout: Any) -> float:
    if (isinstance(drain_timeout, bool) or not isinstance(drain_timeout, (int, float))
            or not drain_timeout >= 0 or not math.isfinite(drain_timeout)):
        raise ValueError(f"drain_timeout must be seconds >= 0 (e.g. drain_timeout=30), got {drain_timeout!r}.")
    return float(drain_timeout)


def _check_workers(workers: Any, endpoint: Endpoint, callbacks: list[Callback]) -> int | str:
    """workers: 0 (the clients run on this event loop), how many processes send requests, or
    "auto" (chosen per run from its clients and this machine: workers/choice.py)."""
    if workers == "auto":
        return "auto"
    if isinstance(workers, bool) or not isinstance(workers, int) or workers < 0:
        raise ValueError(f"workers must be a whole number >= 0 (0: in this process) or \"auto\", "
                         f"got {workers!r}.")
    if workers == 0:
        return 0
    reason = _why_not_in_workers(endpoint, callbacks, f"workers={workers}")
    if reason:
        raise ValueError(reason)
    return workers


def _why_not_in_workers(endpoint: Endpoint, callbacks: list[Callback], asked: str) -> str | None:
    """Why this run cannot send from worker processes, naming the fix (None: it can)."""
    try:
        check_sendable(endpoint)
    except ValueError as exc:
        return str(exc)
    for cb in callbacks:
        if type(cb).before_invoke is not Callback.before_invoke:
            return (f"{type(cb).__name__}.before_invoke changes each request where it is sent, "
                    f"and with {asked} requests are sent from other processes: use workers=0.")
    return None


def _resolve_workers(workers: int | str, clients: int, endpoint: Endpoint,
                     callbacks: list[Callback]) -> int:
    """The worker processes a run gets: as given, or for "auto" what `choose_workers` picks,
    and 0 when the endpoint or a callback cannot work from another process."""
    if workers != "auto":
        return int(workers)
    chosen = choose_workers(clients)
    if chosen:
        reason = _why_not_in_workers(endpoint, callbacks, f'workers="auto" ({chosen} here)')
        if reason:
            logger.info("Sending from this process after all: %s", reason)
            return 0
    return chosen


def _open_loop_settings(rate: Any, arrival: Any, burstiness: Any, seed: Any,
                        max_concurrency: Any) -> tuple[ArrivalSchedule, int | None]:
    """An open-loop run's schedule and concurrency cap, checked (clear errors for bad input)."""
    if seed is not None and (isinstance(seed, bool) or not isinstance(seed, int)):
        raise ValueError(f"seed must be a whole number (or None), got {seed!r}.")
    if max_concurrency is not None and (isinstance(max_concurrency, bool)
                                        or not isinstance(max_concurrency, int)
                                        or max_concurrency < 1):
        raise ValueError(f"max_concurrency must be a whole number >= 1 (or None for no cap), "
                         f"got {max_concurrency!r}.")
    return ArrivalSchedule(rate, arrival or "poisson", 1.0 if burstiness is None else burstiness,
                           seed), max_concurrency


def _rate_shape(rate: Any, ramp: Any) -> Any:
    """`rate=` as the schedule takes it: with `ramp=` seconds, a Ramp from 0 up to `rate`."""
    if ramp is None:
        return rate
    if isinstance(rate, (Ramp, Steps, list, tuple)):
        raise ValueError("ramp= ramps up to a single rate: give rate= a number with it, or "
                         "describe the whole shape in rate= (a Ramp or steps) without ramp=.")
    return Ramp(0, check_rate(rate), over=_ramp_seconds(ramp))


def _total_requests(schedule: Any, clients: int, n_requests: int | None,
                    payloads: int, run_duration: float | None) -> int | None:
    """The requests a count-bound run sends in all (None: a time-bound run): n_requests of an
    open loop, clients x n_requests of a closed one (each payload once without n_requests), as
    at the start (clients added later send more)."""
    if run_duration is not None:
        return None
    if schedule is not None:
        return n_requests
    return clients * (n_requests or payloads)


def _check_clients(clients: Any) -> int:
    if isinstance(clients, bool) or not isinstance(clients, int) or clients < 1:
        raise ValueError(f"clients must be a whole number >= 1, got {clients!r}.")
    return clients


def _client_shape(clients: Any, ramp: Any) -> tuple[int, LoadProfile | None]:
    """A closed loop's clients: a whole number, or a `Ramp`/`Steps` they follow (with `ramp=`
    seconds: from 1 client up to `clients`). Returns the clients at the start and the profile
    (None for a constant count)."""
    if ramp is not None:
        clients = Ramp(1, _check_clients(clients), over=_ramp_seconds(ramp))
    if not isinstance(clients, (Ramp, Steps, list, tuple)):
        return _check_clients(clients), None
    profile = LoadProfile.of(clients, "clients")
    return clients_at(profile, 0.0), profile


def clients_at(profile: LoadProfile, seconds: float) -> int:
    """The whole number of clients a profile asks for at `seconds` (at least 1)."""
    return max(1, round(profile.value_at(seconds)))


def _ramp_seconds(ramp: Any) -> float:
    if isinstance(ramp, bool) or not isinstance(ramp, (int, float)) or not math.isfinite(ramp) \
            or ramp <= 0:
        raise ValueError(f"ramp= is the seconds to reach the rate (or clients) from 0 (or 1 "
                         f"client), e.g. ramp=30; got {ramp!r}. For another start use "
                         f"rate=Ramp(start, end, over=seconds).")
    return float(ramp)


@dataclass
class RunSettings:
    """One run's validated settings."""

    clients: int
    n_requests: int | None
    run_duration: float | None
    payloads: list[dict]
    run_name: str
    run_description: str | None
    folder: Path | None
    low_memory: bool
    callbacks: list[Callback] = field(default_factory=list)
    display: DisplaySpec = field(default_factory=DisplaySpec)
    slo: Slo | None = None  # per-request thresholds (slo.py); set_slo changes it mid-run
    warmup: Span | None = None  # requests saved but left out of the stats (phases.py)
    cooldown: Span | None = None
    workers: int = 0
    workers_requested: int | str = 0  # what the caller asked: a count or "auto"
    warm_connections: bool = False
    # An open-loop run (rate=): requests on a schedule, `n_requests` in all; None: closed loop.
    schedule: ArrivalSchedule | None = None
    max_concurrency: int | None = None
    # clients that follow a Ramp or Steps over the run (None: `clients` throughout)
    client_profile: LoadProfile | None = None

    def to_config(self, endpoint: Endpoint) -> dict[str, Any]:
        """run_config.json: llmeter's keys where they exist, no secrets."""
        return {
            "endpoint": endpoint.to_config(),
            "model_id": endpoint.model_id,
            "endpoint_name": endpoint.endpoint_name,
            "provider": endpoint.provider,
            "clients": self.clients,
            "n_requests": self.n_requests,
            "run_duration": self.run_duration,
            "run_name": self.run_name,
            "run_description": self.run_description,
            "low_memory": self.low_memory,
            "slo": self.slo.to_config() if self.slo else None,
            "warmup": self.warmup.to_config() if self.warmup else None,
            "cooldown": self.cooldown.to_config() if self.cooldown else None,
            "workers": self.workers,
            "workers_requested": self.workers_requested,
            "warm_connections": self.warm_connections,
            **(self.schedule.to_config() if self.schedule else {}),
            "max_concurrency": self.max_concurrency,
            **({"client_profile": self.client_profile.to_config()} if self.client_profile else {}),
            "payload": "payload.jsonl" if self.folder else None,
            "payload_count": len(self.payloads),
            "callbacks": [cb.to_config() for cb in self.callbacks],
            "output_path": str(self.folder) if self.folder else None,
        }


class Runner:
    """Load-tests one endpoint with concurrent closed-loop clients.

    Args:
        endpoint: what to call (e.g. an `OpenAIChatEndpoint`).
        payload: a dict, a list of dicts, or a .jsonl/.json path; clients cycle through them.
        output_path: folder under which each run writes `<run_name>/`; None keeps results in
            memory only.
        clients, n_requests, run_duration, run_name, run_description, callbacks, low_memory:
            defaults for `run()`, which can override each.
        live_view: show a live view: None shows the view layer's default where it can be
            seen (a read-only dashboard in a notebook, the table when stderr is a terminal),
            True always (the table also in a log), False none (`set_default_view`).
        live_stats: what the live views show: label -> stat key (or a dict with "key",
            "unit", "transform", "group"), e.g. `{"p99 TTFT": "time_to_first_token-p99"}`;
            None for the default table (plus the callbacks' own stats), `{}` for no table.
            Unknown keys raise ValueError listing the available ones. See display.py.
        groups: the table's groups, (name, key patterns) pairs matched in order.
        snapshot_interval: seconds between the Tick events sent to listeners.
        drain_timeout: seconds requests still in flight at a time-bound run's deadline may take
            to finish (default 30); those still running then are cancelled and recorded as
            cancelled, as `stop()` does, and the run ends. 0 ends it at the deadline.
        workers: 0 (default) runs the clients on this event loop; N >= 1 runs them in N worker
            processes, each with its own event loop and HTTP session, while this process only
            merges their records and shows them (docs/user_guide.md, "Worker processes");
            "auto" chooses per run from its clients and this machine's cores (0 below 4 cores
            or 128 clients; see workers/choice.py). run_config.json records the number used.
        warm_connections: open one connection per client before the run's clock starts
            (`endpoint.warm_up`), so the first wave of requests does not include TCP/TLS
            setup, as long-lived clients would see the server; False (default) measures a crowd
            arriving at once, connection setup included. Clients added later are not warmed.
        slo: per-request thresholds, e.g. `{"time_to_first_token": 0.5, "time_to_last_token":
            10}` (slo.py): each response is saved with `slo_pass`, and the stats gain
            `goodput-requests_per_minute`, `goodput-output_tps`, `slo_attainment` and
            `slo_attainment-<metric>`; `set_slo` changes it mid-run, `Result.rescore` after.
        warmup, cooldown: requests sent and saved (flagged `"phase"`) but left out of every
            stat: `"30s"` (the run's first, or last, 30 seconds; a timedelta too) or
            `"50 requests"` (its first, or last, 50). A bare number is refused as ambiguous
            (phases.py; docs/user_guide.md, "Warm-up and cool-down").

    `listeners` hears every run's events (events.py): objects with `on_event(event)`, or plain
    callables that take each snapshot as a dict (`Snapshot.to_dict()`).

    Example: 2 clients, 2 requests each, against a simulated server (`simulator`) that sends
    its first token 50 ms after a request arrives. Any OpenAI-compatible base URL works, e.g.
    "http://127.0.0.1:8000/v1". In a notebook cell: `result = await runner.run(...)`.

        >>> import asyncio
        >>> from llmeter_widget import Runner
        >>> from llmeter_widget.endpoints import OpenAIChatEndpoint
        >>> ep = OpenAIChatEndpoint(base_url=simulator.base_url, model="sim")
        >>> payload = OpenAIChatEndpoint.create_payload("Tell me a story", max_tokens=10)
        >>> runner = Runner(ep, payload, output_path="runs")
        >>> result = asyncio.run(runner.run(clients=2, n_requests=2))
        >>> result.status, result.stats["total_requests"], result.stats["failed_requests"]
        ('completed', 4, 0)
        >>> 0.05 <= result.stats["time_to_first_token-p50"] < 1
        True
    """

    def __init__(
        self,
        endpoint: Endpoint,
        payload: Any = None,
        output_path: str | os.PathLike | None = None,
        *,
        clients: int = 1,
        n_requests: int | None = None,
        run_duration: float | timedelta | None = None,
        run_name: str | None = None,
        run_description: str | None = None,
        callbacks: list[Callback] | None = None,
        low_memory: bool = False,
        live_view: bool | None = None,
        live_stats: LiveStats | DisplaySpec | None = None,
        groups: Any = DEFAULT_GROUPS,
        snapshot_interval: float = 0.25,
        stop_when_misconfigured: bool = True,
        drain_timeout: float = DEFAULT_DRAIN_TIMEOUT,
        workers: int | str = 0,
        warm_connections: bool = False,
        slo: Slo | dict[str, float] | None = None,
        warmup: str | timedelta | None = None,
        cooldown: str | timedelta | None = None,
        rate: float | None = None,
        arrival: str = "poisson",
        burstiness: float = 1.0,
        seed: int | None = None,
        max_concurrency: int | None = None,
        ramp: float | None = None,
    ) -> None:
        if not hasattr(endpoint, "invoke"):
            raise ValueError(f"endpoint must have an async invoke(session, payload), got {endpoint!r}.")
        self.endpoint = endpoint
        self.payload = payload
        self.output_path = output_path
        self.clients = clients
        self.n_requests = n_requests
        self.run_duration = run_duration
        self.run_name = run_name
        self.run_description = run_description
        self.callbacks = list(callbacks or [])
        self.low_memory = low_memory
        self.live_view = live_view
        self.live_stats = live_stats
        self.groups = groups
        DisplaySpec.from_live_stats(live_stats, groups, self.callbacks)  # a typo fails here
        self.snapshot_interval = snapshot_interval
        self.stop_when_misconfigured = stop_when_misconfigured
        self.drain_timeout = _check_drain_timeout(drain_timeout)
        self.workers = _check_workers(workers, endpoint, self.callbacks)
        self.warm_connections = bool(warm_connections)
        self.slo = Slo.of(slo)  # a typo fails here, not at run()
        self.warmup, self.cooldown = Span.parse("warmup", warmup), Span.parse("cooldown", cooldown)
        self.rate = rate
        self.arrival = arrival
        self.burstiness = burstiness
        self.seed = seed
        self.max_concurrency = max_concurrency
        self.ramp = ramp
        if rate is not None:  # a typo fails here, not at run()
            _open_loop_settings(_rate_shape(rate, ramp), arrival, burstiness, seed,
                                max_concurrency)
        else:
            _client_shape(clients, ramp)
        self.listeners: list[Listener] = []
        self._run: _Run | None = None

    # -- settings --------------------------------------------------------------------------------
    def _settings(self, **overrides: Any) -> RunSettings:
        opts = {
            "clients": self.clients, "n_requests": self.n_requests,
            "run_duration": self.run_duration, "payload": self.payload,
            "output_path": self.output_path, "run_name": self.run_name,
            "run_description": self.run_description, "callbacks": self.callbacks,
            "slo": self.slo, "warmup": self.warmup, "cooldown": self.cooldown,
            "low_memory": self.low_memory, "live_stats": self.live_stats,
            "workers": self.workers, "rate": self.rate, "arrival": self.arrival,
            "burstiness": self.burstiness, "seed": self.seed,
            "max_concurrency": self.max_concurrency, "ramp": self.ramp,
        }
        opts.update({k: v for k, v in overrides.items() if v is not None})
        # An explicit override of one bound replaces the Runner's default of the other.
        if overrides.get("n_requests") is not None and overrides.get("run_duration") is None:
            opts["run_duration"] = None
        if overrides.get("run_duration") is not None and overrides.get("n_requests") is None:
            opts["n_requests"] = None
        n_requests = opts["n_requests"]
        seconds = check_bounds(n_requests, opts["run_duration"])
        schedule, max_concurrency, client_profile = None, None, None
        if opts["rate"] is not None:
            clients = _check_clients(opts["clients"])
            schedule, max_concurrency = _open_loop_settings(
                _rate_shape(opts["rate"], opts["ramp"]), opts["arrival"], opts["burstiness"],
                opts["seed"], opts["max_concurrency"])
            shape_seconds = schedule.profile.length
        else:
            clients, client_profile = _client_shape(opts["clients"], opts["ramp"])
            shape_seconds = client_profile.length if client_profile else 0.0
        if n_requests is None and seconds is None and shape_seconds:
            seconds = shape_seconds  # a ramp or steps without an end: the shape's length
        if schedule is not None and n_requests is None and seconds is None:
            raise ValueError("A run at a rate needs an end: n_requests= (requests in all) or "
                             "run_duration= (seconds).")
        payloads = load_payloads(opts["payload"])
        if opts["low_memory"] and opts["output_path"] is None:
            raise ValueError(
                "low_memory=True keeps responses on disk only, so it needs output_path= a folder."
            )
        callbacks = list(opts["callbacks"] or [])
        requested = _check_workers(opts["workers"], self.endpoint, callbacks)
        peak = max(clients_at(client_profile, t) for t, _ in client_profile.knots) \
            if client_profile else clients
        workers = _resolve_workers(requested, peak, self.endpoint, callbacks)
        if schedule is not None and requested == "auto":
            workers = 0  # not measured for open loops yet (workers/choice.py): this loop
        if schedule is not None and workers and max_concurrency is not None \
                and max_concurrency < workers:
            raise ValueError(f"max_concurrency={max_concurrency} is less than one request in "
                             f"flight per worker ({workers} workers): use workers <= "
                             f"{max_concurrency} or a larger max_concurrency.")
        display = DisplaySpec.from_live_stats(opts["live_stats"], self.groups, callbacks)
        slo = Slo.of(opts["slo"])
        if slo is not None and opts["live_stats"] is None:
            display = display.with_slo(slo)  # the default table, with the SLO's group
        warmup, cooldown = check_phases(opts["warmup"], opts["cooldown"], seconds,
                                        _total_requests(schedule, clients, n_requests,
                                                        len(payloads), seconds))
        run_name = opts["run_name"] or datetime.now().strftime("%Y%m%d-%H%M%S")
        folder = new_folder(opts["output_path"], run_name) if opts["output_path"] else None
        return RunSettings(
            clients=clients, n_requests=n_requests, run_duration=seconds, payloads=payloads,
            run_name=folder.name if folder else run_name,
            run_description=opts["run_description"], folder=folder,
            low_memory=bool(opts["low_memory"]), callbacks=callbacks, display=display,
            slo=slo, warmup=warmup, cooldown=cooldown,
            workers=workers, workers_requested=requested, warm_connections=self.warm_connections,
            schedule=schedule, max_concurrency=max_concurrency, client_profile=client_profile,
        )

    # -- running ---------------------------------------------------------------------------------
    async def run(
        self,
        *,
        clients: int | None = None,
        n_requests: int | None = None,
        run_duration: float | timedelta | None = None,
        payload: Any = None,
        output_path: str | os.PathLike | None = None,
        run_name: str | None = None,
        run_description: str | None = None,
        callbacks: list[Callback] | None = None,
        low_memory: bool | None = None,
        live_view: bool | None = None,
        live_stats: LiveStats | DisplaySpec | None = None,
        workers: int | str | None = None,
        slo: Slo | dict[str, float] | None = None,
        warmup: str | timedelta | None = None,
        cooldown: str | timedelta | None = None,
        rate: float | None = None,
        arrival: str | None = None,
        burstiness: float | None = None,
        seed: int | None = None,
        max_concurrency: int | None = None,
        ramp: float | None = None,
    ) -> Result:
        """Run a load test and return its Result (also saved under output_path, if set).

        Give `n_requests` (per client) for a count-bound run, or `run_duration` (seconds or a
        timedelta) for a time-bound run; with neither, each client sends each payload once.
        The other arguments override the Runner's for this run (`live_stats={}`: no table).

        `slo=` scores every request against per-request thresholds (goodput, attainment; see
        `Runner`); `warmup=` / `cooldown=` (`"30s"`, `"50 requests"`) leave the run's first or
        last requests out of the stats, saved and flagged.

        Example (`ep`, `payload`: a simulated server's endpoint and a payload):
            >>> import asyncio
            >>> runner = Runner(ep, payload, live_view=False)
            >>> result = asyncio.run(runner.run(clients=2, n_requests=4, warmup="2 requests",
            ...                                 slo={"time_to_first_token": 5.0}))
            >>> result.stats["warmup_requests"], result.stats["total_requests"]
            (2, 6)
            >>> result.stats["slo_attainment"]
            1.0

        `rate=` (requests per second) runs an open loop instead of clients: requests go out
        on a schedule (`arrival` "poisson", "constant" or "gamma" with `burstiness`; seeded by
        `seed`) whatever the responses do, `n_requests` in all or for `run_duration`, at most
        `max_concurrency` in flight (a request due while all are taken waits, and its wait is
        recorded). Each response keeps its intended send time: `schedule_lag` and the
        `scheduled_time_to_*` stats count from it. With `workers=N` each worker process sends
        every N-th request of the one schedule.

        Load that changes over the run: `rate=` or `clients=` take a `Ramp(start, end,
        over=seconds)` or steps (`[(seconds, value), ...]`, or `Steps`), and `ramp=seconds`
        reaches the given rate from 0 (or the given clients from 1) linearly over that time.
        Without n_requests or run_duration, such a run lasts as long as its shape.

        Example: from 1 to 8 clients over 10 s, then 8 until 15 s.
            >>> from llmeter_widget import Ramp
            >>> # await runner.run(clients=Ramp(1, 8, over=10), run_duration=15)
        """
        if self.running:
            raise RuntimeError("This runner is already running: stop() it or await the run first.")
        settings = self._settings(
            clients=clients, n_requests=n_requests, run_duration=run_duration, payload=payload,
            output_path=output_path, run_name=run_name, run_description=run_description,
            callbacks=callbacks, low_memory=low_memory, live_stats=live_stats, workers=workers,
            slo=slo, warmup=warmup, cooldown=cooldown,
            rate=rate, arrival=arrival, burstiness=burstiness, seed=seed,
            max_concurrency=max_concurrency, ramp=ramp,
        )
        listeners = list(self.listeners)
        view = self._live_view(settings, live_view)
        if view is not None:
            listeners.append(view)  # this run only; it hears the end as RunFinished
        self._run = _Run(self.endpoint, settings, listeners, self.snapshot_interval,
                         self.stop_when_misconfigured, _check_drain_timeout(self.drain_timeout))
        return await self._run.execute()

    def _live_view(self, settings: RunSettings, live_view: bool | None) -> RunListener | None:
        """The view this run shows, as the view layer chose (`set_default_view`).

        live_view=None leaves it to where we run; False shows nothing; True asks for a view.
        """
        show = self.live_view if live_view is None else live_view
        if show is False or _default_view is None:
            return None
        return _default_view(self, settings, bool(show))

    def emit(self, event: RunEvent) -> None:
        """Hand an event to `listeners` (e.g. a LoadTest's LevelStarted, on the Runner it drives).

        The events of a run go to the listeners the run started with (and its view)."""
        emit(self.listeners, event)

    @property
    def running(self) -> bool:
        return self._run is not None and self._run.running

    @property
    def stats(self) -> RunningStats | None:
        """Live statistics of the current (or last) run."""
        return self._run.stats if self._run else None

    @property
    def active_clients(self) -> int:
        return self._run.active_clients if self._run else 0

    @property
    def current_rate(self) -> float | None:
        """Requests per second the current (or last) open-loop run's schedule sends at now
        (`set_rate` changes it); None for a closed loop, or before any run."""
        schedule = self._run.settings.schedule if self._run else None
        if schedule is None:
            return None
        try:  # a running open loop (in this process or in workers): the rate now
            now = getattr(self._run._load, "rate", None)
        except RuntimeError:  # workers not handed their schedule yet
            now = None
        return float(now) if isinstance(now, (int, float)) else schedule.rate

    @property
    def last_result(self) -> Result | None:
        """The Result of the last finished run, also when it was interrupted or failed."""
        return self._run.result if self._run else None

    def set_clients(self, n: int) -> None:
        """Change the number of clients of the running run (a removed client finishes first).

        Like `set_duration` and `stop`, it may be called from another thread (e.g. a widget
        message handled on a kernel subshell): the change is handed to the run's event loop.
        """
        if not self.running:
            raise RuntimeError("No run is going on: pass clients= to run() instead.")
        self._run.set_clients(_check_clients(n))  # type: ignore[union-attr]

    def set_rate(self, rate: float) -> None:
        """Change the rate (requests per second) of the running open-loop run, from now on.

        Raises RuntimeError if no run is going on, or if it runs clients (closed loop).
        """
        if not self.running:
            raise RuntimeError("No run is going on: pass rate= to run() instead.")
        self._run.set_rate(check_rate(rate))  # type: ignore[union-attr]

    def set_duration(self, run_duration: float | timedelta) -> None:
        """Change how long the running time-bound run lasts, counted from its start."""
        if not self.running:
            raise RuntimeError("No run is going on: pass run_duration= to run() instead.")
        self._run.set_duration(_seconds(run_duration))  # type: ignore[union-attr]

    def set_slo(self, slo: Slo | dict[str, float] | None) -> None:
        """Change the SLO of the running run (None: none): goodput and attainment are computed
        again over every request measured so far, and the new thresholds score those to come.

        Exact mode re-scores at once from the values it keeps; a low-memory run re-reads its
        responses.jsonl in a thread (memory stays flat), and its SLO keys are None until that
        pass is done (`RunningStats.set_slo`). Each saved line keeps the `slo_pass` of the SLO
        in force when it was recorded; stats.json and run_status.json have the last SLO.
        After a run, `result.rescore(slo)` gives the stats under another SLO.

        Raises:
            ValueError: a bad SLO (unknown metric, a limit that is not a positive number).
            RuntimeError: no run is going on.
        """
        checked = Slo.of(slo)
        if not self.running:
            raise RuntimeError("No run is going on: pass slo= to run(), or re-score a finished "
                               "run with result.rescore(slo).")
        self._run.set_slo(checked)  # type: ignore[union-attr]

    def stop(self, wait_in_flight: bool = False) -> None:
        """End the running run early; its result is complete and marked "stopped".

        In-flight requests are cancelled and recorded as cancelled, or, with
        `wait_in_flight=True`, allowed to finish and counted.
        """
        if self.running:
            self._run.stop(wait_in_flight)  # type: ignore[union-attr]


class _Run:
    """The state of one run; a Runner makes a new one for each call to run()."""

    _ids = itertools.count(1)

    def __init__(
        self,
        endpoint: Endpoint,
        settings: RunSettings,
        listeners: list[Listener],
        snapshot_interval: float,
        stop_when_misconfigured: bool = True,
        drain_timeout: float = DEFAULT_DRAIN_TIMEOUT,
    ) -> None:
        self.run_id = next(self._ids)
        self.drain_timeout = drain_timeout
        self.endpoint = endpoint
        self.settings = settings
        self.listeners = listeners
        self.snapshot_interval = snapshot_interval
        # What callbacks publish during the run (Callback.publish): shared with RunningStats.
        self.published: dict[str, Any] = {}
        self.stats = self._new_stats()
        self.responses: list[InvocationResponse] = []
        self.writer: ResponseWriter | None = None
        self.running = False
        self.result: Result | None = None
        self.target_clients = settings.clients
        self.deadline: float | None = None
        self.stopped = False
        # True while the first requests are watched for a misconfiguration (see _check_...).
        self._watch_misconfiguration: bool = stop_when_misconfigured
        self.misconfiguration: str | None = None
        self._load: ClosedLoop | ProcessWorkers | None = None  # the clients, while the run goes on
        self.worker_errors: list[str] = []  # workers lost mid-run (the run went on)
        self.warmed = 0  # connections opened before the clock started (warm_connections)
        # The loop the run lives on: controls from other threads are handed over to it.
        self._loop: asyncio.AbstractEventLoop | None = None
        self._session: Any = None
        self._first_request_time: datetime | None = None
        self._last_request_time: datetime | None = None
        self._phases: PhaseClock | None = None  # warm-up / cool-down (_new_stats sets it)
        self._rescoring: set[asyncio.Task[None]] = set()  # low-memory set_slo passes

    def _new_stats(self) -> RunningStats:
        settings = self.settings
        stats = RunningStats(low_memory=settings.low_memory, published=self.published,
                             slo=settings.slo)
        stats.request_keys(settings.display.keys())  # e.g. a p95 the table shows
        if settings.warmup is not None or settings.cooldown is not None:
            # The warm-up's sends must not stretch the throughput's time base (stats.py).
            stats.sends_at_response = True
            total = _total_requests(settings.schedule, settings.clients, settings.n_requests,
                                    len(settings.payloads), settings.run_duration)
            self._phases = PhaseClock(settings.warmup, settings.cooldown, stats.start, total,
                                      deadline=lambda: self.deadline)
        return stats

    def _on_send(self, t: float) -> None:
        """A request goes out (the loops' and the workers' on_send): stats, and phases."""
        self.stats.record_send(t)
        if self._phases is not None:
            self._phases.on_send(t)

    def set_slo(self, slo: Slo | None) -> None:
        if call_on(self._loop, self.set_slo, slo):
            return
        self.settings.slo = slo
        written = self.writer.count if self.writer is not None else 0
        token = self.stats.set_slo(slo)
        if token is not None and self.writer is not None and slo is not None:
            # Low memory: the requests counted so far are scored again from the saved lines.
            task = asyncio.ensure_future(self._rescore_saved(token, slo, written))
            self._rescoring.add(task)
            task.add_done_callback(self._rescoring.discard)

    async def _rescore_saved(self, token: int, slo: Slo, lines: int) -> None:
        path = self.writer.path  # type: ignore[union-attr]
        tally = await asyncio.to_thread(tally_file, path, slo, lines)
        self.stats.add_past_slo_tally(token, tally)

    # -- live control ----------------------------------------------------------------------------
    @property
    def active_clients(self) -> int:
        return self._load.active_clients if self._load is not None else 0

    def set_clients(self, n: int) -> None:
        if call_on(self._loop, self.set_clients, n):  # called from another thread's loop
            return
        self.target_clients = n
        self.settings.client_profile = None  # a ramp or steps stop here: the caller took over
        if self._load is not None:
            self._load.set_target(n)

    def set_rate(self, rate: float) -> None:
        if self.settings.schedule is None:
            raise RuntimeError("This run sends from clients (closed loop): change its clients "
                               "with set_clients(), or start a run with rate= instead.")
        if call_on(self._loop, self.set_rate, rate):
            return
        if isinstance(self._load, (OpenLoop, ProcessWorkers)):
            self._load.set_rate(rate)
        else:  # before the clock started: from the start
            self.settings.schedule.set_rate(rate, 0.0)

    def set_duration(self, seconds: float | None) -> None:
        if self.settings.run_duration is None:
            raise RuntimeError("This run is count-bound (n_requests): its duration cannot change.")
        if call_on(self._loop, self.set_duration, seconds):
            return
        self.settings.run_duration = seconds
        self.deadline = self.stats.start + seconds if seconds is not None else None
        if self._load is not None:
            self._load.set_deadline(self.deadline)

    def stop(self, wait_in_flight: bool) -> None:
        if call_on(self._loop, self.stop, wait_in_flight):
            return
        self.stopped = True
        if self._load is not None:
            self._load.stop(wait_in_flight)

    # -- the run ---------------------------------------------------------------------------------
    async def execute(self) -> Result:
        settings = self.settings
        config = settings.to_config(self.endpoint)
        if settings.folder:
            write_json(settings.folder / "run_config.json", config)
            with (settings.folder / "payload.jsonl").open("w", encoding="utf-8") as f:
                for p in settings.payloads:
                    f.write(json.dumps(p, ensure_ascii=False) + "\n")
            write_json(settings.folder / "run_status.json", {"status": "running"})
            self.writer = ResponseWriter(settings.folder / "responses.jsonl")
        self._loop = asyncio.get_running_loop()
        self.running = True
        start_wall = utc_now()
        status, error = "completed", None
        pump: asyncio.Task[None] | None = None
        lag_watch: asyncio.Task[None] | None = None
        follow: asyncio.Task[None] | None = None
        try:
            for cb in settings.callbacks:
                if isinstance(cb, Callback):
                    cb._bind_live_stats(self.published)
            for cb in settings.callbacks:
                await cb.before_run(config)
            # Before the clock starts: a worker process takes ~1 s to start, and warming up
            # opens the clients' connections.
            warm = self.target_clients if settings.warm_connections else 0
            if settings.workers:
                workers = self._process_workers()
                self._load = workers
                self.warmed = await workers.launch(self.endpoint, settings.payloads,
                                                   warm_connections=warm)
            else:
                self._session = create_session()
                warm_up = getattr(self.endpoint, "warm_up", None)
                if warm and warm_up is not None:
                    self.warmed = await warm_up(self._session, warm)
            self.stats = self._new_stats()
            if settings.run_duration is not None:
                self.deadline = self.stats.start + settings.run_duration
            emit(self.listeners, self._started())
            pump = asyncio.create_task(self._pump())
            lag_watch = asyncio.create_task(self._watch_loop_lag())
            if settings.workers:
                workers.configure(target=self.target_clients, n_requests=settings.n_requests,
                                  deadline=self.deadline, drain_timeout=self.drain_timeout,
                                  schedule=settings.schedule, start_time=self.stats.start,
                                  max_concurrency=settings.max_concurrency)
            elif settings.schedule is not None:
                self._load = self._open_loop()
            else:
                self._load = self._closed_loop()
            if self.stopped:  # stop() came while the run was being set up
                self._load.stop()
            self._load.start()
            if settings.client_profile is not None:
                follow = asyncio.create_task(self._follow_client_profile())
            self._tick()  # the first figures at once, not after an interval
            await self._load.wait()
            status = "stopped" if self.stopped else "completed"
            if self.misconfiguration:
                status, error = "failed", self.misconfiguration
        except asyncio.CancelledError:
            status, error = "interrupted", "the run was interrupted (cancelled or Ctrl-C)"
            raise
        except BaseException as exc:
            status, error = "failed", f"{type(exc).__name__}: {exc}"
            raise
        finally:
            if self._load is not None:
                await self._load.cancel_all()
            for task in (pump, lag_watch, follow):
                if task is not None:
                    task.cancel()
            try:
                result = await self._finish(start_wall, status, error)
            finally:
                self.running = False
        if self.misconfiguration:
            raise MisconfiguredEndpoint(self.misconfiguration)
        return result

    def _loop_hooks(self) -> dict[str, Any]:
        """The hooks the in-process loops (clients or schedule) take: each request feeds this
        run's statistics, files and callbacks the same way."""
        callbacks = self.settings.callbacks

        async def before_send(payload: dict) -> None:
            for cb in callbacks:
                await cb.before_invoke(payload)

        return {"on_send": self._on_send, "on_response": self._record,
                "after_response": self._after_invoke, "before_send": before_send,
                "on_clients": self.stats.set_active_clients,
                "on_drain_cut": self._drain_cut_warning}

    def _closed_loop(self) -> ClosedLoop:
        """The clients, on this loop."""
        return ClosedLoop(
            self.endpoint, self._session, self.settings.payloads,
            target=self.target_clients, n_requests=self.settings.n_requests,
            deadline=self.deadline, drain_timeout=self.drain_timeout, **self._loop_hooks(),
        )

    def _open_loop(self) -> OpenLoop:
        """Requests on this run's schedule, on this loop; the first is due when the clock
        starts."""
        return OpenLoop(
            self.endpoint, self._session, self.settings.payloads,
            schedule=self.settings.schedule, n_requests=self.settings.n_requests,
            deadline=self.deadline, max_concurrency=self.settings.max_concurrency,
            drain_timeout=self.drain_timeout, start=self.stats.start, **self._loop_hooks(),
        )

    def _process_workers(self) -> ProcessWorkers:
        """Worker processes sending this run's requests; their records feed this run here."""
        return ProcessWorkers(
            self.settings.workers,
            on_send=self._on_send, on_response=self._record,
            after_response=self._after_invoke,
            on_clients=lambda n: self.stats.set_active_clients(n),
            on_worker_lost=self._worker_lost,
            # the lag of the loops that stamp the timestamps: the workers' (ours is measured too)
            on_loop_lag=lambda lag: self.stats.record_loop_lag(lag),
            on_drain_cut=self._drain_cut_warning,  # as the in-process clients warn
        )

    async def _after_invoke(self, response: InvocationResponse) -> None:
        """The callbacks' after_invoke, wherever the request was sent from."""
        for cb in self.settings.callbacks:
            await cb.after_invoke(response)

    def _worker_lost(self, message: str) -> None:
        self.worker_errors.append(message)
        emit(self.listeners, WorkerLost(self.run_id, message))

    def _drain_cut_warning(self, in_flight: int) -> None:
        logger.warning(
            "%d request(s) still in flight %.3g s after the run's deadline were cancelled "
            "(drain_timeout=%.3g s): they are recorded as cancelled.",
            in_flight, self.drain_timeout, self.drain_timeout)

    def _record(self, response: InvocationResponse) -> None:
        if self._phases is not None:
            response.phase = self._phases.phase_of(response.t_send)
        slo = self.stats.slo
        if slo is not None:
            response.slo_pass = slo.passes(response)
        self.stats.update(response)
        if self._watch_misconfiguration:
            self._check_misconfiguration(response)
        if self.writer is not None:
            self.writer.append(response)
        if not self.settings.low_memory:
            self.responses.append(response)
        sent_at = response.request_time
        if sent_at is not None:
            if self._first_request_time is None or sent_at < self._first_request_time:
                self._first_request_time = sent_at
            if self._last_request_time is None or sent_at > self._last_request_time:
                self._last_request_time = sent_at

    def _check_misconfiguration(self, response: InvocationResponse) -> None:
        """Stop the run if its first requests all failed with a 4xx (not 429) or no connection."""
        if response.error_type == "cancelled":
            return
        if response.ok or response.error_type not in ("http_4xx", "connect"):
            self._watch_misconfiguration = False  # something got through: a real load test
            return
        if self.stats.failed_requests >= MISCONFIGURED_AFTER:
            self._watch_misconfiguration = False
            self.misconfiguration = (
                f"The first {self.stats.failed_requests} requests all failed, the last with: "
                f"{_sentence(response.error)} {_misconfiguration_hint(response, self.endpoint)}"
            )
            self.stop(wait_in_flight=False)

    async def _follow_client_profile(self, interval: float = 0.1) -> None:
        """Clients that follow a Ramp or Steps: the target moves as the shape asks, until a
        set_clients() takes over."""
        profile = self.settings.client_profile
        assert profile is not None
        while profile is self.settings.client_profile:
            wanted = clients_at(profile, time.perf_counter() - self.stats.start)
            if wanted != self.target_clients and self._load is not None:
                self.target_clients = wanted
                self._load.set_target(wanted)
            if time.perf_counter() - self.stats.start > profile.length:
                return  # the shape's last value holds from here
            await asyncio.sleep(interval)

    async def _pump(self) -> None:
        """A Tick every interval."""
        while True:
            await asyncio.sleep(self.snapshot_interval)
            self._tick()

    async def _watch_loop_lag(self, interval: float = 0.05) -> None:
        """Measure how late the event loop wakes a timer: the lag every request's timestamps
        suffer too, so an overloaded client (reading latencies high) can say so."""
        loop = asyncio.get_running_loop()
        while True:
            due = loop.time() + interval
            await asyncio.sleep(interval)
            self.stats.record_loop_lag(loop.time() - due)

    def _started(self) -> RunStarted:
        settings = self.settings
        return RunStarted(
            run_id=self.run_id, clients=settings.clients, n_requests=settings.n_requests,
            run_duration=settings.run_duration, run_name=settings.run_name,
            output_path=str(settings.folder) if settings.folder else None,
            model_id=self.endpoint.model_id, endpoint_name=self.endpoint.endpoint_name,
            display=settings.display,
            slo=settings.slo.to_config() if settings.slo else None,
            warmup=settings.warmup.to_config() if settings.warmup else None,
            cooldown=settings.cooldown.to_config() if settings.cooldown else None,
        )

    def _snapshot(self, figures: dict[str, Any], status: str = "running",
                  result_path: str | None = None) -> Snapshot:
        """`RunningStats.snapshot()`'s figures with this run's identity and settings (its stats
        and series are handed over, not copied)."""
        return Snapshot(
            run_id=self.run_id,
            status=status,
            run_duration=self.settings.run_duration,
            n_requests=self.settings.n_requests,
            target_clients=self.target_clients,
            result_path=result_path,
            slo=self.stats.slo.to_config() if self.stats.slo else None,
            **figures,
        )

    def _tick(self) -> None:
        emit(self.listeners, Tick(self.run_id, self._snapshot(self.stats.snapshot())))

    async def _finish(self, start_wall: datetime, status: str, error: str | None) -> Result:
        """However the run ended: close files, callbacks, write the result, final snapshot."""
        if self._session is not None:
            await self._session.close()
        if self._rescoring:  # a low-memory set_slo's pass: the final stats need it
            await asyncio.gather(*self._rescoring, return_exceptions=True)
        if self.worker_errors and error is None:
            error = "; ".join(self.worker_errors)  # the run went on without them
        self.stats.set_active_clients(0)
        final_snapshot = self.stats.snapshot(final=True)
        if self.writer is not None:
            self.writer.close()
        settings = self.settings
        if settings.folder and settings.schedule is not None \
                and not settings.schedule.profile.constant:
            # the rate as it was run, live changes included: the schedule can be rebuilt
            write_json(settings.folder / "run_config.json", settings.to_config(self.endpoint))
        final_stats = self.stats.to_stats()
        result = Result(
            responses=self.responses,
            total_requests=final_stats["total_requests"],
            clients=settings.clients,
            n_requests=settings.n_requests,
            total_test_time=time.perf_counter() - self.stats.start,
            model_id=self.endpoint.model_id,
            output_path=str(settings.folder) if settings.folder else None,
            endpoint_name=self.endpoint.endpoint_name,
            provider=self.endpoint.provider,
            run_name=settings.run_name,
            run_description=settings.run_description,
            start_time=start_wall,
            first_request_time=self._first_request_time,
            last_request_time=self._last_request_time,
            end_time=utc_now(),
            status=status,
            error=error,
            run_duration=settings.run_duration,
            low_memory=settings.low_memory,
            schedule_warning=schedule_warning(final_stats),
        )
        result._stats = final_stats
        result.slo = settings.slo.to_config() if settings.slo else None
        for cb in settings.callbacks:
            try:
                await cb.after_run(result)
            except Exception as exc:  # the result is still written
                logger.exception("after_run of %s failed", type(cb).__name__)
                result.status, result.error = "failed", f"after_run of {type(cb).__name__}: {exc}"
        for cb in settings.callbacks:
            if isinstance(cb, Callback):
                cb._bind_live_stats(None)
        final_stats.update(self.published)  # also what after_run published (no built-in keys)
        self.result = result
        try:
            if settings.folder:
                result.save(settings.folder)
        finally:
            # Listeners hear the end last, when the result (and its folder) is complete.
            emit(self.listeners, RunFinished(
                self.run_id, result,
                self._snapshot(final_snapshot, result.status, result.output_path)))
        return result
