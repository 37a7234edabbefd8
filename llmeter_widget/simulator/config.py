"""The simulator's options in one validated dataclass, shared by the Python API, CLI and spawn().

Keeping one definition means `SimulatedServer(...)`, `SimulatedServer.spawn(...)` and
`llmeter-widget simulate --...` accept the same names, defaults and checks.
"""

from __future__ import annotations

import argparse
import ipaddress
import math
from dataclasses import dataclass, fields
from typing import Any

MODES = ("batching", "fixed")

# Response-level faults: one uniform draw per completion request picks at most one of them, in
# this order (see SimulatorConfig). Each name is also the key of SimulatedServer.faults_injected,
# and `<name>_rate` the option.
RESPONSE_FAULTS = ("unauthorized", "rate_limit", "error_500", "error_503", "non_sse")
# Faults drawn independently of each other and of the response-level ones, in this order.
INDEPENDENT_FAULTS = ("slow_headers", "malformed_json", "stall_mid_stream", "drop_mid_stream",
                      "no_usage")
FAULTS = RESPONSE_FAULTS + INDEPENDENT_FAULTS

# Used when a request has neither max_tokens nor max_completion_tokens.
DEFAULT_MAX_TOKENS = 128


@dataclass(frozen=True)
class SimulatorConfig:
    """All options of the simulated server.

    Latency parameters are in seconds. Example::

        cfg = SimulatorConfig(mode="fixed", ttft=0.1, itl=0.02)
        cfg.to_argv()   # ['--host', '127.0.0.1', '--port', '0', ..., '--ttft', '0.1', ...]

    Faults (all off by default). Each `*_rate` is the share of completion requests
    (POST /v1/chat/completions and /v1/completions) that get that fault, in [0, 1]: 1 hits every
    request, 0 none (there is no every-Nth-request mode: a rate of 1 is the fixed form, and the
    seed makes any other rate a repeatable pattern). The draws come from a RNG seeded with
    `seed`, so the same seed and the same sequence of requests give the same faults (concurrent
    requests draw in the order they reach the handler). Per request, in this order:

    1. `api_key` (not random): when set, a /v1 request without `Authorization: Bearer <api_key>`
       gets 401 and draws nothing.
    2. Six uniform draws, always all of them (enabling one fault does not shift the others):
       a. one draw picks at most one response-level fault, by cumulative ranges in this order:
          unauthorized, rate_limit, error_500, error_503, non_sse (so each rate is exactly that
          fault's share; their sum must be <= 1);
       b. then one independent draw each for slow_headers, malformed_json, stall_mid_stream,
          drop_mid_stream, no_usage.
    3. slow_headers: wait `slow_headers_seconds` before anything else (headers included).
    4. unauthorized (401), rate_limit (429 + Retry-After), error_500, error_503: the error is
       the whole answer; the body is not parsed and no stream-level fault applies.
    5. The body is parsed; invalid requests get their usual 4xx.
    6. non_sse (streaming requests only): the answer is the non-streamed JSON body, status 200,
       `Content-Type: application/json`.
    7. Streaming: malformed_json, stall_mid_stream, drop_mid_stream happen after
       max(1, n // 2) of the n tokens, in that order (an extra event of truncated JSON; then
       `stall_seconds` of silence, after which the rest follows; then the TCP connection
       is closed in the middle of the chunked body, no finish chunk, no [DONE]).
    8. no_usage: no usage anywhere: a streamed answer has no usage chunk (and no "usage": null)
       even with stream_options.include_usage; a non-streamed body has no "usage" key.

    A fault is counted in SimulatedServer.faults_injected only when it is applied (e.g. non_sse
    on a non-streaming request, or no_usage on a stream that did not ask for usage, changes
    nothing and is not counted).
    """

    host: str = "127.0.0.1"
    port: int = 0  # 0 = let the OS pick a free port
    model: str = "sim"
    mode: str = "batching"
    seed: int = 0
    # mode="fixed": first token `ttft` after arrival, then one token every `itl`.
    ttft: float = 0.05
    itl: float = 0.01
    # mode="batching": a continuous-batching engine (see engine.BatchingEngine).
    max_batch: int = 16
    decode_base: float = 0.012
    decode_per_seq: float = 0.0015
    prefill_base: float = 0.005
    prefill_per_token: float = 0.00005
    jitter: float = 0.05
    # Caps every answer's length (None: the request's max_tokens alone decides).
    output_tokens: int | None = None
    # A reasoning model: each chat answer's first `reasoning_tokens` output tokens are its
    # thinking, streamed as `delta.reasoning_content` (non-streamed: `message.reasoning_content`)
    # before the content tokens. They are output tokens like the others: they count in
    # completion_tokens (and in usage.completion_tokens_details.reasoning_tokens), and
    # max_tokens / output_tokens cap reasoning and content together, reasoning first (an answer
    # shorter than reasoning_tokens is all reasoning, no content). /v1/completions has no
    # reasoning field: its answers are unchanged. 0: no reasoning (the answers are byte for byte
    # those of a server without this option).
    reasoning_tokens: int = 0
    # Close the TCP connection after each response without saying so (like llama.cpp).
    close_after_response: bool = False
    # How long a connection stays open after a response when close_after_response is set; a
    # request that arrives on it in that window is dropped unanswered.
    close_delay: float = 0.005
    # Binding anything but a loopback address (127.0.0.1, ::1, localhost) needs this: the
    # simulator answers anyone, so it should not be exposed to a network by accident.
    allow_remote: bool = False
    # Faults: see the class docstring for what each does and the order of the draws.
    # When set, /v1 requests must carry `Authorization: Bearer <api_key>` (else 401).
    api_key: str | None = None
    unauthorized_rate: float = 0.0  # 401, OpenAI "Incorrect API key provided"
    rate_limit_rate: float = 0.0  # 429 with `Retry-After: <retry_after>`
    retry_after: float = 1.0  # seconds; the header carries it rounded up to a whole second
    error_500_rate: float = 0.0  # 500, OpenAI server_error JSON
    error_503_rate: float = 0.0  # 503, an nginx-style HTML page (like a proxy in front)
    non_sse_rate: float = 0.0  # streaming request answered with a JSON body, status 200
    slow_headers_rate: float = 0.0  # wait slow_headers_seconds before the response headers
    slow_headers_seconds: float = 5.0
    malformed_json_rate: float = 0.0  # one SSE event of invalid (truncated) JSON mid-stream
    stall_mid_stream_rate: float = 0.0  # no bytes for stall_seconds mid-stream, then the rest
    stall_seconds: float = 30.0
    drop_mid_stream_rate: float = 0.0  # close the connection mid-stream (no [DONE])
    no_usage_rate: float = 0.0  # never send usage, even when asked for

    def __post_init__(self) -> None:
        _check_str("host", self.host, "e.g. host='127.0.0.1'")
        if not isinstance(self.allow_remote, bool):
            raise ValueError(f"allow_remote must be True or False (got {self.allow_remote!r})")
        if not self.allow_remote and not is_loopback(self.host):
            raise ValueError(
                f"host={self.host!r} would expose the simulator to other machines, and it "
                "answers anyone; to bind it anyway pass allow_remote=True (CLI: --allow-remote), "
                "or keep the default host='127.0.0.1'"
            )
        _check_int("port", self.port, 0, "use port=0 to pick a free port")
        if self.port > 65535:
            raise ValueError(
                f"port must be <= 65535 (got {self.port}); use port=0 to pick a free port")
        _check_str("model", self.model, "e.g. model='sim'")
        if self.mode not in MODES:
            raise ValueError(
                f"unknown mode {self.mode!r}: use mode='batching' (continuous-batching engine, "
                "the default) or mode='fixed' (exact ttft/itl per request)"
            )
        _check_int("seed", self.seed, None, "e.g. seed=0")
        for name in ("ttft", "itl", "decode_base", "decode_per_seq", "prefill_base",
                     "prefill_per_token", "close_delay"):
            _check_seconds(name, getattr(self, name))
        _check_int("max_batch", self.max_batch, 1,
                   "it is the number of sequences decoded together; e.g. max_batch=16")
        if self.decode_base + self.decode_per_seq <= 0:
            raise ValueError(
                "decode_base and decode_per_seq are both 0, so an engine step would take no time "
                "and the engine would spin; give decode_base a positive value (e.g. 0.012), or "
                "use mode='fixed' with ttft=0, itl=0 for an instant server"
            )
        if isinstance(self.jitter, bool) or not isinstance(self.jitter, (int, float)) or not (
            0 <= self.jitter < 1
        ):
            raise ValueError(
                f"jitter must be a number in [0, 1) (got {self.jitter!r}); it is the relative "
                "spread of step durations, e.g. jitter=0.05 for +-5%, 0 for none"
            )
        if self.output_tokens is not None:
            _check_int("output_tokens", self.output_tokens, 1,
                       "or output_tokens=None to let each request's max_tokens decide")
        _check_int("reasoning_tokens", self.reasoning_tokens, 0,
                   "it is how many output tokens of each chat answer are reasoning, streamed "
                   "before the content; e.g. reasoning_tokens=32, or 0 for none")
        if not isinstance(self.close_after_response, bool):
            raise ValueError(
                f"close_after_response must be True or False (got {self.close_after_response!r})"
            )
        self._check_faults()

    def _check_faults(self) -> None:
        if self.api_key is not None and (not isinstance(self.api_key, str) or not self.api_key
                                         or any(c.isspace() for c in self.api_key)):
            raise ValueError(
                f"api_key must be a non-empty string without spaces (got {self.api_key!r}); "
                "e.g. api_key='sk-test', or api_key=None to accept every request"
            )
        for name in FAULTS:
            _check_rate(name + "_rate", getattr(self, name + "_rate"))
        total = sum(getattr(self, name + "_rate") for name in RESPONSE_FAULTS)
        if total > 1 + 1e-9:
            parts = ", ".join(f"{name}_rate={getattr(self, name + '_rate')}"
                              for name in RESPONSE_FAULTS if getattr(self, name + "_rate"))
            raise ValueError(
                f"the response-level fault rates add up to {total:g} ({parts}); a request gets "
                "at most one of them (one draw picks it), so their sum must be <= 1: lower them"
            )
        for name in ("retry_after", "slow_headers_seconds", "stall_seconds"):
            _check_seconds(name, getattr(self, name))

    @property
    def faults_enabled(self) -> bool:
        """True if any fault rate is above 0 (api_key aside)."""
        return any(getattr(self, name + "_rate") > 0 for name in FAULTS)

    @classmethod
    def from_namespace(cls, ns: argparse.Namespace) -> SimulatorConfig:
        """Build a config from parsed CLI arguments (attributes missing from `ns` keep defaults)."""
        values = {f.name: getattr(ns, f.name) for f in fields(cls) if hasattr(ns, f.name)}
        return cls(**values)

    def to_argv(self) -> list[str]:
        """The CLI arguments that reproduce this config (used by spawn())."""
        argv: list[str] = []
        for f in fields(self):
            value = getattr(self, f.name)
            flag = "--" + f.name.replace("_", "-")
            if isinstance(value, bool):
                if value:
                    argv.append(flag)
            elif value is not None:
                # repr keeps full float precision
                argv += [flag, repr(value) if isinstance(value, float) else str(value)]
        return argv

    def options(self) -> dict[str, Any]:
        """The options as a plain dict."""
        return {f.name: getattr(self, f.name) for f in fields(self)}


def is_loopback(host: str) -> bool:
    """True for 'localhost' and loopback IP literals (127.0.0.0/8, ::1)."""
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _check_rate(name: str, value: Any) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not (0 <= value <= 1):
        raise ValueError(
            f"{name} must be a number in [0, 1] (got {value!r}); it is the share of requests "
            f"that get this fault: e.g. {name}=0.1 for 10%, 1 for every request, 0 for none"
        )


def _check_str(name: str, value: Any, hint: str) -> None:
    if not isinstance(value, str) or not value:
        raise ValueError(f"{name} must be a non-empty string (got {value!r}); {hint}")


def _check_int(name: str, value: Any, minimum: int | None, hint: str) -> None:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError(f"{name} must be an integer (got {value!r}); {hint}")
    if minimum is not None and value < minimum:
        raise ValueError(f"{name} must be >= {minimum} (got {value}); {hint}")


def _check_seconds(name: str, value: Any) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise ValueError(f"{name} must be a finite number of seconds (got {value!r})")
    if value < 0:
        raise ValueError(
            f"{name} must be >= 0 seconds (got {value}); latencies cannot be negative, "
            f"use {name}=0 for none"
        )
