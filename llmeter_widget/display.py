"""What the live views show, and the terminal view.

One spec, used by the terminal table here and by the dashboard widget: which stats appear,
under which label, unit and group. Labels and groups are display properties: the statistics
code only knows canonical keys (`time_to_first_token-p50`, `requests_per_minute`, ...).
"""

from __future__ import annotations

import math
import re
import sys
import time
from dataclasses import asdict, dataclass
from typing import Any, Sequence, TextIO

from .stats import LOOP_LAG_WARNING

# Group name -> key patterns (regular expressions searched in the stat key); first match wins.
# An immutable default, so callers can pass their own `groups=` (the review of llmeter PR 58).
DEFAULT_GROUPS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("Throughput", (r"requests_per_minute", r"_tps$", r"per_minute", r"^total_requests$")),
    ("TTFT", (r"^time_to_first_token",)),
    ("TTLT", (r"^time_to_last_token",)),
    ("Tokens", (r"token",)),
    ("Errors", (r"fail", r"^errors-", r"cancel")),
    ("Other", (r"",)),
)


@dataclass(frozen=True)
class StatSpec:
    """One cell of the live table.

    key: a canonical stat key, or a prefix ending in "*" ("errors-*"): one cell for each key
        of the stats that starts with the prefix, labelled by the rest of the key (each error
        class as it appears).
    unit: "s" (shown as ms below one second), "%" (a 0..1 ratio shown as percent),
        "count", or any free text shown after the number ("req/min", "tok/s").
    invert: show 1/value (e.g. TPOT as tokens per second).
    group: force a group instead of matching the key against the group patterns.
    """

    label: str
    key: str
    unit: str = ""
    invert: bool = False
    group: str | None = None


DEFAULT_STATS: tuple[StatSpec, ...] = (
    StatSpec("Requests", "total_requests", "count"),
    StatSpec("Requests/min", "requests_per_minute", "req/min"),
    StatSpec("Output tokens/s", "output_tps", "tok/s"),
    StatSpec("p50", "time_to_first_token-p50", "s"),
    StatSpec("p90", "time_to_first_token-p90", "s"),
    StatSpec("p99", "time_to_first_token-p99", "s"),
    StatSpec("p50", "time_to_last_token-p50", "s"),
    StatSpec("p90", "time_to_last_token-p90", "s"),
    StatSpec("p99", "time_to_last_token-p99", "s"),
    StatSpec("Input", "total_input_tokens", "count"),
    StatSpec("Output", "total_output_tokens", "count"),
    StatSpec("Per-request tok/s p50", "time_per_output_token-p50", "tok/s", invert=True),
    StatSpec("Failed", "failed_requests", "count"),
    StatSpec("Failure rate", "failed_requests_rate", "%"),
    StatSpec("429 retries", "rate_limit_retries", "count", group="Errors"),
    StatSpec("", "errors-*", "count"),  # one cell per error class seen: timeout, http_5xx, ...
)


def group_of(key: str, groups: Sequence[tuple[str, Sequence[str]]] = DEFAULT_GROUPS) -> str:
    """The first group whose patterns match the key ("Other" if none)."""
    for name, patterns in groups:
        if any(re.search(p, key) for p in patterns):
            return name
    return "Other"


def format_value(value: Any, unit: str = "", invert: bool = False) -> str:
    """Format a stat for a person: '—' until there is a value.

    Example:
        >>> format_value(0.1834, "s"), format_value(2.5, "s"), format_value(0.021, "%")
        ('183 ms', '2.50 s', '2.1%')
        >>> format_value(12345, "count"), format_value(None, "s"), format_value(0.02, "tok/s", invert=True)
        ('12,345', '—', '50.0 tok/s')
    """
    if value is None or isinstance(value, str):
        return "—" if value is None else value
    if isinstance(value, float) and not math.isfinite(value):
        return "—"
    if invert:
        if value == 0:
            return "—"
        value = 1.0 / value
    if unit == "s":
        return f"{value * 1000:.0f} ms" if abs(value) < 1 else f"{value:.2f} s"
    if unit == "%":
        return f"{value * 100:.1f}%"
    if unit == "count":
        return f"{int(round(value)):,}"
    number = f"{value:,.0f}" if abs(value) >= 100 else f"{value:,.1f}"
    return f"{number} {unit}".rstrip()


