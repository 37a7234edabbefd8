"""`workers="auto"`: how many worker processes a run gets, from its clients and this machine.

The rule, and what it rests on (bench/bench_workers.py on this project's 2-core machine, the
simulator in its own process on the same cores; bench/README.md, "Worker processes"):

- Fewer than `MIN_CLIENTS` (128) clients: 0 (the clients run on this process's loop). At 64
  clients one loop is as exact as a worker (TTFT p99 within 1 ms of the bare loop either way),
  and a worker costs a second to start and a pickle per response. At 128 the in-process loop
  read p99 31 ms above the bare loop, one worker 3 ms below it.
- Otherwise one worker per `CLIENTS_PER_WORKER` (200) clients, at least 1, at most the usable
  cores minus one (the notebook kernel keeps a core to merge and draw): on 2 cores, 1 worker.
  At 256 clients one worker read p99 161 ms where the in-process loop read 203 (bare loop 128);
  at 512, 389 against 502 (bare 254).
- Those figures are with the workers on uvloop (a dependency where it exists). Without it
  (Windows) workers gained less than they cost on 2 cores (p50 10-24 ms worse than in-process
  at 256 clients), so there `MIN_CORES_WITHOUT_UVLOOP` (4) cores are required.
- Above 2 cores the rule is not measured yet: it extends the per-loop limit above (one loop
  keeps timestamps honest to about 200 clients) and leaves the kernel its core.

Example:
    >>> choose_workers(64, cores=16), choose_workers(512, cores=16), choose_workers(512, cores=2)
    (0, 3, 1)
"""

from __future__ import annotations

import math
import os

MIN_CLIENTS = 128
CLIENTS_PER_WORKER = 200
MIN_CORES_WITHOUT_UVLOOP = 4


def usable_cores() -> int:
    """The cores this process may run on (a container's CPU set, not the host's count)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # macOS, Windows
        return os.cpu_count() or 1


def has_uvloop() -> bool:
    """True when worker processes run on uvloop (workers/process.py `run_loop`)."""
    if os.environ.get("LLMETER_WIDGET_LOOP", "uvloop") == "asyncio":
        return False
    try:
        import uvloop  # noqa: F401 (whether it is there is the question)
    except ImportError:
        return False
    return True


def choose_workers(clients: int, cores: int | None = None, uvloop: bool | None = None) -> int:
    """The worker processes `workers="auto"` gives a run of `clients` clients (see above)."""
    cores = usable_cores() if cores is None else cores
    uvloop = has_uvloop() if uvloop is None else uvloop
    if clients < MIN_CLIENTS or cores < 2 or (not uvloop and cores < MIN_CORES_WITHOUT_UVLOOP):
        return 0
    return max(1, min(cores - 1, math.ceil(clients / CLIENTS_PER_WORKER)))
