"""Worker processes: TTFT and client CPU with the clients in 0, 1 or 2 worker processes, beside
the bare aiohttp loop, against a server whose true TTFT is known exactly.

Run:  .venv/bin/python bench/bench_workers.py                  (256 and 512 clients; ~4 min)
      .venv/bin/python bench/bench_workers.py --clients 256 --rounds 1 --workers 0 2

Setup: the simulator in its own process, fixed mode, ttft=0.1 s, itl=0.01 s, max_tokens=16
(~0.25 s a request). Per round and client count, interleaved (the order rotates):

- bare: common.bare_loop in this process (the best one asyncio process does, parsing nothing);
- bare-pN: the same loop split over N processes (for each worker count N >= 2): the reference
  the issue asks for, the bare loop given as many processes as the workers;
- ours-wN: Runner(workers=N); N=0 is the in-process engine, N>=1 sends from N processes while
  this one merges (their loops on uvloop when it is installed);
- ours-wN-asyncio (with --compare-loops): the same workers on asyncio's own loop.

Worker start-up (~1 s a process) happens before the run's clock, so it is in neither the
TTFTs nor the request rate.

TTFTs of requests sent in the first --warmup s are left out (every client connects then).
A trial that other processes disturbed (more than --max-other cores, after its retries) is
reported and left out of the pooled figures, for every tool alike.
Client CPU is this process plus its reaped children (the workers), per successful request.
The machine has 2 cores: with the simulator in one process, 2 workers and the parent make four
busy processes on two cores, so this bench shows what the split costs or gains *here*; on a
machine with more cores than worker processes the parent's loop is what workers relieve.
Writes bench/results/bench_workers.json.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import common  # noqa: E402
from llmeter_widget import Runner  # noqa: E402
from llmeter_widget.endpoints import OpenAIChatEndpoint  # noqa: E402
from llmeter_widget.simulator import SimulatedServer  # noqa: E402

TRUTH = 0.1


async def ours(base_url: str, payload: dict, clients: int, duration: float,
               workers: int) -> common.LoopResult:
    runner = Runner(OpenAIChatEndpoint(base_url=base_url, model=common.MODEL), payload,
                    live_view=False, workers=workers)
    result = await runner.run(clients=clients, run_duration=duration)
    ok = [r for r in result.responses if r.ok and r.time_to_first_token is not None]
    first = min(r.t_send for r in result.responses)
    out = common.LoopResult(f"ours-w{workers}", clients,
                            completed=len(ok), failed=result.stats["failed_requests"],
                            elapsed=max(r.t_end for r in result.responses) - first)
    out.ttfts = [r.time_to_first_token for r in ok]
    out.sends = [r.t_send - first for r in ok]
    out.loop_lag_max = result.stats["event_loop_lag_max"]
    return out


async def trial(tool: str, base_url: str, payload: dict, clients: int,
                args: argparse.Namespace, server_pid: int) -> common.LoopResult:
    if tool == "bare":
        def run():
            return common.bare_loop(base_url, payload, clients, duration=args.duration,
                                    measure_ttft=True)
    elif tool.startswith("bare-p"):
        processes = int(tool.split("-p")[1])

        def run():
            return common.bare_loop_processes(base_url, payload, clients, processes, args.duration)
    else:
        workers = int(tool.split("-w")[1].split("-")[0])
        # ours-wN-asyncio: the workers on asyncio's own loop instead of uvloop (process.run_loop)
        os.environ["LLMETER_WIDGET_LOOP"] = "asyncio" if tool.endswith("-asyncio") else "uvloop"

        def run():
            return ours(base_url, payload, clients, args.duration, workers)
    result, _ = await common.clean_trial(run, server_pid, quiet_wait=args.quiet_wait,
                                         max_other=args.max_other, retries=args.retries)
    return result


def ms(x: float | None) -> float | None:
    return None if x is None else x * 1000


async def main(args: argparse.Namespace) -> None:
    # the bare loop in 1 process, and in as many processes as each worker count >= 2 uses
    tools = ["bare", *(f"bare-p{n}" for n in args.workers if n >= 2),
             *(f"ours-w{n}" for n in args.workers),
             *(f"ours-w{n}-asyncio" for n in args.workers if n >= 1 and args.compare_loops)]
    payload = common.chat_payload(args.max_tokens)
    sim = dict(mode="fixed", ttft=TRUTH, itl=args.itl)
    print(f"simulator {sim}, max_tokens={args.max_tokens}, {args.duration:g} s per trial, "
          f"{args.rounds} rounds, tools {', '.join(tools)}, load avg {os.getloadavg()[0]:.2f}")
    pooled: dict[tuple[str, int], dict[str, list]] = {}
    with SimulatedServer.spawn(**sim) as proc:
        await common.bare_loop(proc.base_url, payload, 4, duration=0.5)  # warm-up
        for rnd in range(args.rounds):
            order = tools[rnd % len(tools):] + tools[: rnd % len(tools)]
            for clients in args.clients:
                for tool in order:
                    r = await trial(tool, proc.base_url, payload, clients, args, proc.pid)
                    steady = [t for t, s in zip(r.ttfts, r.sends) if s >= args.warmup]
                    entry = pooled.setdefault((tool, clients), {"ttfts": [], "rps": [], "cpu_us": [],
                                                                 "other": [], "lag": [],
                                                                 "disturbed": 0})
                    entry["other"].append(r.other_cpu)
                    if (r.other_cpu or 0.0) > args.max_other:
                        # others used the cores even after the retries: reported, not pooled
                        entry["disturbed"] += 1
                        print(f"  round {rnd + 1} {tool:>8} {clients:>4} clients: disturbed "
                              f"(others {r.other_cpu:.2f} cores), left out", flush=True)
                        await asyncio.sleep(args.pause)
                        continue
                    entry["ttfts"] += steady
                    entry["rps"].append(r.rps)
                    entry["cpu_us"].append(r.cpu_us_per_request)
                    entry["lag"].append(getattr(r, "loop_lag_max", None))
                    print(f"  round {rnd + 1} {tool:>8} {clients:>4} clients: p50 "
                          f"{ms(common.percentile(steady, 50)) or 0:7.1f} ms p99 "
                          f"{ms(common.percentile(steady, 99)) or 0:7.1f} ms, {r.rps:6.0f} req/s, "
                          f"{r.failed} failed, client CPU {r.cpu_us_per_request or 0:.0f} us/req, "
                          f"others {r.other_cpu or 0:.2f} cores", flush=True)
                    await asyncio.sleep(args.pause)
    rows, summary = [], {}

    def figures(entry: dict[str, list]) -> tuple[float | None, float | None, float | None]:
        if not entry["ttfts"]:
            return None, None, None
        return (ms(common.percentile(entry["ttfts"], 50)), ms(common.percentile(entry["ttfts"], 99)),
                sum(entry["cpu_us"]) / len(entry["cpu_us"]))

    for clients in args.clients:
        for tool in tools:
            e = pooled[(tool, clients)]
            p50, p99, cpu = figures(e)
            if p50 is None:
                print(f"{tool} at {clients} clients: every trial disturbed, no figure")
                continue
            # the reference: the bare loop in as many processes (ours-wN for N >= 2: bare-pN)
            n = int(tool.split("-w")[1].split("-")[0]) if tool.startswith("ours-w") else 1
            ref = f"bare-p{n}" if n >= 2 and f"bare-p{n}" in tools else "bare"
            r50, r99, r_cpu = figures(pooled[(ref, clients)])
            if r50 is None:
                continue
            summary[f"{tool}@{clients}"] = {
                "n": len(e["ttfts"]), "p50_ms": p50, "p99_ms": p99, "reference": ref,
                "p50_minus_reference_ms": p50 - r50, "p99_minus_reference_ms": p99 - r99,
                "rps": sum(e["rps"]) / len(e["rps"]), "client_cpu_us_per_request": cpu,
                "cpu_ratio_to_reference": cpu / r_cpu, "other_cpu": e["other"],
                "trials_disturbed_left_out": e["disturbed"],
                "parent_loop_lag_max": e["lag"]}
            rows.append([clients, tool, ref, len(e["ttfts"]), p50, p50 - r50, p99, p99 - r99,
                         summary[f"{tool}@{clients}"]["rps"], cpu, cpu / r_cpu, e["disturbed"]])
    print()
    common.print_table(["clients", "tool", "reference", "n", "p50 ms", "- ref", "p99 ms", "- ref",
                        "req/s", "CPU us/req", "CPU / ref", "left out"], rows)
    common.write_results("bench_workers", {
        "settings": {**sim, "max_tokens": args.max_tokens, "duration": args.duration,
                     "rounds": args.rounds, "clients": args.clients, "tools": tools,
                     "truth_s": TRUTH, "machine": common.machine(),
                     "load_avg_at_start": os.getloadavg()},
        "summary": summary,
    })


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--clients", type=int, nargs="+", default=[256, 512])
    p.add_argument("--workers", type=int, nargs="+", default=[0, 1, 2])
    p.add_argument("--duration", type=float, default=6.0)
    p.add_argument("--warmup", type=float, default=1.5)
    p.add_argument("--rounds", type=int, default=2)
    p.add_argument("--itl", type=float, default=0.01)
    p.add_argument("--max-tokens", type=int, default=16)
    p.add_argument("--compare-loops", action="store_true",
                   help="also run each worker count on asyncio's loop (ours-wN-asyncio) beside uvloop")
    common.add_trial_arguments(p, max_other=0.4)
    return p.parse_args(argv)


if __name__ == "__main__":
    started = time.perf_counter()
    asyncio.run(main(parse_args()))
    print(f"({time.perf_counter() - started:.0f} s)")
