"""The simulated OpenAI-compatible server: aiohttp app, handlers, and `SimulatedServer`.

Routes: POST /v1/chat/completions, POST /v1/completions, GET /v1/models, GET /v1/models/{id},
GET /health, GET /simulator/stats (the counters as JSON). Errors are OpenAI-shaped JSON. The
latency of answers comes from an engine (engine.py); the token text and counts from text.py; the
JSON/SSE shapes from openai_format.py.

Streamed chat answers send the role-only chunk at once (before the first token), so "first
byte" and "first token" differ the way they do on real servers. With `reasoning_tokens`, a chat
answer's first tokens come as `delta.reasoning_content` (a reasoning model thinking), the rest as
`delta.content`.

Fault injection (401/429/500/503, non-SSE answers, slow headers, malformed/stalled/dropped
streams, missing usage) is drawn per request by faults.FaultInjector and applied here; see
SimulatorConfig for the options and the order of the draws.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import hmac
import itertools
import json
import os
import socket
import time
from typing import TYPE_CHECKING, Any

from aiohttp import web

from . import faults
from . import openai_format as fmt
from .config import DEFAULT_MAX_TOKENS, SimulatorConfig
from .engine import Engine, make_engine
from .faults import NO_FAULTS, FaultInjector, FaultPlan
from .text import (
    TOKEN_TEXT,
    PromptError,
    chat_prompt_text,
    choose_tokens,
    completion_prompt,
    count_tokens,
)

if TYPE_CHECKING:
    from .process import SimulatorProcess

# Prompts can be long (long-context tests): accept request bodies up to this size.
MAX_BODY_BYTES = 64 * 1024 * 1024
# How long stop() lets in-flight requests finish before cancelling them.
SHUTDOWN_GRACE = 0.25


class _BadRequest(Exception):
    """A request the API would refuse; carries the HTTP status and the OpenAI error body."""

    def __init__(self, status: int, message: str, *, param: str | None = None,
                 code: str | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.body = fmt.error_body(message, param=param, code=code)


def _error_response(status: int, body: dict) -> web.Response:
    return web.json_response(body, status=status, dumps=fmt.dumps)


class SimulatedServer:
    """An OpenAI-compatible simulated LLM server, running on the current event loop.

    Modes: "batching" (default; a continuous-batching engine, throughput saturates at
    `max_batch`, TTFT climbs past it) and "fixed" (each request: first token exactly `ttft`
    after arrival, then one every `itl`). See SimulatorConfig for every option.

    Example::

        async with SimulatedServer(mode="fixed", ttft=0.05, itl=0.01) as server:
            print(server.base_url)          # http://127.0.0.1:<port>/v1
            ...                             # point any OpenAI client at it, model="sim"
            print(server.requests_served)

    For a server in its own process (so it does not share CPU time with the load generator's
    event loop), use `SimulatedServer.spawn(...)`.

    Faults: every `*_rate` option injects one kind of failure into that share of requests
    (seeded by `seed`); `faults_injected` counts what was applied. See SimulatorConfig.

    Example::

        async with SimulatedServer(rate_limit_rate=0.2, drop_mid_stream_rate=0.1) as server:
            ...                             # run the load
            print(server.faults_injected)   # {'rate_limit': 41, 'drop_mid_stream': 17, ...}

    For "connection refused", nothing listens at `SimulatedServer.closed_url()`.
    """

    def __init__(
        self,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        model: str = "sim",
        mode: str = "batching",
        seed: int = 0,
        ttft: float = 0.05,
        itl: float = 0.01,
        max_batch: int = 16,
        decode_base: float = 0.012,
        decode_per_seq: float = 0.0015,
        prefill_base: float = 0.005,
        prefill_per_token: float = 0.00005,
        jitter: float = 0.05,
        output_tokens: int | None = None,
        reasoning_tokens: int = 0,
        close_after_response: bool = False,
        close_delay: float = 0.005,
        allow_remote: bool = False,
        api_key: str | None = None,
        unauthorized_rate: float = 0.0,
        rate_limit_rate: float = 0.0,
        retry_after: float = 1.0,
        error_500_rate: float = 0.0,
        error_503_rate: float = 0.0,
        non_sse_rate: float = 0.0,
        slow_headers_rate: float = 0.0,
        slow_headers_seconds: float = 5.0,
        malformed_json_rate: float = 0.0,
        stall_mid_stream_rate: float = 0.0,
        stall_seconds: float = 30.0,
        drop_mid_stream_rate: float = 0.0,
        no_usage_rate: float = 0.0,
    ) -> None:
        self.config = SimulatorConfig(
            host=host, port=port, model=model, mode=mode, seed=seed, ttft=ttft, itl=itl,
            max_batch=max_batch, decode_base=decode_base, decode_per_seq=decode_per_seq,
            prefill_base=prefill_base, prefill_per_token=prefill_per_token, jitter=jitter,
            output_tokens=output_tokens, reasoning_tokens=reasoning_tokens,
            close_after_response=close_after_response,
            close_delay=close_delay, allow_remote=allow_remote, api_key=api_key,
            unauthorized_rate=unauthorized_rate, rate_limit_rate=rate_limit_rate,
            retry_after=retry_after, error_500_rate=error_500_rate,
            error_503_rate=error_503_rate, non_sse_rate=non_sse_rate,
            slow_headers_rate=slow_headers_rate, slow_headers_seconds=slow_headers_seconds,
            malformed_json_rate=malformed_json_rate, stall_mid_stream_rate=stall_mid_stream_rate,
            stall_seconds=stall_seconds, drop_mid_stream_rate=drop_mid_stream_rate,
            no_usage_rate=no_usage_rate,
        )
        self._faults = FaultInjector(self.config)
        self._inject = self.config.faults_enabled
        self._engine: Engine | None = None
        self._runner: web.AppRunner | None = None
        self._port: int | None = None
        self._ids = itertools.count(1)
        self._id_prefix = os.urandom(4).hex()
        # close_after_response: connections to drop, with the timer that closes each when idle
        self._doomed: dict[Any, asyncio.TimerHandle] = {}
        self.requests_served = 0  # answers sent in full
        self.requests_cancelled = 0  # answers cut short because the client went away
        self.requests_rejected = 0  # 4xx answers
        self.connections_dropped = 0  # requests dropped unanswered (close_after_response)

    @property
    def faults_injected(self) -> dict[str, int]:
        """How many times each fault was applied, by name (a copy; every name, 0 included).

        Names: unauthorized, rate_limit, error_500, error_503, non_sse, slow_headers,
        malformed_json, stall_mid_stream, drop_mid_stream, no_usage (the options without
        `_rate`). 401s for a missing or wrong `api_key` are not faults: see requests_rejected.
        """
        return dict(self._faults.counts)

    def stats(self) -> dict[str, Any]:
        """The counters (what GET /simulator/stats answers)."""
        return {
            "requests_served": self.requests_served,
            "requests_cancelled": self.requests_cancelled,
            "requests_rejected": self.requests_rejected,
            "connections_dropped": self.connections_dropped,
            "faults_injected": self.faults_injected,
            "peak_active": self.peak_active,  # the most requests it served at once
        }

    # -- construction helpers ------------------------------------------------------------------

    @classmethod
    def from_config(cls, config: SimulatorConfig) -> SimulatedServer:
        """A server with the options of `config`."""
        return cls(**config.options())

    @classmethod
    def from_args(cls, ns: argparse.Namespace) -> SimulatedServer:
        """A server from CLI arguments parsed with `cli.add_arguments`.

        Example::

            parser = argparse.ArgumentParser(); add_arguments(parser)
            server = SimulatedServer.from_args(parser.parse_args(["--mode", "fixed"]))
        """
        return cls.from_config(SimulatorConfig.from_namespace(ns))

    @classmethod
    def spawn(cls, *, timeout: float = 15.0, **options: Any) -> SimulatorProcess:
        """Run a simulator in a separate Python process; return once it is listening.

        `options` are the constructor's keyword arguments. The child exits on `stop()`, when
        this process exits (atexit), or when this process dies (it watches its stdin pipe).

        Example::

            with SimulatedServer.spawn(mode="batching", max_batch=8) as proc:
                print(proc.base_url)
        """
        from .process import spawn

        return spawn(SimulatorConfig(**options), timeout=timeout)

    @staticmethod
    def closed_url(host: str = "127.0.0.1") -> str:
        """A base URL where nothing listens, for testing "connection refused".

        The port was free a moment ago (see `unused_port`); nothing is started on it.

        Example::

            url = SimulatedServer.closed_url()   # http://127.0.0.1:<port>/v1
            # POST url + "/chat/completions" -> aiohttp.ClientConnectorError (refused)
        """
        port = unused_port(host)
        if ":" in host:
            host = f"[{host}]"
        return f"http://{host}:{port}/v1"

    # -- lifecycle -----------------------------------------------------------------------------

    async def start(self) -> None:
        """Bind the port and start serving on the running event loop."""
        if self._runner is not None:
            raise RuntimeError("this SimulatedServer is already started")
        cfg = self.config
        self._engine = make_engine(cfg)
        await self._engine.start()
        app = web.Application(client_max_size=MAX_BODY_BYTES, middlewares=[self._middleware])
        app.router.add_post("/v1/chat/completions", self._chat)
        app.router.add_post("/v1/completions", self._completions)
        app.router.add_get("/v1/models", self._models)
        app.router.add_get("/v1/models/{model:.+}", self._model)
        app.router.add_get("/health", self._health)
        app.router.add_get("/simulator/stats", self._stats)
        # access_log=None: no per-request logging work; handler_cancellation: a client that goes
        # away cancels its handler, so its sequence leaves the batch at once.
        runner = web.AppRunner(app, access_log=None, handler_cancellation=True,
                               shutdown_timeout=SHUTDOWN_GRACE)
        await runner.setup()
        try:
            sock = _bind(cfg.host, cfg.port)
            # a large backlog: hundreds of clients may connect at the same moment
            site = web.SockSite(runner, sock, backlog=2048)
            await site.start()
        except BaseException:
            await runner.cleanup()
            await self._engine.stop()
            raise
        self._port = sock.getsockname()[1]
        self._runner = runner

    async def stop(self) -> None:
        """Stop serving: in-flight requests get a short grace, then their connections close."""
        runner, self._runner = self._runner, None
        if runner is not None:
            await runner.cleanup()
        for handle in self._doomed.values():
            handle.cancel()
        self._doomed.clear()
        if self._engine is not None:
            await self._engine.stop()

    async def __aenter__(self) -> SimulatedServer:
        await self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.stop()

    # -- what a user looks at --------------------------------------------------------------------

    @property
    def port(self) -> int:
        """The TCP port (the one the OS picked when port=0)."""
        if self._port is None:
            raise RuntimeError("the server is not started: await server.start() first")
        return self._port

    @property
    def url(self) -> str:
        """The server root, e.g. http://127.0.0.1:8000."""
        host = self.config.host
        if ":" in host:  # IPv6 literal
            host = f"[{host}]"
        return f"http://{host}:{self.port}"

    @property
    def base_url(self) -> str:
        """The OpenAI base URL, e.g. http://127.0.0.1:8000/v1."""
        return self.url + "/v1"

    @property
    def model(self) -> str:
        return self.config.model

    @property
    def active(self) -> int:
        """Requests producing tokens now."""
        return self._engine.active if self._engine else 0

    @property
    def queued(self) -> int:
        """Requests waiting for a batch slot (batching mode)."""
        return self._engine.queued if self._engine else 0

    @property
    def peak_active(self) -> int:
        """The most requests that produced tokens at the same time."""
        return self._engine.peak_active if self._engine else 0

    def __repr__(self) -> str:
        where = self.base_url if self._port is not None else "not started"
        return f"<SimulatedServer mode={self.config.mode!r} {where}>"

    # -- HTTP ------------------------------------------------------------------------------------

    @web.middleware
    async def _middleware(self, request: web.Request, handler: Any) -> web.StreamResponse:
        if self._doomed:
            handle = self._doomed.pop(request.protocol, None)
            if handle is not None:
                # close_after_response: a request reused a connection we meant to close; like a
                # server that already closed it, drop it without an answer.
                handle.cancel()
                self.connections_dropped += 1
                if request.transport is not None:
                    request.transport.close()
                return web.Response(status=503)  # never delivered: the transport is closing
        key = self.config.api_key
        if key is not None and (request.path == "/v1" or request.path.startswith("/v1/")) and \
                not _same(faults.bearer_token(request), key):
            self.requests_rejected += 1
            resp: web.StreamResponse = faults.unauthorized(faults.bearer_token(request))
        else:
            try:
                resp = await handler(request)
            except web.HTTPException as exc:  # unknown path, wrong method: answer OpenAI-style
                resp = _error_response(
                    exc.status, fmt.error_body(f"Invalid URL ({request.method} {request.path}): "
                                               f"{exc.reason}", code=None))
        transport = request.transport
        if self.config.close_after_response and transport is not None and \
                not transport.is_closing():  # closing: drop_mid_stream closed it
            # finish the response here (aiohttp would do it after we return) so the close can be
            # scheduled after its last byte
            try:
                if not resp.prepared:
                    await resp.prepare(request)
                await resp.write_eof()
            except ConnectionError:
                return resp
            self._doom(request)
        return resp

    def _doom(self, request: web.Request) -> None:
        # Keep advertising keep-alive (no Connection: close) but close shortly after the
        # response; a request sent in that window is dropped (see _middleware). That is what a
        # pooled client meets on llama.cpp's server, made repeatable.
        loop = asyncio.get_running_loop()
        protocol, transport = request.protocol, request.transport
        old = self._doomed.pop(protocol, None)
        if old is not None:
            old.cancel()
        self._doomed[protocol] = loop.call_later(
            self.config.close_delay, self._close_idle, protocol, transport)

    def _close_idle(self, protocol: Any, transport: asyncio.BaseTransport) -> None:
        self._doomed.pop(protocol, None)
        transport.close()

    async def _health(self, request: web.Request) -> web.Response:
        return web.json_response({"status": "ok"})

    async def _stats(self, request: web.Request) -> web.Response:
        return web.json_response(self.stats(), dumps=fmt.dumps)

    async def _models(self, request: web.Request) -> web.Response:
        return web.json_response({"object": "list", "data": [self._model_card()]}, dumps=fmt.dumps)

    async def _model(self, request: web.Request) -> web.Response:
        name = request.match_info["model"]
        if name != self.config.model:
            self.requests_rejected += 1
            return _error_response(404, self._model_not_found(name))
        return web.json_response(self._model_card(), dumps=fmt.dumps)

    def _model_card(self) -> dict[str, Any]:
        return {"id": self.config.model, "object": "model", "created": 0,
                "owned_by": "llmeter-widget"}

    def _model_not_found(self, name: str) -> dict[str, Any]:
        return fmt.error_body(
            f"The model `{name}` does not exist or you do not have access to it. "
            f"This server serves model `{self.config.model}`.",
            param="model", code="model_not_found")

    async def _chat(self, request: web.Request) -> web.StreamResponse:
        return await self._complete(request, chat=True)

    async def _completions(self, request: web.Request) -> web.StreamResponse:
        return await self._complete(request, chat=False)

    async def _complete(self, request: web.Request, *, chat: bool) -> web.StreamResponse:
        loop = asyncio.get_running_loop()
        plan = self._faults.draw() if self._inject else NO_FAULTS
        if plan is not NO_FAULTS:
            if plan.slow_headers:
                self._faults.count("slow_headers")
                await asyncio.sleep(self.config.slow_headers_seconds)
            if plan.response is not None and plan.response != "non_sse":
                self._faults.count(plan.response)
                return faults.response_fault(plan.response, self.config, request)
        arrival = loop.time()  # fixed mode counts ttft from here
        try:
            body = await self._read_body(request)
            field = "messages" if chat else "prompt"
            if field not in body:
                raise _BadRequest(400, f"Missing required parameter: '{field}'.", param=field,
                                  code="missing_required_parameter")
            if chat:
                prompt_text = chat_prompt_text(body["messages"])
                prompt_tokens = count_tokens(prompt_text)
            else:
                prompt_text, prompt_tokens = completion_prompt(body["prompt"])
            max_tokens = _max_tokens(body)
            stream = body.get("stream", False)
            if not isinstance(stream, bool):
                raise _BadRequest(400, "'stream' must be a boolean.", param="stream")
            options = body.get("stream_options") or {}
            if not isinstance(options, dict):
                raise _BadRequest(400, "'stream_options' must be an object.",
                                  param="stream_options")
            include_usage = bool(options.get("include_usage", False))
        except PromptError as exc:
            self.requests_rejected += 1
            return _error_response(400, fmt.error_body(str(exc), param=exc.param))
        except _BadRequest as exc:
            self.requests_rejected += 1
            return _error_response(exc.status, exc.body)

        n = max_tokens
        if self.config.output_tokens is not None:
            n = min(n, self.config.output_tokens)
        finish_reason = "length" if n == max_tokens else "stop"
        tokens = choose_tokens(self.config.seed, prompt_text, n)
        # a reasoning model thinks first: tokens[:reasoning] are reasoning (chat only)
        reasoning = min(self.config.reasoning_tokens, n) if chat else 0
        rid = f"{'chatcmpl' if chat else 'cmpl'}-{self._id_prefix}{next(self._ids):08x}"
        created = int(time.time())
        assert self._engine is not None
        generation = self._engine.generate(prompt_tokens, n, arrival)
        if stream and plan.response == "non_sse":
            # a server that ignores "stream": true (or a proxy that buffers): one JSON body
            self._faults.count("non_sse")
            stream = False
        # no_usage changes an answer only where usage would have been sent
        no_usage = plan.no_usage and (include_usage or not stream)

        if not stream:
            try:
                async with contextlib.aclosing(generation) as produced:
                    async for _ in produced:
                        pass
            except asyncio.CancelledError:
                self.requests_cancelled += 1
                raise
            self.requests_served += 1
            if no_usage:
                self._faults.count("no_usage")
            text = "".join(TOKEN_TEXT[t] for t in tokens[reasoning:])
            reasoning_text = "".join(TOKEN_TEXT[t] for t in tokens[:reasoning])
            return web.json_response(
                fmt.full_response(chat=chat, id=rid, created=created, model=self.config.model,
                                  text=text, finish_reason=finish_reason,
                                  prompt_tokens=prompt_tokens, completion_tokens=n,
                                  include_usage=not no_usage, reasoning_text=reasoning_text,
                                  reasoning_tokens=reasoning),
                dumps=fmt.dumps)

        chunks = fmt.StreamChunks(chat=chat, id=rid, created=created, model=self.config.model,
                                  include_usage=include_usage and not no_usage,
                                  reasoning=reasoning > 0)
        # the mid-stream faults come after half of the tokens (at least one)
        fault_at = max(1, n // 2) if plan.mid_stream else 0
        resp = web.StreamResponse(headers={"Content-Type": "text/event-stream; charset=utf-8",
                                           "Cache-Control": "no-cache"})
        try:
            await resp.prepare(request)
            if chat:
                await resp.write(chunks.role())
            async with contextlib.aclosing(generation) as produced:
                async for i in produced:
                    if i < reasoning:
                        await resp.write(chunks.reasoning(tokens[i]))
                    else:
                        await resp.write(chunks.token(tokens[i]))
                    if i + 1 == fault_at and await self._mid_stream_faults(
                            plan, request, resp, chunks, tokens[i]):
                        return resp  # dropped: the connection is closing
            if no_usage:
                self._faults.count("no_usage")
            await resp.write(chunks.end(finish_reason, prompt_tokens, n, reasoning))
            await resp.write_eof()
        except ConnectionError:
            # the client went away mid-answer; its sequence already left the engine
            self.requests_cancelled += 1
            return resp
        except asyncio.CancelledError:
            self.requests_cancelled += 1
            raise
        self.requests_served += 1
        return resp

    async def _mid_stream_faults(self, plan: FaultPlan, request: web.Request,
                                 resp: web.StreamResponse, chunks: fmt.StreamChunks,
                                 token: int) -> bool:
        """Apply the mid-stream faults of `plan`; True if the connection was dropped."""
        if plan.malformed_json:
            self._faults.count("malformed_json")
            await resp.write(chunks.malformed(token))
        if plan.stall_mid_stream:
            self._faults.count("stall_mid_stream")
            # the engine goes on: tokens due meanwhile come at once after the stall
            await asyncio.sleep(self.config.stall_seconds)
        if plan.drop_mid_stream:
            transport = request.transport
            if transport is None or transport.is_closing():
                raise ConnectionResetError("the client went away")
            self._faults.count("drop_mid_stream")
            # close (after what was written), no terminating chunk: the chunked body and the
            # SSE stream end in the middle, as when a server or proxy dies
            transport.close()
            return True
        return False

    async def _read_body(self, request: web.Request) -> dict[str, Any]:
        try:
            raw = await request.read()
        except web.HTTPRequestEntityTooLarge:
            raise _BadRequest(
                413, f"The request body is larger than {MAX_BODY_BYTES} bytes.") from None
        try:
            body = json.loads(raw)
        except (ValueError, UnicodeDecodeError):
            raise _BadRequest(
                400,
                "We could not parse the JSON body of your request. (HINT: This likely means you "
                "aren't using your HTTP library correctly. The OpenAI API expects a JSON payload, "
                "but what was sent was not valid JSON.)",
            ) from None
        if not isinstance(body, dict):
            raise _BadRequest(400, "The request body must be a JSON object.")
        model = body.get("model")
        # A missing model is accepted (served as the configured one); a wrong one is not.
        if model is not None and model != self.config.model:
            raise _BadRequest(404, self._model_not_found(model)["error"]["message"],
                              param="model", code="model_not_found")
        return body


def _same(token: str | None, key: str) -> bool:
    return token is not None and hmac.compare_digest(token.encode(), key.encode())


def unused_port(host: str = "127.0.0.1") -> int:
    """A TCP port on `host` that nothing listens on (free when checked; nothing reserves it).

    Example::

        port = unused_port()   # connecting to 127.0.0.1:port is refused
    """
    with contextlib.closing(_bind(host, 0)) as sock:
        return sock.getsockname()[1]


def _max_tokens(body: dict[str, Any]) -> int:
    # max_completion_tokens is the newer name; accept either, the newer one first
    for name in ("max_completion_tokens", "max_tokens"):
        value = body.get(name)
        if value is None:
            continue
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise _BadRequest(400, f"'{name}' must be an integer >= 1 (got {value!r}).",
                              param=name, code="invalid_value")
        return value
    return DEFAULT_MAX_TOKENS


def _bind(host: str, port: int) -> socket.socket:
    """A listening-ready socket bound to (host, port); port 0 picks a free one."""
    family, type_, proto, _, addr = socket.getaddrinfo(
        host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)[0]
    sock = socket.socket(family, type_, proto)
    try:
        if os.name == "posix":
            # rebinding a fixed port right after a restart should work (TIME_WAIT)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(addr)
    except BaseException:
        sock.close()
        raise
    return sock
