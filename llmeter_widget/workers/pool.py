"""The parent's side of worker processes: `ProcessWorkers` spawns them, hands each its share of
the clients, forwards the run's controls, and turns their batched records back into the calls
a single-process run makes (`on_send`, `on_response`, `after_response`), in the parent's loop.

It offers the same interface as `load.ClosedLoop` (start, wait, set_target, set_deadline,
stop, cancel_all, active_clients, in_flight), so the runner drives either the same way.

Client i of the run lives in worker i % n: a run of 10 clients on 4 workers gives them 3, 3, 2
and 2, and set_clients(n) redistributes the same way, so shares never differ by more than one.
An open loop's request k goes from worker k % n the same way: every worker holds the whole
schedule (`Start.schedule`, one seed) and sends its every n-th request, so the run's schedule is
the one a single process would keep, and no message is needed per request.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import pickle
import socket
import subprocess
import sys
import time
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from typing import Any

from ..endpoints.base import InvocationResponse
from ..load.schedule import ArrivalSchedule
from .protocol import (
    PROTOCOL_VERSION,
    Failed,
    Finished,
    Prepare,
    Prepared,
    Ready,
    Records,
    SetClients,
    SetDeadline,
    SetRate,
    Start,
    Stop,
)
from .transport import watch

logger = logging.getLogger(__name__)

# How long a spawned worker may take to import and say Ready, and how long a stopped one may
# take to send its last records before it is terminated.
LAUNCH_TIMEOUT = 60.0
STOP_TIMEOUT = 10.0


def check_sendable(endpoint: Any) -> None:
    """Raise ValueError, naming the fix, if `endpoint` cannot be sent to a worker process.

    `Start` carries the endpoint pickled over the private socket to the worker this run
    started: the only pickle in the package (result folders are JSON only, and loading one
    never runs code: tests/test_security.py).
    """
    try:
        pickle.dumps(endpoint)
    except Exception as exc:  # noqa: BLE001 (any reason it cannot travel is the same answer)
        raise ValueError(
            f"worker processes need the endpoint sent to them, but {type(endpoint).__name__} "
            f"cannot be pickled ({type(exc).__name__}: {exc}): use workers=0."
        ) from None


def share(clients: int, worker: int, workers: int) -> int:
    """How many of `clients` live in `worker` (client i lives in worker i % workers).

    Example:
        >>> [share(10, w, 4) for w in range(4)]
        [3, 3, 2, 2]
    """
    return len(range(worker, clients, workers))


@dataclass
class _Worker:
    index: int
    process: subprocess.Popen
    conn: Connection
    pid: int | None = None
    done: bool = False
    active_clients: int = 0
    in_flight: int = 0
    sent: int = 0  # sends reported
    answered: int = 0  # responses reported
    # The latest `sent - answered` send times (as many as are in flight): if the worker dies,
    # its in-flight requests are recorded with these. Approximate (a long request sent before
    # a short one that finished is among them by count, not by time), and O(in flight) in
    # memory: one float per request kept for the whole run would grow with it.
    recent_sends: deque[float] = field(default_factory=deque)


class ProcessWorkers:
    """`workers` processes sending a run's requests; records come back to the given hooks.

    Args:
        workers: how many processes.
        on_send, on_response, after_response, on_clients: as `load.ClosedLoop`'s hooks, called
            in the parent's event loop as records arrive.
        on_worker_lost: called with a message when a worker dies mid-run; its in-flight requests
            are reported through `on_response` as cancelled, and the run goes on.
        on_loop_lag: called with a worker loop's largest timer lateness of each batch.
        on_drain_cut: called once, when every worker has finished, with the number of requests
            the drain timeout cancelled in all of them (if any), as `load.ClosedLoop`'s.
    """

    def __init__(
        self,
        workers: int,
        *,
        on_send: Callable[[float], None],
        on_response: Callable[[InvocationResponse], None],
        after_response: Callable[[InvocationResponse], Awaitable[None]],
        on_clients: Callable[[int], None],
        on_worker_lost: Callable[[str], None],
        on_loop_lag: Callable[[float], None] = lambda lag: None,
        on_drain_cut: Callable[[int], None] = lambda in_flight: None,
    ) -> None:
        self.n = workers
        self.on_send = on_send
        self.on_response = on_response
        self.after_response = after_response
        self.on_clients = on_clients
        self.on_worker_lost = on_worker_lost
        self.on_loop_lag = on_loop_lag
        self.on_drain_cut = on_drain_cut
        self._drain_cut = 0  # requests the workers' drain timeouts cancelled, summed
        self.target = 0
        self.stopped = False
        self.started = False  # Start sent: before it, controls only change what Start will say
        self._workers: list[_Worker] = []
        self._inbox: asyncio.Queue[tuple[_Worker, object]] = asyncio.Queue()
        self._payloads: list[dict] = []
        self._start: dict[str, Any] = {}  # what Start will say (configure)
        self.schedule: ArrivalSchedule | None = None  # an open loop's (configure)
        self.start_time: float | None = None
        self.max_concurrency: int | None = None

    # -- lifecycle -------------------------------------------------------------------------------
    async def launch(self, endpoint: Any, payloads: list[dict], *, warm_connections: int = 0,
                     timeout: float = LAUNCH_TIMEOUT) -> int:
        """Start the processes, hand each the endpoint and payloads, and wait until each is
        prepared (before the run's clock). With `warm_connections`, each worker first opens
        its share of that many connections. Returns how many connections were warmed.

        Each is `python -m llmeter_widget.workers FD`, talking over one end of a socket pair:
        a fresh interpreter, like multiprocessing's "spawn", but one that does not re-run the
        caller's main module (a script without an `if __name__ == "__main__"` guard would
        start its run again in every worker).
        """
        loop = asyncio.get_running_loop()
        for index in range(self.n):
            parent_end, child_end = socket.socketpair()
            with child_end:
                process = subprocess.Popen(
                    [sys.executable, "-m", "llmeter_widget.workers", str(child_end.fileno())],
                    pass_fds=[child_end.fileno()], stdin=subprocess.DEVNULL)
            worker = _Worker(index, process, Connection(parent_end.detach()))
            self._workers.append(worker)
            watch(loop, worker.conn, functools.partial(self._readable, worker))
        self._payloads = payloads
        deadline = time.monotonic() + timeout
        for _ in range(self.n):
            worker, message = await self._next(deadline, timeout, "start")
            if not isinstance(message, Ready) or message.version != PROTOCOL_VERSION:
                await self.cancel_all()
                raise RuntimeError(f"worker {worker.index} did not start: {message!r}")
            worker.pid = message.pid
        for worker in self._workers:  # every one is up: a Prepared cannot come before a Ready
            self._send(worker, Prepare(endpoint, payloads,
                                       share(warm_connections, worker.index, self.n)))
        warmed = 0
        for _ in range(self.n):
            worker, message = await self._next(deadline, timeout, "prepare")
            if not isinstance(message, Prepared):
                await self.cancel_all()
                raise RuntimeError(f"worker {worker.index} could not prepare: {message!r}")
            warmed += message.warmed
        return warmed

    async def _next(self, deadline: float, timeout: float, what: str) -> tuple[_Worker, object]:
        try:
            return await asyncio.wait_for(self._inbox.get(), max(deadline - time.monotonic(), 0.01))
        except asyncio.TimeoutError:
            await self.cancel_all()
            raise RuntimeError(f"worker processes did not {what} within {timeout:g} s") from None

    def configure(self, *, target: int, n_requests: int | None, deadline: float | None,
                  drain_timeout: float, schedule: ArrivalSchedule | None = None,
                  start_time: float | None = None, max_concurrency: int | None = None) -> None:
        """What `start()` will tell the workers (controls before it change these). With a
        `schedule` (an open loop from `start_time`), `target` is ignored and `max_concurrency`
        is shared out as clients are."""
        if schedule is not None and max_concurrency is not None and max_concurrency < self.n:
            raise ValueError(f"max_concurrency={max_concurrency} is less than one request in "
                             f"flight per worker ({self.n} workers): use workers <= "
                             f"{max_concurrency} or a larger max_concurrency.")
        self._start = dict(n_requests=n_requests, deadline=deadline, drain_timeout=drain_timeout)
        self.schedule, self.start_time, self.max_concurrency = schedule, start_time, max_concurrency
        self.target = target

    @property
    def open_loop(self) -> bool:
        return self.schedule is not None

    def start(self) -> None:
        """Every worker starts sending its share."""
        self.started = True
        for w in self._workers:
            clients = 0 if self.stopped or self.open_loop else share(self.target, w.index, self.n)
            loop: dict[str, Any] = {}
            if self.open_loop:
                cap = self.max_concurrency
                loop = dict(schedule=self.schedule, start_time=self.start_time,
                            max_concurrency=share(cap, w.index, self.n) if cap else None)
                if self.stopped:  # Stop before Start: a schedule with nothing left to send
                    loop["schedule"] = None
            self._send(w, Start(clients=clients, first_client=w.index, client_stride=self.n,
                                **self._start, **loop))
            w.active_clients = clients
        self._report_clients()

    async def wait(self) -> None:
        """Handle records until every worker has finished (or was lost). An exception from
        `after_response` (a callback) stops the workers and is raised."""
        try:
            while not all(w.done for w in self._workers):
                worker, message = await self._inbox.get()
                await self._handle(worker, message)
        finally:
            await self.cancel_all()
        if self._drain_cut:  # the workers cut at the same deadline: one warning, their sum
            self.on_drain_cut(self._drain_cut)

    async def cancel_all(self) -> None:
        """Stop every worker, take its last records, and make sure no process is left."""
        live = [w for w in self._workers if not w.done]
        for w in live:
            self._send(w, Stop(wait_in_flight=False))
        deadline = time.monotonic() + STOP_TIMEOUT
        while any(not w.done for w in self._workers) and time.monotonic() < deadline:
            try:
                worker, message = await asyncio.wait_for(self._inbox.get(),
                                                         deadline - time.monotonic())
            except asyncio.TimeoutError:
                break
            if isinstance(message, Records):
                self._take_records(worker, message)  # callbacks are not run once stopping
            else:
                await self._handle(worker, message)
        for w in self._workers:
            await self._close(w)

    # -- controls --------------------------------------------------------------------------------
    @property
    def active_clients(self) -> int:
        return sum(w.active_clients for w in self._workers if not w.done)

    @property
    def in_flight(self) -> int:
        return sum(w.in_flight for w in self._workers if not w.done)

    def _report_clients(self) -> None:
        # an open loop has no clients (its in-process loop reports 0 too)
        self.on_clients(0 if self.open_loop else self.active_clients)

    def set_target(self, n: int) -> None:
        if self.open_loop:
            raise RuntimeError("This run sends at a rate (open loop), not from clients: change "
                               "its rate with set_rate().")
        self.target = n
        if self.stopped or not self.started:
            return
        for w in self._workers:
            if not w.done:
                w.active_clients = share(n, w.index, self.n)
                self._send(w, SetClients(w.active_clients))
        self._report_clients()

    def set_rate(self, rate: float) -> None:
        """An open loop's rate from now on, in every worker (each moves the same due times)."""
        if self.schedule is None:
            raise RuntimeError("These workers run clients (closed loop): use set_target().")
        at = time.perf_counter()
        origin = self.start_time if self.start_time is not None else at
        self.schedule.set_rate(rate, at - origin)  # the parent's copy: what `rate` reads
        if not self.started or self.stopped:
            return
        for w in self._workers:
            if not w.done:
                self._send(w, SetRate(rate, at))

    @property
    def rate(self) -> float:
        """An open loop's rate now (requests per second)."""
        if self.schedule is None:
            raise RuntimeError("These workers run clients (closed loop): they have no rate.")
        origin = self.start_time if self.start_time is not None else time.perf_counter()
        return self.schedule.rate_at(time.perf_counter() - origin)

    def set_deadline(self, deadline: float | None) -> None:
        if not self.started:
            self._start["deadline"] = deadline
            return
        for w in self._workers:
            if not w.done:
                self._send(w, SetDeadline(deadline))

    def stop(self, wait_in_flight: bool = False) -> None:
        self.stopped = True
        if not self.started:  # Start will give every worker 0 clients
            return
        for w in self._workers:
            if not w.done:
                self._send(w, Stop(wait_in_flight))

    # -- messages --------------------------------------------------------------------------------
    def _readable(self, worker: _Worker) -> None:
        try:
            while worker.conn.poll():
                self._inbox.put_nowait((worker, worker.conn.recv()))
        except (EOFError, OSError):
            asyncio.get_running_loop().remove_reader(worker.conn.fileno())
            self._inbox.put_nowait((worker, None))  # the process is gone

    def _send(self, worker: _Worker, message: object) -> None:
        try:
            worker.conn.send(message)
        except BlockingIOError:
            raise  # half a message written: the stream is corrupt, so fail loudly (transport.py)
        except (BrokenPipeError, OSError):
            pass  # it died: its EOF is on the way and handled there

    async def _handle(self, worker: _Worker, message: object) -> None:
        if worker.done:
            return
        if isinstance(message, Records):
            for response in self._take_records(worker, message):
                if response.error_type != "cancelled":
                    await self.after_response(response)
        elif isinstance(message, Finished):
            worker.done = True
        elif isinstance(message, Failed) or message is None:
            self._lose(worker, message.error if isinstance(message, Failed) else None)
        self._report_clients()

    def _take_records(self, worker: _Worker, records: Records) -> list[InvocationResponse]:
        for t in records.sends:
            self.on_send(t)
        worker.sent += len(records.sends)
        worker.recent_sends.extend(records.sends)
        for response, index in zip(records.responses, records.payload_indices):
            if index is not None:
                response.input_payload = self._payloads[index]
            self.on_response(response)
        worker.answered += len(records.responses)
        for _ in range(len(worker.recent_sends) - max(0, worker.sent - worker.answered)):
            worker.recent_sends.popleft()
        worker.active_clients, worker.in_flight = records.active_clients, records.in_flight
        if records.loop_lag:
            self.on_loop_lag(records.loop_lag)
        self._drain_cut += records.drain_cut
        return records.responses

    def _lose(self, worker: _Worker, error: str | None) -> None:
        """A worker died (or failed): report it and close its in-flight requests as cancelled."""
        worker.done = True
        try:
            code = worker.process.wait(timeout=1)
        except subprocess.TimeoutExpired:
            code = None
        why = f"worker {worker.index} (pid {worker.pid}) exited with code {code}"
        if error:
            why += f": {error.strip().splitlines()[-1]}"
        now = time.perf_counter()
        in_flight = max(0, worker.sent - worker.answered)
        lost = list(worker.recent_sends)[len(worker.recent_sends) - in_flight:] if in_flight else []
        for t_send in lost:
            self.on_response(InvocationResponse(
                t_send=t_send, t_end=now, error_type="cancelled",
                error=f"cancelled: {why} while this request was in flight").finalize())
        worker.answered = worker.sent
        logger.error("%s; %d request(s) in flight recorded as cancelled; the run goes on.",
                     why, len(lost))
        self.on_worker_lost(f"{why} ({len(lost)} in-flight request(s) recorded as cancelled)")

    async def _close(self, worker: _Worker) -> None:
        worker.done = True
        try:
            asyncio.get_running_loop().remove_reader(worker.conn.fileno())
        except (ValueError, OSError, RuntimeError):
            pass
        worker.conn.close()
        try:  # off the loop: a stuck worker must not freeze the views while we wait for it
            await asyncio.to_thread(worker.process.wait, STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            worker.process.kill()
            await asyncio.to_thread(worker.process.wait, 5)
