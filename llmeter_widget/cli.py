"""The `llmeter-widget` command: `run` a load test, `simulate` a server, `demo` both, or
`report` a saved run or sweep as one HTML file.

Parsing uses the standard library's argparse (sub-commands, types and help for free).

Examples:
    llmeter-widget demo --duration 20 --clients 16
    llmeter-widget simulate --port 8000 --max-batch 16
    llmeter-widget run --url http://127.0.0.1:8000/v1 --model sim --clients 8 --duration 30
    llmeter-widget dashboard                      # the live dashboard as a page (Voila)
    llmeter-widget demo --stat "p95 TTFT=time_to_first_token-p95" --stat "Req/min=requests_per_minute"
    llmeter-widget report runs/20260101-120000 -o report.html
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import sys
from typing import Callable, Sequence

from . import __version__
from .cost import CostModel
from .display import DEFAULT_GROUPS
from .endpoints import OpenAIChatEndpoint, OpenAICompletionEndpoint
from .endpoints.openai import _validate_base_url
from .runner import Runner
from .simulator import cli as simulator_cli

DEFAULT_PROMPT = "Write a short story about a lighthouse keeper who finds a message in a bottle."


def _number(convert: Callable[[str], float], what: str, accept: Callable[[float], bool],
            rule: str) -> Callable[[str], float]:
    """An argparse type: `convert(text)`, refused with "VALUE RULE" unless `accept(value)`."""

    def parse(text: str) -> float:
        try:
            value = convert(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not {what}") from None
        if not accept(value):
            raise argparse.ArgumentTypeError(f"{value} {rule}")
        return value

    return parse


_positive_int = _number(int, "a whole number", lambda v: v >= 1, "is too small: it must be 1 or more")
_whole_number = _number(int, "a whole number", lambda v: v >= 0, "must be 0 or more")


def _workers(text: str) -> int | str:
    """--workers: a whole number or "auto"."""
    if text.strip().lower() == "auto":
        return "auto"
    try:
        return int(_whole_number(text))
    except argparse.ArgumentTypeError as exc:
        raise argparse.ArgumentTypeError(f"{exc} (give a whole number, or auto)") from None
_positive_float = _number(float, "a number of seconds", lambda v: v > 0,  # NaN is refused too
                          "must be more than 0 seconds")
_seconds_or_zero = _number(float, "a number of seconds", lambda v: 0 <= v < float("inf"),
                           "must be 0 seconds or more")


def _stat(text: str) -> tuple[str, dict[str, object]]:
    """'LABEL=KEY[:UNIT[:TRANSFORM]]' -> (label, {"key": KEY, "unit": UNIT, "transform": ...}).

    TRANSFORM is "inverse" or a number to multiply by; both are checked by DisplaySpec.
    """
    label, sep, spec = text.partition("=")
    key, *rest = spec.split(":")
    if not sep or not label.strip() or not key.strip() or len(rest) > 2:
        raise argparse.ArgumentTypeError(
            f"{text!r} is not LABEL=KEY[:UNIT[:TRANSFORM]]: e.g. --stat 'p99 TTFT=time_to_first_token-p99' "
            "or --stat 'Per-request tok/s=time_per_output_token-p50:tok/s:inverse'")
    stat: dict[str, object] = {"key": key.strip()}
    if rest and rest[0].strip():
        stat["unit"] = rest[0].strip()
    if len(rest) == 2:
        transform = rest[1].strip()
        try:
            stat["transform"] = float(transform)
        except ValueError:
            stat["transform"] = transform  # "inverse", or an error from DisplaySpec naming it
    return label.strip(), stat


def _group(text: str) -> tuple[str, tuple[str, ...]]:
    """'NAME=PATTERN[,PATTERN]' -> (name, patterns); the patterns are checked by DisplaySpec."""
    name, sep, patterns = text.partition("=")
    if not sep or not name.strip() or not patterns.strip():
        raise argparse.ArgumentTypeError(
            f"{text!r} is not NAME=PATTERN: e.g. --group 'Latency=^time_to'")
    return name.strip(), tuple(p for p in patterns.split(",") if p)


def _prices(text: str) -> tuple[float, float]:
    parts = text.split(",")
    try:
        prices = tuple(float(p) for p in parts)
    except ValueError:
        prices = ()
    if len(prices) != 2 or any(not p >= 0 for p in prices):
        raise argparse.ArgumentTypeError(
            f"{text!r} is not two prices: give dollars per million input and output tokens, "
            "e.g. --price 0.15,0.60")
    return prices  # type: ignore[return-value]


def _add_load_arguments(parser: argparse.ArgumentParser) -> None:
    """Options shared by `run` and `demo`: how much load, for how long, where results go."""
    parser.add_argument("--clients", type=_positive_int, default=8,
                        help="concurrent closed-loop clients (default 8)")
    bound = parser.add_mutually_exclusive_group()
    bound.add_argument("--duration", type=_positive_float,
                       help="time-bound run: seconds of sending")
    bound.add_argument("--requests", type=_positive_int,
                       help="count-bound run: requests per client")
    parser.add_argument("--workers", type=_workers, default=0, metavar="N|auto",
                        help="send the requests from N worker processes (each with its own event "
                             "loop); 0, the default, sends them from this process; auto chooses "
                             "from the clients and this machine's cores")
    parser.add_argument("--warm-connections", action="store_true",
                        help="open every client's connection before the clock starts (the first "
                             "wave then measures keep-alive clients, not connection setup)")
    parser.add_argument("--drain-timeout", type=_seconds_or_zero, default=30.0, metavar="SECONDS",
                        help="after a time-bound run's deadline, how long requests in flight may "
                             "take to finish before they are cancelled (default 30)")
    parser.add_argument("--output", default="runs",
                        help="folder for result folders (default ./runs); '' keeps them in memory")
    parser.add_argument("--run-name", help="name of the result folder (default: a timestamp)")
    parser.add_argument("--low-memory", action="store_true",
                        help="keep responses on disk only (sketched percentiles, 1%% error)")
    parser.add_argument("--prompt", default=DEFAULT_PROMPT, help="the prompt every request sends")
    parser.add_argument("--max-tokens", type=_positive_int, default=128,
                        help="max_tokens of every request (default 128)")
    parser.add_argument("--payload", help="a .jsonl (or .json) file of request bodies, instead of --prompt")
    table = parser.add_mutually_exclusive_group()
    table.add_argument(
        "--stat", action="append", type=_stat, metavar="LABEL=KEY[:UNIT[:TRANSFORM]]",
        help="a stat for the live table, e.g. --stat 'p99 TTFT=time_to_first_token-p99' or "
             "--stat 'tok/s=time_per_output_token-p50:tok/s:inverse' (TRANSFORM: inverse, or a "
             "number to multiply by); repeat it for more (replaces the default table)")
    table.add_argument("--no-stats", action="store_true",
                       help="no live table: only the progress line")
    parser.add_argument(
        "--group", action="append", type=_group, metavar="NAME=PATTERN[,PATTERN]",
        help="a table group matched before the default ones: stats whose key a pattern (a regular "
             "expression) is found in go under NAME, e.g. --group 'Latency=^time_to'; repeatable")
    parser.add_argument("--price", type=_prices, metavar="IN,OUT",
                        help="dollars per million input and output tokens, e.g. --price 0.15,0.60: "
                             "adds the live cost (cost-total, cost-per_request) to the table and stats.json")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="llmeter-widget",
        description="Load-test OpenAI-compatible LLM endpoints with a live statistics table.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    run = commands.add_parser("run", help="load-test an OpenAI-compatible endpoint",
                              description="Load-test an OpenAI-compatible endpoint.")
    run.add_argument("--url", required=True,
                     help="base URL of the API, e.g. http://127.0.0.1:8000/v1")
    run.add_argument("--model", required=True, help="model name the server serves")
    run.add_argument("--api", choices=("chat", "completions"), default="chat",
                     help="which API to call (default chat)")
    run.add_argument("--api-key-env", metavar="NAME",
                     help="name of the environment variable holding the API key (never the key itself)")
    run.add_argument("--no-stream", action="store_true", help="do not stream (TTFT = TTLT)")
    run.add_argument("--timeout", type=_positive_float, default=600.0,
                     help="seconds a whole request may take (default 600)")
    _add_load_arguments(run)

    demo = commands.add_parser(
        "demo", help="start the simulated server in its own process and load-test it",
        description="Start the embedded simulated LLM server and run a live load test against it.",
    )
    _add_load_arguments(demo)
    # Shorter answers than `run`: the live table moves several times a second.
    demo.set_defaults(duration=None, max_tokens=48, clients=16)
    demo.add_argument("--max-batch", type=_positive_int, default=16,
                      help="batch slots of the simulated server (default 16)")

    simulate = commands.add_parser(
        "simulate", help="serve the simulated OpenAI-compatible LLM",
        description="Serve the embedded simulated OpenAI-compatible LLM until interrupted.",
    )
    simulator_cli.add_arguments(simulate)

    page = commands.add_parser(
        "dashboard", help="serve the live dashboard as a web page (Voila), for a room",
        description="Serve the dashboard as a page of its own on 127.0.0.1 (Voila: the code is "
                    "hidden, Run, Stop and the sliders work). Without --url it drives the "
                    "embedded simulated server.")
    page.add_argument("--url", help="base URL of an OpenAI-compatible API (default: the simulator)")
    page.add_argument("--model", help="model name the server serves (needed with --url)")
    page.add_argument("--api", choices=("chat", "completions"), default="chat")
    page.add_argument("--api-key-env", metavar="NAME",
                      help="name of the environment variable holding the API key")
    page.add_argument("--clients", type=_positive_int, default=8, help="clients (default 8)")
    page.add_argument("--duration", type=_positive_float, default=30.0,
                      help="seconds a run lasts (default 30; the page's slider changes it)")
    page.add_argument("--max-tokens", type=_positive_int, default=48)
    page.add_argument("--output", default="runs", help="folder for result folders (default ./runs)")
    page.add_argument("--port", type=_positive_int, default=8866, help="port (default 8866)")
    page.add_argument("--theme", choices=("light", "dark"), default="light")
    page.add_argument("--present", action="store_true",
                      help="open in presentation mode: the dashboard fills the window in "
                           "projector type (Esc returns to the page's layout)")

    report = commands.add_parser(
        "report", help="write the HTML report of a saved run or sweep",
        description="Write one self-contained HTML file (it opens offline) of a saved run's "
                    "folder or a client sweep's folder: settings, stats table, charts, errors.",
    )
    report.add_argument("folder", metavar="RUN_OR_SWEEP_FOLDER",
                        help="a run's folder (summary.json, responses.jsonl ...) or a sweep's "
                             "(load_test.json, <N>-clients folders)")
    report.add_argument("-o", "--output", metavar="FILE",
                        help="where to write the report (default: report.html in the folder)")
    return parser


def _report(args: argparse.Namespace) -> int:
    """Write the report of a saved run or sweep folder; print its path."""
    from pathlib import Path

    from .experiments import LoadTestResult
    from .overlays import is_sweep_folder
    from .results import Result

    folder = Path(args.folder)
    if not folder.is_dir():
        raise ValueError(f"{folder} is not a folder: give a saved run's folder or a sweep's.")
    try:
        if is_sweep_folder(folder):
            path = LoadTestResult.load(folder).to_html(args.output)
        else:
            path = Result.load(folder).to_html(args.output)
    except FileNotFoundError:
        raise ValueError(
            f"{folder} holds no saved run or sweep: expected a run's folder (summary.json, "
            "stats.json or responses.jsonl) or a sweep's (load_test.json or <N>-clients folders)."
        ) from None
    except OSError as exc:
        raise ValueError(f"cannot write the report ({exc.strerror or exc}): choose another "
                         "path with -o.") from None
    print(path)
    return 0


def _page(args: argparse.Namespace) -> int:
    """Serve the dashboard page (page.py) until Ctrl-C."""
    from . import page

    if args.url is not None and not args.model:
        raise ValueError("--url needs --model: the model name the server serves.")
    if args.url is not None:
        _validate_base_url(args.url)
    name = args.api_key_env
    if name and name not in os.environ:
        raise ValueError(f"--api-key-env {name}: the environment variable {name} is not set. "
                         f"Export it first (export {name}=...), then run the command again.")
    cell = page.dashboard_cell(url=args.url, model=args.model, api=args.api, api_key_env=name,
                               clients=args.clients, duration=args.duration,
                               output=os.path.abspath(args.output), max_tokens=args.max_tokens,
                               present=args.present)
    return page.serve(cell, port=args.port, theme=args.theme)


def _runner(args: argparse.Namespace, endpoint) -> Runner:  # noqa: ANN001
    payload = args.payload or type(endpoint).create_payload(args.prompt, max_tokens=args.max_tokens)
    callbacks = [CostModel(*args.price)] if args.price else []
    live_stats = {} if args.no_stats else (dict(args.stat) if args.stat else None)
    groups = (*args.group, *DEFAULT_GROUPS) if args.group else DEFAULT_GROUPS
    return Runner(endpoint, payload, output_path=args.output or None, live_view=True,
                  callbacks=callbacks, live_stats=live_stats, groups=groups,
                  drain_timeout=args.drain_timeout, workers=args.workers,
                  warm_connections=args.warm_connections)


async def _run_load(args: argparse.Namespace, endpoint) -> int:  # noqa: ANN001
    runner = _runner(args, endpoint)  # raises ValueError for an unknown --stat key
    try:
        result = await runner.run(
            clients=args.clients, n_requests=args.requests, run_duration=args.duration,
            run_name=args.run_name, low_memory=args.low_memory,
        )
    except asyncio.CancelledError:
        last = runner.last_result
        if last is not None and last.output_path:
            print(f"\nInterrupted: what was measured is saved in {last.output_path}", file=sys.stderr)
        raise
    if result.output_path:
        print(f"Result saved in {result.output_path}", file=sys.stderr)
    return 0 if result.status == "completed" else 1


def _endpoint_from_args(args: argparse.Namespace):  # noqa: ANN202
    name = args.api_key_env
    if name and name not in os.environ:  # the endpoint's own message speaks Python (api_key=)
        raise ValueError(f"--api-key-env {name}: the environment variable {name} is not set. "
                         f"Export it first (export {name}=...), then run the command again.")
    cls = OpenAIChatEndpoint if args.api == "chat" else OpenAICompletionEndpoint
    return cls(base_url=args.url, model=args.model, api_key_env=args.api_key_env,
               stream=not args.no_stream, timeout=args.timeout)


async def _demo(args: argparse.Namespace) -> int:
    from .simulator import SimulatedServer

    if args.duration is None and args.requests is None:
        args.duration = 20.0
    with SimulatedServer.spawn(max_batch=args.max_batch) as server:
        print(f"Simulated LLM server (max_batch={args.max_batch}) at {server.base_url}",
              file=sys.stderr)
        endpoint = OpenAIChatEndpoint(base_url=server.base_url, model="sim")
        return await _run_load(args, endpoint)


def _restore_ctrl_c() -> None:
    """Make Ctrl-C stop the run however the command was launched.

    A process started in the background (`nohup ... &`, some CI runners and process managers)
    inherits SIGINT *ignored*; Python then keeps it ignored and asyncio.run() installs no handler
    of its own, so Ctrl-C would do nothing and a run could only be killed, losing the end of its
    result. Python's default handler restores the usual path: asyncio.run() cancels the run,
    which saves what was measured.
    """
    try:
        signal.signal(signal.SIGINT, signal.default_int_handler)
    except ValueError:  # not the main thread (main() called from a thread): leave it as it is
        pass


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the `llmeter-widget` command."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command == "simulate":
        return simulator_cli.main(args)
    _restore_ctrl_c()
    try:
        if args.command == "dashboard":
            return _page(args)
        if args.command == "report":
            return _report(args)
        if args.command == "demo":
            return asyncio.run(_demo(args))
        endpoint = _endpoint_from_args(args)
        return asyncio.run(_run_load(args, endpoint))
    except ValueError as exc:  # bad input: name the problem and the fix, no traceback
        parser.exit(2, f"llmeter-widget: error: {exc}\n")
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