class DisplaySpec:
    """The stats a live view shows, grouped.

    Example:
        >>> spec = DisplaySpec()
        >>> [name for name, _ in spec.grouped()][:3]
        ['Throughput', 'TTFT', 'TTLT']
    """

    def __init__(
        self,
        stats: Sequence[StatSpec] = DEFAULT_STATS,
        groups: Sequence[tuple[str, Sequence[str]]] = DEFAULT_GROUPS,
    ) -> None:
        self.stats = tuple(stats)
        self.groups = tuple((name, tuple(patterns)) for name, patterns in groups)

    def resolve(self, stats: dict[str, Any]) -> DisplaySpec:
        """This spec with every prefix ("errors-*") replaced by the matching keys of `stats`."""
        if not any(s.key.endswith("*") for s in self.stats):
            return self
        concrete: list[StatSpec] = []
        for stat in self.stats:
            if not stat.key.endswith("*"):
                concrete.append(stat)
                continue
            prefix = stat.key[:-1]
            group = stat.group or group_of(prefix, self.groups)
            concrete.extend(
                StatSpec(stat.label or key[len(prefix):], key, stat.unit, stat.invert, group)
                for key in sorted(stats) if key.startswith(prefix)
            )
        return DisplaySpec(concrete, self.groups)

    def grouped(self) -> list[tuple[str, list[StatSpec]]]:
        """[(group name, [stat, ...]), ...] in group order, empty groups left out.

        Prefix entries ("errors-*") are left out here: `resolve(stats)` first.
        """
        by_group: dict[str, list[StatSpec]] = {name: [] for name, _ in self.groups}
        by_group.setdefault("Other", [])
        for stat in self.stats:
            if stat.key.endswith("*"):
                continue
            name = stat.group or group_of(stat.key, self.groups)
            by_group.setdefault(name, []).append(stat)
        return [(name, items) for name, items in by_group.items() if items]

    def to_json(self) -> dict[str, Any]:
        """The spec as the widget receives it."""
        return {
            "groups": [
                {"name": name, "stats": [asdict(s) for s in items]} for name, items in self.grouped()
            ]
        }

    def rows(self, stats: dict[str, Any]) -> list[tuple[str, list[tuple[str, str]]]]:
        """[(group, [(label, formatted value), ...]), ...] for one stats dict."""
        return [
            (name, [(s.label, format_value(stats.get(s.key), s.unit, s.invert)) for s in items])
            for name, items in self.resolve(stats).grouped()
        ]


def progress_line(snapshot: dict[str, Any], title: str = "") -> str:
    """'title · 12.3 s · 8 clients · 3 in flight · 245 done · 0 failed', plus a warning when the
    client's own event loop lags (its timestamps, and so the latencies, would read high)."""
    stats = snapshot.get("stats", {})
    parts = [
        f"{snapshot.get('elapsed', 0.0):.1f} s",
        f"{snapshot.get('active_clients', 0)} clients",
        f"{snapshot.get('in_flight', 0)} in flight",
        f"{stats.get('total_requests', 0):,} done",
        f"{stats.get('failed_requests', 0):,} failed",
    ]
    lag = snapshot.get("loop_lag") or 0.0
    if lag > LOOP_LAG_WARNING:
        parts.append(f"client overloaded: event loop {lag * 1000:.0f} ms late, latencies read high")
    return " · ".join([title, *parts] if title else parts)


class TerminalView:
    """The grouped live table in a terminal.

    In a TTY the table is redrawn in place (ANSI cursor movement) at most `max_rate` times a
    second; otherwise (a log file, CI) a plain line is printed every `plain_interval` seconds,
    and the full table once at the end.
    """

    def __init__(
        self,
        spec: DisplaySpec | None = None,
        stream: TextIO | None = None,
        title: str = "",
        max_rate: float = 4.0,
        plain_interval: float = 5.0,
        tty: bool | None = None,
    ) -> None:
        self.spec = spec or DisplaySpec()
        self.stream = stream or sys.stderr
        self.title = title
        self.tty = self.stream.isatty() if tty is None else tty
        self._min_gap = 1.0 / max_rate if max_rate > 0 else 0.0
        self._plain_interval = plain_interval
        self._last_draw = -math.inf
        self._drawn_lines = 0
        self._last_snapshot: dict[str, Any] | None = None
        if self.tty:  # placeholders before the first response
            self._draw({"stats": {}, "elapsed": 0.0})

    def render(self, snapshot: dict[str, Any]) -> list[str]:
        """The table as lines of text (no ANSI codes)."""
        rows = self.spec.rows(snapshot.get("stats", {}))
        width = max((len(name) for name, _ in rows), default=0)
        lines = [progress_line(snapshot, self.title)]
        for name, cells in rows:
            body = "   ".join(f"{label} {value}" for label, value in cells)
            lines.append(f"  {name.ljust(width)}   {body}")
        return lines

    def plain_line(self, snapshot: dict[str, Any]) -> str:
        """One line for logs: progress, then every stat as group/label=value."""
        cells = [
            f"{name} {label}={value}"
            for name, items in self.spec.rows(snapshot.get("stats", {}))
            for label, value in items
        ]
        return progress_line(snapshot, self.title) + " | " + ", ".join(cells)

    def update(self, snapshot: dict[str, Any]) -> None:
        """Take a live snapshot; redraw if enough time passed."""
        self._last_snapshot = snapshot
        now = time.monotonic()
        gap = self._min_gap if self.tty else self._plain_interval
        if now - self._last_draw < gap:
            return
        self._last_draw = now
        if self.tty:
            self._draw(snapshot)
        else:
            self.stream.write(self.plain_line(snapshot) + "\n")
            self.stream.flush()

    def close(self) -> None:
        """Show the final table and leave the cursor below it."""
        if self._last_snapshot is None:
            return
        if self.tty:
            self._draw(self._last_snapshot)
        else:
            self.stream.write("\n".join(self.render(self._last_snapshot)) + "\n")
        self.stream.flush()

    def _draw(self, snapshot: dict[str, Any]) -> None:
        lines = self.render(snapshot)
        out = []
        if self._drawn_lines:
            out.append(f"\x1b[{self._drawn_lines}F")  # back to the first line of the table
        out.extend(f"\x1b[2K{line}\n" for line in lines)
        self.stream.write("".join(out))
        self.stream.flush()
        self._drawn_lines = len(lines)
