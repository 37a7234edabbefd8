"""A chat-completions server that notes when each request arrives, for the open-loop tests.

Run in its own process (a server on the test's event loop would pace the sender it measures):

    python -m tests.arrival_server --port 8123 --ttft 0.005 --tokens 4 --itl 0.001

Each request's arrival is `time.perf_counter()` read when its handler starts: CLOCK_MONOTONIC on
Linux, the same clock as the sender's `t_send` and `t_scheduled` in another process on this
machine, so the two can be compared directly. `GET /arrivals` returns them (a JSON list, in
order); `--ttft`, `--itl`, `--tokens` shape every answer (a fixed-latency server);
`--max-concurrent N` serves at most N at once (the others queue inside the server: a server
that cannot keep up).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import time

from aiohttp import web


def _sse(obj: object) -> bytes:
    return b"data: " + json.dumps(obj).encode() + b"\n\n"


def make_app(ttft: float, itl: float, tokens: int, max_concurrent: int | None) -> web.Application:
    arrivals: list[float] = []
    slots = asyncio.Semaphore(max_concurrent) if max_concurrent else None

    async def chat(request: web.Request) -> web.StreamResponse:
        arrivals.append(time.perf_counter())
        await request.read()
        if slots is not None:
            await slots.acquire()
        try:
            resp = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
            await resp.prepare(request)
            await asyncio.sleep(ttft)
            for i in range(tokens):
                if i:
                    await asyncio.sleep(itl)
                await resp.write(_sse({"choices": [{"index": 0, "delta": {"content": "tok "}}]}))
            await resp.write(_sse({"choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}],
                                   "usage": {"prompt_tokens": 3, "completion_tokens": tokens}}))
            await resp.write(b"data: [DONE]\n\n")
            return resp
        finally:
            if slots is not None:
                slots.release()

    async def get_arrivals(request: web.Request) -> web.Response:
        return web.json_response(arrivals)

    async def health(request: web.Request) -> web.Response:
        return web.json_response({"ok": True})

    app = web.Application()
    app.router.add_post("/v1/chat/completions", chat)
    app.router.add_get("/arrivals", get_arrivals)
    app.router.add_get("/health", health)
    return app


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--ttft", type=float, default=0.005)
    parser.add_argument("--itl", type=float, default=0.001)
    parser.add_argument("--tokens", type=int, default=4)
    parser.add_argument("--max-concurrent", type=int, default=None)
    args = parser.parse_args()
    app = make_app(args.ttft, args.itl, args.tokens, args.max_concurrent)
    web.run_app(app, host="127.0.0.1", port=args.port, print=None, access_log=None)


if __name__ == "__main__":
    main()
