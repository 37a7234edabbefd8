"""The shared aiohttp session the runner uses, and how we tell a stale pooled connection.

Some servers (llama.cpp's among them) advertise keep-alive but close the TCP connection after
every streamed response. A pooled client may then send its next request on a connection the
server has already dropped, and fail without the server having seen the request. Browsers and
HTTP libraries resend in that one case; aiohttp only does so for idempotent methods, and our
requests are POSTs. So the session records, per request, whether the connection was reused from
the pool, and the endpoint resends once when a *reused* connection fails before any response byte.
"""

from __future__ import annotations

from dataclasses import dataclass

import aiohttp


@dataclass
class RequestTrace:
    """Per-request facts gathered by the session's trace hooks."""

    reused_connection: bool = False


async def _on_connection_reuse(
    session: aiohttp.ClientSession,
    context: object,
    params: aiohttp.TraceConnectionReuseconnParams,
) -> None:
    trace = getattr(context, "trace_request_ctx", None)
    if isinstance(trace, RequestTrace):
        trace.reused_connection = True


def create_session(**kwargs: object) -> aiohttp.ClientSession:
    """An aiohttp session suited to load testing, with the connection-reuse trace installed.

    The connector has no connection limit (aiohttp's default of 100 would silently queue
    requests beyond 100 clients): a closed-loop client holds at most one connection, so the
    number of connections is bounded by the number of clients. Must be called on a running loop.

    Example:
        >>> async def main():
        ...     async with create_session() as session:
        ...         ...
    """
    trace = aiohttp.TraceConfig()
    trace.on_connection_reuseconn.append(_on_connection_reuse)
    connector = aiohttp.TCPConnector(limit=0, limit_per_host=0, ttl_dns_cache=300)
    return aiohttp.ClientSession(
        connector=connector,
        trace_configs=[trace],
        timeout=aiohttp.ClientTimeout(total=None),  # each request sets its own
        **kwargs,  # type: ignore[arg-type]
    )
