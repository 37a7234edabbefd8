"""Command line of the simulator: `python -m llmeter_widget.simulator` / `llmeter-widget simulate`.

`add_arguments(parser)` adds every option (same names and defaults as `SimulatedServer`);
`main(args)` runs the server until SIGINT/SIGTERM. The first stdout line is always
`llmeter-widget simulator listening on http://HOST:PORT/v1` (flushed), which spawn() waits for.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import sys
import threading

from ..limits import ensure_open_files
from .config import MODES, SimulatorConfig
from .process import LISTENING_PREFIX
from .server import SimulatedServer

_DEFAULTS = SimulatorConfig()


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the simulator's options to `parser`.

    Example::

        parser = argparse.ArgumentParser()
        add_arguments(parser)
        sys.exit(main(parser.parse_args()))
    """
    d = _DEFAULTS
    net = parser.add_argument_group("server")
    net.add_argument("--host", default=d.host,
                     help="interface to bind (default: %(default)s); anything but a loopback "
                          "address needs --allow-remote")
    net.add_argument("--allow-remote", action="store_true",
                     help="allow a --host other than 127.0.0.1/::1/localhost (e.g. 0.0.0.0): "
                          "the simulator then answers anyone on the network")
    net.add_argument("--port", type=int, default=d.port,
                     help="TCP port, 0 picks a free one (default: %(default)s)")
    net.add_argument("--model", default=d.model,
                     help="the model name served; others get 404 (default: %(default)s)")
    net.add_argument("--mode", choices=MODES, default=d.mode,
                     help="latency model: 'batching' (continuous batching, like vLLM) or 'fixed' "
                          "(exact --ttft/--itl) (default: %(default)s)")
    net.add_argument("--seed", type=int, default=d.seed,
                     help="seed of the token text and of the step jitter (default: %(default)s)")
    net.add_argument("--output-tokens", type=int, default=d.output_tokens,
                     help="cap on every answer's length in tokens (default: the request's "
                          "max_tokens, or 128)")
    net.add_argument("--reasoning-tokens", type=int, default=d.reasoning_tokens,
                     help="act as a reasoning model: the first N output tokens of each chat "
                          "answer are streamed as delta.reasoning_content before the content "
                          "(they count in completion_tokens and in "
                          "completion_tokens_details.reasoning_tokens; max_tokens caps both) "
                          "(default: %(default)s, no reasoning)")
    net.add_argument("--close-after-response", action="store_true",
                     help="close the TCP connection after each response while still "
                          "advertising keep-alive, like llama.cpp's server")
    net.add_argument("--close-delay", type=float, default=d.close_delay,
                     help="with --close-after-response: seconds before the close; a request "
                          "sent in that window is dropped (default: %(default)s)")
    net.add_argument("--watch-stdin", action="store_true", help=argparse.SUPPRESS)

    fixed = parser.add_argument_group("--mode fixed")
    fixed.add_argument("--ttft", type=float, default=d.ttft,
                       help="seconds from arrival to the first token (default: %(default)s)")
    fixed.add_argument("--itl", type=float, default=d.itl,
                       help="seconds between tokens (default: %(default)s)")

    batching = parser.add_argument_group(
        "--mode batching",
        "step = (decode_base + decode_per_seq * active + sum over admitted of (prefill_base + "
        "prefill_per_token * prompt_tokens)) * (1 +- jitter); each active request gets one "
        "token per step")
    batching.add_argument("--max-batch", type=int, default=d.max_batch,
                          help="requests decoded together; more wait in a queue "
                               "(default: %(default)s)")
    batching.add_argument("--decode-base", type=float, default=d.decode_base,
                          help="fixed seconds per step (default: %(default)s)")
    batching.add_argument("--decode-per-seq", type=float, default=d.decode_per_seq,
                          help="seconds per step per active request (default: %(default)s)")
    batching.add_argument("--prefill-base", type=float, default=d.prefill_base,
                          help="seconds added to a step per newly admitted request "
                               "(default: %(default)s)")
    batching.add_argument("--prefill-per-token", type=float, default=d.prefill_per_token,
                          help="seconds per prompt token of a newly admitted request "
                               "(default: %(default)s)")
    batching.add_argument("--jitter", type=float, default=d.jitter,
                          help="relative random spread of step durations (default: %(default)s)")

    faults = parser.add_argument_group(
        "faults",
        "Inject failures into completion requests. Each --X-rate is the share of requests "
        "that get fault X, in [0, 1] (1: every request, 0: none), drawn with a RNG seeded by "
        "--seed. Per request, one draw picks at most one of unauthorized, rate-limit, "
        "error-500, error-503, non-sse (in that order; their rates must add up to <= 1); "
        "slow-headers, malformed-json, stall-mid-stream, drop-mid-stream and no-usage are "
        "drawn independently. Mid-stream faults happen after half of the tokens.")
    faults.add_argument("--api-key", default=d.api_key, metavar="KEY",
                        help="require 'Authorization: Bearer KEY' on /v1 requests, else 401 "
                             "(default: no key needed)")

    def rate(name: str, what: str) -> None:
        faults.add_argument("--" + name.replace("_", "-"), type=float, metavar="RATE",
                            default=getattr(d, name), help=what + " (default: %(default)s)")

    def seconds(name: str, what: str) -> None:
        faults.add_argument("--" + name.replace("_", "-"), type=float, metavar="SECONDS",
                            default=getattr(d, name), help=what + " (default: %(default)s)")

    rate("unauthorized_rate", "share of requests answered 401 invalid_api_key")
    rate("rate_limit_rate", "share of requests answered 429 rate_limit_exceeded with Retry-After")
    seconds("retry_after", "seconds in the 429's Retry-After (rounded up) and retry-after-ms "
                           "headers")
    rate("error_500_rate", "share of requests answered 500 server_error")
    rate("error_503_rate", "share of requests answered 503 with an nginx HTML page")
    rate("non_sse_rate", "share of streaming requests answered with a plain JSON body "
                         "(200, application/json)")
    rate("slow_headers_rate", "share of requests that wait --slow-headers-seconds before the "
                              "response headers")
    seconds("slow_headers_seconds", "delay of --slow-headers-rate")
    rate("malformed_json_rate", "share of streams with one extra event of truncated JSON")
    rate("stall_mid_stream_rate", "share of streams that send nothing for --stall-seconds, then "
                                  "the rest")
    seconds("stall_seconds", "silence of --stall-mid-stream-rate; make it longer than the "
                             "client's read timeout")
    rate("drop_mid_stream_rate", "share of streams whose TCP connection is closed mid-stream, "
                                 "without [DONE]")
    rate("no_usage_rate", "share of requests that never get usage, even with "
                          "stream_options.include_usage")


