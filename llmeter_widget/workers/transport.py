"""Watching a worker connection from an event loop without breaking its messages.

`multiprocessing.connection.Connection` sends and receives whole pickled messages with
blocking reads and writes. An event loop only has to say when there is something to read, but
uvloop's `add_reader` (libuv's `uv_poll_init`) also makes the watched socket non-blocking. On a
non-blocking socket a large message (a Records batch at 1,000 clients) is written in part, the
next write raises BlockingIOError, and the reader gets a truncated message followed by the
start of the next one: "invalid load key" and a lost worker (bench/bench_soak.py found it).
`watch` keeps the socket blocking after the loop has taken it.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Callable
from multiprocessing.connection import Connection


def watch(loop: asyncio.AbstractEventLoop, conn: Connection, on_readable: Callable[[], None]) -> None:
    """`loop.add_reader` for `conn`, its socket left blocking (whole messages either way).

    Example:
        >>> import socket
        >>> a, b = socket.socketpair()
        >>> loop = asyncio.new_event_loop()
        >>> conn = Connection(a.detach())
        >>> watch(loop, conn, lambda: None)
        >>> os.get_blocking(conn.fileno())
        True
        >>> loop.remove_reader(conn.fileno()); loop.close(); conn.close(); b.close()
        True
    """
    loop.add_reader(conn.fileno(), on_readable)
    os.set_blocking(conn.fileno(), True)
