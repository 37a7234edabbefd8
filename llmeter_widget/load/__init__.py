"""When to send: closed-loop clients, and open-loop schedules (requests at a rate)."""

from .closed_loop import ClosedLoop
from .open_loop import OpenLoop
from .schedule import ARRIVALS, ArrivalSchedule

__all__ = ["ARRIVALS", "ArrivalSchedule", "ClosedLoop", "OpenLoop"]
