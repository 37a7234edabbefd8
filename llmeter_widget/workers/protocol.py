"""The worker protocol: the messages between a run (the parent) and the processes that send its
requests (the workers). Version 1; docs/worker_protocol.md describes it for other transports.

One worker = one process with its own event loop, its own HTTP session and a share of the run's
closed-loop clients (`load.ClosedLoop`) or of its open-loop schedule (`load.OpenLoop`). The parent owns everything that makes a result: the
statistics, responses.jsonl, the callbacks and the live views. A worker only sends requests and
streams back what it measured, batched (one message per `batch_interval`), so the parent's loop
handles a few messages a second per worker instead of every token of every stream.

    parent                                worker
      | ---- (spawn) ------------------------> |
      | <--------------------------- Ready --- |  version check
      | ---- Prepare -------------------------> |  the endpoint, the payloads; warm up
      | <------------------------ Prepared --- |  (before the run's clock starts)
      | ---- Start ---------------------------> |  clients start sending
      | <------------------------- Records --- |  every batch_interval: sends, responses
      | ---- SetClients / SetRate / SetDeadline / Stop -> |  at any time
      | <------------------------- Records --- |  the last ones (cancelled requests too)
      | <------------------------ Finished --- |  then the worker exits

Times are `time.perf_counter()` values: on one machine they come from one monotonic clock
(CLOCK_MONOTONIC on Linux, mach_absolute_time on macOS), so a worker's send times and the
parent's deadline compare directly. Messages are plain dataclasses (pickled by the transport).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ..endpoints.base import InvocationResponse

PROTOCOL_VERSION = 1


# -- parent -> worker ------------------------------------------------------------------------------
@dataclass(frozen=True)
class Prepare:
    """What to send, before the run's clock starts: open the HTTP session and, with
    `warm_connections` > 0, that many connections (`endpoint.warm_up`); answer Prepared."""

    endpoint: Any  # an Endpoint, pickled: its secrets travel over the pipe, never to disk
    payloads: list[dict]
    warm_connections: int = 0


@dataclass(frozen=True)
class Start:
    """Begin sending. `clients` of this worker's share; client j is the run's client
    `first_client + j * client_stride` (so payloads are cycled as in a single-process run).

    An open loop instead (`schedule` given, clients 0): every worker holds the run's whole
    schedule (same seed) and sends requests `first_client`, `first_client + client_stride`,
    ... of it, due at `start_time` + their offsets, at most `max_concurrency` in flight here.
    """

    clients: int
    first_client: int
    client_stride: int
    n_requests: int | None
    deadline: float | None  # perf_counter() after which nothing is sent
    drain_timeout: float
    batch_interval: float = 0.05
    schedule: Any = None  # a load.ArrivalSchedule, from its start
    start_time: float | None = None  # perf_counter() when request 0 is due
    max_concurrency: int | None = None
    version: int = PROTOCOL_VERSION


@dataclass(frozen=True)
class SetClients:
    """This worker's new share of clients (grow at once; removed ones finish first)."""

    clients: int


@dataclass(frozen=True)
class SetDeadline:
    deadline: float | None


@dataclass(frozen=True)
class SetRate:
    """An open loop's new rate from `at` (a perf_counter()) on: every worker moves the same
    due times, so the run's schedule stays one schedule."""

    rate: float
    at: float


@dataclass(frozen=True)
class Stop:
    """Send no more; cancel what is in flight (reported as cancelled) unless wait_in_flight."""

    wait_in_flight: bool = False


# -- worker -> parent ------------------------------------------------------------------------------
@dataclass(frozen=True)
class Ready:
    pid: int
    version: int = PROTOCOL_VERSION


@dataclass(frozen=True)
class Prepared:
    warmed: int = 0  # connections opened by the warm-up


@dataclass(frozen=True)
class Records:
    """What happened since the last batch: send times, responses (input_payload left out, its
    index in Start.payloads given instead: the parent has the payloads), and the worker's
    state now."""

    sends: list[float] = field(default_factory=list)
    responses: list[InvocationResponse] = field(default_factory=list)
    payload_indices: list[int | None] = field(default_factory=list)
    active_clients: int = 0
    in_flight: int = 0
    loop_lag: float = 0.0  # the worker loop's largest timer lateness since the last batch, s
    # requests the drain timeout cancelled (in flight at deadline + drain_timeout), once per
    # worker: the parent warns as a single-process run does
    drain_cut: int = 0


@dataclass(frozen=True)
class Finished:
    """Every client is done and every record was sent; the worker exits."""


@dataclass(frozen=True)
class Failed:
    """The worker cannot go on (e.g. its endpoint raised); it exits after this."""

    error: str
