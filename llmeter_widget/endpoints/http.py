"""The shared aiohttp session the runner uses, how we tell a stale pooled connection, and where
a request that met one is sent again.

Some servers (llama.cpp's among them) advertise keep-alive but close the TCP connection after
every streamed response. A pooled client may then send its next request on a connection the
server has already dropped, and fail without the server having seen the request. Browsers and
HTTP libraries resend in that one case; aiohttp only does so for idempotent methods, and our
requests are POSTs. So the session's connector records, per request, whether the connection it
handed out had carried a request before, and the endpoint resends once when a *reused*
connection fails before any response byte (the rule browsers use: a request that may have
reached the server, one on a new connection or one that got a response byte, is never resent).

The resend goes out on a *fresh* connection, as browsers and urllib3 do. Taken from the same
pool it would often get another connection the server has closed: against the simulator's
`close_after_response` for 3 s, 46 of 677 requests failed that way at 32 clients and 198 of
1537 at 128, every one after its resend (tests/test_connections.py). So `create_session()`
builds a second session beside the main one, for resends only, whose connector has
`force_close=True`: it keeps no pool, so every request on it opens a new connection (and closes
it after the response). That uses aiohttp's public API alone; the alternatives were worse:
asking the main connector for a connection that bypasses its pool needs its private methods,
and closing pooled connections until a new one comes out would close other clients' healthy
idle connections on a server that keeps them. The main connector owns the resend session and
closes it with itself, so closing the main session closes both; `resend_session(session)` finds
it.

The reuse flag travels in a ContextVar: the connector runs inside the request's own task, so
the endpoint reads what the connector set for *its* request. (aiohttp's trace hooks could tell
the same, but they cost ~5% of the client's CPU per request: bench/README.md.)
"""

from __future__ import annotations

import weakref
from contextvars import ContextVar
from typing import Any

import aiohttp

#: Whether the current task's last request went out on a connection that had been used before.
reused_connection: ContextVar[bool] = ContextVar("llmeter_reused_connection", default=False)

# No connection limit: a closed-loop client holds at most one connection (see create_session).
_CONNECTOR_OPTIONS: dict[str, Any] = {"limit": 0, "limit_per_host": 0, "ttl_dns_cache": 300}


class _ReuseTrackingConnector(aiohttp.TCPConnector):
    """A TCPConnector that notes, for each request, whether its connection is a reused one.

    It also owns the session that resends go out on (see the module docstring), and closes it
    when it is closed itself.
    """

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._used: weakref.WeakSet[object] = weakref.WeakSet()
        self.resend_session: aiohttp.ClientSession | None = None

    async def connect(self, req, traces, timeout):  # noqa: ANN001, ANN201 (aiohttp's signature)
        connection = await super().connect(req, traces, timeout)
        protocol = connection.protocol
        reused_connection.set(protocol in self._used)
        self._used.add(protocol)
        return connection

    async def close(self, **kwargs: Any) -> None:
        try:
            await super().close(**kwargs)
        finally:
            if self.resend_session is not None:
                await self.resend_session.close()


def create_session(**kwargs: Any) -> aiohttp.ClientSession:
    """An aiohttp session suited to load testing, whose connector tracks connection reuse.

    The connector has no connection limit (aiohttp's default of 100 would silently queue
    requests beyond 100 clients): a closed-loop client holds at most one connection, so the
    number of connections is bounded by the number of clients. A second session, for resends
    after a stale pooled connection, is made with the same `kwargs` and closed with this one.
    Must be called on a running loop.

    Example:
        >>> async def main():
        ...     async with create_session() as session:
        ...         ...
    """
    connector = _ReuseTrackingConnector(**_CONNECTOR_OPTIONS)
    connector.resend_session = aiohttp.ClientSession(
        connector=aiohttp.TCPConnector(force_close=True, **_CONNECTOR_OPTIONS),
        timeout=aiohttp.ClientTimeout(total=None),
        **kwargs,
    )
    return aiohttp.ClientSession(
        connector=connector,
        timeout=aiohttp.ClientTimeout(total=None),  # each request sets its own
        **kwargs,
    )


def resend_session(session: aiohttp.ClientSession) -> aiohttp.ClientSession:
    """Where to resend a request that met a stale pooled connection of `session`: a session whose
    every request opens a new connection. `session` itself if it was not made by create_session
    (its connections are then never reported as reused, so nothing is resent anyway)."""
    connector = session.connector
    if isinstance(connector, _ReuseTrackingConnector) and connector.resend_session is not None:
        return connector.resend_session
    return session
