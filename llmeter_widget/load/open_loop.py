"""An open loop on one event loop: requests sent on a schedule, whatever the responses do.

`OpenLoop` sends request k at its intended time (an `ArrivalSchedule`'s gaps from the start),
each in a task of its own, so a slow server gets more requests in flight instead of fewer sent
(a closed loop would wait: coordinated omission). With `max_concurrency`, a request that finds
every slot taken waits for one; its wait is recorded, it is never dropped. Every request keeps
its intended send time, so its latency can be told from when it should have gone out as well as
from when it did (`InvocationResponse.set_schedule`).

It takes the same hooks as `ClosedLoop` (on_send, on_response, after_response, before_send,
on_clients, on_drain_cut), so the Runner feeds its statistics, files and callbacks the same way.
"""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import Callable
from typing import Any

from ..endpoints.base import Endpoint, InvocationResponse
from ..endpoints.openai import RequestCancelled
from ..limits import ensure_open_files
from .closed_loop import AfterResponse, BeforeSend, DrainTimeout, _ignore, _nothing
from .schedule import ArrivalSchedule


class OpenLoop(DrainTimeout):
    """Requests sent at the times an `ArrivalSchedule` gives, on the running event loop.

    Args:
        endpoint, session, payloads: as for `ClosedLoop`; request k sends payloads[k % len].
        schedule: the gaps between intended sends (its rate may change: `set_rate`).
        n_requests: requests in all (count-bound); None with a deadline.
        deadline: `time.perf_counter()` after which no request is due (time-bound), or None.
        max_concurrency: at most this many in flight (a request due while all are taken waits
            for a slot, and records how long); None for no cap.
        drain_timeout, on_send, on_response, after_response, before_send, on_drain_cut: as for
            `ClosedLoop`.
        on_clients: called with 0 once: an open loop has no clients (kept for the views).
        start: `time.perf_counter()` of the first intended send (default: when `start()` runs).
        share: `(worker, workers)`: send only requests worker, worker + workers, ... of the
            schedule (a worker process's share; every worker holds the same schedule).

    Example: 5 requests at 100 per second, each knowing when it was due.
        >>> import asyncio
        >>> from llmeter_widget.endpoints import InvocationResponse
        >>> class Echo:
        ...     async def invoke(self, session, payload):
        ...         return InvocationResponse(response_text="ok", t_send=time.perf_counter())
        >>> got = []
        >>> loop = OpenLoop(Echo(), None, [{}], schedule=ArrivalSchedule(100.0, "constant"),
        ...                 n_requests=5, on_response=got.append)
        >>> asyncio.run(loop.run())
        >>> len(got), all(r.t_scheduled is not None and r.schedule_lag >= 0 for r in got)
        (5, True)
    """

    def __init__(
        self,
        endpoint: Endpoint,
        session: Any,
        payloads: list[dict],
        *,
        schedule: ArrivalSchedule,
        n_requests: int | None = None,
        deadline: float | None = None,
        max_concurrency: int | None = None,
        drain_timeout: float = 30.0,
        on_send: Callable[[float], None] = _ignore,
        on_response: Callable[[InvocationResponse], None] = _ignore,
        after_response: AfterResponse = _nothing,
        before_send: BeforeSend = _nothing,
        on_clients: Callable[[int], None] = _ignore,
        on_drain_cut: Callable[[int], None] = _ignore,
        start: float | None = None,
        share: tuple[int, int] = (0, 1),
    ) -> None:
        if n_requests is None and deadline is None:
            raise ValueError("An open-loop run needs an end: n_requests= (requests in all) or "
                             "run_duration= (seconds).")
        self.endpoint = endpoint
        self.session = session
        self.payloads = payloads
        self.schedule = schedule
        self.n_requests = n_requests
        self.deadline = deadline
        self.max_concurrency = max_concurrency
        self.drain_timeout = drain_timeout
        self.on_send = on_send
        self.on_response = on_response
        self.after_response = after_response
        self.before_send = before_send
        self.on_clients = on_clients
        self.on_drain_cut = on_drain_cut
        self.start_time = start
        self.worker, self.workers = share
        self.stopped = False
        self.in_flight = 0
        self.scheduled = 0  # requests whose time came (sent, or waiting for a slot)
        self.waited = 0  # requests that waited for a slot (max_concurrency)
        self._slots = asyncio.Semaphore(max_concurrency) if max_concurrency else None
        self._tasks: set[asyncio.Task[None]] = set()
        self._dispatcher: asyncio.Task[None] | None = None
        self._wakeup = asyncio.Event()
        self._drain_cut = False
        self._next_due: float | None = None
        self._failure: BaseException | None = None

    # -- control ---------------------------------------------------------------------------------
    @property
    def active_clients(self) -> int:
        """An open loop has no clients: the requests in flight stand for them."""
        return self.in_flight

    @property
    def rate(self) -> float:
        """The rate now (requests per second)."""
        if self.start_time is None:
            return self.schedule.rate_at(0.0)
        return self.schedule.rate_at(time.perf_counter() - self.start_time)

    def set_rate(self, rate: float, at: float | None = None) -> None:
        """Send at this rate from `at` (a `time.perf_counter()`; default now) on: the request
        due next moves to where the new rate puts it."""
        at = time.perf_counter() if at is None else at
        self.schedule.set_rate(rate, at - (self.start_time if self.start_time is not None else at))
        self._wakeup.set()

    def set_target(self, n: int) -> None:
        raise RuntimeError("This run sends at a rate (open loop), not from clients: change its "
                           "rate with set_rate(), or start a run with clients= instead.")

    def set_deadline(self, deadline: float | None) -> None:
        self.deadline = deadline
        self._wakeup.set()

    def stop(self, wait_in_flight: bool = False) -> None:
        """Send no more; cancel what is in flight (recorded as cancelled) unless told to wait."""
        self.stopped = True
        if not wait_in_flight:
            for task in self._tasks:
                task.cancel()
        self._wakeup.set()

    # -- running ---------------------------------------------------------------------------------
    async def run(self) -> None:
        """Send on the schedule and wait until every request is done."""
        self.start()
        await self.wait()

    def start(self) -> None:
        if self.stopped or self._dispatcher is not None:
            return
        if self.start_time is None:
            self.start_time = time.perf_counter()
        self.on_clients(0)
        self._dispatcher = asyncio.create_task(self._dispatch(), name="open-loop")

    async def wait(self) -> None:
        """Until the schedule ended and every request is done; a hook's exception is raised.
        However it ends, nothing is left running."""
        try:
            await self._wait()
        finally:
            await self.cancel_all()

    async def cancel_all(self) -> None:
        tasks = [t for t in (*self._tasks, self._dispatcher) if t is not None and not t.done()]
        for task in tasks:
            task.cancel()
        if tasks:
            await asyncio.gather(*tasks, return_exceptions=True)

    def _more_due(self) -> bool:
        if self.stopped or self._failure is not None:
            return False
        if self.n_requests is not None and self.schedule.index >= self.n_requests:
            return False
        return self.deadline is None or self._next_due < self.deadline

    def _skip_to_own(self) -> None:
        """Move the schedule to this loop's next request (a worker sends every n-th)."""
        while self.schedule.index % self.workers != self.worker:
            self.schedule.advance()

    async def _dispatch(self) -> None:
        """Start each request at its intended time (late ones at once, with their lag)."""
        assert self.start_time is not None
        ensure_open_files((self.max_concurrency or 256) + 64)
        self._skip_to_own()
        self._next_due = self.start_time + self.schedule.next_offset()
        while self._more_due():
            wait = self._next_due - time.perf_counter()
            if wait > 0:
                self._wakeup.clear()
                try:  # a new rate, deadline or stop() wakes it early
                    await asyncio.wait_for(self._wakeup.wait(),
                                           timeout=None if math.isinf(wait) else wait)
                except asyncio.TimeoutError:
                    pass
                # recheck: a new rate moves the due time
                self._next_due = self.start_time + self.schedule.next_offset()
                continue
            due = self._next_due
            task = asyncio.create_task(self._request(self.schedule.index, due))
            self._tasks.add(task)
            task.add_done_callback(self._done)
            self.scheduled += 1
            self.schedule.advance()
            self._skip_to_own()
            self._next_due = self.start_time + self.schedule.next_offset()
        self._wakeup.set()

    def _done(self, task: asyncio.Task[None]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None and self._failure is None:
            self._failure = task.exception()  # a hook failed: the run ends with it
        self._wakeup.set()

    async def _request(self, index: int, due: float) -> None:
        payload = self.payloads[index % len(self.payloads)]
        waited = 0.0
        if self._slots is not None:
            if self._slots.locked():  # every slot taken: wait for one, and say how long
                self.waited += 1
                before = time.perf_counter()
                await self._slots.acquire()
                waited = time.perf_counter() - before
            else:  # a free slot: no wait (exactly 0, so waits can be counted from the records)
                await self._slots.acquire()
        try:
            await self.before_send(payload)
            self.on_send(time.perf_counter())
            self.in_flight += 1
            try:
                response = await self.endpoint.invoke(self.session, payload)
            except RequestCancelled as cancelled:
                self.in_flight -= 1
                cancelled.response.set_schedule(due, waited if self._slots else None)
                self.on_response(cancelled.response)
                raise
            self.in_flight -= 1
            response.set_schedule(due, waited if self._slots else None)
            self.on_response(response)
            await self.after_response(response)
        finally:
            if self._slots is not None:
                self._slots.release()

    async def _wait(self) -> None:
        while True:
            if self._failure is not None:
                raise self._failure
            dispatching = self._dispatcher is not None and not self._dispatcher.done()
            if not dispatching and not self._tasks:
                if self._dispatcher is not None and not self._dispatcher.cancelled() \
                        and self._dispatcher.exception() is not None:
                    raise self._dispatcher.exception()
                return
            drain_left = self._drain_left()
            if drain_left is not None and drain_left <= 0 and not dispatching:
                self._cut_drain_short(list(self._tasks))
            self._wakeup.clear()
            waiter = asyncio.create_task(self._wakeup.wait())
            pending = [t for t in (*self._tasks, self._dispatcher) if t is not None and not t.done()]
            try:
                await asyncio.wait([*pending, waiter], return_when=asyncio.FIRST_COMPLETED,
                                   timeout=None if drain_left is None else max(drain_left, 0.01))
            finally:
                waiter.cancel()
