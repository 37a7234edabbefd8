"""RSS growth of a long run in low-memory mode (and, for contrast, without it); the cost of the
live window's per-second close.

Run:  .venv/bin/python bench/bench_memory.py                      (200k requests low-memory +
                                                                    50k in-memory; ~6-10 min)
      nohup .venv/bin/python bench/bench_memory.py > bench/results/bench_memory.log 2>&1 &
      .venv/bin/python bench/bench_memory.py --total 50000 --full-total 20000   (quicker)
      .venv/bin/python bench/bench_memory.py --only low                          (one phase)
      .venv/bin/python bench/bench_memory.py --minutes 10 --clients 128   (time-bound: RSS from
                                                  minute 1 to minute 10, old and new live window)
      .venv/bin/python bench/bench_memory.py --close-cost       (no server, seconds: the live
                                                  window's close at 10 .. 5,000 req/s, old vs new)

Each phase runs in a fresh Python process (this script re-runs itself with --phase), so one
phase's heap does not hide the other's growth. In each: the simulator in its own process (fixed
mode, ttft=1 ms, itl=0.5 ms, max_tokens=8: tiny latency, so the run is fast), and
Runner(OpenAIChatEndpoint, output_path=<temp dir>, live_view=False) with `clients` clients and
n_requests per client so that clients * n_requests = total. A background task samples this
process's RSS (psutil) every second, with the number of responses recorded so far.

- low:  low_memory=True, 200k requests (--total). Responses go to responses.jsonl only and the
        percentiles to DDSketches, so memory should stay flat.
        Reported: RSS at the first sample after --warmup responses (10k), RSS at the end of the
        run (last sample before run() returns), peak, growth = end - after warm-up, and the
        least-squares slope of RSS over the responses after warm-up (MB per 100k).
        Target (issue): growth <= 20 MB.
- full: low_memory=False, 50k requests (--full-total): every InvocationResponse is kept in
        result.responses and every value in exact percentile lists, so RSS grows with the count.

--minutes N: two time-bound low-memory phases of N minutes each, at the highest rate the machine
sustains (closed loop, --clients clients against the fast simulator, nothing else limiting):
- long:     the live window as it is (per-second sketches, `stats.LiveWindow`).
- long-old: the same with the window that stats.py had before (every response's end, TTFT and
            TTLT of the last 10 s in a deque, sorted every second: `SortedWindow` below), swapped
            into each RunningStats the run makes.
        Reported: RSS at minute 1 (first sample at >= 60 s), at the end of the run, growth =
        end - minute 1, the least-squares slope after minute 1 (MB per minute), req/s, and the
        cores other processes used meanwhile. Target (issue 11): growth <= 5 MB from minute 1
        to minute 10.

--close-cost: in this process, no server, a fake clock: RunningStats(low_memory=True) fed
--close-seconds (30) s of responses at each --rates rate, once with each window, one after the
other; reported per rate and window: the mean and max time of a per-second close
(`_close_bucket`) once the window is full, update()+close time per response, and the bytes the
whole RunningStats holds at the end (tracemalloc, in a separate pass so it does not slow the
timing).

Writes bench/results/bench_memory.json (bench_memory_long.json with --minutes,
bench_memory_close.json with --close-cost; the temp folders are deleted).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import common  # noqa: E402
from common import MB  # noqa: E402

TARGET_GROWTH_MB = 20.0
TARGET_MINUTE_GROWTH_MB = 5.0  # issue 11: RSS growth from minute 1 to minute 10


class SortedWindow:
    """The live window as stats.py had it before `LiveWindow` (commit d2b9b89), behind the same
    interface: every response of the last `seconds` seconds kept as a tuple (its end, TTFT,
    TTLT), trimmed and sorted every second. Here for the side-by-side comparison only.

    The end is stored as a float per response, as before (the second it was recorded in,
    + 0.5: the trim rule is the same, by whole seconds)."""

    record_all = False  # the table's "last N s" (LiveWindow.stats) is not part of this comparison

    def __init__(self, seconds: int) -> None:
        from collections import deque

        self.seconds = seconds
        self._second = 0  # index of the open second
        self._recent: deque = deque()

    def add(self, response) -> None:
        self._recent.append((self._second + 0.5, response.time_to_first_token,
                             response.time_to_last_token))

    def close(self) -> dict:
        from llmeter_widget.stats import percentile

        horizon = self._second + 1 - self.seconds
        while self._recent and self._recent[0][0] < horizon:
            self._recent.popleft()
        ttfts = sorted(t for _, t, _ in self._recent if t is not None)
        ttlts = sorted(t for _, _, t in self._recent if t is not None)
        self._second += 1
        return {"ttft_p50": percentile(ttfts, 50), "ttft_p90": percentile(ttfts, 90),
                "ttlt_p50": percentile(ttlts, 50), "ttlt_p90": percentile(ttlts, 90)}

    def clear(self) -> None:
        self._recent.clear()


def use_window(window: str) -> None:
    """Make every RunningStats created from now on use the old window ("old") or keep the
    current one ("new")."""
    if window == "new":
        return
    from llmeter_widget.stats import RunningStats

    init = RunningStats.__init__

    def with_old_window(self, *args, **kwargs):
        init(self, *args, **kwargs)
        self._live = SortedWindow(self._live.seconds)

    RunningStats.__init__ = with_old_window


def slope_mb_per_100k(samples: list[tuple[float, int, int]]) -> float | None:
    """Least-squares slope of RSS (MB) against responses recorded, per 100k responses."""
    pts = [(n, rss / MB) for _, rss, n in samples]
    if len(pts) < 3 or pts[-1][0] == pts[0][0]:
        return None
    mx = sum(n for n, _ in pts) / len(pts)
    my = sum(r for _, r in pts) / len(pts)
    var = sum((n - mx) ** 2 for n, _ in pts)
    if var == 0:
        return None
    cov = sum((n - mx) * (r - my) for n, r in pts)
    return cov / var * 100_000


def slope_mb_per_minute(samples: list[tuple[float, int, int]]) -> float | None:
    """Least-squares slope of RSS (MB) against time, per minute."""
    pts = [(t, rss / MB) for t, rss, _ in samples]
    if len(pts) < 3:
        return None
    mt = sum(t for t, _ in pts) / len(pts)
    my = sum(r for _, r in pts) / len(pts)
    var = sum((t - mt) ** 2 for t, _ in pts)
    return sum((t - mt) * (r - my) for t, r in pts) / var * 60 if var else None


async def run_long_phase(phase: str, minutes: float, clients: int, max_tokens: int) -> dict:
    """A time-bound low-memory run of `minutes` minutes; RSS from minute 1 to the end."""
    from llmeter_widget import Runner
    from llmeter_widget.endpoints import OpenAIChatEndpoint
    from llmeter_widget.simulator import SimulatedServer

    use_window("old" if phase == "long-old" else "new")
    payload = common.chat_payload(max_tokens)
    with SimulatedServer.spawn(mode="fixed", ttft=0.001, itl=0.0005) as proc, \
            tempfile.TemporaryDirectory(prefix="bench-memory-") as tmp:
        ep = OpenAIChatEndpoint(base_url=proc.base_url, model=common.MODEL)
        runner = Runner(ep, payload, output_path=tmp, low_memory=True, live_view=False)

        def progress() -> int:
            return runner.stats.total_requests if runner.stats is not None else 0

        sampler = common.RSSSampler(interval=1.0, progress=progress)

        async def report() -> None:
            while True:
                await asyncio.sleep(60)
                t, rss, n = sampler.samples[-1]
                print(f"  [{phase}] {t:5.0f} s {n:>10,} responses, RSS {rss / MB:7.1f} MB",
                      flush=True)

        sampler.start()
        reporter = asyncio.create_task(report())
        with common.CPUMeter(proc.pid) as cpu:
            result = await runner.run(clients=clients, run_duration=minutes * 60)
        reporter.cancel()
        in_run = list(sampler.samples)
        await sampler.stop()
        window_kind = type(runner.stats._live).__name__
    done = result.stats["total_requests"]
    minute1 = next((s for s in in_run if s[0] >= 60), None)
    end = in_run[-1]
    after = [s for s in in_run if minute1 is not None and s[0] >= minute1[0]]
    return {
        "phase": phase, "window": window_kind, "clients": clients, "minutes": minutes,
        "total_requests": done, "failed_requests": result.stats["failed_requests"],
        "req_per_s": done / (end[0] or 1), "other_cores": cpu.other_cpu,
        "client_cores": cpu.client_cpu, "server_cores": cpu.server_cpu,
        "rss_minute1_mb": minute1[1] / MB if minute1 else None,
        "responses_minute1": minute1[2] if minute1 else None,
        "rss_end_mb": end[1] / MB, "end_s": end[0], "responses_end": end[2],
        "rss_peak_mb": max(s[1] for s in in_run) / MB,
        "growth_mb": (end[1] - minute1[1]) / MB if minute1 else None,
        "slope_mb_per_min": slope_mb_per_minute(after),
        "samples": [(round(t, 1), round(rss / MB, 2), n) for t, rss, n in sampler.samples],
    }


def close_cost(rates: list[int], seconds: int) -> dict:
    """The per-second close at each rate, old window vs new, on a fake clock (no server)."""
    import gc
    import random
    import tracemalloc

    from llmeter_widget.endpoints import InvocationResponse
    from llmeter_widget.stats import RunningStats

    def run(window: str, rate: int, trace: bool) -> dict:
        class Clock:
            now = 0.0

            def __call__(self) -> float:
                return self.now

        clock, rng = Clock(), random.Random(rate)
        rs = RunningStats(low_memory=True, clock=clock, history_limit=60)
        if window == "old":
            rs._live = SortedWindow(rs._live.seconds)
        closes: list[float] = []
        close_bucket = rs._close_bucket

        def timed_close() -> None:
            started = time.perf_counter()
            close_bucket()
            closes.append(time.perf_counter() - started)

        rs._close_bucket = timed_close
        # responses built beforehand (one second's worth, re-timed): the time is RunningStats'
        shapes = [(rng.lognormvariate(-2.0, 0.6), rng.lognormvariate(0.0, 0.5), rng.randint(2, 200))
                  for _ in range(rate)]
        if trace:
            tracemalloc.start()
        started = time.perf_counter()
        for second in range(seconds):
            for i, (ttft, extra, tokens) in enumerate(shapes):
                end = second + i / rate
                send = end - ttft - extra
                rs.update(InvocationResponse(
                    t_send=send, t_first_token=send + ttft, t_last_token=end, t_end=end,
                    num_tokens_input=20, num_tokens_output=tokens).finalize())
                clock.now = end
        clock.now = float(seconds)
        rs.snapshot()
        elapsed = time.perf_counter() - started
        held = None
        if trace:
            gc.collect()
            held = tracemalloc.get_traced_memory()[0]
            tracemalloc.stop()
        full = closes[rs._live.seconds:]  # once the window is full
        return {"window": window, "rate": rate, "closes": len(closes),
                "close_mean_ms": sum(full) / len(full) * 1e3, "close_max_ms": max(full) * 1e3,
                "us_per_response": elapsed / (rate * seconds) * 1e6,
                "held_bytes": held}

    rows = []
    for rate in rates:
        for window in ("old", "new"):
            timed = run(window, rate, trace=False)
            timed["held_bytes"] = run(window, rate, trace=True)["held_bytes"]
            rows.append(timed)
            print(f"  {window:>3} window, {rate:>6,} req/s: close {timed['close_mean_ms']:.3f} ms "
                  f"(max {timed['close_max_ms']:.3f}), {timed['us_per_response']:.1f} us/response, "
                  f"RunningStats holds {timed['held_bytes'] / 1e6:.2f} MB", flush=True)
    return {"rows": rows}


async def run_phase(phase: str, total: int, clients: int, warmup: int, max_tokens: int) -> dict:
    from llmeter_widget import Runner
    from llmeter_widget.endpoints import OpenAIChatEndpoint
    from llmeter_widget.simulator import SimulatedServer

    low_memory = phase == "low"
    n_requests = max(1, -(-total // clients))  # ceil: at least `total` requests in all
    payload = common.chat_payload(max_tokens)
    with SimulatedServer.spawn(mode="fixed", ttft=0.001, itl=0.0005) as proc, \
            tempfile.TemporaryDirectory(prefix="bench-memory-") as tmp:
        ep = OpenAIChatEndpoint(base_url=proc.base_url, model=common.MODEL)
        runner = Runner(ep, payload, output_path=tmp, low_memory=low_memory, live_view=False)

        def progress() -> int:
            stats = runner.stats
            return stats.total_requests if stats is not None else 0

        sampler = common.RSSSampler(interval=1.0, progress=progress)
        rss_before = sampler.sample()

        async def report() -> None:
            while True:
                await asyncio.sleep(15)
                _, rss, n = sampler.samples[-1]
                print(f"  [{phase}] {n:>9,} responses, RSS {rss / MB:7.1f} MB", flush=True)

        sampler.start()
        reporter = asyncio.create_task(report())
        started = time.perf_counter()
        result = await runner.run(clients=clients, n_requests=n_requests)
        elapsed = time.perf_counter() - started
        reporter.cancel()
        in_run = list(sampler.samples)  # samples taken while the run went on
        await sampler.stop()  # one more sample, after run() returned (result written)
        rss_after_return = sampler.samples[-1][1]
        stats = result.stats
        kept = len(result.responses)
        jsonl = os.path.getsize(os.path.join(result.output_path, "responses.jsonl"))

    done = stats["total_requests"]
    warm = next((s for s in in_run if s[2] >= warmup), None)
    end = in_run[-1]
    after_warm = [s for s in in_run if warm is not None and s[2] >= warm[2]]
    growth = (end[1] - warm[1]) / MB if warm else None
    out = {
        "phase": phase, "low_memory": low_memory, "clients": clients,
        "n_requests_per_client": n_requests, "total_requests": done,
        "failed_requests": stats["failed_requests"], "elapsed_s": elapsed,
        "req_per_s": done / elapsed if elapsed else None,
        "responses_kept_in_memory": kept, "responses_jsonl_mb": jsonl / MB,
        "warmup_responses": warm[2] if warm else None,
        "rss_start_mb": rss_before / MB,
        "rss_after_warmup_mb": warm[1] / MB if warm else None,
        "rss_end_mb": end[1] / MB, "rss_after_return_mb": rss_after_return / MB,
        "rss_peak_mb": max(s[1] for s in sampler.samples) / MB,
        "growth_mb": growth,
        "growth_bytes_per_response": (growth * MB / (end[2] - warm[2])
                                      if warm and end[2] > warm[2] else None),
        "slope_mb_per_100k": slope_mb_per_100k(after_warm),
        "samples": [(round(t, 1), round(rss / MB, 2), n) for t, rss, n in sampler.samples],
    }
    return out


def child_main(args: argparse.Namespace) -> None:
    if args.phase in ("long", "long-old"):
        out = asyncio.run(run_long_phase(args.phase, args.minutes, args.clients, args.max_tokens))
    else:
        total = args.total if args.phase == "low" else args.full_total
        out = asyncio.run(run_phase(args.phase, total, args.clients, args.warmup, args.max_tokens))
    with open(args.json_out, "w", encoding="utf-8") as f:
        json.dump(out, f)


def close_main(args: argparse.Namespace) -> None:
    print(f"live window close, old vs new: {args.close_seconds} s at each of {args.rates} req/s, "
          f"load avg {os.getloadavg()[0]:.2f}", flush=True)
    out = close_cost(args.rates, args.close_seconds)
    print()
    common.print_table(
        ["req/s", "window", "close mean ms", "close max ms", "us/response", "RunningStats MB"],
        [[r["rate"], r["window"], r["close_mean_ms"], r["close_max_ms"], r["us_per_response"],
          r["held_bytes"] / 1e6] for r in out["rows"]])
    common.write_results("bench_memory_close", {
        "settings": {"rates": args.rates, "seconds": args.close_seconds,
                     "load_avg_1min": os.getloadavg()[0]}, **out})


def run_child(args: argparse.Namespace, phase: str) -> dict:
    """Run one phase in a fresh Python process; its JSON output."""
    with tempfile.NamedTemporaryFile(suffix=".json", delete=False) as tmp:
        out_path = tmp.name
    cmd = [sys.executable, os.path.abspath(__file__), "--phase", phase, "--json-out",
           out_path, "--total", str(args.total), "--full-total", str(args.full_total),
           "--clients", str(args.clients), "--warmup", str(args.warmup),
           "--max-tokens", str(args.max_tokens), "--minutes", str(args.minutes or 0)]
    print(f"phase {phase} ...", flush=True)
    subprocess.run(cmd, check=True)
    with open(out_path, encoding="utf-8") as f:
        out = json.load(f)
    os.unlink(out_path)
    return out


def long_main(args: argparse.Namespace) -> None:
    phases = ["long", "long-old"] if args.only is None else [args.only]
    print(f"time-bound low-memory runs of {args.minutes:g} min, {args.clients} clients, "
          f"max_tokens {args.max_tokens}, load avg {os.getloadavg()[0]:.2f}", flush=True)
    results = {phase: run_child(args, phase) for phase in phases}
    rows = [[r["window"], r["total_requests"], r["req_per_s"], r["other_cores"],
             r["rss_minute1_mb"], r["rss_end_mb"], r["rss_peak_mb"], r["growth_mb"],
             r["slope_mb_per_min"]] for r in results.values()]
    print()
    common.print_table(["live window", "requests", "req/s", "other cores", "RSS min 1 MB",
                        "end MB", "peak MB", "growth MB", "MB/min (fit)"], rows)
    verdict = None
    if "long" in results and results["long"]["growth_mb"] is not None:
        g = results["long"]["growth_mb"]
        verdict = {"growth_mb": g, "minutes": args.minutes, "target_mb": TARGET_MINUTE_GROWTH_MB,
                   "met": g <= TARGET_MINUTE_GROWTH_MB}
        print(f"\nlive window as it is: {g:.2f} MB from minute 1 to minute {args.minutes:g} "
              f"(target <= {TARGET_MINUTE_GROWTH_MB:g} MB from minute 1 to minute 10: "
              f"{'met' if verdict['met'] else 'MISSED'}"
              f"{'' if args.minutes >= 10 else ', over a shorter run'})")
    common.write_results("bench_memory_long", {
        "settings": {"clients": args.clients, "minutes": args.minutes,
                     "max_tokens": args.max_tokens,
                     "simulator": {"mode": "fixed", "ttft": 0.001, "itl": 0.0005}},
        "target": verdict, "phases": results,
    })


def main(args: argparse.Namespace) -> None:
    if args.close_cost:
        close_main(args)
        return
    if args.minutes:
        long_main(args)
        return
    phases = ["low", "full"] if args.only is None else [args.only]
    print(f"clients {args.clients}, low-memory total {args.total:,}, in-memory total "
          f"{args.full_total:,}, warm-up {args.warmup:,} responses, max_tokens "
          f"{args.max_tokens}, load avg {os.getloadavg()[0]:.2f}", flush=True)
    results: dict[str, dict] = {}
    for phase in phases:
        results[phase] = run_child(args, phase)
        r = results[phase]
        print(f"phase {phase}: {r['total_requests']:,} requests in {r['elapsed_s']:.0f} s "
              f"({r['req_per_s']:.0f} req/s), {r['failed_requests']} failed", flush=True)

    rows = []
    for r in results.values():
        rows.append([
            "low_memory=True" if r["low_memory"] else "low_memory=False", r["total_requests"],
            r["rss_start_mb"], r["rss_after_warmup_mb"], r["rss_end_mb"], r["rss_peak_mb"],
            r["growth_mb"], r["slope_mb_per_100k"], r["growth_bytes_per_response"],
        ])
    print()
    common.print_table(["mode", "requests", "RSS start MB", f"after {args.warmup // 1000}k MB",
                        "end MB", "peak MB", "growth MB", "MB/100k (fit)", "B/response"], rows)
    verdict = None
    if "low" in results and results["low"]["growth_mb"] is not None:
        g = results["low"]["growth_mb"]
        verdict = {"growth_mb": g, "target_mb": TARGET_GROWTH_MB, "met": g <= TARGET_GROWTH_MB}
        print(f"\nlow-memory growth after warm-up: {g:.1f} MB over "
              f"{results['low']['total_requests'] - results['low']['warmup_responses']:,} "
              f"responses (target <= {TARGET_GROWTH_MB:g} MB: {'met' if verdict['met'] else 'MISSED'})")
    common.write_results("bench_memory", {
        "settings": {"clients": args.clients, "total": args.total, "full_total": args.full_total,
                     "warmup": args.warmup, "max_tokens": args.max_tokens,
                     "simulator": {"mode": "fixed", "ttft": 0.001, "itl": 0.0005}},
        "target": verdict, "phases": results,
    })


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--total", type=int, default=200_000, help="low-memory run: total requests")
    p.add_argument("--full-total", type=int, default=50_000,
                   help="contrast run with low_memory=False: total requests")
    p.add_argument("--clients", type=int, default=64)
    p.add_argument("--warmup", type=int, default=10_000,
                   help="responses before the 'after warm-up' RSS reading")
    p.add_argument("--max-tokens", type=int, default=8)
    p.add_argument("--only", choices=["low", "full", "long", "long-old"],
                   help="run one phase only (long, long-old: with --minutes)")
    p.add_argument("--minutes", type=float, default=None,
                   help="time-bound low-memory runs of this many minutes, old and new live "
                        "window (RSS from minute 1 to the end)")
    p.add_argument("--close-cost", action="store_true",
                   help="time the live window's per-second close, old vs new (no server)")
    p.add_argument("--rates", type=int, nargs="+", default=[10, 100, 1000, 5000],
                   help="--close-cost: responses per second")
    p.add_argument("--close-seconds", type=int, default=30, help="--close-cost: seconds fed")
    p.add_argument("--phase", choices=["low", "full", "long", "long-old"], help=argparse.SUPPRESS)
    p.add_argument("--json-out", help=argparse.SUPPRESS)
    return p.parse_args(argv)


if __name__ == "__main__":
    parsed = parse_args()
    started = time.perf_counter()
    if parsed.phase:
        child_main(parsed)
    else:
        main(parsed)
        print(f"total {time.perf_counter() - started:.0f} s")
