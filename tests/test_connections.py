"""Servers that close kept-alive connections (llama.cpp's does): no request may be lost.

The simulator's `close_after_response=True` keeps advertising keep-alive but closes each
connection a few ms after its response, and drops unanswered a request that arrives on it in
that window: what a pooled client meets on llama.cpp's server, made repeatable. Many clients
sharing one pool make it worse: a request that found a dead pooled connection, resent on another
pooled connection, often finds that one dead too. The resend must go out on a fresh connection.

The server runs in its own process (a server sharing the clients' event loop would pace them).
"""

from __future__ import annotations

import asyncio
from collections import Counter

import pytest

from llmeter_widget import Runner
from llmeter_widget.endpoints import OpenAIChatEndpoint, create_session
from llmeter_widget.simulator import SimulatedServer

RUN_SECONDS = 3.0
TOKENS = 8  # short answers: many requests, so many connections closed under the clients


@pytest.fixture(scope="module")
def closing_server():
    with SimulatedServer.spawn(mode="fixed", ttft=0.02, itl=0.002,
                               close_after_response=True) as proc:
        yield proc


@pytest.mark.parametrize("clients", [8, 32, 128])
async def test_no_request_lost_when_the_server_closes_every_connection(closing_server, clients):
    before = closing_server.stats()
    runner = Runner(OpenAIChatEndpoint(base_url=closing_server.base_url, model="sim"),
                    OpenAIChatEndpoint.create_payload("Tell me a story", max_tokens=TOKENS),
                    live_view=False, stop_when_misconfigured=False)
    result = await runner.run(clients=clients, run_duration=RUN_SECONDS)
    after = closing_server.stats()
    responses = result.responses
    failed = Counter(f"{r.error_type}: {r.error[:60]}" for r in responses if not r.ok)
    resent = [r for r in responses if r.annotations.get("reconnected")]
    print(f"\n{clients} clients: {len(responses)} requests, {len(resent)} resent, "
          f"{sum(failed.values())} failed, server dropped "
          f"{after['connections_dropped'] - before['connections_dropped']}")
    assert failed == Counter(), f"{sum(failed.values())} of {len(responses)} failed"
    # a real load (a quiet machine does 5-8x this: ~4,000 requests over the three runs), and the
    # resend path really ran (about every other request meets a closed pooled connection)
    assert len(responses) >= 10 * clients ** 0.5 * RUN_SECONDS
    assert len(resent) >= len(responses) // 10
    # every request was answered exactly once: a resend never repeats a request the server saw
    assert after["requests_served"] - before["requests_served"] == len(responses)


async def test_the_resend_goes_out_on_a_new_connection(chat_payload):
    """The pool holds several dead connections: the resend must not take the next one.

    With a long close_delay the simulator keeps each used connection open but doomed: any
    request sent on it is dropped unanswered. Four concurrent requests leave four such
    connections in the pool; the next request takes one, is dropped, and is resent: on a
    pooled connection it would be dropped again.
    """
    async with SimulatedServer(mode="fixed", ttft=0.005, itl=0.001, close_after_response=True,
                               close_delay=30.0) as server, create_session() as session:
        ep = OpenAIChatEndpoint(base_url=server.base_url, model="sim")
        first = await asyncio.gather(*(ep.invoke(session, chat_payload) for _ in range(4)))
        assert [r.error for r in first if not r.ok] == []
        assert server.connections_dropped == 0  # four fresh connections, now pooled and doomed
        r = await ep.invoke(session, chat_payload)
        assert r.ok, r.error
        assert r.annotations.get("reconnected") is True
        # dropped once (the pooled connection), then answered on a connection of its own
        assert server.connections_dropped == 1
        assert server.requests_served == 5


def _late_tail_server(tail_seconds: float, ports: list[int]):
    """A server that writes [DONE] and ends the body `tail_seconds` later (what the stream's
    last chunk does when it arrives in a later TCP read than [DONE]), noting each request's
    client port (one port = one connection)."""
    from aiohttp import web

    from .test_endpoints import _sse, serve

    async def chat(request: web.Request) -> web.StreamResponse:
        ports.append(request.transport.get_extra_info("peername")[1])
        resp = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
        await resp.prepare(request)
        await resp.write(_sse({"choices": [{"index": 0, "delta": {"content": "hi"}}]}))
        await resp.write(_sse({"choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]}))
        await resp.write(b"data: [DONE]\n\n")
        await asyncio.sleep(tail_seconds)  # the terminator ("0\r\n\r\n") is written on return
        return resp

    return serve({"/v1/chat/completions": chat})


async def test_a_connection_is_reused_when_the_body_ends_just_after_done():
    """Stopping at [DONE] left the terminator unread, and aiohttp closed the connection: every
    request then paid a new TCP connection inside its TTFT. Read to the end and reuse it."""
    ports: list[int] = []
    async with _late_tail_server(0.03, ports) as root:
        runner = Runner(OpenAIChatEndpoint(base_url=root + "/v1", model="m"),
                        OpenAIChatEndpoint.create_payload("Hi", max_tokens=2), live_view=False)
        result = await runner.run(clients=3, n_requests=4)
    assert result.stats["failed_requests"] == 0 and len(ports) == 12
    assert len(set(ports)) == 3  # one connection per client, kept for all its requests


async def test_a_body_that_never_ends_after_done_costs_its_connection_not_the_clients_time():
    ports: list[int] = []
    async with _late_tail_server(3.0, ports) as root:
        endpoint = OpenAIChatEndpoint(base_url=root + "/v1", model="m")
        async with create_session() as session:
            started = asyncio.get_running_loop().time()
            first = await endpoint.invoke(session, OpenAIChatEndpoint.create_payload("Hi"))
            second = await endpoint.invoke(session, OpenAIChatEndpoint.create_payload("Hi"))
            took = asyncio.get_running_loop().time() - started
    assert first.ok and second.ok and first.response_text == "hi"
    assert first.time_to_last_token < 0.2  # the wait for the tail is not part of the latency
    assert took < 1.5  # each waited at most _TAIL_SECONDS (0.25 s) for the end, not 3 s
    assert len(set(ports)) == 2  # the unfinished connection was not reused
