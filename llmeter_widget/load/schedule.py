"""When an open-loop run sends: the gaps between intended send times, for a rate.

A schedule is independent of the responses (an open loop): request k is due at
`start + gap_1 + ... + gap_k` however slow the server is. Three arrival processes, each seeded:

- "constant": every gap is `1 / rate` (coefficient of variation 0);
- "poisson": exponential gaps of mean `1 / rate` (CV 1), independent arrivals of many users;
- "gamma": gamma gaps of mean `1 / rate`, shape `burstiness` (CV `1 / sqrt(burstiness)`):
  burstiness < 1 sends in bursts, > 1 more evenly than Poisson, 1 is Poisson (vLLM's
  `bench serve --burstiness` has the same meaning).

The rate may change while the run goes on (`set_rate`): the next gap is drawn at the new rate.

Example:
    >>> s = ArrivalSchedule(rate=4.0, arrival="constant")
    >>> [s.next_gap() for _ in range(3)]
    [0.25, 0.25, 0.25]
    >>> a, b = ArrivalSchedule(10.0, "poisson", seed=1), ArrivalSchedule(10.0, "poisson", seed=1)
    >>> [a.next_gap() for _ in range(3)] == [b.next_gap() for _ in range(3)]
    True
"""

from __future__ import annotations

import math
import random
from collections.abc import Mapping
from typing import Any

ARRIVALS = ("constant", "poisson", "gamma")
# Above this median lateness (seconds) the generator did not keep its schedule.
SCHEDULE_LAG_WARNING = 0.010


def check_rate(rate: object) -> float:
    """A rate in requests per second: a finite number > 0, or a clear error."""
    if isinstance(rate, bool) or not isinstance(rate, (int, float)) or not math.isfinite(rate) \
            or rate <= 0:
        raise ValueError(f"rate must be a number of requests per second > 0, got {rate!r}.")
    return float(rate)


def schedule_warning(stats: Mapping[str, Any]) -> str | None:
    """What every view says when an open-loop run's load was not what was asked for (None when
    it was, or for a closed loop): requests went out late (`schedule_lag-p50` above
    SCHEDULE_LAG_WARNING), or waited for a `max_concurrency` slot.

    Example:
        >>> schedule_warning({"schedule_lag-p50": 0.002, "concurrency_wait-p90": 0.0}) is None
        True
        >>> print(schedule_warning({"schedule_lag-p50": 0.5, "concurrency_wait-p90": 0.45}))
        Schedule not kept: requests went out 500 ms late (p50), 90% waited up to 450 ms for a max_concurrency slot; the load was lower than asked.
    """
    lag = stats.get("schedule_lag-p50")
    wait = stats.get("concurrency_wait-p90")
    parts = []
    if isinstance(lag, (int, float)) and lag > SCHEDULE_LAG_WARNING:
        parts.append(f"requests went out {lag * 1000:.0f} ms late (p50)")
    if isinstance(wait, (int, float)) and wait > 0.001:
        parts.append(f"90% waited up to {wait * 1000:.0f} ms for a max_concurrency slot")
    if not parts:
        return None
    return f"Schedule not kept: {', '.join(parts)}; the load was lower than asked."


class ArrivalSchedule:
    """Gaps between intended send times for `rate` requests per second.

    Args:
        rate: requests per second (> 0).
        arrival: "constant", "poisson" or "gamma".
        burstiness: the gamma shape (> 0; only with arrival="gamma"): 1 is Poisson, smaller is
            burstier (CV 1/sqrt(burstiness)).
        seed: seeds the gaps: the same seed, rate and arrival give the same schedule.
    """

    def __init__(self, rate: float, arrival: str = "poisson", burstiness: float = 1.0,
                 seed: int | None = None) -> None:
        if arrival not in ARRIVALS:
            raise ValueError(f"arrival must be one of {', '.join(map(repr, ARRIVALS))}, "
                             f"got {arrival!r}.")
        if isinstance(burstiness, bool) or not isinstance(burstiness, (int, float)) \
                or not math.isfinite(burstiness) or burstiness <= 0:
            raise ValueError(f"burstiness must be a number > 0, got {burstiness!r}.")
        if burstiness != 1.0 and arrival != "gamma":
            raise ValueError(f"burstiness={burstiness!r} shapes gamma arrivals: pass "
                             f"arrival='gamma' with it (arrival={arrival!r} has no burstiness).")
        self.rate = check_rate(rate)
        self.arrival = arrival
        self.burstiness = float(burstiness)
        self.seed = seed
        self._random = random.Random(seed)

    def set_rate(self, rate: float) -> None:
        """Draw the following gaps at this rate."""
        self.rate = check_rate(rate)

    def next_gap(self) -> float:
        """Seconds from the previous intended send to the next."""
        mean = 1.0 / self.rate
        if self.arrival == "constant":
            return mean
        if self.arrival == "poisson":
            return self._random.expovariate(self.rate)
        # gamma with mean `mean` and shape k: scale mean / k
        return self._random.gammavariate(self.burstiness, mean / self.burstiness)

    def to_config(self) -> dict[str, object]:
        """What run_config.json records of it."""
        return {"rate": self.rate, "arrival": self.arrival, "burstiness": self.burstiness,
                "seed": self.seed}
