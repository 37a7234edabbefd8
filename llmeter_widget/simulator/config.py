"""The simulator's options in one validated dataclass, shared by the Python API, CLI and spawn().

Keeping one definition means `SimulatedServer(...)`, `SimulatedServer.spawn(...)` and
`llmeter-widget simulate --...` accept the same names, defaults and checks.
"""

from __future__ import annotations

import argparse
import math
from dataclasses import dataclass, fields
from typing import Any

MODES = ("batching", "fixed")

# Used when a request has neither max_tokens nor max_completion_tokens.
DEFAULT_MAX_TOKENS = 128


@dataclass(frozen=True)
class SimulatorConfig:
    """All options of the simulated server.

    Latency parameters are in seconds. Example::

        cfg = SimulatorConfig(mode="fixed", ttft=0.1, itl=0.02)
        cfg.to_argv()   # ['--host', '127.0.0.1', '--port', '0', ..., '--ttft', '0.1', ...]
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
    # Close the TCP connection after each response without saying so (like llama.cpp).
    close_after_response: bool = False
    # How long a connection stays open after a response when close_after_response is set; a
    # request that arrives on it in that window is dropped unanswered.
    close_delay: float = 0.005

    def __post_init__(self) -> None:
        _check_str("host", self.host, "e.g. host='127.0.0.1'")
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
        if not isinstance(self.close_after_response, bool):
            raise ValueError(
                f"close_after_response must be True or False (got {self.close_after_response!r})"
            )

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
