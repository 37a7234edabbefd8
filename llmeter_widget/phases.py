"""Warm-up and cool-down: requests a run sends and saves, but leaves out of its stats.

A run's first requests meet cold caches, connection setup and a server still compiling; its
last ones a load that is already falling. `warmup=` and `cooldown=` name a span at either end:

- `"30s"` / `"2min"` / a `timedelta`: the requests *sent* in the run's first 30 seconds (from
  the start of its clock), or in the last 30 seconds before its deadline (a time-bound run);
- `"50 requests"` (or `"50 req"`): the first 50 requests sent, or the last 50 of a count-bound
  run (clients x n_requests of a closed loop, n_requests of an open loop).

A bare number is refused: `warmup=20` could mean either, so it names both spellings. A span
that leaves nothing to measure (a warm-up as long as the run), a time cool-down in a count-bound
run or a count cool-down in a time-bound one are refused before the run starts.

Those requests are sent, timed and saved as any other (responses.jsonl, with `"phase":
"warmup"` or `"cooldown"`), scored against the SLO, but left out of every stat: counts,
throughput (and its time base), percentiles, goodput (`warmup_requests` and `cooldown_requests`
count them). Stats rebuilt from the saved file leave them out the same way.

Which requests: a request's phase is decided from its send time (`t_send`) when it is recorded.
A time span compares it with the run's start or with the deadline in force then (so after
`set_duration` lengthens a run, its former last seconds are measured; requests already left
out as cool-down stay out). A count span fixes a boundary time when the run's (N+1)-th send
happens: requests sent before it are the warm-up. With worker processes (workers=N) the
parent hears the workers' sends in batches, so the count boundary is the (N+1)-th send it
heard: the first N requests give or take those sent in the same few milliseconds.

Example:
    >>> Span.parse("warmup", "30s"), Span.parse("cooldown", "20 requests")
    (Span(amount=30.0, unit='s'), Span(amount=20, unit='requests'))
    >>> Span.parse("warmup", 20)
    Traceback (most recent call last):
    ...
    ValueError: warmup=20 is ambiguous: write warmup='20s' (the run's first 20 seconds) or warmup='20 requests' (its first 20 requests).
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, Callable

WARMUP, COOLDOWN = "warmup", "cooldown"
PHASES = (WARMUP, COOLDOWN)

_SPAN = re.compile(r"^\s*(\d+(?:\.\d*)?|\.\d+)\s*(s|sec|secs|seconds?|min|mins|minutes?|"
                   r"req|reqs|requests?)\s*$", re.IGNORECASE)


@dataclass(frozen=True)
class Span:
    """A warm-up or cool-down: `amount` seconds (unit "s") or requests (unit "requests")."""

    amount: float | int
    unit: str

    @classmethod
    def parse(cls, name: str, value: Any) -> Span | None:
        """A span from `"30s"`, `"2min"`, `"50 requests"`, a timedelta, or None (no span).

        Raises:
            ValueError: a bare number (ambiguous), an unknown unit, zero or less, a fraction
                of a request.
        """
        if value is None or isinstance(value, Span):
            return value
        first = "first" if name == WARMUP else "last"
        if isinstance(value, timedelta):
            seconds = value.total_seconds()
            if not seconds > 0:
                raise ValueError(f"{name} must be longer than 0 (None for none), got {value!r}.")
            return cls(float(seconds), "s")
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            shown = f"{value:g}"
            raise ValueError(
                f"{name}={value!r} is ambiguous: write {name}='{shown}s' (the run's {first} "
                f"{shown} seconds) or {name}='{shown} requests' (its {first} {shown} requests).")
        match = _SPAN.match(value) if isinstance(value, str) else None
        if match is None:
            raise ValueError(
                f"{name} must be a time such as '30s' or '2min' (or a timedelta), or a count such "
                f"as '50 requests'; got {value!r}.")
        number, unit = float(match.group(1)), match.group(2).lower()
        if unit.startswith("req"):
            if number != int(number):
                raise ValueError(f"{name}={value!r}: a count of requests is a whole number.")
            amount: float | int = int(number)
            unit = "requests"
        else:
            amount = number * 60.0 if unit.startswith("min") else number
            unit = "s"
        if not amount > 0 or not math.isfinite(amount):
            raise ValueError(f"{name} must be more than 0 (None for none), got {value!r}.")
        return cls(amount, unit)

    @property
    def seconds(self) -> bool:
        return self.unit == "s"

    def to_config(self) -> str:
        """As saved in run_config.json: "30s" or "50 requests" (`parse` reads it back)."""
        return f"{self.amount:g}s" if self.seconds else f"{self.amount} requests"


def check_phases(warmup: Any, cooldown: Any, run_duration: float | None,
                 total_requests: int | None) -> tuple[Span | None, Span | None]:
    """Validate a run's warm-up and cool-down against its bound.

    Args:
        run_duration: seconds of a time-bound run (None: count-bound).
        total_requests: the requests a count-bound run sends in all (None: time-bound).

    Example:
        >>> check_phases("5s", "2s", 60.0, None)
        (Span(amount=5.0, unit='s'), Span(amount=2.0, unit='s'))
        >>> check_phases(None, "2s", None, 100)
        Traceback (most recent call last):
        ...
        ValueError: cooldown='2s' counts back from a time-bound run's end: give run_duration=, or a count such as cooldown='10 requests' for a count-bound run.
    """
    warm, cool = Span.parse(WARMUP, warmup), Span.parse(COOLDOWN, cooldown)
    if cool is not None:
        if cool.seconds and run_duration is None:
            raise ValueError(
                f"cooldown={cool.to_config()!r} counts back from a time-bound run's end: give "
                f"run_duration=, or a count such as cooldown='10 requests' for a count-bound run.")
        if not cool.seconds and total_requests is None:
            raise ValueError(
                f"cooldown={cool.to_config()!r} counts back from a count-bound run's last "
                f"request: give n_requests=, or a time such as cooldown='10s' for a time-bound run.")
    if run_duration is not None:
        spent = sum(s.amount for s in (warm, cool) if s is not None and s.seconds)
        if spent >= run_duration:
            raise ValueError(
                f"warmup and cooldown take {spent:g} s of a {run_duration:g} s run: nothing would "
                "be measured. Shorten them or lengthen run_duration.")
    if total_requests is not None:
        spent = sum(s.amount for s in (warm, cool) if s is not None and not s.seconds)
        if spent >= total_requests:
            raise ValueError(
                f"warmup and cooldown take {spent} of the run's {total_requests} requests: "
                "nothing would be measured. Send more (n_requests=) or leave fewer out.")
    return warm, cool


class PhaseClock:
    """Tells the phase of each request of a running run (see the module docstring).

    Args:
        warmup, cooldown: the run's spans (None: none).
        start: the run's clock start (`time.perf_counter()`).
        total_requests: the requests a count-bound run sends in all (a count cool-down).
        deadline: the run's deadline now (it may change: `set_duration`).

    Example: a warm-up of 2 requests, sends at 1.0, 2.0 and 3.0 s.
        >>> clock = PhaseClock(Span(2, "requests"), None, start=0.0)
        >>> for t in (1.0, 2.0, 3.0):
        ...     clock.on_send(t)
        >>> clock.phase_of(1.5), clock.phase_of(2.5), clock.phase_of(3.0)
        ('warmup', 'warmup', None)
    """

    def __init__(self, warmup: Span | None, cooldown: Span | None, start: float,
                 total_requests: int | None = None,
                 deadline: Callable[[], float | None] = lambda: None) -> None:
        self.warmup, self.cooldown = warmup, cooldown
        self.sent = 0
        self._deadline = deadline
        # Requests sent before `warmup_end` are the warm-up (None: the boundary send has not
        # happened yet, so every request so far is); from `cooldown_start` on, the cool-down.
        self.warmup_end: float | None = None
        self._warmup_send: int | None = None
        if warmup is not None:
            if warmup.seconds:
                self.warmup_end = start + warmup.amount
            else:
                self._warmup_send = int(warmup.amount) + 1
        self.cooldown_start: float | None = None
        self._cooldown_send: int | None = None
        if cooldown is not None and not cooldown.seconds and total_requests is not None:
            self._cooldown_send = total_requests - int(cooldown.amount) + 1

    def on_send(self, t: float) -> None:
        """A request is sent at `t` (the run's on_send hook)."""
        self.sent += 1
        if self.sent == self._warmup_send:
            self.warmup_end = t
        if self.sent == self._cooldown_send:
            self.cooldown_start = t

    def phase_of(self, t_send: float | None) -> str | None:
        """"warmup", "cooldown" or None (measured) for a request sent at `t_send`."""
        if t_send is None:
            return None
        if self.warmup is not None and (self.warmup_end is None or t_send < self.warmup_end):
            return WARMUP
        cooldown = self.cooldown
        if cooldown is None:
            return None
        if cooldown.seconds:
            deadline = self._deadline()
            if deadline is not None and t_send >= deadline - cooldown.amount:
                return COOLDOWN
        elif self.cooldown_start is not None and t_send >= self.cooldown_start:
            return COOLDOWN
        return None
