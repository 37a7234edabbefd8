"""Shared helpers for the benches: the bare aiohttp loop, an llmeter 0.2.0 adapter, CPU and RSS
meters, percentiles, table printing and the JSON results file.

Not a bench itself. The benches import it as `common` (they put bench/ on sys.path), so run them
from the repository root as `.venv/bin/python bench/<name>.py`.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import sys
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable, Sequence

import aiohttp

from llmeter_widget.stats import percentile as stats_percentile

ROOT = Path(__file__).resolve().parents[1]
RESULTS = Path(__file__).resolve().parent / "results"
if str(ROOT) not in sys.path:  # the benches run from a checkout, installed or not
    sys.path.insert(0, str(ROOT))

# llmeter reads this once, at import: no tqdm bars and no live stats table.
os.environ.setdefault("LLMETER_DISABLE_ALL_PROGRESS_BARS", "1")

MODEL = "sim"


# -- small utilities ---------------------------------------------------------------------------
def percentile(values: Sequence[float], q: float) -> float | None:
    """Linear-interpolation percentile (numpy's default), q in 0..100; None when empty."""
    return stats_percentile(sorted(values), q)


def add_trial_arguments(p: argparse.ArgumentParser, max_other: float) -> None:
    """The options every interleaved bench shares: disturbed-trial handling, llmeter or not."""
    p.add_argument("--retries", type=int, default=2,
                   help="re-run a trial that other processes disturbed (> --max-other cores), "
                        "keeping the least disturbed attempt (default 2)")
    p.add_argument("--quiet-wait", type=float, default=15.0,
                   help="before each trial, wait up to this many s for other processes to use "
                        "<= --max-other cores (0: do not wait)")
    p.add_argument("--max-other", type=float, default=max_other)
    p.add_argument("--pause", type=float, default=0.5, help="seconds between trials")
    p.add_argument("--no-llmeter", action="store_true", help="compare with the bare loop only")


def add_throughput_load_arguments(p: argparse.ArgumentParser) -> None:
    """The load of the throughput benches (bench_throughput, bench_live_stats): a fast fixed
    simulator, short answers, 64 and 256 clients, interleaved rounds; plus the trial options."""
    p.add_argument("--clients", type=int, nargs="+", default=[64, 256])
    p.add_argument("--duration", type=float, default=6.0, help="seconds per trial (default 6)")
    p.add_argument("--rounds", type=int, default=3, help="interleaved rounds (default 3)")
    p.add_argument("--ttft", type=float, default=0.001)
    p.add_argument("--itl", type=float, default=0.0005)
    p.add_argument("--max-tokens", type=int, default=16)
    add_trial_arguments(p, max_other=0.3)


def machine() -> dict[str, Any]:
    return {
        "date": datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "cpus": os.cpu_count(),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "aiohttp": aiohttp.__version__,
    }


def print_table(headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> None:
    """A plain fixed-width table on stdout."""
    cells = [[_fmt(c) for c in row] for row in rows]
    widths = [max(len(h), *(len(r[i]) for r in cells)) if cells else len(h)
              for i, h in enumerate(headers)]
    print("  ".join(h.rjust(w) for h, w in zip(headers, widths)))
    print("  ".join("-" * w for w in widths))
    for row in cells:
        print("  ".join(c.rjust(w) for c, w in zip(row, widths)))


def _fmt(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:,.2f}" if abs(value) >= 100 else f"{value:.3g}" if abs(value) < 0.01 else f"{value:.2f}"
    if isinstance(value, int):
        return f"{value:,}"
    return str(value)


def write_results(name: str, data: dict[str, Any]) -> Path:
    """bench/results/<name>.json (git-ignored), with the machine facts added."""
    RESULTS.mkdir(parents=True, exist_ok=True)
    path = RESULTS / f"{name}.json"
    payload = {"bench": name, "machine": machine(), "argv": sys.argv, **data}
    path.write_text(json.dumps(payload, indent=2, default=str) + "\n", encoding="utf-8")
    print(f"\nwrote {path.relative_to(ROOT)}")
    return path


def chat_payload(max_tokens: int) -> dict[str, Any]:
    """The one payload every tool sends (as our OpenAIChatEndpoint.create_payload builds it)."""
    from llmeter_widget.endpoints import OpenAIChatEndpoint

    return OpenAIChatEndpoint.create_payload("Tell me a story", max_tokens=max_tokens)


def wire_body(payload: dict[str, Any]) -> bytes:
    """The exact JSON our endpoint puts on the wire for `payload` (model, stream, usage)."""
    body = {**payload, "model": MODEL, "stream": True,
            "stream_options": {"include_usage": True}}
    return json.dumps(body).encode()


# -- CPU meter -----------------------------------------------------------------------------------
class CPUMeter:
    """CPU use over an interval, in cores (1.0 = one core busy the whole time): this process
    and its finished child processes (`client_cpu`), another pid such as the simulator
    (`server_cpu`), and everything else on
    the machine (`other_cpu`: other people's tests share these 2 cores too). `client_cpu_s` is
    this process's CPU seconds, for a per-request cost."""

    def __init__(self, server_pid: int | None) -> None:
        import psutil

        self._psutil = psutil
        self._me = psutil.Process()
        self._server = psutil.Process(server_pid) if server_pid else None

    def _times(self) -> tuple[float, float, float, float]:
        me = self._me.cpu_times()
        sv = self._server.cpu_times() if self._server else None
        total = self._psutil.cpu_times()
        busy = total.user + total.system + getattr(total, "nice", 0.0) + getattr(total, "irq", 0.0) \
            + getattr(total, "softirq", 0.0) + getattr(total, "steal", 0.0)
        # children_*: reaped child processes (worker processes, after their run); the simulator
        # is a child too but is reaped only at the end of a bench, after every trial.
        return (time.perf_counter(), me.user + me.system + me.children_user + me.children_system,
                (sv.user + sv.system) if sv else 0.0, busy)

    def __enter__(self) -> CPUMeter:
        self._start = self._times()
        return self

    def __exit__(self, *exc: object) -> None:
        end = self._times()
        wall = end[0] - self._start[0]
        self.client_cpu_s = end[1] - self._start[1]
        server_s = end[2] - self._start[2]
        other_s = max(0.0, (end[3] - self._start[3]) - self.client_cpu_s - server_s)
        self.client_cpu = self.client_cpu_s / wall if wall > 0 else None
        self.server_cpu = server_s / wall if wall > 0 else None
        self.other_cpu = other_s / wall if wall > 0 else None


async def wait_for_quiet(server_pid: int | None, max_other: float = 0.3, window: float = 1.0,
                         timeout: float = 30.0) -> float:
    """Wait (up to `timeout` s) until processes other than us and the simulator use at most
    `max_other` cores over a `window`-second look; returns the last reading.

    Other sessions' test runs share this 2-core machine: starting a trial in a quiet moment
    makes the comparison fairer (each trial still records what others used while it ran).
    """
    deadline = time.perf_counter() + timeout
    while True:
        with CPUMeter(server_pid) as meter:
            await asyncio.sleep(window)
        if meter.other_cpu is None or meter.other_cpu <= max_other or time.perf_counter() >= deadline:
            return meter.other_cpu or 0.0


async def clean_trial(
    run: Callable[[], Any], server_pid: int | None, *, quiet_wait: float = 15.0,
    max_other: float = 0.3, retries: int = 1,
) -> tuple[LoopResult, list[float]]:
    """Run one trial (`run()` returns a LoopResult) with CPU metering, in a quiet moment.

    Waits for quiet first (see wait_for_quiet); if other processes still used more than
    `max_other` cores during the trial, runs it again, up to `retries` times, and keeps the
    attempt that others disturbed least. The same rule applies to every tool. Returns the kept
    result and the other-load readings of all attempts.
    """
    best: LoopResult | None = None
    others: list[float] = []
    for _ in range(retries + 1):
        if quiet_wait > 0:
            await wait_for_quiet(server_pid, max_other, timeout=quiet_wait)
        with CPUMeter(server_pid) as cpu:
            result = await run()
        result.client_cpu, result.server_cpu = cpu.client_cpu, cpu.server_cpu
        result.other_cpu, result.client_cpu_s = cpu.other_cpu, cpu.client_cpu_s
        others.append(round(cpu.other_cpu or 0.0, 3))
        if best is None or (result.other_cpu or 0.0) < (best.other_cpu or 0.0):
            best = result
        if (result.other_cpu or 0.0) <= max_other:
            break
    assert best is not None
    return best, others


# -- the bare aiohttp loop -------------------------------------------------------------------
@dataclass
class LoopResult:
    """What one closed-loop run measured, whichever tool made it."""

    tool: str
    clients: int
    completed: int = 0
    failed: int = 0
    elapsed: float = 0.0  # wall seconds from start to the last client finishing
    ttfts: list[float] = field(default_factory=list)
    sends: list[float] = field(default_factory=list)  # per TTFT: send time, s after the start
    reported_rps: float | None = None  # the tool's own requests/s figure, if it has one
    client_cpu: float | None = None
    server_cpu: float | None = None
    other_cpu: float | None = None
    client_cpu_s: float | None = None

    @property
    def cpu_us_per_request(self) -> float | None:
        """Client CPU microseconds per successful request (robust to other load on the box)."""
        if self.client_cpu_s is None or not self.completed:
            return None
        return self.client_cpu_s / self.completed * 1e6

    @property
    def rps(self) -> float:
        return self.completed / self.elapsed if self.elapsed else 0.0


def _first_content_in(buffer: bytes) -> tuple[bool, bytes]:
    """Scan complete SSE events in `buffer`; True if one carries delta.content text.

    Returns the unparsed rest of the buffer. Minimal on purpose: data lines only, LF endings
    (what the simulator sends).
    """
    *events, rest = buffer.split(b"\n\n")
    for event in events:
        if not event.startswith(b"data: ") or event == b"data: [DONE]":
            continue
        try:
            obj = json.loads(event[6:])
        except ValueError:
            continue
        choices = obj.get("choices") or []
        if choices and (choices[0].get("delta") or {}).get("content"):
            return True, b""
    return False, rest


async def bare_loop(
    base_url: str,
    payload: dict[str, Any],
    clients: int,
    *,
    duration: float | None = None,
    n_requests: int | None = None,
    measure_ttft: bool = False,
) -> LoopResult:
    """The upper limit: N tasks, one ClientSession (TCPConnector(limit=0)), each task looping
    POST streaming chat request -> read the SSE stream to the end -> repeat.

    The body is encoded once. With `measure_ttft`, each task stamps TTFT when the first
    content-carrying SSE event arrives (same rule as our endpoint; the role-only chunk does not
    count), parsing only until then.
    """
    url = base_url.rstrip("/") + "/chat/completions"
    body = wire_body(payload)
    headers = {"Content-Type": "application/json", "Accept": "text/event-stream"}
    out = LoopResult("bare", clients)
    perf = time.perf_counter

    async def client(session: aiohttp.ClientSession, deadline: float | None) -> None:
        sent = 0
        while True:
            if deadline is not None:
                if perf() >= deadline:
                    return
            elif sent >= (n_requests or 1):
                return
            sent += 1
            t_send = perf()
            t_first = None
            try:
                async with session.post(url, data=body, headers=headers) as resp:
                    if resp.status != 200:
                        await resp.read()
                        out.failed += 1
                        continue
                    if measure_ttft:
                        buf = b""
                        async for chunk in resp.content.iter_any():
                            now = perf()
                            if t_first is None:
                                found, buf = _first_content_in(buf + chunk)
                                if found:
                                    t_first = now
                    else:
                        async for _ in resp.content.iter_any():
                            pass
            except (aiohttp.ClientError, asyncio.TimeoutError):
                out.failed += 1
                continue
            out.completed += 1
            if t_first is not None:
                out.ttfts.append(t_first - t_send)
                out.sends.append(t_send - start)

    connector = aiohttp.TCPConnector(limit=0)
    async with aiohttp.ClientSession(connector=connector,
                                     timeout=aiohttp.ClientTimeout(total=None)) as session:
        start = perf()
        deadline = start + duration if duration is not None else None
        await asyncio.gather(*(client(session, deadline) for _ in range(clients)))
        out.elapsed = perf() - start
    return out


def _bare_loop_in_this_process(args: tuple[str, dict[str, Any], int, float]) -> LoopResult:
    base_url, payload, clients, duration = args
    return asyncio.run(bare_loop(base_url, payload, clients, duration=duration, measure_ttft=True))


async def bare_loop_processes(base_url: str, payload: dict[str, Any], clients: int,
                              processes: int, duration: float) -> LoopResult:
    """The bare loop split over `processes` processes (spawned for this trial, reaped at its
    end, so a CPUMeter around it counts them): the reference for N worker processes.

    Each process times its own share from its own start; the TTFTs and send times (seconds
    after that process's start) are pooled.
    """
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    shares = [clients // processes + (1 if i < clients % processes else 0)
              for i in range(processes)]
    loop = asyncio.get_running_loop()
    with ProcessPoolExecutor(processes, mp_context=multiprocessing.get_context("spawn")) as pool:
        parts = await asyncio.gather(*(
            loop.run_in_executor(pool, _bare_loop_in_this_process, (base_url, payload, n, duration))
            for n in shares))
    out = LoopResult(f"bare-p{processes}", clients)
    for part in parts:
        out.completed += part.completed
        out.failed += part.failed
        out.elapsed = max(out.elapsed, part.elapsed)
        out.ttfts += part.ttfts
        out.sends += part.sends
    return out


# -- our Runner ------------------------------------------------------------------------------
async def run_ours(
    base_url: str,
    payload: dict[str, Any],
    clients: int,
    *,
    duration: float | None = None,
    n_requests: int | None = None,
    keep_ttft: bool = False,
    **runner_kwargs: Any,
) -> LoopResult:
    """One llmeter_widget Runner run (in memory, no live view); wall time measured around it."""
    from llmeter_widget import Runner
    from llmeter_widget.endpoints import OpenAIChatEndpoint

    ep = OpenAIChatEndpoint(base_url=base_url, model=MODEL)
    runner_kwargs.setdefault("output_path", None)
    runner = Runner(ep, payload, live_view=False, **runner_kwargs)
    start = time.perf_counter()
    result = await runner.run(clients=clients, run_duration=duration, n_requests=n_requests)
    elapsed = time.perf_counter() - start
    stats = result.stats
    out = LoopResult("ours", clients, elapsed=elapsed,
                     completed=stats["total_requests"] - stats["failed_requests"],
                     failed=stats["failed_requests"])
    rpm = stats.get("requests_per_minute")
    out.reported_rps = rpm / 60 if rpm else None
    if keep_ttft:
        kept = [r for r in result.responses if r.ok and r.time_to_first_token is not None]
        out.ttfts = [r.time_to_first_token for r in kept]
        out.sends = [r.t_send - start for r in kept]
    return out


# -- llmeter 0.2.0 ---------------------------------------------------------------------------
def llmeter_available() -> str | None:
    """None if llmeter 0.2.0's OpenAI streaming endpoint imports, else why not."""
    try:
        import llmeter  # noqa: F401
        from llmeter.endpoints.openai import OpenAICompletionStreamEndpoint  # noqa: F401
    except ImportError as exc:
        return (f"{exc}: install it with .venv/bin/pip install 'llmeter[openai]==0.2.0' "
                "'openai<3' (llmeter 0.2.0 imports httpx; openai 3.x moved to httpx2)")
    return None


async def run_llmeter(
    base_url: str,
    payload: dict[str, Any],
    clients: int,
    *,
    duration: float | None = None,
    n_requests: int | None = None,
    keep_ttft: bool = False,
) -> LoopResult:
    """One llmeter 0.2.0 run with its OpenAI-compatible streaming endpoint.

    llmeter runs each client as a thread (asyncio.to_thread) calling the synchronous `openai`
    client, and counts tokens/stats in a queue consumer on the event loop. Progress bars and
    its live table are off (LLMETER_DISABLE_ALL_PROGRESS_BARS=1, set before import).
    """
    from llmeter.endpoints.openai import OpenAICompletionStreamEndpoint
    from llmeter.runner import Runner as LlmeterRunner

    ep = OpenAICompletionStreamEndpoint(model_id=MODEL, base_url=base_url, api_key="not-needed")
    runner = LlmeterRunner(endpoint=ep, output_path=None,
                           disable_per_client_progress_bar=True,
                           disable_clients_progress_bar=True)
    start = time.perf_counter()
    start_wall = datetime.now(timezone.utc)
    result = await runner.run(payload=payload, clients=clients,
                              run_duration=duration, n_requests=n_requests)
    elapsed = time.perf_counter() - start
    failed = sum(1 for r in result.responses if r.error)
    out = LoopResult("llmeter", clients, elapsed=elapsed,
                     completed=len(result.responses) - failed, failed=failed)
    rpm = result.stats.get("requests_per_minute")
    out.reported_rps = rpm / 60 if rpm else None
    if keep_ttft:
        kept = [r for r in result.responses if not r.error and r.time_to_first_token is not None]
        out.ttfts = [r.time_to_first_token for r in kept]
        out.sends = [(r.request_time - start_wall).total_seconds() if r.request_time else 0.0
                     for r in kept]
    ep._client.close()  # free its connection pool before the next trial
    return out


# -- RSS sampler -----------------------------------------------------------------------------
class RSSSampler:
    """Samples this process's RSS every `interval` s in a background task.

    `progress` (optional) is read at each sample, e.g. the number of responses so far, so the
    bench can find the first sample past a warm-up count.
    """

    def __init__(self, interval: float = 1.0, progress: Callable[[], int] | None = None) -> None:
        import psutil

        self._proc = psutil.Process()
        self.interval = interval
        self.progress = progress
        self.samples: list[tuple[float, int, int]] = []  # (seconds since start, rss, progress)
        self._task: asyncio.Task[None] | None = None
        self._t0 = time.perf_counter()

    def sample(self) -> int:
        rss = self._proc.memory_info().rss
        count = 0
        if self.progress is not None:
            try:
                count = int(self.progress())
            except Exception:  # noqa: BLE001 - progress is best effort
                count = 0
        self.samples.append((time.perf_counter() - self._t0, rss, count))
        return rss

    async def _loop(self) -> None:
        while True:
            self.sample()
            await asyncio.sleep(self.interval)

    def start(self) -> None:
        self._t0 = time.perf_counter()
        self._task = asyncio.create_task(self._loop())

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            try:
                await self._task
            except asyncio.CancelledError:
                pass
        self.sample()


MB = 1024 * 1024
