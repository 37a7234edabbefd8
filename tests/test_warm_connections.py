"""warm_connections=True: every client's connection is open before the run's clock starts, and
the run's requests go out on those connections (a small server that notes each connection)."""

from __future__ import annotations

import pytest
from aiohttp import web

from llmeter_widget import Runner
from llmeter_widget.endpoints import OpenAIChatEndpoint

from .test_endpoints import _sse, serve


class ConnectionLog:
    """Which client ports the warm-up GETs and the chat POSTs came from (one port = one
    connection), on a server that keeps connections alive."""

    def __init__(self) -> None:
        self.warm: list[int] = []
        self.chat: list[int] = []

    async def models(self, request: web.Request) -> web.Response:
        self.warm.append(request.transport.get_extra_info("peername")[1])
        return web.json_response({"data": [{"id": "m"}]})

    async def chat_completions(self, request: web.Request) -> web.StreamResponse:
        self.chat.append(request.transport.get_extra_info("peername")[1])
        resp = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
        await resp.prepare(request)
        for text in ("a", "b"):
            await resp.write(_sse({"choices": [{"index": 0, "delta": {"content": text}}]}))
        await resp.write(_sse({"choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]}))
        await resp.write(b"data: [DONE]\n\n")
        return resp


def logging_server(log: ConnectionLog):
    return serve({"/v1/chat/completions": log.chat_completions}, {"/v1/models": log.models})


@pytest.mark.parametrize("workers", [0, 2])
async def test_warm_connections_are_the_ones_the_run_uses(workers):
    log = ConnectionLog()
    async with logging_server(log) as root:
        runner = Runner(OpenAIChatEndpoint(base_url=root + "/v1", model="m"),
                        OpenAIChatEndpoint.create_payload("Hi", max_tokens=2), live_view=False,
                        warm_connections=True, workers=workers)
        result = await runner.run(clients=4, n_requests=3)
    assert result.stats["total_requests"] == 12 and result.stats["failed_requests"] == 0
    assert len(log.warm) == 4 and len(set(log.warm)) == 4  # one connection per client
    assert runner._run.warmed == 4
    assert len(log.chat) == 12
    assert set(log.chat) <= set(log.warm)  # every request went out on a warmed connection


async def test_without_warming_no_request_is_sent_before_the_run():
    log = ConnectionLog()
    async with logging_server(log) as root:
        runner = Runner(OpenAIChatEndpoint(base_url=root + "/v1", model="m"),
                        OpenAIChatEndpoint.create_payload("Hi", max_tokens=2), live_view=False)
        result = await runner.run(clients=4, n_requests=3)
    assert result.stats["total_requests"] == 12
    assert log.warm == [] and len(set(log.chat)) == 4  # each client opened its own, in the run
