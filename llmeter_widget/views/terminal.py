"""The live table in a terminal: redrawn in place in a TTY, plain lines in a log.

It shows what a `DisplaySpec` (display.py) chooses, as the dashboard does. It is a run
listener (events.py): each Tick redraws (at most `max_rate` times a second), RunFinished draws
the final table, WorkerLost adds "1 worker lost" to the progress line. A sweep's events
(SweepStarted, LevelStarted...) are not its business: each level's run is a run like another.
"""

from __future__ import annotations

import math
import sys
import time
from typing import TextIO

from ..display import DisplaySpec
from ..events import RunEvent, RunFinished, RunStarted, Snapshot, Tick, WorkerLost
from ..load.schedule import schedule_warning
from ..stats import LOOP_LAG_WARNING


def progress_line(snapshot: Snapshot, title: str = "", workers_lost: int = 0) -> str:
    """'title · 12.3 s · 8 clients · 3 in flight · 245 done (243 completed, 2 failed)', plus a
    warning when the client's own event loop lags (its timestamps, and so the latencies, would
    read high), and how many worker processes were lost, if any.

    "done" is every finished request (`total_requests`), split into the ones that succeeded
    ("completed", as the dashboard says) and the ones that failed: completed + failed = done.
    """
    stats = snapshot.stats
    done = stats.get("total_requests") or 0
    failed = stats.get("failed_requests") or 0
    completed = stats.get("successful_requests", done - failed)
    parts = [
        f"{snapshot.elapsed:.1f} s",
        f"{snapshot.active_clients} clients",
        f"{snapshot.in_flight} in flight",
        f"{done:,} done ({completed:,} completed, {failed:,} failed)",
    ]
    lag = snapshot.loop_lag or 0.0
    if lag > LOOP_LAG_WARNING:
        parts.append(f"client overloaded: event loop {lag * 1000:.0f} ms late, latencies read high")
    warning = schedule_warning(stats)
    if warning:
        parts.append(warning)
    if workers_lost:
        parts.append(f"{workers_lost} worker{'s' if workers_lost > 1 else ''} lost")
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
        self._last_snapshot: Snapshot | None = None
        self.workers_lost = 0  # of the current run (WorkerLost events)
        if self.tty:  # placeholders before the first response
            self._draw(Snapshot())

    def render(self, snapshot: Snapshot) -> list[str]:
        """The table as lines of text (no ANSI codes)."""
        rows = self.spec.rows(snapshot.stats)
        width = max((len(name) for name, _ in rows), default=0)
        lines = [progress_line(snapshot, self.title, self.workers_lost)]
        for name, cells in rows:
            body = "   ".join(f"{label} {value}" for label, value in cells)
            lines.append(f"  {name.ljust(width)}   {body}")
        return lines

    def plain_line(self, snapshot: Snapshot) -> str:
        """One line for logs: progress, then every stat as group/label=value."""
        cells = [
            f"{name} {label}={value}"
            for name, items in self.spec.rows(snapshot.stats)
            for label, value in items
        ]
        return progress_line(snapshot, self.title, self.workers_lost) + " | " + ", ".join(cells)

    def on_event(self, event: RunEvent) -> None:
        """Follow a run (`Runner.listeners`): redraw on ticks, the final table at its end."""
        if isinstance(event, RunStarted):
            self.workers_lost = 0
        elif isinstance(event, Tick):
            self.update(event.snapshot)
        elif isinstance(event, WorkerLost):
            self.workers_lost += 1
        elif isinstance(event, RunFinished):
            self.update(event.snapshot)
            self.close()

    def update(self, snapshot: Snapshot) -> None:
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

    def _draw(self, snapshot: Snapshot) -> None:
        lines = self.render(snapshot)
        out = []
        if self._drawn_lines:
            out.append(f"\x1b[{self._drawn_lines}F")  # back to the first line of the table
        out.extend(f"\x1b[2K{line}\n" for line in lines)
        self.stream.write("".join(out))
        self.stream.flush()
        self._drawn_lines = len(lines)
