"""Requests/s our Runner drives, against a bare aiohttp loop (the upper limit) and llmeter 0.2.0.

Run:  .venv/bin/python bench/bench_throughput.py            (defaults: 64 and 256 clients,
                                                             6 s per trial, 3 rounds, ~3 min
                                                             on a quiet machine, more if busy)
      .venv/bin/python bench/bench_throughput.py --duration 15 --rounds 3 --clients 64 256
      .venv/bin/python bench/bench_throughput.py --no-llmeter   (without llmeter installed)

Setup: the simulator runs in its own process in fixed mode with tiny latencies (ttft=1 ms,
itl=0.5 ms, max_tokens=16: ~9 ms of server-side waiting per request, 18 SSE events each), so the
client side, not the server's waiting, limits the rate. All three tools send the same streaming
chat request with the same payload and read the whole SSE stream:

- bare: N asyncio tasks, one aiohttp ClientSession(TCPConnector(limit=0)), each looping POST ->
  read the stream to the end -> repeat (body pre-encoded, no parsing): the upper limit.
- ours: llmeter_widget.Runner(OpenAIChatEndpoint, output_path=None, live_view=False).
- llmeter: llmeter 0.2.0's OpenAICompletionStreamEndpoint + Runner, progress bars off (one
  thread per client with the synchronous openai client).

The tools are interleaved (the order rotates each round) so that drift on the shared 2-core
machine hits each alike. req/s = successful requests / wall time of the whole run (start to last
client done, as each tool's run() returns), the same rule for all three; each tool's own reported
rate is kept in the JSON too; the table shows the median over rounds. Per trial it also reports
the cores used by this process (client), by the simulator and by anything else on the machine,
and the client's CPU time per request (robust to other load: what the client *costs*). Before
each trial it waits (up to --quiet-wait s) until other processes use <= --max-other cores, as
other sessions' test runs share the machine, and a trial that others still disturbed is run
again (--retries), keeping the least disturbed attempt: the same rule for every tool. The
table's req/s are medians over the trials that others left alone (<= --max-other cores) when
every tool has such a trial ("clean"), else over all trials ("NOISY", flagged).

Targets (issue): ours >= 0.8x bare and >= 5x llmeter at 256 clients.
Writes bench/results/bench_throughput.json.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import common  # noqa: E402
from llmeter_widget.simulator import SimulatedServer  # noqa: E402

TOOLS = ("bare", "ours", "llmeter")
TARGET_VS_BARE = 0.8
TARGET_VS_LLMETER = 5.0


async def trial(tool: str, base_url: str, payload: dict, clients: int,
                args: argparse.Namespace, server_pid: int) -> tuple[common.LoopResult, list[float]]:
    run = {"bare": common.bare_loop, "ours": common.run_ours, "llmeter": common.run_llmeter}[tool]
    return await common.clean_trial(
        lambda: run(base_url, payload, clients, duration=args.duration), server_pid,
        quiet_wait=args.quiet_wait, max_other=args.max_other, retries=args.retries)


async def main(args: argparse.Namespace) -> None:
    tools = [t for t in TOOLS if not (t == "llmeter" and args.no_llmeter)]
    if "llmeter" in tools and (why := common.llmeter_available()):
        print(f"llmeter skipped: {why}")
        tools.remove("llmeter")
    payload = common.chat_payload(args.max_tokens)
    sim = dict(mode="fixed", ttft=args.ttft, itl=args.itl)
    print(f"simulator {sim}, max_tokens={args.max_tokens}, {args.duration:g} s per trial, "
          f"{args.rounds} rounds, tools {', '.join(tools)}, load avg {os.getloadavg()[0]:.2f}")
    trials: list[dict] = []
    with SimulatedServer.spawn(**sim) as proc:
        # Warm up the server and the connection code paths (not counted).
        await common.bare_loop(proc.base_url, payload, 8, duration=1.0)
        for rnd in range(args.rounds):
            order = tools[rnd % len(tools):] + tools[: rnd % len(tools)]
            for clients in args.clients:
                for tool in order:
                    r, attempts = await trial(tool, proc.base_url, payload, clients, args,
                                              proc.pid)
                    trials.append({
                        "round": rnd, "tool": tool, "clients": clients, "rps": r.rps,
                        "reported_rps": r.reported_rps, "completed": r.completed,
                        "failed": r.failed, "elapsed": r.elapsed,
                        "client_cpu": r.client_cpu, "server_cpu": r.server_cpu,
                        "other_cpu": r.other_cpu, "cpu_us_per_request": r.cpu_us_per_request,
                        "other_cpu_of_attempts": attempts,
                    })
                    print(f"  round {rnd + 1} {tool:>7} {clients:>4} clients: {r.rps:8.1f} req/s "
                          f"({r.completed} ok, {r.failed} failed, {r.elapsed:.1f} s; "
                          f"cpu client {r.client_cpu:.2f} server {r.server_cpu:.2f} "
                          f"others {r.other_cpu:.2f}; {r.cpu_us_per_request or 0:.0f} us "
                          "client CPU/request)", flush=True)
                    await asyncio.sleep(args.pause)

    summary: dict[str, dict] = {}
    rows = []
    for clients in args.clients:
        per_tool = {}
        # Trials that other processes left (nearly) alone decide, when every tool has one.
        clean = all(any(t["other_cpu"] <= args.max_other for t in trials
                        if t["tool"] == tool and t["clients"] == clients) for tool in tools)
        for tool in tools:
            runs = [t for t in trials if t["tool"] == tool and t["clients"] == clients]
            used = [t for t in runs if t["other_cpu"] <= args.max_other] if clean else runs
            per_tool[tool] = {
                "rps_median": statistics.median(t["rps"] for t in used),
                "rps_median_all_trials": statistics.median(t["rps"] for t in runs),
                "rps_runs": [round(t["rps"], 1) for t in runs],
                "other_cpu_runs": [round(t["other_cpu"], 2) for t in runs],
                "trials_used": len(used),
                "client_cpu": statistics.fmean(t["client_cpu"] for t in used),
                "server_cpu": statistics.fmean(t["server_cpu"] for t in used),
                "other_cpu": statistics.fmean(t["other_cpu"] for t in used),
                "cpu_us_per_request": statistics.median(
                    t["cpu_us_per_request"] or 0.0 for t in runs),
                "failed": sum(t["failed"] for t in runs),
            }
        ours = per_tool["ours"]["rps_median"]
        ratio_bare = ours / per_tool["bare"]["rps_median"]
        ratio_llm = ours / per_tool["llmeter"]["rps_median"] if "llmeter" in per_tool else None
        # If both were limited by the client's CPU alone, ours/bare would be this:
        cost_ratio = per_tool["bare"]["cpu_us_per_request"] / per_tool["ours"]["cpu_us_per_request"]
        summary[str(clients)] = {**per_tool, "ours_over_bare": ratio_bare,
                                 "ours_over_llmeter": ratio_llm,
                                 "bare_cpu_over_ours_cpu_per_request": cost_ratio,
                                 "clean_trials_only": clean}
        rows.append([clients, per_tool["bare"]["rps_median"], ours,
                     per_tool.get("llmeter", {}).get("rps_median"), ratio_bare, ratio_llm,
                     " / ".join(f"{per_tool[t]['cpu_us_per_request']:.0f}" for t in tools),
                     " / ".join(f"{per_tool[t]['client_cpu']:.2f}-{per_tool[t]['server_cpu']:.2f}"
                                for t in tools),
                     "clean" if clean else "NOISY"])

    print()
    names = "/".join(tools)
    common.print_table(["clients", "bare req/s", "ours req/s", "llmeter req/s", "ours/bare",
                        "ours/llmeter", f"client CPU us/req ({names})",
                        f"cores client-server ({names})", "trials"], rows)
    print(f"(req/s: median over the rounds' trials in which other processes used <= "
          f"{args.max_other} cores ('clean'), or over all trials if a tool had none ('NOISY'); "
          "cores: 1.00 = one core busy for the whole trial)")
    for clients in args.clients:
        print(f"client CPU per request, bare/ours at {clients} clients: "
              f"{summary[str(clients)]['bare_cpu_over_ours_cpu_per_request']:.2f} (what ours/bare "
              "would be if both were limited by the client's CPU alone)")
    top = summary[str(max(args.clients))]
    verdict = {
        "clients": max(args.clients),
        "clean_trials_only": top["clean_trials_only"],
        "ours_over_bare": top["ours_over_bare"],
        "ours_over_bare_met": top["ours_over_bare"] >= TARGET_VS_BARE,
        "ours_over_llmeter": top["ours_over_llmeter"],
        "ours_over_llmeter_met": (top["ours_over_llmeter"] >= TARGET_VS_LLMETER
                                  if top["ours_over_llmeter"] is not None else None),
    }
    print(f"\ntargets at {verdict['clients']} clients: ours/bare {verdict['ours_over_bare']:.2f} "
          f"(>= {TARGET_VS_BARE}: {'met' if verdict['ours_over_bare_met'] else 'MISSED'})", end="")
    if verdict["ours_over_llmeter"] is not None:
        print(f", ours/llmeter {verdict['ours_over_llmeter']:.1f} (>= {TARGET_VS_LLMETER:g}: "
              f"{'met' if verdict['ours_over_llmeter_met'] else 'MISSED'})", end="")
    print("" if top["clean_trials_only"] else
          "  [NOISY: other processes loaded the machine in every trial of some tool]")
    common.write_results("bench_throughput", {
        "settings": {**sim, "max_tokens": args.max_tokens, "duration": args.duration,
                     "rounds": args.rounds, "clients": args.clients, "tools": tools,
                     "load_avg_at_start": os.getloadavg()},
        "summary": summary, "targets": verdict, "trials": trials,
    })


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    common.add_throughput_load_arguments(p)
    return p.parse_args(argv)


if __name__ == "__main__":
    started = time.perf_counter()
    asyncio.run(main(parse_args()))
    print(f"total {time.perf_counter() - started:.0f} s")
