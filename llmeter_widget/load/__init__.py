"""When to send: closed-loop clients, and open-loop schedules (requests at a rate), each held
constant or following a ramp or steps."""

from .closed_loop import ClosedLoop
from .open_loop import OpenLoop
from .profile import LoadProfile, Ramp, Steps
from .schedule import ARRIVALS, ArrivalSchedule

__all__ = ["ARRIVALS", "ArrivalSchedule", "ClosedLoop", "LoadProfile", "OpenLoop", "Ramp",
           "Steps"]
