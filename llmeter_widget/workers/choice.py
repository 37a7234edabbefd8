"""`workers="auto"`: how many worker processes a run gets, from its clients and this machine.

The rule, and what it rests on:

- Fewer than 4 usable cores: 0 (the clients run on this process's loop). Measured on a 2-core
  machine with the server on the same cores (bench/bench_workers.py, bench/README.md
  "Workers"): at 256 clients, 1 or 2 workers gave TTFT p99 176-186 ms where the in-process
  loop gave 159 ms, and cost 1.5-1.9x the client CPU per request: the parent, the workers and
  the server fight over two cores.
- Fewer than `MIN_CLIENTS` (128) clients: 0. One loop stamps honest timestamps up to about
  200 clients (issue 11, finding 4: p99 within a few ms of a bare loop below that, 60 ms high at
  256); a worker costs a second to start and a pickle per response.
- Otherwise: one worker per `CLIENTS_PER_WORKER` (200) clients, at least 1, at most the usable
  cores minus one (the notebook kernel keeps a core to merge and draw). This part is not
  measured on a machine with 4 or more cores yet: it follows AIPerf's published figure of
  ~500-2,000 streams per machine and our own per-loop limit above.

Example:
    >>> choose_workers(64, cores=16), choose_workers(512, cores=16), choose_workers(512, cores=2)
    (0, 3, 0)
"""

from __future__ import annotations

import math
import os
from typing import Union

MIN_CORES = 4
MIN_CLIENTS = 128
CLIENTS_PER_WORKER = 200

Workers = Union[int, str]  # a count, or "auto"


def usable_cores() -> int:
    """The cores this process may run on (a container's CPU set, not the host's count)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # macOS, Windows
        return os.cpu_count() or 1


def choose_workers(clients: int, cores: int | None = None) -> int:
    """The worker processes `workers="auto"` gives a run of `clients` clients (see above)."""
    cores = usable_cores() if cores is None else cores
    if cores < MIN_CORES or clients < MIN_CLIENTS:
        return 0
    return max(1, min(cores - 1, math.ceil(clients / CLIENTS_PER_WORKER)))