def main(args: argparse.Namespace) -> int:
    """Run the simulator until SIGINT/SIGTERM (or stdin EOF with --watch-stdin). Returns 0 on a
    clean stop, 2 for invalid options, 1 if the server cannot start (e.g. port in use)."""
    try:
        config = SimulatorConfig.from_namespace(args)
    except ValueError as exc:
        print(f"llmeter-widget simulate: error: {exc}", file=sys.stderr)
        return 2
    try:
        asyncio.run(_serve(config, watch_stdin=bool(getattr(args, "watch_stdin", False))))
    except OSError as exc:
        print(f"llmeter-widget simulate: cannot serve on {config.host}:{config.port}: {exc}",
              file=sys.stderr)
        return 1
    except KeyboardInterrupt:  # SIGINT before the handler was installed
        pass
    return 0


async def _serve(config: SimulatorConfig, *, watch_stdin: bool) -> None:
    ensure_open_files(10_000)  # one socket per client connected to us
    server = SimulatedServer.from_config(config)
    await server.start()
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        try:
            loop.add_signal_handler(sig, stop.set)
        except (NotImplementedError, RuntimeError):  # Windows, or not the main thread
            pass
    if watch_stdin:
        threading.Thread(target=_wait_stdin_eof, args=(loop, stop), daemon=True,
                         name="sim-stdin-watch").start()
    print(LISTENING_PREFIX + server.base_url, flush=True)
    try:
        await stop.wait()
    finally:
        await server.stop()
        print(f"llmeter-widget simulator stopped after {server.requests_served} requests",
              file=sys.stderr, flush=True)


def _wait_stdin_eof(loop: asyncio.AbstractEventLoop, stop: asyncio.Event) -> None:
    # Our parent holds the other end of stdin; EOF means it closed it or died. os.read, not
    # sys.stdin: a daemon thread blocked inside the buffered reader holds its lock and delays
    # interpreter shutdown by a second.
    try:
        fd = sys.stdin.fileno()
        while os.read(fd, 65536):
            pass
    except (OSError, ValueError):
        pass
    try:
        loop.call_soon_threadsafe(stop.set)
    except RuntimeError:  # the loop is already closed
        pass
