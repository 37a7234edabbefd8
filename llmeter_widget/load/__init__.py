"""When to send: closed-loop clients (and, later, open-loop schedules)."""

from .closed_loop import ClosedLoop

__all__ = ["ClosedLoop"]
