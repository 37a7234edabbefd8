"""The shared aiohttp session the runner uses, and how we tell a stale pooled connection.

Some servers (llama.cpp's among them) advertise keep-alive but close the TCP connection after
every streamed response. A pooled client may then send its next request on a connection the
server has already dropped, and fail without the server having seen the request. Browsers and
HTTP libraries resend in that one case; aiohttp only does so for idempotent methods, and our
requests are POSTs. So the session's connector records, per request, whether the connection it
handed out had carried a request before, and the endpoint resends once when a *reused*
connection fails before any response byte.

The flag travels in a ContextVar: the connector runs inside the request's own task, so the
endpoint reads what the connector set for *its* request. (aiohttp's trace hooks could tell the
same, but they cost ~5% of the client's CPU per request: bench/README.md.)
"""

from __future__ import annotations

import weakref
from contextvars import ContextVar

import aiohttp

#: Whether the current task's last request went out on a connection that had been used before.
reused_connection: ContextVar[bool] = ContextVar("llmeter_reused_connection", default=False)


class _ReuseTrackingConnector(aiohttp.TCPConnector):
    """A TCPConnector that notes, for each request, whether its connection is a reused one."""

    def __init__(self, **kwargs: object) -> None:
        super().__init__(**kwargs)  # type: ignore[arg-type]
        self._used: weakref.WeakSet[object] = weakref.WeakSet()

    async def connect(self, req, traces, timeout):  # noqa: ANN001, ANN201 (aiohttp's signature)
        connection = await super().connect(req, traces, timeout)
        protocol = connection.protocol
        reused_connection.set(protocol in self._used)
        self._used.add(protocol)
        return connection


def create_session(**kwargs: object) -> aiohttp.ClientSession:
    """An aiohttp session suited to load testing, whose connector tracks connection reuse.

    The connector has no connection limit (aiohttp's default of 100 would silently queue
    requests beyond 100 clients): a closed-loop client holds at most one connection, so the
    number of connections is bounded by the number of clients. Must be called on a running loop.

    Example:
        >>> async def main():
        ...     async with create_session() as session:
        ...         ...
    """
    connector = _ReuseTrackingConnector(limit=0, limit_per_host=0, ttl_dns_cache=300)
    return aiohttp.ClientSession(
        connector=connector,
        timeout=aiohttp.ClientTimeout(total=None),  # each request sets its own
        **kwargs,  # type: ignore[arg-type]
    )
