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
