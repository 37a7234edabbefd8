"""Closed-loop clients on one event loop: each sends a request, waits for its whole answer,
records it, and sends the next.

`ClosedLoop` knows *when* to send (how many clients, until which deadline or count, stop) and
nothing of what is done with a response: the hooks it is given say that. The in-kernel runner
gives it hooks that feed the run's statistics and callbacks directly; a worker process gives it
hooks that batch records for the parent. Both therefore send exactly the same way.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Iterable
from typing import Any

from ..endpoints.base import Endpoint, InvocationResponse
from ..endpoints.openai import RequestCancelled
from ..limits import ensure_open_files

BeforeSend = Callable[[dict], Awaitable[None]]
AfterResponse = Callable[[InvocationResponse], Awaitable[None]]


async def _nothing(_: Any) -> None:
    return None


def _ignore(*_: Any) -> None:
    return None


class DrainTimeout:
    """What both loops (clients, schedule) do at the deadline: requests in flight may go on
    for `drain_timeout` seconds, then are cancelled, and `on_drain_cut` is told once how many
    were. The loop sets `deadline`, `drain_timeout`, `in_flight`, `on_drain_cut` and
    `_drain_cut = False`."""

    deadline: float | None
    drain_timeout: float
    in_flight: int
    on_drain_cut: Callable[[int], None]
    _drain_cut: bool

    def _drain_left(self) -> float | None:
        """Seconds until in-flight requests must be cut short (None: no deadline, no limit)."""
        if self.deadline is None:
            return None
        return self.deadline + self.drain_timeout - time.perf_counter()

    def _cut_drain_short(self, pending: Iterable[asyncio.Task[None]]) -> None:
        if not self._drain_cut:
            self._drain_cut = True
            self.on_drain_cut(self.in_flight)
        for task in pending:
            task.cancel()


class ClosedLoop(DrainTimeout):
    """A pool of closed-loop clients, indexed 0..target-1, on the running event loop.

    Args:
        endpoint: what each client calls (`await endpoint.invoke(session, payload)`).
        session: the aiohttp session the clients share.
        payloads: the request bodies; client i sends payloads[(i + k) % len] as its k-th.
        target: how many clients run (`set_target` changes it while they run).
        n_requests: requests per client (count-bound); None with a deadline or for one pass.
        deadline: `time.perf_counter()` after which no request is sent (time-bound), or None.
        drain_timeout: seconds requests in flight at the deadline may go on; then they are
            cancelled (and reported as cancelled through `on_response`).
        on_send: called with the send time right before each request.
        on_response: called with each finished, failed or cancelled response, as it comes
            (synchronous: a cancelled request is recorded while its task is being cancelled).
        after_response: awaited after `on_response` for each response that was not cancelled
            (callbacks' after_invoke); an exception ends the pool's `run()` with it.
        before_send: awaited with the payload before each request (may change it in place).
        on_clients: called with the number of active clients whenever it changes (once per
            change).
        on_drain_cut: called with the number of requests in flight when the drain timeout
            cancels them.
        first_client, client_stride: client j here is the run's client
            `first_client + j * client_stride` (a worker's share of the run's clients), which
            picks its payloads as it would in a single-process run.

    Example:
        >>> import asyncio
        >>> from llmeter_widget.endpoints import InvocationResponse
        >>> class Echo:
        ...     async def invoke(self, session, payload):
        ...         return InvocationResponse(response_text=payload["text"])
        >>> got = []
        >>> loop = ClosedLoop(Echo(), None, [{"text": "a"}, {"text": "b"}], target=2,
        ...                   n_requests=2, on_response=lambda r: got.append(r.response_text))
        >>> asyncio.run(loop.run())
        >>> sorted(got)
        ['a', 'a', 'b', 'b']
    """

    def __init__(
        self,
        endpoint: Endpoint,
        session: Any,
        payloads: list[dict],
        *,
        target: int,
        n_requests: int | None = None,
        deadline: float | None = None,
        drain_timeout: float = 30.0,
        on_send: Callable[[float], None] = _ignore,
        on_response: Callable[[InvocationResponse], None] = _ignore,
        after_response: AfterResponse = _nothing,
        before_send: BeforeSend = _nothing,
        on_clients: Callable[[int], None] = _ignore,
        on_drain_cut: Callable[[int], None] = _ignore,
        first_client: int = 0,
        client_stride: int = 1,
    ) -> None:
        self.endpoint = endpoint
        self.session = session
        self.payloads = payloads
        self.target = target
        self.n_requests = n_requests
        self.deadline = deadline
        self.drain_timeout = drain_timeout
        self.on_send = on_send
        self.on_response = on_response
        self.after_response = after_response
        self.before_send = before_send
        self.on_clients = on_clients
        self.on_drain_cut = on_drain_cut
        self.first_client = first_client
        self.client_stride = client_stride
        self.stopped = False
        self.in_flight = 0
        self._tasks: dict[int, asyncio.Task[None]] = {}
        self._wakeup = asyncio.Event()
        self._drain_cut = False
        self._reported_clients: int | None = None  # what on_clients was last told

    # -- control ---------------------------------------------------------------------------------
    @property
    def active_clients(self) -> int:
        """Clients that are running and will send again (removed ones finishing are not)."""
        return sum(1 for i, t in self._tasks.items() if i < self.target and not t.done())

    def set_target(self, n: int) -> None:
        """Grow (new clients start at once) or shrink (removed ones finish their request)."""
        self.target = n
        if self.stopped:
            self._report_clients(self.active_clients)
        else:
            self._spawn()  # starts the new clients and reports the count

    def set_deadline(self, deadline: float | None) -> None:
        self.deadline = deadline
        self._wakeup.set()  # the wait recomputes when draining must end

    def stop(self, wait_in_flight: bool = False) -> None:
        """Send no more; cancel what is in flight (recorded as cancelled) unless told to wait."""
        self.stopped = True
        if not wait_in_flight:
            for task in self._tasks.values():
                task.cancel()
        self._wakeup.set()

    # -- running ---------------------------------------------------------------------------------
    async def run(self) -> None:
        """Start the clients and wait until every one is done; a hook's exception is raised."""
        self.start()
        await self.wait()

    def start(self) -> None:
        """Start the clients (unless stopped already)."""
        if not self.stopped:
            self._spawn()

    async def wait(self) -> None:
        """Wait until every client is done; a hook's exception is raised. However it ends,
        no client is left running."""
        try:
            await self._wait()
        finally:
            await self.cancel_all()

    async def cancel_all(self) -> None:
        tasks = [t for t in self._tasks.values() if not t.done()]
        for task in tasks:
            task.cancel()
        if tasks:
            await asyncio.gather(*tasks, return_exceptions=True)

    def _spawn(self) -> None:
        ensure_open_files(self.target + 64)  # a socket per client, and some to spare
        for index in range(self.target):
            task = self._tasks.get(index)
            if task is None or task.done():
                self._tasks[index] = asyncio.create_task(self._client(index), name=f"client-{index}")
        self._report_clients(self.active_clients)
        self._wakeup.set()

    def _report_clients(self, active: int) -> None:
        """Tell `on_clients` the number of active clients if it changed since it was last told
        (set_target spawns and reports; a removed client that finishes changes nothing)."""
        if active != self._reported_clients:
            self._reported_clients = active
            self.on_clients(active)

    async def _wait(self) -> None:
        while True:
            pending = [t for t in self._tasks.values() if not t.done()]
            if not pending:
                return
            drain_left = self._drain_left()
            if drain_left is not None and drain_left <= 0:
                self._cut_drain_short(pending)
            self._wakeup.clear()
            waiter = asyncio.create_task(self._wakeup.wait())
            try:
                await asyncio.wait([*pending, waiter], return_when=asyncio.FIRST_COMPLETED,
                                   timeout=None if drain_left is None else max(drain_left, 0))
            finally:
                waiter.cancel()
            for task in pending:
                if task.done() and not task.cancelled() and task.exception() is not None:
                    raise task.exception()  # a hook failed (e.g. a callback): the caller decides

    def _may_send(self, index: int, sent: int) -> bool:
        if self.stopped or index >= self.target:
            return False
        if self.deadline is not None:
            return time.perf_counter() < self.deadline
        return sent < (self.n_requests or len(self.payloads))

    async def _client(self, index: int) -> None:
        payloads = self.payloads
        sent = 0
        try:
            while self._may_send(index, sent):
                client = self.first_client + index * self.client_stride  # in the whole run
                payload = payloads[(client + sent) % len(payloads)]
                await self.before_send(payload)
                self.on_send(time.perf_counter())
                self.in_flight += 1
                try:
                    response = await self.endpoint.invoke(self.session, payload)
                except RequestCancelled as cancelled:
                    self.in_flight -= 1
                    self.on_response(cancelled.response)
                    raise
                self.in_flight -= 1
                sent += 1
                self.on_response(response)
                await self.after_response(response)
        finally:
            # This task is not done yet, so active_clients still counts it.
            self._report_clients(self.active_clients - (index < self.target))
            self._wakeup.set()
