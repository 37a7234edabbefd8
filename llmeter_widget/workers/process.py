"""A worker process: its own event loop and HTTP session, sending its share of a run's
requests (`load.ClosedLoop`, or `load.OpenLoop` for a share of a schedule) and streaming what
it measured back to the parent in batches.

Started by `workers.pool.ProcessWorkers` with multiprocessing's "spawn" method (a fresh
interpreter: safe beside a notebook kernel's threads, and the same on Linux and macOS); the two
ends talk over a `multiprocessing.Pipe` with the messages of `workers.protocol`.
"""

from __future__ import annotations

import asyncio
import os
import signal
import traceback
from multiprocessing.connection import Connection
from typing import Any

from ..endpoints.base import InvocationResponse
from ..endpoints.http import create_session
from ..load import ClosedLoop, OpenLoop
from .protocol import (
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


def worker_main(conn: Connection) -> None:
    """The process's entry point: serve one run, then exit."""
    # Ctrl-C in a terminal reaches the whole process group: the parent decides what a stop is
    # (it tells us with Stop), so an interrupt must not kill us with records unsent.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        run_loop(_serve(conn))
    except Exception:  # noqa: BLE001 (reported to the parent, which decides)
        _send(conn, Failed(traceback.format_exc(limit=5)))
    finally:
        conn.close()


def run_loop(main: Any) -> Any:
    """Run the worker's coroutine on uvloop when it is installed (and not turned off with
    LLMETER_WIDGET_LOOP=asyncio), else on asyncio's own loop. bench/bench_workers.py compares
    the two side by side (tools ours-wN and ours-wN-asyncio)."""
    if os.environ.get("LLMETER_WIDGET_LOOP", "uvloop") != "asyncio":
        try:
            import uvloop
        except ImportError:
            pass
        else:
            return uvloop.run(main)
    return asyncio.run(main)


def _send(conn: Connection, message: object) -> None:
    try:
        conn.send(message)
    except BlockingIOError:
        raise  # half a message written: the stream is corrupt, so fail loudly (transport.py)
    except (BrokenPipeError, OSError):  # the parent is gone: nobody to tell
        pass


class _Batch:
    """Records gathered between two flushes."""

    def __init__(self, payloads: list[dict]) -> None:
        self._payload_index = {id(p): i for i, p in enumerate(payloads)}
        self.sends: list[float] = []
        self.responses: list[InvocationResponse] = []
        self.indices: list[int | None] = []
        self.loop_lag = 0.0
        self.drain_cut = 0  # requests the drain timeout cancelled (reported once)

    def set_drain_cut(self, in_flight: int) -> None:
        self.drain_cut = in_flight

    def add_send(self, t: float) -> None:
        self.sends.append(t)

    def add(self, response: InvocationResponse) -> None:
        index = self._payload_index.get(id(response.input_payload))
        if index is not None:
            response.input_payload = None  # the parent has it: send its index instead
        self.responses.append(response)
        self.indices.append(index)

    def take(self, loop: ClosedLoop | OpenLoop) -> Records:
        records = Records(self.sends, self.responses, self.indices, loop.active_clients,
                          loop.in_flight, self.loop_lag, self.drain_cut)
        self.sends, self.responses, self.indices, self.loop_lag = [], [], [], 0.0
        self.drain_cut = 0
        return records


def _load(prepare: Prepare, session: Any, start: Start, batch: _Batch) -> ClosedLoop | OpenLoop:
    """This worker's share of the run: clients, or every n-th request of the schedule."""
    hooks = dict(n_requests=start.n_requests, deadline=start.deadline,
                 drain_timeout=start.drain_timeout, on_send=batch.add_send,
                 on_response=batch.add, on_drain_cut=batch.set_drain_cut)
    if start.schedule is not None:
        return OpenLoop(prepare.endpoint, session, prepare.payloads,
                        schedule=start.schedule, max_concurrency=start.max_concurrency,
                        start=start.start_time, share=(start.first_client, start.client_stride),
                        **hooks)
    return ClosedLoop(prepare.endpoint, session, prepare.payloads, target=start.clients,
                      first_client=start.first_client, client_stride=start.client_stride, **hooks)


async def _serve(conn: Connection) -> None:
    _send(conn, Ready(pid=os.getpid()))
    event_loop = asyncio.get_running_loop()
    inbox: asyncio.Queue[object] = asyncio.Queue()

    def readable() -> None:
        try:
            while conn.poll():
                inbox.put_nowait(conn.recv())
        except (EOFError, OSError):  # the parent closed its end or died: stop
            event_loop.remove_reader(conn.fileno())
            inbox.put_nowait(Stop(wait_in_flight=False))

    watch(event_loop, conn, readable)
    prepare = await inbox.get()
    if not isinstance(prepare, Prepare):
        return
    batch = _Batch(prepare.payloads)
    async with create_session() as session:
        warm_up = getattr(prepare.endpoint, "warm_up", None)
        warmed = 0
        if prepare.warm_connections and warm_up is not None:
            warmed = await warm_up(session, prepare.warm_connections)
        _send(conn, Prepared(warmed))
        start = await inbox.get()
        if not isinstance(start, Start):  # stopped (or the parent left) before the start
            return
        loop = _load(prepare, session, start, batch)
        async def controls() -> None:
            while True:
                message = await inbox.get()
                if isinstance(message, SetClients) and isinstance(loop, ClosedLoop):
                    loop.set_target(message.clients)
                elif isinstance(message, SetRate) and isinstance(loop, OpenLoop):
                    loop.set_rate(message.rate, message.at)
                elif isinstance(message, SetDeadline):
                    loop.set_deadline(message.deadline)
                elif isinstance(message, Stop):
                    loop.stop(message.wait_in_flight)

        async def flush_every(interval: float) -> None:
            while True:
                await asyncio.sleep(interval)
                if batch.sends or batch.responses:
                    _send(conn, batch.take(loop))

        async def watch_lag(interval: float = 0.05) -> None:
            # How late this loop wakes a timer: the lag every timestamp it takes suffers too.
            while True:
                due = event_loop.time() + interval
                await asyncio.sleep(interval)
                batch.loop_lag = max(batch.loop_lag, event_loop.time() - due)

        tasks = [asyncio.create_task(controls()),
                 asyncio.create_task(flush_every(start.batch_interval)),
                 asyncio.create_task(watch_lag())]
        loop.start()
        try:
            await loop.wait()
        finally:
            for task in tasks:
                task.cancel()
            event_loop.remove_reader(conn.fileno())
            _send(conn, batch.take(loop))  # the last records, cancelled requests among them
    _send(conn, Finished())
