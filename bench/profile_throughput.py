"""Where the client's CPU time goes in the throughput setup: a load to profile, and a summary.

Run (py-spy: `.venv/bin/pip install py-spy`; samples the client process only, not the simulator):
  .venv/bin/py-spy record -r 200 -f raw -o /tmp/ours.txt -- \\
      .venv/bin/python bench/profile_throughput.py --tool ours --clients 256 --duration 12
  .venv/bin/python bench/profile_throughput.py --summarize /tmp/ours.txt
  (the same with --tool bare for the bare aiohttp loop, to compare)

Or, without py-spy, with cProfile (slower: it adds its own cost to every call):
  .venv/bin/python bench/profile_throughput.py --tool ours --cprofile

The load is bench_throughput's: simulator in its own process, fixed mode, ttft=1 ms, itl=0.5 ms,
max_tokens=16. --summarize groups the samples of the event-loop thread into a few buckets (our
SSE parsing, JSON decoding, the aiohttp trace hooks, stats, aiohttp itself, ...).
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import os
import re
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import common  # noqa: E402

# (bucket, pattern on a frame): a sample goes to the bucket of its deepest matching frame.
BUCKETS = [
    ("aiohttp trace hooks (TraceConfig signals)", r"tracing\.py|aiosignal"),
    ("our SSE parser (SSEParser.feed/_line)", r"endpoints/sse\.py"),
    ("our JSON decode of SSE events", r"json/decoder\.py|json/__init__\.py.*loads"),
    ("our _consume_event (rest)", r"_consume_event"),
    ("request body json= encode (JsonPayload)", r"JsonPayload|json/encoder\.py"),
    ("our stats/record (RunningStats, _record)", r"llmeter_widget/stats\.py|_record \(|sortedcontainers|ddsketch"),
    ("our invoke setup (uuid4, utc_now, headers, timeout)", r"uuid\.py|utc_now|_OpenAIEndpoint\._headers|_OpenAIEndpoint\._client_timeout|_OpenAIEndpoint\._body"),
    ("aiohttp: send request, wait for headers", r"_BaseRequestContextManager.__aenter__|ClientSession._request"),
    ("aiohttp: read body (StreamReader)", r"aiohttp/streams\.py"),
    ("socket read + HTTP parse (data_received)", r"_read_ready|data_received"),
    ("aiohttp: release connection", r"__aexit__|release \("),
    ("epoll wait (idle)", r"selectors\.py"),
    ("client loop (ours: _client/invoke/_read_stream; bare: client)",
     r"_client \(|bare_loop.<locals>.client|_read_stream|_attempt|invoke \("),
    ("asyncio scheduling", r"asyncio/"),
]


def summarize(path: str) -> None:
    counts: collections.Counter[str] = collections.Counter()
    total = 0
    for line in open(path, encoding="utf-8"):
        stack, _, n = line.rstrip().rpartition(" ")
        if not stack or not n.isdigit():
            continue
        if "_read_stdout" in stack or "threading.py" in stack or "importlib" in stack:
            continue  # the simulator's stdout reader thread (blocked on a pipe) and imports
        frames = stack.split(";")
        bucket = "other"
        for frame in reversed(frames):
            hit = next((name for name, pat in BUCKETS if re.search(pat, frame)), None)
            if hit:
                bucket = hit
                break
        if bucket == "our JSON decode of SSE events" and "_consume_event" not in stack:
            bucket = "other JSON decode"
        counts[bucket] += int(n)
        total += int(n)
    print(f"{total} samples of the event-loop thread")
    for name, n in counts.most_common():
        print(f"{100 * n / total:5.1f}%  {name}")


async def load(tool: str, clients: int, duration: float) -> None:
    from llmeter_widget.simulator import SimulatedServer

    payload = common.chat_payload(16)
    with SimulatedServer.spawn(mode="fixed", ttft=0.001, itl=0.0005) as proc:
        run = common.run_ours if tool == "ours" else common.bare_loop
        with common.CPUMeter(proc.pid) as cpu:
            r = await run(proc.base_url, payload, clients, duration=duration)
        r.client_cpu_s = cpu.client_cpu_s
        print(f"{tool}: {r.rps:.0f} req/s, {r.cpu_us_per_request:.0f} us client CPU per request, "
              f"cores client {cpu.client_cpu:.2f} server {cpu.server_cpu:.2f} "
              f"others {cpu.other_cpu:.2f}")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--tool", choices=["ours", "bare"], default="ours")
    p.add_argument("--clients", type=int, default=256)
    p.add_argument("--duration", type=float, default=12.0)
    p.add_argument("--cprofile", action="store_true", help="profile with cProfile, print top 30")
    p.add_argument("--summarize", metavar="RAW", help="summarize a py-spy `-f raw` file")
    args = p.parse_args()
    if args.summarize:
        summarize(args.summarize)
        return
    if args.cprofile:
        import cProfile
        import pstats

        prof = cProfile.Profile()
        prof.enable()
        asyncio.run(load(args.tool, args.clients, args.duration))
        prof.disable()
        pstats.Stats(prof).sort_stats("tottime").print_stats(30)
        return
    asyncio.run(load(args.tool, args.clients, args.duration))


if __name__ == "__main__":
    main()
