"""A worker's connection under uvloop: whole messages, however large.

uvloop's add_reader makes the watched socket non-blocking; multiprocessing's Connection then
wrote a large Records batch in part and raised BlockingIOError, the worker's send swallowed it,
and the parent read a corrupt stream ("invalid load key", the worker lost with 1,000 requests in
flight: bench_soak.py at 1,000 clients). `transport.watch` keeps the socket blocking.
"""

from __future__ import annotations

import asyncio
import os
import socket
import struct
import threading
import time
from multiprocessing.connection import Connection
from multiprocessing.reduction import ForkingPickler

import uvloop

from llmeter_widget.workers.transport import watch

BIG = 8 * 2**20  # far beyond a socket buffer (a few hundred KB)


def test_a_large_message_sent_from_a_uvloop_worker_arrives_whole():
    ours, theirs = socket.socketpair()
    worker_end, parent_end = Connection(ours.detach()), Connection(theirs.detach())
    received: list[object] = []

    def slow_parent() -> None:
        time.sleep(0.2)  # the worker's write fills the socket buffer first
        received.append(parent_end.recv())
        received.append(parent_end.recv())

    reader = threading.Thread(target=slow_parent)
    reader.start()

    async def worker() -> None:
        watch(asyncio.get_running_loop(), worker_end, lambda: None)
        worker_end.send(b"x" * BIG)
        worker_end.send("next")
        asyncio.get_running_loop().remove_reader(worker_end.fileno())

    try:
        uvloop.run(worker())
        reader.join(10)
    finally:
        worker_end.close()
        parent_end.close()
    assert received == [b"x" * BIG, "next"]


def write_in_two_parts(conn: Connection, first: object, second: object) -> None:
    """Send two messages in Connection's wire format (a 4-byte length, the pickle), pausing
    in the middle of the first: the reader sees half a message and must wait for the rest."""
    raw = b"".join(struct.pack("!i", len(p)) + p for p in map(ForkingPickler.dumps, (first, second)))
    fd = conn.fileno()
    os.write(fd, raw[:1000])
    time.sleep(0.3)
    view = memoryview(raw)[1000:]
    while view:
        view = view[os.write(fd, view):]


def test_a_large_message_to_a_uvloop_worker_is_read_whole():
    ours, theirs = socket.socketpair()
    worker_end, parent_end = Connection(ours.detach()), Connection(theirs.detach())
    got: list[object] = []

    async def worker() -> None:
        loop = asyncio.get_running_loop()
        done = loop.create_future()

        def readable() -> None:
            while worker_end.poll():
                got.append(worker_end.recv())
                if len(got) == 2:
                    loop.remove_reader(worker_end.fileno())
                    done.set_result(None)

        watch(loop, worker_end, readable)
        threading.Thread(target=write_in_two_parts, args=(parent_end, b"y" * BIG, 7)).start()
        await asyncio.wait_for(done, 10)

    try:
        uvloop.run(worker())
    finally:
        worker_end.close()
        parent_end.close()
    assert got == [b"y" * BIG, 7]
